"""Invariants of the pure functions, over many generated inputs (hypothesis, few examples each).

Features keep shape, mask and units; calibrated probabilities stay in [0, 1]; tasmax quantiles
never cross; levels never fall when their input rises.
"""

import numpy as np
import pandas as pd
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from features.urban import distance_to_m
from features.weather import DRIVERS, daily_drivers
from models.calibration import Calibration, fit_isotonic, fit_platt
from models.heat.levels import band_level, sustained_level
from models.heat.regression import predict_heat
from pipelines.publish.grid import level_from_bands
from tests.conftest import grid
from tests.features.test_weather import CLIMATE, UNITS, sunshine, tanks

FEW = settings(max_examples=25, deadline=None)
RATES = st.floats(0, 500, allow_nan=False)  # the contract's range of hourly rain, mm h-1
PROBABILITIES = st.floats(0, 1, allow_nan=False)
BANDS = st.lists(st.floats(0.001, 0.999), min_size=3, max_size=3, unique=True).map(sorted)


@FEW
@given(mask=arrays(bool, st.tuples(st.integers(1, 6), st.integers(1, 6))))
def test_distance_keeps_the_grid_is_zero_on_the_mask_and_in_metres(mask):
    distance = distance_to_m(grid(mask, "mask", None))
    assert distance.shape == mask.shape and distance.attrs["units"] == "m"
    if mask.any():
        assert (distance.values[mask] == 0).all() and (distance.values[~mask] >= 30).all()
    else:
        assert np.isnan(distance.values).all()


@FEW
@given(pr=arrays(float, 48 + 72, elements=RATES), lead_days=st.integers(1, 2))
def test_daily_drivers_keep_their_dims_units_and_signs(pr, lead_days):
    hours = 24 * lead_days
    values = {"pr": pr[72:72 + hours], "tas": np.full(hours, 28.0), "hurs": np.full(hours, 80.0),
              "sfcWind": np.full(hours, 2.0), "rsds": sunshine(hours), "zos": np.sin(np.arange(hours) / 2.0)}
    forecast = xr.Dataset({k: (("lead_time", "y", "x"), v.reshape(hours, 1, 1), {"units": UNITS[k]})
                           for k, v in values.items()}, coords={"y": [5.4], "x": [100.3]})
    antecedent = xr.DataArray(pr[:72].reshape(72, 1, 1), dims=("hour", "y", "x"),
                              coords={"y": [5.4], "x": [100.3]}, attrs={"units": "mm h-1"})
    drivers = daily_drivers(forecast, antecedent, lead_days=lead_days, climate=CLIMATE, tanks_at_issue_mm=tanks())
    for name, (units, _) in DRIVERS.items():
        assert drivers[name].dims == ("lead", "y", "x") and drivers[name].sizes["lead"] == lead_days
        assert drivers[name].attrs["units"] == units and np.isfinite(drivers[name].values).all(), name
    rain = drivers[["rain_max_1h_mm", "rain_max_3h_mm", "rain_24h_mm", "rain_high_tide_mm"]]
    assert all((rain[name] >= 0).all() for name in rain)
    assert (drivers["rain_max_1h_mm"] <= drivers["rain_max_3h_mm"] + 1e-3).all()
    assert (drivers["rain_high_tide_mm"] <= drivers["rain_24h_mm"] + 1e-3).all()


@FEW
@given(raw=arrays(float, 40, elements=PROBABILITIES), seed=st.integers(0, 1000))
def test_calibrated_probabilities_stay_in_0_1_and_keep_the_order(raw, seed):
    observed = np.random.default_rng(seed).integers(0, 2, raw.size)
    observed[:2] = [0, 1]  # both classes present
    weight = np.ones(raw.size)
    probe = np.linspace(0, 1, 101)
    for calibration in (fit_isotonic(raw, observed, weight), fit_platt(raw, observed, weight)):
        prob = calibration(probe)
        assert ((prob >= 0) & (prob <= 1)).all()
        assert (np.diff(prob) >= -1e-12).all()


@FEW
@given(slope=st.floats(1e-6, 50), intercept=st.floats(-50, 50), raw=arrays(float, 20, elements=PROBABILITIES))
def test_platt_maps_from_a_card_stay_in_0_1(slope, intercept, raw):
    with np.errstate(over="ignore"):  # exp overflows to inf for a certain 0: the right answer
        prob = Calibration.from_dict({"method": "platt", "slope": slope, "intercept": intercept})(raw)
    assert ((prob >= 0) & (prob <= 1)).all()


class ConstantBooster:
    """A stand-in booster predicting fixed values (the median, or another quantile's offset from it)."""

    def __init__(self, values):
        self.values, self.best_iteration = np.asarray(values), 0

    def feature_name(self):
        return ["x"]

    def predict(self, frame, num_iteration=None, raw_score=False):
        return self.values


@FEW
@given(raw=arrays(float, (3, 8), elements=st.floats(-10, 60)))
def test_tasmax_quantiles_never_cross(raw):
    boosters = {q: ConstantBooster(raw[i]) for i, q in enumerate((0.9, 0.1, 0.5))}  # any order of keys
    predicted = predict_heat(boosters, pd.DataFrame({"x": np.zeros(8)}))
    assert (predicted[0.1] <= predicted[0.5]).all() and (predicted[0.5] <= predicted[0.9]).all()
    median = raw[2]
    np.testing.assert_allclose(np.sort([median + raw[1], median, median + raw[0]], axis=0),
                               [predicted[q] for q in (0.1, 0.5, 0.9)])


@FEW
@given(values=arrays(float, 12, elements=st.floats(-20, 70)), rise=arrays(float, 12, elements=st.floats(0, 10)),
       bands=st.lists(st.floats(20, 45), min_size=1, max_size=3, unique=True).map(sorted))
def test_band_and_sustained_levels_never_fall_when_tasmax_rises(values, rise, bands):
    assert (band_level(values + rise, tuple(bands)) >= band_level(values, tuple(bands))).all()
    low, high = sustained_level(values, tuple(bands), days=3), sustained_level(values + rise, tuple(bands), days=3)
    assert (high >= low).all() and ((low >= 0) & (low <= len(bands))).all()


@FEW
@given(prob=arrays(float, 10, elements=PROBABILITIES), rise=arrays(float, 10, elements=st.floats(0, 1)),
       bands=BANDS)
def test_flood_levels_never_fall_when_the_probability_rises(prob, rise, bands):
    def level(values):
        return level_from_bands(xr.DataArray(values, dims="cell"), tuple(bands), "flood_level").values

    low, high = level(prob), level(np.minimum(prob + rise, 1))
    assert (high >= low).all() and set(np.unique(low)) <= {0, 1, 2, 3}
    assert np.isnan(level(np.where(np.arange(10) == 3, np.nan, prob))[3])  # a sea cell stays NaN
