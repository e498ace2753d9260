"""The backtest scores the forecast that ships: a hindcast publishes what daily_forecast publishes."""

import dataclasses
import datetime as dt
import shutil

import numpy as np
import pandas as pd
import xarray as xr
from prefect.logging import disable_run_logger

from pipelines import flows
from pipelines.config import load_city_config
from pipelines.evaluation.fit import hindcast, load_inputs, retrain
from pipelines.feature_cache.build import build_driver_history, build_static_features
from pipelines.forecast.forecasters import load_forecasters

DATES = [dt.date(2023, 9, 12), dt.date(2023, 11, 20), dt.date(2023, 12, 31)]
SHARED = ("flood_probability", "tasmax_q10", "tasmax_q50", "tasmax_q90")  # what both publish


def test_hindcasts_with_the_registered_models_equal_the_daily_forecasts_bit_for_bit(city, run, tmp_path):
    # The daily forecasts go to a store of their own (with the session's models), so the session's
    # published days, alert state and `latest` stay as the other tests expect them.
    own = city.parent / "port-one-path.yaml"
    own.write_text(city.read_text().replace("store: store}", "store: store-one-path}"))
    config = load_city_config(own)
    shutil.copytree(run["store"] / "models", config.city_store / "models")
    published = {}
    for day in DATES:
        written = flows.daily_forecast(own, issue_date=day)
        published[day] = xr.load_dataset(written["netcdf"][0])

    with disable_run_logger():
        paths = {"static": build_static_features.fn(config), "drivers": build_driver_history.fn(config)}
    inputs = load_inputs.fn(config, paths)
    n_cells = len(inputs.cells)
    registered = load_forecasters(config.city_store / "models")
    # The baselines of an origin's refit, the registered models in place of its own.
    fitted = dataclasses.replace(retrain.fn(config, inputs, dt.date(2023, 9, 1)), forecasters=registered)
    hindcasts = xr.load_dataset(hindcast.fn(config, inputs, fitted, pd.DatetimeIndex(DATES), tmp_path / "h.nc"))

    for day, forecast in published.items():
        for name in SHARED:
            # Both are float32 on disk from the same frame and models: equal to the last bit, sea NaN alike.
            np.testing.assert_array_equal(hindcasts[name].sel(issue_date=pd.Timestamp(day)).values,
                                          forecast[name].values, err_msg=f"{name} on {day}")
        assert forecast.attrs["flood_model_version"] == registered.flood_version
    assert np.isfinite(hindcasts["flood_probability"].values).sum() == len(DATES) * config.lead_days * n_cells
