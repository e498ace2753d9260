"""The backtest flow: rolling-origin retraining, hindcasts as issued, baselines, scores and a report.

Each origin is a chain of tasks, retrain and hindcast (pipelines.backtest_fit) then verify
(pipelines.backtest_verify), each submitted to the flow's task runner once the one before it
has ended, so origins run side by side where the runner has workers (a process pool of WORKERS
by default, or the config's Dask cluster). A progress bar on the terminal ticks as each retrain
and hindcast ends; the Prefect UI shows every task's state.
Outputs go to <store>/<city>/backtests/<start>_<end>/: hindcasts/<origin>.nc, scores.nc,
backtest.json, report.html.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.futures import as_completed
from prefect.task_runners import ProcessPoolTaskRunner
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from models.backtest import rolling_origins
from models.card import library_versions
from models.flood import FLOOD_PARAMS
from pipelines.backtest_fit import BacktestInputs, hindcast, load_inputs, retrain
from pipelines.backtest_report import write_report
from pipelines.backtest_verify import Targets, score, verification_targets, verify
from pipelines.config import CityConfig, load_city_config
from pipelines.featurize import build_features
from pipelines.flow_common import log
from pipelines.runner import on_this_runner
from pipelines.storage import sha256_file, write_atomic, write_text_atomic

# Origins run side by side, each task in a worker process, one per LightGBM fit's threads: on 2 cores one
# at a time, as two origins at once were slower than one (benchmarks/bench_backtest.py, README).
WORKERS = max(1, (os.cpu_count() or 1) // FLOOD_PARAMS["num_threads"])


def _code_version() -> str:
    """`git describe` of the code's checkout, else the installed warisan version."""
    root = Path(__file__).resolve().parents[1]
    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=root, capture_output=True,
                              text=True, timeout=10, check=True)
        return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"warisan {library_versions()['warisan']}"


def _record(config: CityConfig, start: dt.date, end: dt.date, windows, paths: dict[str, Path]) -> dict:
    """What the scores depend on: config, seed, origins, code and library versions, input hashes."""
    inputs = {"static_features": sha256_file(paths["static"]), "drivers": sha256_file(paths["drivers"]),
              "provenance.json": sha256_file(config.bundle_dir / "provenance.json")}
    inputs |= {f"obs/{name}": sha256_file(config.bundle_dir / "obs" / name)
               for name in ("flood_events.csv", "temperature.csv")}
    inputs |= {f"truth/{name}": sha256_file(config.truth_dir / name)
               for name in ("flood.nc", "tasmax.nc") if (config.truth_dir / name).exists()}
    return {"city": config.city.slug, "start": start.isoformat(), "end": end.isoformat(),
            "origins": [[o.isoformat(), e.isoformat()] for o, e in windows], "seed": config.train.seed,
            "code_version": _code_version(), "libraries": library_versions(), "input_sha256": inputs,
            "config": json.loads(config.model_dump_json())}


@contextmanager
def progress_bar(total: int) -> Iterator[Callable[[str], None]]:
    """A progress bar of `total` steps on a terminal's stderr (nothing elsewhere); yields `step(text)`."""
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        steps = bar.add_task("backtest", total=total)
        yield lambda text: bar.update(steps, advance=1, description=text)


def _run_origins(config: CityConfig, inputs: BacktestInputs, make_targets: Callable[[], Targets], windows: list,
                 out: Path) -> tuple[Targets, list]:
    """Retrain, hindcast and verify every (origin, issue dates) of `windows` on the flow's task runner,
    each step submitted once the one before it has ended; the targets and the verified origins, in order.

    The targets are made here while the first retrains run on the workers."""
    # Worker processes start with this: LightGBM's OpenMP threads then sleep while they wait instead of
    # spinning, which on two cores shared with another fit (or anything else) slows both several-fold.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    retrains = {retrain.submit(config, inputs, origin): k for k, (origin, _) in enumerate(windows)}
    targets = make_targets()
    hindcasts, verified = {}, {}
    with progress_bar(2 * len(windows)) as step:
        for done in as_completed(list(retrains)):
            k = retrains[done]
            origin, dates = windows[k]
            done.result()  # a failed fit fails the flow here
            step(f"retrained {origin}")
            path = out / "hindcasts" / f"{origin}.nc"
            hindcasts[hindcast.submit(config, inputs, done, dates, path)] = (k, done)
        for done in as_completed(list(hindcasts)):
            k, fitted = hindcasts[done]
            step(f"hindcast {windows[k][0]}")
            verified[k] = verify.submit(config, inputs, fitted, done, targets)
    return targets, [verified[k].result() for k in range(len(windows))]


@flow(name="backtest", log_prints=True, task_runner=ProcessPoolTaskRunner(max_workers=WORKERS))
def backtest(config_path: Path, start: dt.date, end: dt.date) -> dict[str, list[Path]]:
    """Rolling-origin retraining and hindcasts from `start` to `end`, baselines, scores and a report."""
    config = load_city_config(config_path)
    paths = on_this_runner(build_features)(config_path)  # cached: static features are built once per bundle
    inputs = load_inputs(config, paths)
    dates = inputs.issue_dates
    period = dates[(dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))]
    if period.empty:
        raise ValueError(f"{config.bundle_dir}: no forecast issued between {start} and {end} "
                         f"(issue dates run {dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d})")
    windows = rolling_origins(start, end, every=config.backtest.origin_every)
    active = []
    for origin, last in windows:
        window = period[(period >= pd.Timestamp(origin)) & (period <= pd.Timestamp(last))]
        if window.empty:
            log(f"origin {origin}: no issue date until {last}, skipped")
        else:
            active.append((origin, window))
    out = config.city_store / "backtests" / f"{start}_{end}"
    targets, verified = _run_origins(config, inputs, lambda: verification_targets(config, inputs, period), active,
                                     out)
    log(f"{len(active)} origins retrained, hindcast and verified")
    record = _record(config, start, end, windows, paths)
    scores = score(config, inputs, targets, verified)
    scores.attrs |= {"city": config.city.slug, "start": start.isoformat(), "end": end.isoformat(),
                     "seed": config.train.seed, "confidence": config.backtest.confidence,
                     "code_version": record["code_version"], "record": json.dumps(record, sort_keys=True)}
    encoding = {name: {"zlib": True, "complevel": 4} for name in scores.data_vars}
    written = {  # every origin's tasks have ended: no other NetCDF operation runs now
        "scores": [write_atomic(out / "scores.nc", lambda tmp: scores.to_netcdf(tmp, encoding=encoding), suffix=".nc")],
        "record": [write_text_atomic(out / "backtest.json", json.dumps(record, indent=2, sort_keys=True))],
        "report": [write_report(scores, record, out / "report.html")],
        "hindcasts": [out / "hindcasts" / f"{origin}.nc" for origin, _ in active],
    }
    create_markdown_artifact(key=f"{config.city.slug}-backtest", markdown=_summary(config, scores, written),
                             description=f"backtest {start} to {end}")
    return written


def _summary(config: CityConfig, scores: xr.Dataset, written: dict[str, list[Path]]) -> str:
    """Headline table for the Prefect UI: ROC AUC and BSS (flood), MAE (heat) by lead and model."""
    lines = [f"# Backtest {config.city.name}, {scores.attrs['start']} to {scores.attrs['end']}", "",
             "| hazard | target | metric | model | " + " | ".join(f"lead {v}" for v in scores.lead.values) + " |",
             "|---|---|---|---|" + "---|" * scores.sizes["lead"]]
    for hazard, metric in (("flood", "roc_auc"), ("flood", "brier_skill_score"), ("heat", "mae_degC")):
        for target in scores.target.values:
            table = scores["score"].sel(hazard=hazard, target=target, metric=metric, zone="all", period="all",
                                        days="all")
            for model in table.model.values:
                row = table.sel(model=model).values
                if np.isfinite(row).any():
                    lines.append(f"| {hazard} | {target} | {metric} | {model} | "
                                 + " | ".join(f"{v:.3f}" for v in row) + " |")
    lines += ["", *(f"- {kind}: `{paths[0]}`" for kind, paths in written.items() if paths)]
    return "\n".join(lines)
