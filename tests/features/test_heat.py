import numpy as np
import pandas as pd
import pytest
import xarray as xr

from features.heat import (
    dew_point,
    heat_index,
    humidity_at_daily_max,
    observed_daily_max,
    relative_humidity,
    wet_bulb_globe_temperature,
)


def degC(values) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, float), dims="point", attrs={"units": "degC"})


def pct(values) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, float), dims="point", attrs={"units": "%"})


def fahrenheit(values) -> np.ndarray:
    return (np.asarray(values, float) - 32) * 5 / 9


# NWS heat index chart (https://www.weather.gov/ama/heatindex): (degF, % RH) -> heat index degF
NWS_TABLE = [(80, 40, 80), (90, 60, 100), (100, 40, 109), (86, 90, 105), (96, 65, 121), (104, 55, 137)]


@pytest.mark.parametrize(("air_f", "rh", "expected_f"), NWS_TABLE)
def test_heat_index_matches_the_nws_chart_within_its_regression_error(air_f, rh, expected_f):
    index = heat_index(degC(fahrenheit([air_f])), pct([rh]))
    assert index.values[0] == pytest.approx(fahrenheit(expected_f), abs=1.3 * 5 / 9)
    assert index.attrs["units"] == "degC" and "heat index" in index.attrs["long_name"]


def wbgt(tas, hurs, wind=2.0, rsds=800.0, **sun):
    n = len(tas)
    return wet_bulb_globe_temperature(
        degC(tas), pct(hurs), xr.DataArray(np.full(n, wind), dims="point", attrs={"units": "m s-1"}),
        xr.DataArray(np.full(n, rsds), dims="point", attrs={"units": "W m-2"}),
        **({"cos_zenith": 0.9, "direct_fraction": 0.75} | sun))


def test_wbgt_of_saturated_air_in_the_shade_is_the_air_temperature():
    # no sun and 100 % humidity: globe, natural wet bulb and air are one temperature
    np.testing.assert_allclose(wbgt([25.0, 32.0], [100.0, 100.0], rsds=0.0, cos_zenith=0.0).values,
                               [25.0, 32.0], atol=0.3)


def test_wbgt_in_the_tropical_sun_lies_in_nea_s_bands_and_falls_with_wind():
    # a Singapore afternoon (about 32 degC, 60 %) reads around 30-34 degC on NEA's sun-exposed meters
    calm, breezy = wbgt([32.0, 32.0], [60.0, 60.0], wind=1.0).values, wbgt([32.0], [60.0], wind=5.0).values
    assert 30 < breezy[0] < calm[0] < 35
    shade = wbgt([32.0], [60.0], rsds=0.0, cos_zenith=0.0).values
    assert shade[0] < breezy[0] - 1.5
    assert wbgt([32.0], [60.0]).attrs["units"] == "degC"


def test_dew_point_and_humidity_invert_each_other():
    td = dew_point(degC([30.0, 33.0]), pct([70.0, 55.0]))
    np.testing.assert_allclose(relative_humidity(degC([30.0, 33.0]), td).values, [70.0, 55.0], atol=0.5)
    assert td.attrs == {"standard_name": "dew_point_temperature", "units": "degC", "long_name": "dew point temperature"}


def test_a_hotter_street_under_the_same_air_is_drier_at_its_maximum():
    hurs = humidity_at_daily_max(degC([32.0, 34.0]), degC([25.0, 25.0]), pct([80.0, 80.0]))
    assert 50 < hurs.values[1] < hurs.values[0] < 80
    assert hurs.attrs["units"] == "%"


def test_nan_in_gives_nan_out_and_inputs_stay_unmodified():
    tas, hurs = degC([31.0, np.nan]), pct([np.nan, 60.0])
    before = (tas.copy(), hurs.copy())
    assert np.isnan(heat_index(tas, hurs).values).all()
    assert np.isnan(wbgt([31.0, np.nan], [np.nan, 60.0]).values).all()
    xr.testing.assert_identical(tas, before[0])
    xr.testing.assert_identical(hurs, before[1])


def test_heat_stress_refuses_kelvin_and_fractions():
    with pytest.raises(ValueError, match="`tas` must be in 'degC', got units='K'"):
        heat_index(degC([300.0]).assign_attrs(units="K"), pct([50.0]))
    with pytest.raises(ValueError, match="`hurs` must be in '%', got units='1'"):
        heat_index(degC([30.0]), pct([0.5]).assign_attrs(units="1"))
    with pytest.raises(ValueError, match="`cos_zenith` and `direct_fraction` must lie in \\[0, 1\\]"):
        wbgt([30.0], [50.0], cos_zenith=1.5)


def test_heat_index_keeps_the_grid_dims():
    tas = xr.DataArray(np.full((2, 3), 33.0), dims=("y", "x"), attrs={"units": "degC"})
    assert heat_index(tas, pct([70.0, 60.0, 50.0]).rename(point="x")).dims == ("y", "x")


def test_observed_daily_max_takes_each_whole_day_before_the_end():
    times = pd.date_range("2024-01-01", periods=72, freq="h")
    tas = xr.DataArray(np.arange(72.0), dims="time", coords={"time": times}, attrs={"units": "degC"})
    daily = observed_daily_max(tas, np.datetime64("2024-01-03T12:00"), 2)
    np.testing.assert_array_equal(daily.values, [35.0, 59.0])  # hours 12..35, 36..59
    assert daily.day.values.tolist() == [-2, -1]


def test_observed_daily_max_is_nan_for_a_day_with_a_missing_hour():
    times = pd.date_range("2024-01-01", periods=48, freq="h").delete(30)
    tas = xr.DataArray(np.ones(47), dims="time", coords={"time": times}, attrs={"units": "degC"})
    daily = observed_daily_max(tas, np.datetime64("2024-01-03"), 2)
    assert daily.values[0] == 1.0 and np.isnan(daily.values[1])
