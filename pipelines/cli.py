"""The `warisan` command: one subcommand per flow, plus `demo` and `validate`."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from pipelines.config import ConfigError
from pipelines.progress import without_tracebacks_for
from pipelines.registry import RegistryError
from pipelines.storage import PublishError

USER_ERRORS = (ConfigError, FileNotFoundError, NotImplementedError, PublishError, RegistryError,
               ValueError)  # bad input or a store that cannot take the day, not bugs
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="warisan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def with_config(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="city YAML (default: demo)")
        return sub

    with_config("demo", "demo bundle -> features -> train -> forecast for the last date")
    ingest = with_config("ingest", "fill or refresh the bundle from the configured source (kind bundle: validate)")
    ingest.add_argument("--date", type=dt.date.fromisoformat, metavar="YYYY-MM-DD",
                        help="forecast issue date (default: today, local)")
    ingest.add_argument("--dry-run", action="store_true", help="print the requests a live ingest would send")
    with_config("features", "build static features and daily drivers")
    with_config("train", "train and register the flood and heat models; score the flood card against a demo truth")
    forecast = with_config("forecast", "run the daily forecast for one issue date")
    forecast.add_argument("--date", type=dt.date.fromisoformat, metavar="YYYY-MM-DD",
                          help="issue date (default: the bundle's last)")
    forecast.add_argument("--drill", action="store_true", help="send alerts with CAP status Test")
    backtest = with_config("backtest", "rolling-origin retraining, hindcasts, baselines, scores and a report")
    backtest.add_argument("--start", type=dt.date.fromisoformat, required=True, metavar="YYYY-MM-DD",
                          help="first issue date")
    backtest.add_argument("--end", type=dt.date.fromisoformat, required=True, metavar="YYYY-MM-DD",
                          help="last issue date")
    with_config("serve", "serve daily_forecast on Prefect's scheduler (cron from the config)")
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
    print(f"\nPublished in {folder}:")
    for kind, kind_paths in written.items():
        names = [str(p.relative_to(folder)) if p.is_relative_to(folder) else str(p) for p in kind_paths]
        if len(names) > 3:
            inside = os.path.commonpath([os.path.dirname(n) or "." for n in names])
            names = [f"{len(names)} files" + ("" if inside in ("", ".") else f" in {inside}/")]
        print(f"  {kind:<10} {', '.join(names)}")
    if pages:
        print(f"\nOpen first: {pages[0]}")


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


def _run(args: argparse.Namespace) -> int:
    from pipelines import flows
    from pipelines.flows.evaluate import evaluate  # scores the card against a demo truth, where there is one
    from pipelines.runner import flow_runner

    if args.command == "ingest" and args.dry_run:
        return _dry_run(args)
    if args.command == "serve":
        from pipelines.flows.deploy import serve_daily

        serve_daily(args.config)  # scheduled runs take the flow's own task runner (docs/scaling.md)
        return 0

    with flow_runner(args.config) as on_runner:  # the config's runner: local, or one Dask cluster for all
        if args.command == "demo":
            on_runner(flows.ingest)(args.config)
            cards = on_runner(flows.train)(args.config)
            on_runner(evaluate)(args.config)
            written = on_runner(flows.daily_forecast)(args.config)
            _print_cards(cards)
            _print_outputs(written)
        elif args.command == "ingest":
            print(on_runner(flows.ingest)(args.config, args.date))
        elif args.command == "features":
            for name, path in on_runner(flows.build_features)(args.config).items():
                print(f"{name}: {path}")
        elif args.command == "train":
            _print_cards(on_runner(flows.train)(args.config))
            on_runner(evaluate)(args.config)
        elif args.command == "forecast":
            _print_outputs(on_runner(flows.daily_forecast)(args.config, args.date, drill=args.drill))
        elif args.command == "backtest":
            from pipelines.flows.backtest import backtest

            _print_outputs(on_runner(backtest)(args.config, args.start, args.end))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `warisan` console command; user errors exit 2 with one clear message."""
    args = _parser().parse_args(argv)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # offline: no telemetry
    without_tracebacks_for(USER_ERRORS)  # the one line below says it all
    try:
        return _validate(args) if args.command == "validate" else _run(args)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)  # bundle, model and input errors name file and field
        return 2


if __name__ == "__main__":
    sys.exit(main())
