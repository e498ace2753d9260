import numpy as np
import pandas as pd
import pytest
import xarray as xr

from features.heat import (
    cos_solar_zenith,
    dew_point,
    direct_beam_fraction,
    heat_index,
    humidity_at_daily_max,
    observed_daily_max,
    relative_humidity,
    solar_noon_cos_zenith,
    wet_bulb_globe_temperature,
)


def degC(values) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, float), dims="point", attrs={"units": "degC"})


def pct(values) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, float), dims="point", attrs={"units": "%"})


def fahrenheit(values) -> np.ndarray:
    return (np.asarray(values, float) - 32) * 5 / 9


def unitless(values) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, float), dims="point", attrs={"units": "1"})


# The NWS heat index chart (https://www.weather.gov/safety/heat-index, also
# https://www.weather.gov/ama/heatindex): air temperature (degF) -> heat index (degF) at relative
# humidity 40, 45, ..., 100 %; the chart stops where the heat index passes about 137 degF.
NWS_CHART_RH = range(40, 105, 5)
NWS_CHART = {
    80: [80, 80, 81, 81, 82, 82, 83, 84, 84, 85, 86, 86, 87],
    82: [81, 82, 83, 84, 84, 85, 86, 88, 89, 90, 91, 93, 95],
    84: [83, 84, 85, 86, 88, 89, 90, 92, 94, 96, 98, 100, 103],
    86: [85, 87, 88, 89, 91, 93, 95, 97, 100, 102, 105, 108, 112],
    88: [88, 89, 91, 93, 95, 98, 100, 103, 106, 110, 113, 117, 121],
    90: [91, 93, 95, 97, 100, 103, 106, 109, 113, 117, 122, 127, 132],
    92: [94, 96, 99, 101, 105, 108, 112, 116, 121, 126, 131],
    94: [97, 100, 103, 106, 110, 114, 119, 124, 129, 135],
    96: [101, 104, 108, 112, 116, 121, 126, 132],
    98: [105, 109, 113, 117, 123, 128, 134],
    100: [109, 114, 118, 124, 129, 136],
    102: [114, 119, 124, 130, 137],
    104: [119, 124, 131, 137],
    106: [124, 130, 137],
    108: [130, 137],
    110: [136],
}
# Where the NWS procedure (https://www.wpc.ncep.noaa.gov/html/heatindex_equation.shtml) adds its
# high-humidity adjustment [(RH - 85) / 10] [(87 - T) / 5] to Rothfusz's regression, it leaves the
# chart, which predates it: those cells are checked against the procedure's own worked values.
NWS_ADJUSTED = {(80, 95), (80, 100), (82, 95), (82, 100)}
CHART_CELLS = [(t, rh, hi) for t, row in NWS_CHART.items() for rh, hi in zip(NWS_CHART_RH, row, strict=False)
               if (t, rh) not in NWS_ADJUSTED]


def test_heat_index_matches_every_cell_of_the_nws_chart_within_the_regression_error():
    air_f, rh, expected_f = (np.array(column, float) for column in zip(*CHART_CELLS, strict=True))
    index = heat_index(degC(fahrenheit(air_f)), pct(rh))
    # Rothfusz (1990), NWS Tech. Attachment SR 90-23: the regression fits the chart within 1.3 degF
    np.testing.assert_allclose(index.values, fahrenheit(expected_f), atol=1.3 * 5 / 9)
    assert index.attrs["units"] == "degC" and "heat index" in index.attrs["long_name"]


@pytest.mark.parametrize(("air_f", "rh", "expected_f"), [
    # 80 degF, 100 %: regression 87.19 + adjustment (15 / 10)(7 / 5) = 2.10 -> 89.29 degF
    (80, 100, 89.29),
    # 82 degF, 95 %: regression 92.97 + adjustment (10 / 10)(5 / 5) = 1.00 -> 93.97 degF
    (82, 95, 93.97),
    # 100 degF, 10 %: regression 94.75 - low-humidity adjustment (3 / 4) sqrt(12 / 17) = 0.63 -> 94.12 degF
    (100, 10, 94.12),
    # 70 degF, 50 %: below 80 degF Steadman's simple formula 0.5 (70 + 61 + 2.4 + 4.7) -> 69.05 degF
    (70, 50, 69.05),
])
def test_heat_index_follows_the_nws_procedure_s_adjustments(air_f, rh, expected_f):
    index = heat_index(degC(fahrenheit([air_f])), pct([rh]))
    assert index.values[0] == pytest.approx(fahrenheit(expected_f), abs=0.1 * 5 / 9)


def wbgt(tas, hurs, wind=2.0, rsds=800.0, cos_zenith=0.9, direct_fraction=0.75):
    n = len(tas)
    return wet_bulb_globe_temperature(
        degC(tas), pct(hurs), xr.DataArray(np.full(n, wind), dims="point", attrs={"units": "m s-1"}),
        xr.DataArray(np.full(n, rsds), dims="point", attrs={"units": "W m-2"}),
        unitless(np.full(n, cos_zenith)), unitless(np.full(n, direct_fraction)))


# thermofeel's reference cases for Liljegren's WBGT, which thermofeel checks against Liljegren's
# C code (Liljegren et al. 2008, J. Occup. Environ. Hyg. 5, 645-655): rows 1, 2, 27, 36 and 39
# of ecmwf/thermofeel tests/thermofeel_testcases.csv (t2m and td in K, va 10 m wind in m s-1,
# ssrd and fdir accumulated over an hour in J m-2, cossza) -> tests/wbgt_liljegren.csv (K), as of
# commit f9c4728277c659256ad6196a3d444f165a6450a6 (thermofeel 2.3, KNMI's 10 m -> 2 m wind profile).
LILJEGREN_CASES = [
    (310.0, 280.0, 2.0, 604146.4934, 374150.1613, 0.5, 298.4340833516603),
    (300.0, 290.0, 0.02, 604135.6459, 377084.2418, 0.5, 297.4803877876331),
    (294.7049414, 286.6846011, 1.161550529, 607954.4988, 383763.4185, 0.5, 292.8576370990984),
    (297.5355211, 286.8916228, 0.986168144, 635584.0114, 408335.8078, 0.5, 294.5425302697727),
    (299.3098773, 286.5689173, 0.602556784, 614237.4196, 373770.3466, 0.5, 295.8792953388185),
]


def test_wbgt_reproduces_the_liljegren_reference_cases_in_our_units():
    t2m, td, va, ssrd, fdir, cossza, expected = (np.array(c) for c in zip(*LILJEGREN_CASES, strict=True))
    tas = degC(t2m - 273.15)
    hurs = relative_humidity(tas, degC(td - 273.15))
    got = wet_bulb_globe_temperature(
        tas, hurs, xr.DataArray(va, dims="point", attrs={"units": "m s-1"}),
        xr.DataArray(ssrd / 3600, dims="point", attrs={"units": "W m-2"}), unitless(cossza), unitless(fdir / ssrd))
    np.testing.assert_allclose(got.values, expected - 273.15, atol=1e-4)


def test_wbgt_of_saturated_air_in_the_shade_is_the_air_temperature():
    # no sun and 100 % humidity: globe, natural wet bulb and air are one temperature
    np.testing.assert_allclose(wbgt([25.0, 32.0], [100.0, 100.0], rsds=0.0, cos_zenith=0.0).values,
                               [25.0, 32.0], atol=0.3)


def test_wbgt_in_the_tropical_sun_lies_in_nea_s_bands_and_falls_with_wind_and_cloud():
    # a Singapore afternoon (about 32 degC, 60 %) reads around 30-34 degC on NEA's sun-exposed meters
    calm, breezy = wbgt([32.0, 32.0], [60.0, 60.0], wind=1.0).values, wbgt([32.0], [60.0], wind=5.0).values
    assert 30 < breezy[0] < calm[0] < 35
    overcast = wbgt([32.0], [60.0], rsds=250.0, direct_fraction=0.0).values
    shade = wbgt([32.0], [60.0], rsds=0.0, cos_zenith=0.0).values
    assert shade[0] < overcast[0] < calm[0] - 1.5
    assert wbgt([32.0], [60.0]).attrs["units"] == "degC"


def test_wbgt_in_blocks_equals_wbgt_in_one_call(monkeypatch):
    tas, hurs = np.linspace(26, 36, 11), np.linspace(90, 40, 11)
    whole = wbgt(tas, hurs).values
    monkeypatch.setattr("features.heat._BLOCK", 3)
    np.testing.assert_array_equal(wbgt(tas, hurs).values, whole)


def test_the_noon_sun_over_penang_follows_the_seasons():
    lat = xr.DataArray([5.4, 5.4, 5.4], dims="point", attrs={"units": "degrees_north"})
    # equinox (day 80): zenith = latitude; June solstice (day 172): 23.44 - 5.4 = 18.04 degrees;
    # December solstice (day 355): 23.44 + 5.4 = 28.84 degrees
    cos_zenith = solar_noon_cos_zenith(lat, unitless([80, 172, 355]))
    np.testing.assert_allclose(cos_zenith.values, np.cos(np.deg2rad([5.4, 18.04, 28.84])), atol=2e-3)
    assert cos_zenith.attrs == {"units": "1", "long_name": "cosine of the solar zenith angle at local solar noon"}


def test_the_direct_beam_share_follows_erbs_from_clear_to_overcast():
    # day 1: top-of-atmosphere 1361 x 1.035050 W m-2 with the sun overhead; clearness 0.75 gives
    # Erbs' diffuse share 0.9511 - 0.1604 k + 4.388 k2 - 16.638 k3 + 12.336 k4 = 0.18298
    toa = 1361 * 1.035050
    rsds = xr.DataArray([0.75 * toa, 0.15 * toa, 0.0], dims="point", attrs={"units": "W m-2"})
    share = direct_beam_fraction(rsds, unitless([1.0, 1.0, 1.0]), unitless([1, 1, 1]))
    np.testing.assert_allclose(share.values, [1 - 0.18298, 0.09 * 0.15, 0.0], atol=1e-3)
    assert share.attrs["units"] == "1"


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
    with pytest.raises(ValueError, match="`cos_zenith` must lie in \\[0, 1\\], got values from 1.5 to 1.5"):
        wbgt([30.0], [50.0], cos_zenith=1.5)
    with pytest.raises(ValueError, match="`direct_fraction` must be in '1', got units='%'"):
        wet_bulb_globe_temperature(degC([30.0]), pct([50.0]), degC([2.0]).assign_attrs(units="m s-1"),
                                   degC([800.0]).assign_attrs(units="W m-2"), unitless([0.9]), pct([75.0]))
    with pytest.raises(ValueError, match="`lat` must be in 'degrees_north', got units='degC'"):
        solar_noon_cos_zenith(degC([5.4]), unitless([80]))


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


def test_the_sun_over_penang_is_highest_near_13_local_and_down_at_night():
    time = xr.DataArray(pd.date_range("2024-03-20T16:00", periods=24, freq="h").values, dims="time")  # 00:00-23:00 local
    cos_zenith = cos_solar_zenith(xr.DataArray(5.41, attrs={"units": "degrees_north"}),
                                  xr.DataArray(100.33, attrs={"units": "degrees_east"}), time)
    assert int(cos_zenith.argmax("time")) == 13  # solar noon about 13:15 local (UTC+8 at 100.3 E)
    assert float(cos_zenith.max()) == pytest.approx(float(np.cos(np.deg2rad(5.41 - 0.1))), abs=0.01)  # equinox
    assert (cos_zenith.values[:7] == 0).all() and (cos_zenith.values[20:] == 0).all()
    assert cos_zenith.attrs["units"] == "1"


def test_cos_solar_zenith_refuses_times_that_are_not_datetimes():
    with pytest.raises(ValueError, match="`time` must hold datetime64"):
        cos_solar_zenith(xr.DataArray(5.4, attrs={"units": "degrees_north"}),
                         xr.DataArray(100.3, attrs={"units": "degrees_east"}), xr.DataArray([1.0, 2.0], dims="time"))
