"""The backtest's origins on the flow's task runner: retrain, hindcast and verify each, as soon as it can run."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from prefect.futures import as_completed

from pipelines.config import CityConfig
from pipelines.evaluation.fit import hindcast
from pipelines.evaluation.verify import Targets, verify
from pipelines.progress import progress_bar
from pipelines.training.refit import BacktestInputs, retrain


def run_origins(config: CityConfig, inputs: BacktestInputs, make_targets: Callable[[], Targets], windows: list,
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
    with progress_bar(2 * len(windows), "backtest") as step:
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
