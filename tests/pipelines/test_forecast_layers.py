"""The forecast's model layers: the flood drivers are computed only where a reader looks for them."""

import numpy as np

from models.flood import flood_drivers, train_flood_model
from pipelines.forecast.forecasters import Forecasters
from pipelines.forecast.layers import model_layers
from tests.models.test_models import calibrated_split_for, synthetic_table

LEADS = {"flood_lead_days": 3, "heat_lead_days": 3}  # synthetic_table's leads are 0-2


def _flood_forecasters(n: int = 3000, rounds: int = 20):
    table = synthetic_table(n=n).assign(issue_index=lambda t: np.arange(len(t)), rain_max_3h_mm=0.0,
                                           drainage_capacity_mm=10.0, sea_level_at_peak_rain_m=0.0,
                                           tide_block_level_m=1.0)
    model, _ = train_flood_model(table, ["rain_24h_mm", "hand_m", "tasmax_regional_degC"], calibrated_split_for(len(table)),
                                 num_boost_round=rounds, seed=0)
    return Forecasters(flood=model, heat={}, heat_widening={}, flood_version="f", heat_version="h"), table


def test_flood_is_nan_past_its_lead_days_and_the_same_as_alone_before():
    forecasters, table = _flood_forecasters()
    frame = table.iloc[:600]
    shorter = model_layers(forecasters, frame, flood_attrs={"units": "1"}, explain_from=None, flood_lead_days=2,
                           heat_lead_days=3)
    chance, attrs = shorter["flood_probability"]
    within = frame["lead"].to_numpy() < 2
    assert len(chance) == len(frame) and 0 < within.sum() < len(frame)
    assert np.isnan(chance[~within]).all() and np.isfinite(chance[within]).all()
    alone = model_layers(forecasters, frame[within], flood_attrs={}, explain_from=None, **LEADS)
    np.testing.assert_array_equal(chance[within], alone["flood_probability"][0])
    assert attrs["comment"] == "NaN at leads 2 and later: flood is forecast 2 days ahead"
    assert "comment" not in model_layers(forecasters, frame, flood_attrs={}, explain_from=None, **LEADS)[
        "flood_probability"][1]


def test_flood_drivers_are_given_where_the_chance_reaches_explain_from_and_nowhere_else():
    forecasters, table = _flood_forecasters(n=6000, rounds=40)
    model = forecasters.flood
    frame = table.iloc[:500]
    everywhere = model_layers(forecasters, frame, flood_attrs={}, explain_from=0.0, **LEADS)
    chance = everywhere["flood_probability"][0]
    level_1 = float(np.unique(chance)[len(np.unique(chance)) // 2])  # chances on both sides of it
    layers = model_layers(forecasters, frame, flood_attrs={}, explain_from=level_1, **LEADS)
    driver, attrs = layers["flood_driver_1"]
    reached = chance >= level_1
    assert 0 < reached.sum() < len(frame)
    np.testing.assert_array_equal(np.isfinite(driver), reached)
    index, _ = flood_drivers(model.booster, frame.iloc[np.flatnonzero(reached)], top=3)
    np.testing.assert_array_equal(driver[reached], index[:, 0])  # the same drivers as over the explained rows alone
    np.testing.assert_array_equal(everywhere["flood_driver_1"][0][reached], driver[reached])
    assert f"reaches {level_1:g}" in attrs["comment"]
    assert "flood_driver_1" not in model_layers(forecasters, frame, flood_attrs={}, explain_from=None, **LEADS)
