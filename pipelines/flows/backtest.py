"""The backtest flow: rolling-origin retraining, hindcasts as issued, baselines, scores and a report.

Each origin is a chain of tasks, retrain and hindcast (pipelines.evaluation.fit) then verify
(pipelines.evaluation.verify), each submitted to the flow's task runner once the one before it
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
from pathlib import Path

import pandas as pd
from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.task_runners import ProcessPoolTaskRunner

from models.backtest import rolling_origins
from models.flood import FLOOD_PARAMS
from pipelines.config import load_city_config
from pipelines.evaluation.origins import run_origins
from pipelines.evaluation.record import backtest_record
from pipelines.evaluation.report import summary_markdown, write_report
from pipelines.evaluation.verify import score, verification_targets
from pipelines.flows.features import build_features
from pipelines.progress import log
from pipelines.runner import on_this_runner
from pipelines.storage import write_atomic, write_text_atomic
from pipelines.training.refit import load_inputs

# Origins run side by side, each task in a worker process, one per LightGBM fit's threads: on 2 cores one
# at a time, as two origins at once were slower than one (benchmarks/bench_backtest.py, README).
WORKERS = max(1, (os.cpu_count() or 1) // FLOOD_PARAMS["num_threads"])




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
    targets, verified = run_origins(config, inputs, lambda: verification_targets(config, inputs, period), active,
                                     out)
    log(f"{len(active)} origins retrained, hindcast and verified")
    record = backtest_record(config, start, end, windows, paths)
    scores = score(config, inputs, targets, verified)
    scores.attrs |= {"city": config.city.slug, "start": start.isoformat(), "end": end.isoformat(),
                     "seed": config.train.seed, "confidence": config.backtest.confidence,
                     "code_version": record["code_version"], "record": json.dumps(record, sort_keys=True)}
    encoding = {name: {**scores[name].encoding, "zlib": True, "complevel": 4} for name in scores.data_vars}
    written = {  # every origin's tasks have ended: no other NetCDF operation runs now
        "scores": [write_atomic(out / "scores.nc", lambda tmp: scores.to_netcdf(tmp, encoding=encoding), suffix=".nc")],
        "record": [write_text_atomic(out / "backtest.json", json.dumps(record, indent=2, sort_keys=True))],
        "report": [write_report(scores, record, out / "report.html")],
        "hindcasts": [out / "hindcasts" / f"{origin}.nc" for origin, _ in active],
    }
    create_markdown_artifact(key=f"{config.city.slug}-backtest", markdown=summary_markdown(config, scores, written),
                             description=f"backtest {start} to {end}")
    return written


