"""Where a flow's tasks run: the config's `runner` (docs/scaling.md).

`runner: local` (the default) runs each flow as its decorator says. `runner: dask` runs the same
flows on prefect-dask's DaskTaskRunner, against the scheduler at `runner.address` or a
LocalCluster started for the run, and fits LightGBM with lightgbm.dask. The decorators know
nothing of the config: whoever runs a flow for a config (the CLI, a benchmark) wraps it with
`flow_runner`, and a flow that calls another passes it through `on_this_runner`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import dask.array as da
import distributed
import lightgbm as lgb
import numpy as np
import pandas as pd
from prefect import Flow
from prefect.context import FlowRunContext
from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED, temporary_settings
from prefect_dask import DaskTaskRunner

from models.boosting import (
    BoosterFit,
    early_stopping_iteration,
    fit_booster,
    require_early_stopping_pair,
    validation_loss,
)
from pipelines.config import ConfigError, RunnerConfig, load_city_config
from pipelines.progress import show_boosting_round

CONNECT_TIMEOUT_S = 10  # how long to wait for the scheduler at `runner.address`
_NETWORK_PARAMS = ("machines", "local_listen_port", "num_machines", "time_out")  # lightgbm.dask's, per run


@contextmanager
def flow_runner(config_path: Path | str) -> Iterator[Callable[[Flow], Flow]]:
    """Yield `on_runner`: `on_runner(flow)` is `flow` on the task runner of the config's `runner`.

    With `kind: dask` one cluster serves every flow run in the block (a LocalCluster lives as
    long as the block), and the workers report to the same Prefect API as the flow.
    """
    runner = load_city_config(config_path).runner
    if runner.kind == "local":
        yield lambda flow: flow
        return
    with _shared_prefect_api(), dask_scheduler(runner, config_path) as address:
        yield lambda flow: flow.with_options(task_runner=DaskTaskRunner(address=address))


def on_this_runner(flow: Flow) -> Flow:
    """`flow`, to be called from a running flow, on that flow's Dask cluster if it has one
    (Prefect gives a subflow its decorator's task runner otherwise)."""
    context = FlowRunContext.get()
    if context is None or not isinstance(context.task_runner, DaskTaskRunner):
        return flow
    return flow.with_options(task_runner=context.task_runner.duplicate())


@contextmanager
def dask_scheduler(runner: RunnerConfig, config_path: Path | str) -> Iterator[str]:
    """The address of the runner's Dask scheduler for the block: `runner.address` once it answers,
    else that of a LocalCluster of `n_workers` processes, closed at the end of the block."""
    if runner.address:
        try:
            with distributed.Client(runner.address, timeout=CONNECT_TIMEOUT_S):
                pass
        except (OSError, TimeoutError) as err:
            raise ConfigError(f"{config_path}: runner.address: no Dask scheduler answers at {runner.address} "
                              f"within {CONNECT_TIMEOUT_S} s ({type(err).__name__})") from err
        yield runner.address
        return
    with distributed.LocalCluster(n_workers=runner.n_workers, threads_per_worker=runner.threads_per_worker,
                                  processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


@contextmanager
def _shared_prefect_api() -> Iterator[None]:
    """Workers report task runs to the flow's Prefect API: without a configured one, start
    Prefect's temporary server here and point the flow (and so its workers) at it."""
    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the one Prefect would start for the flow; stopped at exit
    server.start()
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        yield


# A booster fitted in this process, its rounds shown on the command's status line (pipelines.progress).
LOCAL_FIT: BoosterFit = partial(fit_booster, callbacks=[show_boosting_round])


def booster_fit(runner: RunnerConfig) -> BoosterFit:
    """How `runner` fits a LightGBM booster: in this process, or with lightgbm.dask on its cluster."""
    return LOCAL_FIT if runner.kind == "local" else fit_booster_on_dask


def fit_booster_on_dask(
    params: dict, X: pd.DataFrame, y: pd.Series, *, num_boost_round: int,
    valid: tuple[pd.DataFrame, pd.Series] | None = None, early_stopping_rounds: int | None = None,
) -> lgb.Booster:
    """models.boosting.fit_booster on the running flow's Dask cluster with lightgbm.dask.

    The rows are split evenly over the workers, which train together (LightGBM's data-parallel
    learner, each worker's threads). lightgbm.dask cannot stop early, so all `num_boost_round`
    rounds are fitted, and `best_iteration` is the round LightGBM's early stopping would keep
    on `valid` (models.boosting.early_stopping_iteration); predictions stop there.
    """
    require_early_stopping_pair(valid, early_stopping_rounds)
    model_class = lgb.DaskLGBMClassifier if params.get("objective") == "binary" else lgb.DaskLGBMRegressor
    with _dask_client() as client, client.as_current():  # lightgbm.dask waits on the current client
        rows = -(-len(X) // max(1, len(client.scheduler_info()["workers"])))  # one block a worker
        matrix = X.to_numpy(np.result_type(np.float32, *X.dtypes))  # float32 columns stay float32
        data = da.from_array(matrix, chunks=(rows, -1))
        label = da.from_array(y.to_numpy(np.float64), chunks=rows)
        fitted = {k: v for k, v in params.items() if k != "num_threads"}  # lightgbm.dask sets it per worker
        model = model_class(client=client, n_estimators=num_boost_round, **fitted)
        with warnings.catch_warnings():  # the wrapper's own n_jobs, set per worker as said above
            warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored", UserWarning)
            model.fit(data, label, feature_name=list(X.columns))
    booster = model.booster_
    for name in _NETWORK_PARAMS:
        booster.params.pop(name, None)
    if valid is not None:
        losses = validation_loss(booster, *valid)
        booster.best_iteration = early_stopping_iteration(losses, early_stopping_rounds)
    return booster


@contextmanager
def _dask_client() -> Iterator[distributed.Client]:
    """The Dask client of the running flow's task runner; on a worker, one that frees its thread."""
    try:
        distributed.get_worker()
        on_worker = True
    except ValueError:
        on_worker = False
    if on_worker:  # a task on a worker: seceding lets the worker's thread train its share
        with distributed.worker_client() as client:
            yield client
        return
    context = FlowRunContext.get()
    runner = context.task_runner if context else None
    if isinstance(runner, DaskTaskRunner):
        yield runner.client
        return
    raise RuntimeError("lightgbm.dask needs a flow running on a Dask cluster "
                       "(pipelines.runner.flow_runner with runner kind dask)")
