"""The backtest scores the forecast that ships: a hindcast publishes what daily_forecast publishes."""

import datetime as dt
import shutil

import numpy as np
import pandas as pd
import xarray as xr
from prefect.logging import disable_run_logger

from pipelines import flows
from pipelines.config import load_city_config
from pipelines.evaluation.fit import hindcast
from pipelines.feature_cache.build import build_driver_history, build_static_features
from pipelines.training.production import refit_origin
from pipelines.training.refit import load_inputs, retrain

DATES = [dt.date(2023, 10, 12), dt.date(2023, 11, 20), dt.date(2023, 12, 31)]
SHARED = ("flood_probability", "tasmax_q10", "tasmax_q50", "tasmax_q90")  # what both publish


def test_the_backtests_refits_hindcast_the_daily_forecasts_bit_for_bit(city, run, tmp_path):
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
    for day, forecast in published.items():
        # The backtest's refit at the day's origin (the first of its month), with its own models: the
        # production refit the daily forecast ran is this very fit, so the hindcast is the forecast.
        origin = refit_origin(config.train.refit, day)
        fitted = retrain.fn(config, inputs, origin)
        hindcasts = xr.load_dataset(hindcast.fn(config, inputs, fitted, pd.DatetimeIndex([day]), tmp_path / f"{day}.nc"))
        for name in SHARED:
            # Both are float32 on disk from the same frame and models: equal to the last bit, sea NaN alike.
            np.testing.assert_array_equal(hindcasts[name].sel(issue_date=pd.Timestamp(day)).values,
                                          forecast[name].values, err_msg=f"{name} on {day}")
        assert forecast.attrs["models_trained_before"] == origin.isoformat()
        assert forecast.attrs["flood_model_version"].endswith(f"-refit-{origin}")
        assert np.isfinite(hindcasts["flood_probability"].values).sum() == config.flood.lead_days * n_cells
