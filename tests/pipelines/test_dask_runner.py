"""`runner: dask`: the same flows on a 2-worker LocalCluster, tiles of the grid, lightgbm.dask."""

from __future__ import annotations

import shutil

import lightgbm as lgb
import numpy as np
import pytest
import xarray as xr
from prefect import flow
from prefect_dask import DaskTaskRunner
from sklearn.metrics import roc_auc_score

from models.boosting import fit_booster
from pipelines import flows, runner
from pipelines.config import ConfigError, RunnerConfig, load_city_config
from pipelines.forecast.tiles import row_tiles
from tests.models.test_boosting import FEATURES, PARAMS, table
from tests.pipelines.test_config import raises_for, setting, write_config

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture(scope="module")
def scheduler():
    """The address of a LocalCluster of two worker processes, started as `warisan` starts one."""
    with runner.dask_scheduler(RunnerConfig(kind="dask", n_workers=2), "test.yaml") as address:
        yield address


def test_the_dask_runner_forecasts_what_the_local_runner_forecast(run, city, tmp_path, scheduler):
    store = tmp_path / "store"
    for folder in ("models", "features"):  # the session's models, and its static features to cut in tiles
        shutil.copytree(run["store"] / folder, store / "port-test" / folder)
    config = tmp_path / "dask.yaml"
    bundle = city.parent / "port" / "bundle"
    config.write_text(city.read_text().replace("bundle: port/bundle", f"bundle: {bundle}")
                      .replace("store: store", f"store: {store}")
                      + f"runner: {{kind: dask, address: '{scheduler}', tile_cells: 500}}\n")

    with runner.flow_runner(config) as on_runner:
        written = on_runner(flows.daily_forecast)(config)

    assert len(list((store / "port-test" / "features").glob("static-*-rows*.nc"))) == 4  # 40 rows of 50 cells
    (local_path,), (dask_path,) = run["written"]["netcdf"], written["netcdf"]
    with xr.open_dataset(local_path) as local, xr.open_dataset(dask_path) as dask:
        assert set(dask.data_vars) == set(local.data_vars)
        xr.testing.assert_allclose(dask, local, rtol=1e-6)
        assert dask.attrs["flood_model_version"] == local.attrs["flood_model_version"]


def test_lightgbm_dask_fits_a_booster_that_ranks_like_the_local_fit(scheduler):
    @flow
    def fit_on_dask() -> lgb.Booster:
        X, y = table(4000, seed=1)
        return runner.booster_fit(RunnerConfig(kind="dask"))(
            PARAMS, X, y, num_boost_round=40, valid=table(1000, seed=2), early_stopping_rounds=5)

    booster = fit_on_dask.with_options(task_runner=DaskTaskRunner(address=scheduler))()
    local = fit_booster(PARAMS, *table(4000, seed=1), num_boost_round=40, valid=table(1000, seed=2),
                        early_stopping_rounds=5)
    X, y = table(2000, seed=4)
    on_dask = booster.predict(X, num_iteration=booster.best_iteration)
    assert booster.feature_name() == FEATURES and 1 <= booster.best_iteration <= 40
    assert "machines" not in booster.params  # the run's network settings are not kept on the model
    on_one_machine = local.predict(X, num_iteration=local.best_iteration)
    assert np.corrcoef(on_dask, on_one_machine)[0, 1] > 0.95
    assert roc_auc_score(y, on_dask) == pytest.approx(roc_auc_score(y, on_one_machine), abs=0.02)


def test_fitting_on_dask_outside_a_dask_flow_says_what_it_needs():
    with pytest.raises(RuntimeError, match="lightgbm.dask needs a flow running on a Dask cluster"):
        runner.fit_booster_on_dask(PARAMS, *table(100, seed=1), num_boost_round=2)


def test_row_tiles_cover_every_row_with_land_in_each():
    rows = [slice(0, 5), slice(5, 10), slice(10, 16)]  # the 1-row remainder joins the tile before
    assert row_tiles(np.ones(16, bool), rows_per_tile=5) == rows
    sea_north = np.r_[np.zeros(5, bool), np.ones(11, bool)]
    assert row_tiles(sea_north, rows_per_tile=5) == [slice(0, 10), slice(10, 16)]
    assert row_tiles(np.zeros(16, bool), rows_per_tile=5) == [slice(0, 16)]
    fours = [slice(0, 4), slice(4, 8), slice(8, 12), slice(12, 16)]  # never fewer than 4 rows
    assert row_tiles(np.ones(16, bool), rows_per_tile=1) == fours


def test_the_runner_block_defaults_to_local():
    assert RunnerConfig().kind == "local"


def test_cluster_settings_with_the_local_runner_are_refused(tmp_path):
    path = write_config(tmp_path, setting("", runner={"kind": "local", "n_workers": 4}))
    with raises_for(path, "runner", "n_workers apply to kind: dask only"):
        load_city_config(path)


def test_sizing_a_cluster_at_an_address_is_refused(tmp_path):
    path = write_config(tmp_path, setting("", runner={"kind": "dask", "address": "tcp://10.0.0.5:8786",
                                                      "threads_per_worker": 4}))
    with raises_for(path, "runner", "threads_per_worker size the LocalCluster started when no address"):
        load_city_config(path)


def test_an_address_where_no_scheduler_answers_names_the_config_and_field(monkeypatch):
    monkeypatch.setattr(runner, "CONNECT_TIMEOUT_S", 1)
    settings = RunnerConfig(kind="dask", address="tcp://127.0.0.1:9")
    refused = pytest.raises(ConfigError, match=r"^city.yaml: runner.address: no Dask scheduler answers at tcp://")
    with refused, runner.dask_scheduler(settings, "city.yaml"):
        pass
