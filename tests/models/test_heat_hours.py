import datetime as dt

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from models.heat.hours import WINDOW_COLUMNS, heat_windows, site_heat_hours, with_heat_windows

ZONE = "Asia/Kuala_Lumpur"  # UTC+8 all year
MIDNIGHT_UTC = pd.Timestamp("2024-03-19T16:00")  # local midnight starting 20 Mar 2024
HOURS = pd.date_range(MIDNIGHT_UTC, periods=48, freq="h")  # two local days
LOCAL_HOUR = np.arange(48) % 24


def wbgt_series(*runs: tuple[int, int, float], base: float = 28.0) -> xr.DataArray:
    """One site's 48 hourly WBGT values (degC): `base`, with each (first, last, value) run of local hours set."""
    values = np.full(48, base)
    for first, last, value in runs:
        values[first:last + 1] = value
    return xr.DataArray(values[None], dims=("site", "time"), coords={"site": ["s"], "time": HOURS.values},
                        attrs={"units": "degC"})


def windows(wbgt: xr.DataArray) -> list[tuple]:
    table = heat_windows(wbgt, (31.0, 33.0), ZONE)
    return [(row.date.isoformat(), row.band, row.start, row.end, row.hours) for row in table.itertuples()]


def test_a_cool_day_has_no_window():
    table = heat_windows(wbgt_series(), (31.0, 33.0), ZONE)
    assert table.empty and tuple(table.columns) == WINDOW_COLUMNS


def test_a_window_across_midday_runs_from_its_first_to_its_last_hour_in_local_time():
    assert windows(wbgt_series((11, 16, 31.5), (13, 14, 33.4))) == [
        ("2024-03-20", 1, "11:00", "16:00", 6), ("2024-03-20", 2, "13:00", "14:00", 2)]


def test_two_separate_runs_are_two_windows():
    assert windows(wbgt_series((10, 12, 32.0), (15, 15, 31.0))) == [
        ("2024-03-20", 1, "10:00", "12:00", 3), ("2024-03-20", 1, "15:00", "15:00", 1)]


def test_a_run_across_midnight_is_a_window_on_each_day():
    assert windows(wbgt_series((22, 25, 31.2))) == [
        ("2024-03-20", 1, "22:00", "23:00", 2), ("2024-03-21", 1, "00:00", "01:00", 2)]


def test_nan_breaks_a_window():
    wbgt = wbgt_series((11, 15, 32.0))
    wbgt[0, 13] = np.nan
    assert windows(wbgt) == [("2024-03-20", 1, "11:00", "12:00", 2), ("2024-03-20", 1, "14:00", "15:00", 2)]


def test_windows_refuse_gaps_and_unordered_thresholds():
    with pytest.raises(ValueError, match="`wbgt` must be hourly without gaps"):
        heat_windows(wbgt_series().isel(time=[0, 1, 3]), (31.0,), ZONE)
    with pytest.raises(ValueError, match="`thresholds_degC` must be strictly increasing"):
        heat_windows(wbgt_series(), (33.0, 31.0), ZONE)


def site(values, units: str) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, float), dims="site", coords={"site": ["open", "shaded"]},
                        attrs={"units": units})


def hourly(values, units: str) -> xr.DataArray:
    """The same hourly values at both sites, dims (site, time), lead days from local midnight."""
    return xr.DataArray(np.tile(np.asarray(values, float), (2, 1)), dims=("site", "time"),
                        coords={"site": ["open", "shaded"], "time": HOURS.values, "lead": ("time", np.arange(48) // 24)},
                        attrs={"units": units})


def same_air_hours(offset_degC: float = 0.0, sun_share=(1.0, 0.0)) -> xr.Dataset:
    """Constant air (31 degC, 70 %, 1 m s-1) under a clear sky's sun: 900 W m-2 x the sun's height."""
    sun = np.clip(np.sin((LOCAL_HOUR - 7.3) / 12 * np.pi), 0, None)  # up about 07:20-19:20 local, as in Penang
    return site_heat_hours(
        hourly(np.full(48, 31.0), "degC"), hourly(np.full(48, 70.0), "%"), hourly(np.full(48, 1.0), "m s-1"),
        hourly(900 * sun, "W m-2"),
        urban_offset=xr.DataArray(np.full((2, 2), offset_degC), dims=("site", "lead"),
                                  coords={"site": ["open", "shaded"], "lead": [0, 1]}, attrs={"units": "degC"}),
        lat=site([5.41, 5.41], "degrees_north"), lon=site([100.33, 100.33], "degrees_east"),
        sun_share=site(sun_share, "1"))


def test_wbgt_at_night_is_lower_than_at_noon_on_the_same_air():
    wbgt = same_air_hours()["wbgt_degC"].sel(site="open")
    night, noon = float(wbgt.isel(time=2)), float(wbgt.isel(time=13))  # 02:00 and 13:00 local
    assert night < noon - 3


def test_a_site_in_shade_has_a_lower_wbgt_at_noon_and_the_same_at_night():
    wbgt = same_air_hours()["wbgt_degC"]
    assert float(wbgt.sel(site="shaded").isel(time=13)) < float(wbgt.sel(site="open").isel(time=13)) - 1
    assert float(wbgt.sel(site="shaded").isel(time=2)) == pytest.approx(float(wbgt.sel(site="open").isel(time=2)))


def test_the_urban_offset_reaches_the_warmest_hour_in_full_and_the_coolest_not_at_all():
    tas = np.where(LOCAL_HOUR == 14, 33.0, np.where(LOCAL_HOUR == 5, 25.0, 29.0))
    hours = site_heat_hours(
        hourly(tas, "degC"), hourly(np.full(48, 70.0), "%"), hourly(np.full(48, 1.0), "m s-1"),
        hourly(np.zeros(48), "W m-2"),
        urban_offset=xr.DataArray([[2.0, 1.0], [0.0, 0.0]], dims=("site", "lead"),
                                  coords={"site": ["open", "shaded"], "lead": [0, 1]}, attrs={"units": "degC"}),
        lat=site([5.41, 5.41], "degrees_north"), lon=site([100.33, 100.33], "degrees_east"),
        sun_share=site([1.0, 1.0], "1"))
    air = hours["tas_degC"].sel(site="open").values
    np.testing.assert_allclose(air[[14, 5, 10, 38]], [35.0, 25.0, 30.0, 34.0])  # 29 degC is half the warming
    assert (hours["hurs_pct"].sel(site="open").values[14] < 70.0)  # warmer air, same dew point: drier


def test_site_hours_carry_units_and_refuse_a_share_outside_zero_one():
    hours = same_air_hours()
    assert {name: hours[name].attrs["units"] for name in hours} == {
        "tas_degC": "degC", "hurs_pct": "%", "heat_index_degC": "degC", "wbgt_degC": "degC"}
    assert hours["wbgt_degC"].dims == ("site", "time")
    with pytest.raises(ValueError, match="`sun_share` must lie in"):
        same_air_hours(sun_share=(1.5, 0.0))


def test_windows_of_the_hot_open_site_fall_in_the_day():
    table = heat_windows(same_air_hours(offset_degC=2.0)["wbgt_degC"], (31.0, 33.0), ZONE)
    open_site = table[table["site"] == "open"]
    assert set(open_site["date"]) == {dt.date(2024, 3, 20), dt.date(2024, 3, 21)}
    assert (open_site["start"] >= "08:00").all() and (open_site["end"] <= "18:00").all()


def test_windows_join_the_levels_by_site_and_lead_day():
    table = heat_windows(wbgt_series((11, 16, 31.5), (13, 14, 33.4), (36, 36, 31.1)), (31.0, 33.0), ZONE)
    levels = pd.DataFrame({"asset_id": ["s", "s", "other"], "lead": [0, 1, 0]})
    joined = with_heat_windows(levels, table, dt.date(2024, 3, 20))
    assert joined["wbgt_windows"].tolist() == [
        ((1, 31.0, "11:00", "16:00"), (2, 33.0, "13:00", "14:00")), ((1, 31.0, "12:00", "12:00"),), ()]
    assert joined["wbgt_hour_band"].tolist() == [2, 1, 0]
    assert "wbgt_windows" not in levels  # the input is left as it was
