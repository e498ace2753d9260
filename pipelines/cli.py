"""The `warisan` command: one subcommand per flow, plus `demo`, `validate` and `ui`.

Dates are written YYYY-MM-DD. Each command writes its full log to <store>/<city>/logs/; a mistake
(a missing bundle, a date outside the data, a bad config) ends in one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

from rich.console import Console

from pipelines.config import ConfigError
from pipelines.prefect_server import UI_PORT, answers, api_url, start_server, stop_server, wait_until_up
from pipelines.progress import quiet_terminal, run_log, step_status, without_tracebacks_for
from pipelines.registry import RegistryError
from pipelines.storage import PublishError

USER_ERRORS = (ConfigError, FileNotFoundError, NotImplementedError, PublishError, RegistryError,
               ValueError)  # bad input or a store that cannot take the day, not bugs
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
UI_START_TIMEOUT_S = 120  # a first start migrates Prefect's database
TEMPORARY_SERVER_STARTUP_S = 90  # Prefect's temporary server on a busy laptop: its default 20 s ran out at load 15-20
_ERROR_LINES = 3  # lines of a long error message (e.g. a bundle's problems) kept on the terminal
T = TypeVar("T")
_LOG = logging.getLogger("pipelines.cli")
_LOG.setLevel(logging.INFO)  # its INFO lines reach the log file; the terminal shows warnings only

if TYPE_CHECKING:
    from pipelines.config import CityConfig


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake said in one line and a hint, as every user error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _iso_date(text: str) -> dt.date:
    """A `--date` value: YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write YYYY-MM-DD, e.g. 2024-12-31") from None


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="warisan", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    def with_config(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="city YAML (default: demo)")
        sub.add_argument("-v", "--verbose", action="store_true",
                         help="also print the flows' log on the terminal (it always goes to <store>/<city>/logs/)")
        return sub

    def with_date(sub: argparse.ArgumentParser, flag: str, help_text: str, **kwargs) -> None:
        sub.add_argument(flag, type=_iso_date, metavar="YYYY-MM-DD", help=f"{help_text}, as YYYY-MM-DD", **kwargs)

    with_config("demo", "demo bundle -> features -> train -> forecast for the last date")
    ingest = with_config("ingest", "fill or refresh the bundle from the configured source (kind bundle: validate)")
    with_date(ingest, "--date", "forecast issue date (default: today, local)")
    ingest.add_argument("--dry-run", action="store_true", help="print the requests a live ingest would send")
    with_config("features", "build static features and daily drivers")
    with_config("train", "train and register the flood and heat models; score the flood card against a demo truth")
    forecast = with_config("forecast", "run the daily forecast for one issue date")
    with_date(forecast, "--date", "issue date (default: the bundle's last)")
    forecast.add_argument("--drill", action="store_true", help="send alerts with CAP status Test")
    backtest = with_config("backtest", "rolling-origin retraining, hindcasts, baselines, scores and a report")
    with_date(backtest, "--start", "first issue date", required=True)
    with_date(backtest, "--end", "last issue date", required=True)
    with_config("serve", "serve daily_forecast on Prefect's scheduler (cron from the config)")
    ui = commands.add_parser("ui", help="start Prefect's server and UI here; warisan commands then report to it")
    ui.add_argument("--port", type=int, default=UI_PORT, help=f"port on 127.0.0.1 (default {UI_PORT})")
    validate = commands.add_parser("validate", help="check a bundle against the data contract")
    validate.add_argument("bundle", type=Path)
    validate.add_argument("--config", type=Path, help="city YAML, to check CRS, bounds and time zone too")
    validate.add_argument("--all-forecasts", action="store_true", help="open every forecast file")
    return parser


def _validate(args: argparse.Namespace) -> int:
    from pipelines.bundle.checks import errors_of
    from pipelines.bundle.validate import unchecked, validate_bundle
    from pipelines.config import load_city_config

    extra = {}
    if args.config:
        config = load_city_config(args.config)
        extra = {"city_crs": config.grid.crs, "city_bounds": config.grid.bounds,
                 "timezone": config.city.timezone}
    problems = validate_bundle(args.bundle, check_forecasts="all" if args.all_forecasts else "last", **extra)
    for problem in problems:
        print(problem)  # a warning's line starts with "warning: "
    for line in unchecked(args.bundle, timezone=extra.get("timezone")):
        print(f"warning: {line}")
    errors = errors_of(problems)
    warned = len(problems) - len(errors)
    verdict = (f"{len(errors)} problem(s)" if errors else "valid") + (f", with {warned} warning(s)" if warned else "")
    print(f"{args.bundle}: {verdict}")
    return 1 if errors else 0


def _shown(path: Path) -> str:
    """`path` relative to the working folder when inside it, else absolute."""
    path = Path(os.path.abspath(path))  # not resolved: forecasts/<date> stays the link, not its version folder
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


_KIND_WORDS = {"cog": "GeoTIFFs", "geojson": "GeoJSON files", "map": "maps", "digest_map": "digest maps",
               "stac": "STAC files", "cap": "CAP alerts", "archive": "archive pages"}  # how the summary names a kind of output file


def _made(written: dict[str, list[Path]]) -> str:
    """What a run wrote, in a line: a file's name where a kind has one, else the count and kind."""
    return ", ".join(paths[0].name if len(paths) == 1 else f"{len(paths)} {_KIND_WORDS.get(kind, kind)}"
                     for kind, paths in written.items() if paths)


def _print_cards(cards: dict) -> None:
    from pipelines.training.card import card_headline

    for hazard, card in cards.items():
        test = card["protocol"]["test"]
        print(f"{hazard} model {card['version']}, sealed test period {test[0]}..{test[1]}: {card_headline(card)}")


def _print_outputs(written: dict) -> None:
    """Where the files went, a line per kind, and what to open first."""
    paths = [path for kind_paths in written.values() for path in kind_paths]
    pages = [p for p in paths if p.name in ("index.html", "report.html")]
    folder = pages[0].parent if pages else Path(os.path.commonpath([p.parent for p in paths]))
    print(f"\nPublished in {_shown(folder)}:")
    for kind, kind_paths in written.items():
        names = [str(p.relative_to(folder)) if p.is_relative_to(folder) else _shown(p) for p in kind_paths]
        if len(names) > 3:
            inside = os.path.commonpath([os.path.dirname(n) or "." for n in names])
            names = [f"{len(names)} files" + ("" if inside in ("", ".") else f" in {inside}/")]
        print(f"  {kind:<10} {', '.join(names)}")
    if pages:
        print(f"\nOpen first: {_shown(pages[0])}")


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


class _Steps:
    """A command's flows, one after another: a live status line each on a terminal, then a line with
    its time and what it made."""

    def __init__(self, verbose: bool):
        self.console = Console(stderr=True)
        self.verbose, self.started = verbose, time.monotonic()

    def run(self, name: str, call: Callable[[], T], made: Callable[[T], str]) -> T:
        if self.verbose:
            return call()
        with step_status(name, self.console) as elapsed:
            result = call()
        print(f"  {name:<9} {_duration(elapsed()):>12}  {made(result)}", flush=True)
        return result

    def took(self) -> str:
        return _duration(time.monotonic() - self.started)


def _demo_summary(config: CityConfig, written: dict[str, list[Path]], steps: _Steps, log_path: Path) -> None:
    """The closing lines of `warisan demo`: the one file to open first, the one folder with the rest."""
    page = written["page"][0]
    print(f"\nOpen first:  {_shown(page)}  (the interactive map of the forecast; opens offline)")
    print(f"All outputs: {_shown(config.city_store)}/  (forecasts/<issue date>/, models/ with their cards, logs/)")
    print(f"Done in {steps.took()}. Full log: {_shown(log_path)}")


def _evaluated(scores: dict | None) -> str:
    return "flood card scored against the demo truth" if scores else "no truth to score against"


def _demo(args: argparse.Namespace, config: CityConfig, on_runner: Callable, steps: _Steps, log_path: Path) -> None:
    from pipelines import flows
    from pipelines.flows.evaluate import evaluate
    from pipelines.training.card import card_headline

    period = f"{config.source.start} to {config.source.end}, " if config.source.kind == "demo" else ""
    print(f"Warisan demo: {config.city.name}, {period}flood {config.flood.lead_days} and heat {config.heat.lead_days} lead days")
    steps.run("ingest", lambda: on_runner(flows.ingest)(args.config), lambda bundle: f"bundle in {_shown(bundle)}/")
    cards = steps.run("train", lambda: on_runner(flows.train)(args.config),
                      lambda cards: "flood and heat models, scored on the sealed test period")
    for hazard, card in cards.items():
        print(f"{'':24}{hazard}: {card_headline(card)}")
    steps.run("evaluate", lambda: on_runner(evaluate)(args.config), _evaluated)
    written = steps.run("forecast", lambda: on_runner(flows.daily_forecast)(args.config),
                        lambda written: f"issue date {written['page'][0].parent.name}: {_made(written)}")
    _demo_summary(config, written, steps, log_path)


def _serve(config_path: Path) -> None:
    from pipelines.flows.deploy import serve_daily

    serve_daily(config_path)  # scheduled runs take the flow's own task runner (docs/scaling.md)


def _dry_run(args: argparse.Namespace) -> int:
    """Print every request a live ingest would send now; send nothing."""
    import pandas as pd

    from pipelines.config import load_city_config
    from pipelines.sources.staging import planned_requests

    config = load_city_config(args.config)
    if config.source.kind != "live":
        print(f"{args.config}: source.kind is {config.source.kind!r}: an ingest sends no requests")
        return 0
    from pipelines.timezones import local_today

    issue = args.date or local_today(config.city.timezone)
    for line in planned_requests(config, issue, pd.Timestamp.now("UTC").tz_localize(None)):
        print(line)
    return 0


def _run(args: argparse.Namespace, config: CityConfig, log_path: Path) -> int:
    from pipelines import flows
    from pipelines.flows.evaluate import evaluate  # scores the card against a demo truth, where there is one
    from pipelines.runner import flow_runner

    if args.command == "ingest" and args.dry_run:
        return _dry_run(args)
    if args.command == "serve":
        _serve(args.config)
        return 0
    steps = _Steps(args.verbose)
    with flow_runner(args.config) as on_runner:  # the config's runner: local, or one Dask cluster for all
        if args.command == "demo":
            _demo(args, config, on_runner, steps, log_path)
            return 0
        if args.command == "ingest":
            steps.run("ingest", lambda: on_runner(flows.ingest)(args.config, args.date),
                      lambda bundle: f"bundle in {_shown(bundle)}/")
        elif args.command == "features":
            steps.run("features", lambda: on_runner(flows.build_features)(args.config),
                      lambda paths: ", ".join(f"{name}: {_shown(path)}" for name, path in paths.items()))
        elif args.command == "train":
            _print_cards(steps.run("train", lambda: on_runner(flows.train)(args.config), lambda cards: "models registered"))
            steps.run("evaluate", lambda: on_runner(evaluate)(args.config), _evaluated)
        elif args.command == "forecast":
            written = steps.run("forecast", lambda: on_runner(flows.daily_forecast)(args.config, args.date,
                                                                                   drill=args.drill),
                                lambda written: _made(written) if written else "nothing to do")
            if written:
                _print_outputs(written)
        elif args.command == "backtest":
            from pipelines.flows.backtest import backtest

            _print_outputs(steps.run("backtest", lambda: on_runner(backtest)(args.config, args.start, args.end),
                                     lambda written: ""))
    print(f"Full log: {_shown(log_path)}")
    return 0


def _one_line(err: BaseException, log_path: Path | None) -> str:
    """A user error in one line: its message (a long list cut after its first lines) and where the log is."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    message = " ".join(lines[:_ERROR_LINES]) + (f" (and {len(lines) - _ERROR_LINES} more)"
                                                if len(lines) > _ERROR_LINES else "")
    return f"error: {message}" + (f" (full log: {_shown(log_path)})" if log_path else "")


def _local_ui() -> str | None:
    """The API of a Prefect server that `warisan ui` started on this machine, if one answers and no
    other Prefect API is configured."""
    from prefect.settings import PREFECT_API_URL

    api = api_url(UI_PORT)
    return api if not PREFECT_API_URL.value() and answers(api) else None


def _ui(port: int) -> int:
    """Run Prefect's server with its UI on 127.0.0.1:`port` until Ctrl-C."""
    api = api_url(port)
    if answers(api):
        print(f"error: a Prefect server already answers at {api}: its UI is {api.removesuffix('/api')}", file=sys.stderr)
        return 2
    server = start_server(port)
    try:
        wait_until_up(server, api, timeout_s=UI_START_TIMEOUT_S)
        print(f"Prefect UI: {api.removesuffix('/api')}  (deployments, flow runs, their logs and artifacts)")
        print("warisan commands started in other shells now report their runs here"
              + ("" if port == UI_PORT else f" once PREFECT_API_URL={api} is set there") + ". Stop with Ctrl-C.",
              flush=True)
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop_server(server)


def _stop_temporary_server() -> None:
    """Send the runs' last log lines to Prefect's temporary server, then stop it (it would say so on
    the terminal at exit)."""
    from prefect.logging.handlers import APILogWorker
    from prefect.server.api.server import SubprocessASGIServer

    APILogWorker.drain_all(timeout=5)
    SubprocessASGIServer().stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `warisan` console command; a user's error exits 2 with one line on stderr."""
    args = _parser().parse_args(argv)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # offline: no telemetry
    if args.command == "ui":
        return _ui(args.port)
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    from pipelines.config import load_city_config

    log_path = None
    with ExitStack() as stack:
        stack.enter_context(without_tracebacks_for(USER_ERRORS))  # the Prefect UI keeps the one line
        if "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" not in os.environ:  # the user's own value stands
            stack.enter_context(temporary_settings({PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS:
                                                    TEMPORARY_SERVER_STARTUP_S}))
        if not getattr(args, "verbose", False) and args.command != "serve":
            stack.enter_context(quiet_terminal())
            if not PREFECT_API_URL.value():  # the flows start Prefect's temporary server: stop it quietly
                stack.callback(_stop_temporary_server)
        try:
            if args.command == "validate":
                return _validate(args)
            config = load_city_config(args.config)
            log_path = stack.enter_context(run_log(config.city_store / "logs", args.command))
            ui = None if getattr(args, "dry_run", False) else _local_ui()  # a dry run runs no flow
            if ui:
                stack.enter_context(temporary_settings({PREFECT_API_URL: ui}))
                print(f"Reporting to the Prefect UI at {ui.removesuffix('/api')} (warisan ui)")
            return _run(args, config, log_path)
        except USER_ERRORS as err:
            _LOG.info("warisan %s failed", args.command, exc_info=err)  # its trace, in the log file
            print(_one_line(err, log_path), file=sys.stderr)
            return 2
        except Exception:  # a bug: Python's traceback follows on the terminal, and goes into the log file
            _LOG.info("warisan %s failed", args.command, exc_info=True)
            raise


if __name__ == "__main__":
    sys.exit(main())
