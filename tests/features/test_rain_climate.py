import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.stats import genextreme

from features.rain_climate import (
    RETURN_PERIOD_RANGE_YEARS,
    annual_maxima_mm,
    gev_rain_climate,
    return_period_years,
    tank_storage,
)

TRUE_GEV = {"c": -0.1, "loc": 50.0, "scale": 15.0}  # scipy's c: xi = 0.1, a heavy upper tail


def hourly_pr(values: np.ndarray, start: str = "2001-01-01") -> xr.DataArray:
    """`values` (hours, y, x) as hourly rain in mm h-1 from `start`."""
    values = np.asarray(values, float)
    return xr.DataArray(values, dims=("time", "y", "x"), attrs={"units": "mm h-1"},
                        coords={"time": pd.date_range(start, periods=values.shape[0], freq="h"),
                                "y": np.arange(values.shape[1]), "x": np.arange(values.shape[2])})


def climate(shape: float, loc_mm: float, scale_mm: float, hours: int = 24) -> xr.Dataset:
    return xr.Dataset({"shape": ("duration_h", [shape]), "loc_mm": ("duration_h", [loc_mm]),
                       "scale_mm": ("duration_h", [scale_mm])}, coords={"duration_h": [hours]})


def mm(values) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, float), dims="day", attrs={"units": "mm"})


def gev_years(n_years: int, seed: int = 0) -> xr.DataArray:
    """Hourly rain over `n_years` on a 2x2 grid: dry but for one hour a year per cell, of a GEV amount."""
    time = pd.date_range("2001-01-01", f"{2001 + n_years}-01-01", freq="h", inclusive="left")
    values = np.zeros((time.size, 2, 2), "float32")
    rng = np.random.default_rng(seed)
    for year in range(n_years):
        at = np.flatnonzero(time.year == 2001 + year)[rng.integers(0, 8700, 4)]
        values[at, [0, 0, 1, 1], [0, 1, 0, 1]] = genextreme.rvs(**TRUE_GEV, size=4, random_state=rng)
    return hourly_pr(values)


def test_the_ten_year_amount_of_a_known_gev_has_a_ten_year_return_period():
    ten_year = genextreme.ppf(np.exp(-1 / 10), **TRUE_GEV)  # exceeded once in 10 years on average
    known = climate(TRUE_GEV["c"], TRUE_GEV["loc"], TRUE_GEV["scale"])
    np.testing.assert_allclose(return_period_years(mm([ten_year]), known, 24), [10.0], rtol=1e-6)


def test_rare_amounts_take_the_annual_maximum_return_period():
    hundred_year = genextreme.ppf(1 - 1 / 100, **TRUE_GEV)  # T = 1 / (1 - F) for rare events
    known = climate(TRUE_GEV["c"], TRUE_GEV["loc"], TRUE_GEV["scale"])
    np.testing.assert_allclose(return_period_years(mm([hundred_year]), known, 24), [100.0], rtol=0.01)


def test_a_fit_on_synthetic_gev_maxima_maps_the_ten_year_amount_back_to_about_ten_years():
    fit = gev_rain_climate(gev_years(50), durations_h=(1,))
    assert fit["n_maxima"].item() == 200  # 50 years x 4 cells, pooled
    ten_year = genextreme.ppf(np.exp(-1 / 10), **TRUE_GEV)
    assert 7.0 < float(return_period_years(mm([ten_year]), fit, 1)[0]) < 14.0
    np.testing.assert_allclose(fit["loc_mm"], TRUE_GEV["loc"], rtol=0.1)


def test_return_periods_grow_with_rain_and_are_clipped():
    known = climate(0.0, 100.0, 10.0)
    years = return_period_years(mm([0.0, 50.0, 100.0, 150.0, 400.0, np.nan]), known, 24).values
    assert years[0] == pytest.approx(RETURN_PERIOD_RANGE_YEARS[0])  # a dry day: the shortest period
    assert years[4] == RETURN_PERIOD_RANGE_YEARS[1]  # far beyond the record: the longest
    assert (np.diff(years[:5]) > 0).all() and np.isnan(years[5])
    assert return_period_years(mm([50.0]), known, 24).attrs["units"] == "years"


def test_a_climate_without_a_fit_gives_nan_return_periods():
    assert np.isnan(return_period_years(mm([10.0, 80.0]), climate(np.nan, np.nan, np.nan), 24)).all()


def test_too_few_annual_maxima_leave_the_climate_unfitted():
    fit = gev_rain_climate(gev_years(2), durations_h=(1, 3))  # 2 years x 4 cells = 8 maxima
    assert (fit["n_maxima"] == 8).all() and fit["shape"].isnull().all()


def test_annual_maxima_are_the_largest_window_totals_and_skip_short_years():
    pr = np.zeros((8760 + 100, 1, 1))  # 2001 whole, then 100 hours of 2002
    pr[10:13, 0, 0] = [4.0, 6.0, 5.0]
    pr[8765, 0, 0] = 50.0
    maxima = annual_maxima_mm(hourly_pr(pr), hours=3)
    assert maxima.sel(year=2001).item() == pytest.approx(15.0)
    assert np.isnan(maxima.sel(year=2002).item())  # 100 hours are no year
    assert maxima.attrs["units"] == "mm"


def test_rain_climate_refuses_wrong_units_and_unknown_durations():
    wrong = hourly_pr(np.zeros((48, 1, 1))).assign_attrs(units="mm")
    with pytest.raises(ValueError, match="`pr` must be in 'mm h-1'"):
        annual_maxima_mm(wrong, hours=3)
    with pytest.raises(ValueError, match="no fit for 3 h"):
        return_period_years(mm([1.0]), climate(0.0, 100.0, 25.0, hours=24), 3)


def one_series(values) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, float), dims="time", attrs={"units": "mm h-1"})


def test_tank_storage_matches_the_hand_computed_first_hours():
    tanks = tank_storage(one_series([20.0, 0.0]))["storage_mm"].values
    np.testing.assert_allclose(tanks[0], [20.0, 0.0, 0.0])  # outflows read the storage before the rain
    # hour 2: tank 1 spills 0.1 x (20 - 15) = 0.5 and seeps 0.12 x 20 = 2.4 into tank 2
    np.testing.assert_allclose(tanks[1], [20.0 - 0.5 - 2.4, 2.4, 0.0])


def test_storage_rises_with_rain_and_decays_after_it():
    rain = np.zeros(200)
    rain[10:20] = 8.0
    total = tank_storage(one_series(rain))["storage_mm"].sum("tank").values
    assert (np.diff(total[10:20]) > 0).all() and (np.diff(total[20:]) < 0).all()
    assert total[:10].max() == 0.0 and 0 < total[-1] < total[19]


def test_tanks_conserve_mass_hour_by_hour():
    rain = np.random.default_rng(1).gamma(0.3, 10.0, 500)
    tanks = tank_storage(one_series(rain), xr.DataArray([5.0, 10.0, 20.0], dims="tank", attrs={"units": "mm"}))
    stored = tanks["storage_mm"].sum("tank").values
    np.testing.assert_allclose(np.diff(stored, prepend=35.0), rain - tanks["outflow_mm"].values, atol=1e-9)


def test_a_run_continues_from_its_state_at_any_hour():
    rain = np.random.default_rng(2).gamma(0.3, 10.0, 96)
    whole = tank_storage(one_series(rain))["storage_mm"]
    state = whole.isel(time=47).assign_attrs(units="mm")
    second = tank_storage(one_series(rain[48:]), state)["storage_mm"]
    np.testing.assert_allclose(second.values, whole.values[48:])


def test_a_missing_hour_of_rain_counts_as_dry_and_inputs_stay_unmodified():
    rain = one_series([10.0, np.nan, 5.0])
    before = rain.copy(deep=True)
    np.testing.assert_allclose(tank_storage(rain)["storage_mm"].values,
                               tank_storage(one_series([10.0, 0.0, 5.0]))["storage_mm"].values)
    xr.testing.assert_identical(rain, before)
