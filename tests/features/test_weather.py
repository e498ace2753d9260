import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from pyproj import Transformer

from features.rain_climate import return_period_years
from features.weather import bilinear_weights, daily_drivers, regional_weights, sample_bilinear

UNITS = {"pr": "mm h-1", "tas": "degC", "hurs": "%", "sfcWind": "m s-1", "rsds": "W m-2", "zos": "m"}


def sunshine(hours: int, peak: float = 900.0) -> np.ndarray:
    """Hourly shortwave radiation (W m-2): a half sine from 07:00 to 19:00 peaking at `peak`."""
    return np.clip(peak * np.sin(np.pi * (np.arange(hours) % 24 - 7) / 12), 0, None)


def forecast(pr, tas=None, lead_days=2, rsds=None):
    """A one-point regional forecast of `lead_days` days with hourly rain `pr` (mm h-1)."""
    hours = 24 * lead_days
    values = {"pr": pr, "tas": tas if tas is not None else np.full(hours, 28.0), "hurs": np.full(hours, 80.0),
              "sfcWind": np.full(hours, 2.0), "rsds": rsds if rsds is not None else sunshine(hours),
              "zos": np.sin(np.arange(hours) / 2.0)}
    return xr.Dataset(
        {k: (("lead_time", "y", "x"), np.asarray(v, float).reshape(hours, 1, 1), {"units": UNITS[k]})
         for k, v in values.items()},
        coords={"y": [5.4], "x": [100.3]},
    )


CLIMATE = xr.Dataset(  # a Gumbel rain climate per duration, in mm
    {"shape": ("duration_h", [0.0] * 4), "loc_mm": ("duration_h", [30.0, 60.0, 100.0, 150.0]),
     "scale_mm": ("duration_h", [6.0, 14.0, 28.0, 38.0])}, coords={"duration_h": [1, 3, 24, 72]})


def tanks(values=(0.0, 0.0, 0.0)) -> xr.DataArray:
    """Soil water index tanks at issue holding `values` (mm), tanks 1..3, on the one-point grid."""
    return xr.DataArray(np.asarray(values, float).reshape(3, 1, 1), dims=("tank", "y", "x"),
                        coords={"tank": [1, 2, 3], "y": [5.4], "x": [100.3]}, attrs={"units": "mm"})


def drivers_of(fc: xr.Dataset, ante: xr.DataArray, lead_days: int = 2, at_issue: xr.DataArray | None = None):
    """`daily_drivers` with the test climate and (by default) empty tanks at issue."""
    return daily_drivers(fc, ante, lead_days=lead_days, climate=CLIMATE,
                         tanks_at_issue_mm=tanks() if at_issue is None else at_issue)


def antecedent(values):
    return xr.DataArray(np.asarray(values, float).reshape(72, 1, 1), dims=("hour", "y", "x"),
                        coords={"y": [5.4], "x": [100.3]}, attrs={"units": "mm h-1"})


def test_rain_totals_and_maxima_per_lead_day_are_hand_computed():
    pr = np.zeros(48)
    pr[[5, 6, 7]] = [2.0, 10.0, 4.0]  # day 0: 16 mm, largest hour 10, largest 3 h 16
    pr[30] = 3.0  # day 1: 3 mm
    drivers = drivers_of(forecast(pr), antecedent(np.ones(72)), lead_days=2).squeeze()
    np.testing.assert_allclose(drivers["rain_24h_mm"], [16.0, 3.0])
    np.testing.assert_allclose(drivers["rain_max_1h_mm"], [10.0, 3.0])
    np.testing.assert_allclose(drivers["rain_max_3h_mm"], [16.0, 3.0])
    # lead 0: the 72 observed hours; lead 1: the last 48 observed hours plus day 0's 16 mm
    np.testing.assert_allclose(drivers["rain_antecedent_72h_mm"], [72.0, 64.0])


def test_three_hour_window_spans_the_issue_time():
    pr = np.zeros(48)
    pr[0] = 1.0
    ante = np.zeros(72)
    ante[-2:] = [5.0, 5.0]
    drivers = drivers_of(forecast(pr), antecedent(ante), lead_days=2).squeeze()
    assert float(drivers["rain_max_3h_mm"][0]) == pytest.approx(11.0)


def test_temperature_and_sea_level_extremes_per_day():
    tas = np.concatenate([np.linspace(25, 33, 24), np.linspace(26, 31, 24)])
    drivers = drivers_of(forecast(np.zeros(48), tas=tas), antecedent(np.zeros(72)), lead_days=2).squeeze()
    np.testing.assert_allclose(drivers["tasmax_regional_degC"], [33.0, 31.0])
    np.testing.assert_allclose(drivers["tasmin_regional_degC"], [25.0, 26.0])
    assert drivers["sea_level_max_m"].attrs["units"] == "m"
    assert all("units" in v.attrs and "long_name" in v.attrs for v in drivers.data_vars.values())


def test_the_midday_sun_is_the_largest_hourly_radiation_and_the_sunshine_its_daily_mean():
    rsds = np.concatenate([sunshine(24, peak=950.0), sunshine(24, peak=300.0)])  # clear, then overcast
    drivers = drivers_of(forecast(np.zeros(48), rsds=rsds), antecedent(np.zeros(72)), lead_days=2).squeeze()
    np.testing.assert_allclose(drivers["rsds_max_W_m2"], [950.0, 300.0], rtol=1e-6)
    np.testing.assert_allclose(drivers["rsds_mean_W_m2"], [rsds[:24].mean(), rsds[24:].mean()], rtol=1e-6)
    assert drivers["rsds_max_W_m2"].attrs["units"] == drivers["rsds_mean_W_m2"].attrs["units"] == "W m-2"


def test_wrong_units_are_refused_by_name():
    fc = forecast(np.zeros(48))
    fc["tas"].attrs["units"] = "K"
    with pytest.raises(ValueError, match="`tas` must be in 'degC', got units='K'"):
        drivers_of(fc, antecedent(np.zeros(72)), lead_days=2)


def test_too_short_forecast_is_refused():
    with pytest.raises(ValueError, match="72 needed"):
        drivers_of(forecast(np.zeros(48)), antecedent(np.zeros(72)), lead_days=3)


def test_inputs_are_not_modified():
    fc = forecast(np.arange(48.0))
    before = fc.copy(deep=True)
    drivers_of(fc, antecedent(np.zeros(72)), lead_days=2)
    xr.testing.assert_identical(fc, before)


def test_bilinear_is_exact_on_a_plane_and_clamps_outside():
    src_y, src_x = np.array([5.5, 5.4, 5.3]), np.array([100.2, 100.3])  # y descending like rasters
    plane = 10 * src_y[:, None] + src_x[None, :]
    y, x = np.array([5.45, 5.32, 6.0]), np.array([100.25, 100.21, 100.3])
    got = sample_bilinear(plane, bilinear_weights(src_y, src_x, y, x))
    np.testing.assert_allclose(got[:2], 10 * y[:2] + x[:2])
    np.testing.assert_allclose(got[2], 10 * 5.5 + 100.3)  # beyond the grid: the edge value


def test_sea_level_is_read_in_the_hours_of_the_peak_rain():
    pr = np.zeros(48)
    pr[[5, 6, 7]] = [2.0, 10.0, 4.0]  # day 0: the 3 h peak covers hours 5-7
    pr[30] = 3.0  # day 1: windows ending at 30, 31, 32 tie; the first covers hours 28-30
    drivers = drivers_of(forecast(pr), antecedent(np.zeros(72)), lead_days=2).squeeze()
    zos = np.sin(np.arange(48) / 2.0)
    np.testing.assert_allclose(drivers["sea_level_at_peak_rain_m"], [zos[5:8].max(), zos[28:31].max()],
                               rtol=1e-6)
    np.testing.assert_allclose(drivers["sea_level_max_m"], [zos[:24].max(), zos[24:].max()], rtol=1e-6)
    assert "hour" not in drivers.coords


def test_rain_at_high_tide_counts_only_the_top_quarter_of_the_tidal_range():
    pr = np.ones(48)
    zos = np.sin(np.arange(48) / 2.0)
    high = [(day >= day.min() + 0.75 * (day.max() - day.min())).sum() for day in (zos[:24], zos[24:])]
    drivers = drivers_of(forecast(pr), antecedent(np.zeros(72)), lead_days=2).squeeze()
    np.testing.assert_allclose(drivers["rain_high_tide_mm"], high)


def test_antecedent_wetness_decays_older_rain():
    ante = np.zeros(72)
    ante[-1] = 10.0  # the last hour before issue counts almost whole
    ante[0] = 10.0  # three days before, it counts 0.85 ** 3
    drivers = drivers_of(forecast(np.zeros(48)), antecedent(ante), lead_days=2).squeeze()
    np.testing.assert_allclose(drivers["antecedent_wetness_72h_mm"][0],
                               10 * 0.85 ** (1 / 24) + 10 * 0.85 ** 3, rtol=1e-5)
    # lead 1: the window moves a day on; the oldest hour has left it
    np.testing.assert_allclose(drivers["antecedent_wetness_72h_mm"][1], 10 * 0.85 ** (25 / 24), rtol=1e-5)


def test_bilinear_reads_every_leading_field_as_the_per_point_index_does():
    rng = np.random.default_rng(0)
    src_y, src_x = np.array([5.5, 5.4, 5.3]), np.array([100.2, 100.3, 100.4, 100.5])
    fields = rng.normal(size=(2, 3, 3, 4))  # (driver, lead, y, x)
    y, x = rng.uniform(5.25, 5.55, 50), rng.uniform(100.1, 100.6, 50)
    weights = bilinear_weights(src_y, src_x, y, x)
    got = sample_bilinear(fields, weights)
    assert got.shape == (2, 3, 50)
    for driver in range(2):
        for lead in range(3):
            index = (np.full(50, driver), np.full(50, lead))
            np.testing.assert_allclose(got[driver, lead], sample_bilinear(fields, weights, index=index), rtol=1e-12)


def test_points_in_degrees_are_placed_on_a_utm_grid_in_metres():
    # A 2 x 2 grid in UTM 47N (m); the point at its centre, given in lon/lat, reads the four corners equally.
    grid = xr.DataArray(np.zeros((2, 2)), coords={"y": [600_000.0, 590_000.0], "x": [640_000.0, 650_000.0]},
                        dims=("y", "x")).rio.write_crs("EPSG:32647")
    lon, lat = Transformer.from_crs("EPSG:32647", "EPSG:4326", always_xy=True).transform(645_000.0, 595_000.0)
    _, _, wy, wx = regional_weights(grid, np.array([lon]), np.array([lat]))
    np.testing.assert_allclose([wy[0], wx[0]], [0.5, 0.5], atol=1e-9)


def test_a_regional_grid_without_crs_is_refused():
    grid = xr.DataArray(np.zeros((2, 2)), coords={"y": [5.5, 5.4], "x": [100.2, 100.3]}, dims=("y", "x"))
    with pytest.raises(ValueError, match="`grid` has no CRS"):
        regional_weights(grid, np.array([100.25]), np.array([5.45]))


def test_the_72h_maximum_joins_the_observed_hours_and_the_return_periods_read_the_climate():
    pr = np.zeros(48)
    pr[30] = 20.0
    ante = np.zeros(72)
    ante[1] = 7.0  # 71 h before issue: inside the 72 h window ending at 00:00 of lead 0 only
    drivers = drivers_of(forecast(pr), antecedent(ante)).squeeze()
    np.testing.assert_allclose(drivers["rain_max_72h_mm"], [7.0, 20.0])
    for hours in (1, 3, 24, 72):
        expected = return_period_years(xr.DataArray([0.0, 20.0], dims="lead", attrs={"units": "mm"}), CLIMATE,
                                       hours)
        got = drivers[f"rain_return_period_{hours}h_years"]
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-5)
        assert got.attrs["units"] == "years"
    longest = np.max([drivers[f"rain_return_period_{h}h_years"] for h in (1, 3, 24, 72)], axis=0)
    np.testing.assert_allclose(drivers["rain_return_period_max_years"], longest)


def test_the_soil_water_index_starts_from_the_tanks_at_issue_and_fills_with_the_forecast_rain():
    pr = np.zeros(48)
    pr[5:8] = 10.0
    drivers = drivers_of(forecast(pr), antecedent(np.zeros(72)), at_issue=tanks([4.0, 6.0, 10.0])).squeeze()
    assert float(drivers["soil_water_index_start_mm"][0]) == pytest.approx(20.0)
    assert float(drivers["soil_water_index_max_mm"][0]) > 20.0 + 25.0  # most of the 30 mm is still stored
    assert float(drivers["soil_water_index_start_mm"][1]) < float(drivers["soil_water_index_max_mm"][0])
