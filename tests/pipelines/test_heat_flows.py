"""tasmin beside tasmax through the flows on the second city (session fixture `run`): the card, the
published layers, and a heat model registered before the conformal intervals refused by the forecast."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import numpy as np
import pytest
import xarray as xr

from pipelines.config import load_city_config
from pipelines.forecast.forecasters import load_forecasters
from pipelines.registry import RegistryError, production_version

pytestmark = pytest.mark.usefixtures("prefect_api")
QUANTILES = ("q10", "q50", "q90")


def test_the_heat_card_holds_tasmin_models_scored_like_tasmax(run, city):
    card = run["cards"]["heat"]
    assert card["variables"] == ["tasmax", "tasmin"]
    assert card["booster_files"] == [f"{v}_{q}" for v in card["variables"] for q in QUANTILES]
    tasmin = card["scores"]["tasmin"]
    assert set(tasmin["validation"]) == {"unseen_days", "unseen_stations"}
    for by_lead in tasmin["validation"].values():
        for forecasts in by_lead.values():
            assert set(forecasts) == {"model", "regional", "regional_station_bias"}
            assert {"rmse_degC", "crps_degC", "interval_coverage"} <= set(forecasts["model"])
    assert tasmin["test"]["n_rows"] > 0 and tasmin["qc"]
    leads = [str(lead) for lead in range(load_city_config(city).heat.lead_days)]
    assert {v: sorted(w) for v, w in card["interval_widening_degC"].items()} == {v: leads for v in card["variables"]}
    assert card["scores"]["test"]["n_rows"] > 0  # tasmax's, as every card's headline


def test_the_forecast_publishes_tasmin_quantiles_that_never_cross_and_stay_below_tasmax(run):
    (path,) = run["written"]["netcdf"]
    with xr.open_dataset(path) as forecast:
        land = forecast["land"].values.astype(bool)
        low, mid, high = (forecast[f"tasmin_{q}"].values[:, land] for q in QUANTILES)
        assert np.isfinite(mid).all() and (low <= mid).all() and (mid <= high).all()
        assert (mid < forecast["tasmax_q50"].values[:, land]).all()
        attrs = forecast["tasmin_q50"].attrs
        assert (attrs["units"], attrs["standard_name"], attrs["cell_methods"]) == ("degC", "air_temperature",
                                                                                   "time: minimum")


def test_a_heat_model_registered_before_the_conformal_intervals_is_refused_by_the_forecast(run, city, tmp_path):
    config = load_city_config(city)
    config = config.model_copy(update={"paths": config.paths.model_copy(update={"store": tmp_path})})
    shutil.copytree(run["store"] / "models", config.city_store / "models")
    heat = config.city_store / "models" / "heat"
    origin = dt.date(2023, 12, 1)  # the production refit `warisan train` made for the bundle's last forecast
    card_path = heat / production_version((heat / "LATEST").read_text().strip(), origin) / "card.json"
    card = json.loads(card_path.read_text())
    del card["interval_widening_degC"]
    card_path.write_text(json.dumps(card))
    with pytest.raises(RegistryError, match="card.json has no `interval_widening_degC` .* retrain with `warisan train`"):
        load_forecasters(config.city_store / "models", origin)
