"""Heat stress at each site hour by hour, and the windows of hours at or above the WBGT bands.

The heat model forecasts one number a day, the daily maximum (tasmax q50); the hours come from
the regional hourly forecast read at the site. A site's urban offset (its q50 minus the regional
daily maximum at the site, degC, per lead day) is what the heat model adds to the regional air
at the warmest hour; how much of it holds at other hours is not forecast. It is added in
proportion to the hour's share of the regional day's warming, (tas - tasmin) / (tasmax - tasmin):
the full offset at the regional warmest hour, so the site's hourly maximum is its daily q50,
none at the coolest, so no night-time heat island is invented that the model never learnt.
Humidity holds the regional hour's dew point (a warmer street has drier air, as at the daily
maximum in features.heat.humidity_at_daily_max).

WBGT is Liljegren's (features.heat.wet_bulb_globe_temperature) with the hour's sun: the cosine
of the zenith angle at that instant, the hour's `rsds` and the direct share from the sky's
clearness. A site is open to the direct beam in the share `sun_share` (0..1; the pipeline uses
the unbuilt share of the site's cells, 1 - building_frac, as the ground under open sky): the
beam is scaled by it, the diffuse light stays whole.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import xarray as xr

from features.grid import require_units
from features.heat import (
    cos_solar_zenith,
    dew_point,
    direct_beam_fraction,
    heat_index,
    relative_humidity,
    wet_bulb_globe_temperature,
)

WINDOW_COLUMNS = ("site", "date", "band", "threshold_degC", "start", "end", "hours")


def site_heat_hours(
    tas: xr.DataArray, hurs: xr.DataArray, wind: xr.DataArray, rsds: xr.DataArray, *,
    urban_offset: xr.DataArray, lat: xr.DataArray, lon: xr.DataArray, sun_share: xr.DataArray,
) -> xr.Dataset:
    """Hourly `tas_degC`, `hurs_pct`, `heat_index_degC` and `wbgt_degC` per site; dims (site, time).

    `tas` (degC), `hurs` (%), `wind` (10 m, m s-1) and `rsds` (W m-2) are the regional hourly
    forecast at the sites, dims (site, time), `time` the UTC instants with a `lead` coordinate
    along it (each hour's local lead day); `urban_offset` (degC, dims (site, lead)) the heat
    model's offset of the daily maximum, `lat`/`lon` (degrees) and `sun_share` (1, 0..1) per site
    (module docstring). A NaN offset (a site off the grid) gives NaN hours.
    """
    for name, layer, units in (("tas", tas, "degC"), ("urban_offset", urban_offset, "degC"),
                               ("sun_share", sun_share, "1")):
        require_units(layer, units, name)
    if "lead" not in tas.coords:
        raise ValueError("`tas` has no `lead` coordinate along `time`")
    if ((sun_share < 0) | (sun_share > 1)).any():
        raise ValueError("`sun_share` must lie in [0, 1]")
    by_day = tas.groupby("lead")
    low, high = by_day.min().sel(lead=tas["lead"]), by_day.max().sel(lead=tas["lead"])
    warming = ((tas - low) / (high - low).where(high > low)).fillna(1.0)  # a flat day: the offset all day
    air = (tas + warming * urban_offset.sel(lead=tas["lead"])).assign_attrs(units="degC")
    humidity = relative_humidity(air, dew_point(tas, hurs))
    cos_zenith = cos_solar_zenith(lat, lon, tas["time"] + np.timedelta64(30, "m"))  # rsds at T: the hour from T
    day_of_year = tas["time"].dt.dayofyear.astype(float).assign_attrs(units="1")
    direct = direct_beam_fraction(rsds, cos_zenith, day_of_year)
    kept = 1 - direct * (1 - sun_share)  # share of rsds left where the beam is blocked in 1 - sun_share
    site_rsds = (rsds * kept).assign_attrs(units="W m-2")
    site_direct = (direct * sun_share / kept.where(kept > 0)).fillna(0.0).where(direct.notnull())
    wbgt = wet_bulb_globe_temperature(air, humidity, wind, site_rsds, cos_zenith, site_direct.assign_attrs(units="1"))
    hours = xr.Dataset({
        "tas_degC": air.assign_attrs(standard_name="air_temperature", units="degC",
                                     long_name="air temperature at the site: regional hourly air plus the share "
                                               "of the site's urban offset of the day's warming"),
        "hurs_pct": humidity.assign_attrs(standard_name="relative_humidity", units="%",
                                          long_name="relative humidity at the site (regional dew point held)"),
        "heat_index_degC": heat_index(air, humidity).assign_attrs(units="degC", long_name="heat index (NWS)"),
        "wbgt_degC": wbgt.assign_attrs(units="degC", long_name="wet bulb globe temperature (Liljegren) with the "
                                                              "hour's sun where the site is open to it"),
    })
    return hours.transpose("site", "time")


def heat_windows(wbgt: xr.DataArray, thresholds_degC: tuple[float, ...], timezone: str) -> pd.DataFrame:
    """The runs of hours with `wbgt` (degC, dims (site, time), `time` hourly UTC) at or above each threshold.

    One row per run within a local day (IANA `timezone`): WINDOW_COLUMNS, `band` k for the k-th
    threshold (increasing), `start` and `end` the local clock times ('HH:MM') of its first and
    last hour, `hours` how many. A run across midnight is two runs; NaN is below every threshold.
    Rows ordered by site, band, date and start.
    """
    require_units(wbgt, "degC", "wbgt")
    if list(thresholds_degC) != sorted(set(thresholds_degC)):
        raise ValueError(f"`thresholds_degC` must be strictly increasing, got {thresholds_degC}")
    values = wbgt.transpose("site", "time").values
    if (wbgt["time"].diff("time") != np.timedelta64(1, "h")).any():
        raise ValueError("`wbgt` must be hourly without gaps in `time`")
    local = pd.DatetimeIndex(wbgt["time"].values).tz_localize("UTC").tz_convert(timezone)
    days = local.normalize()
    same_day = np.zeros(len(local), bool)
    same_day[1:] = days[1:] == days[:-1]  # hour t continues the day of hour t - 1
    rows = []
    for band, threshold in enumerate(thresholds_degC, start=1):
        with np.errstate(invalid="ignore"):
            above = values >= threshold
        after_above = np.zeros_like(above)
        after_above[:, 1:] = above[:, :-1] & same_day[1:]
        before_above = np.zeros_like(above)
        before_above[:, :-1] = above[:, 1:] & same_day[1:]
        site, first = np.nonzero(above & ~after_above)
        _, last = np.nonzero(above & ~before_above)  # row-major: the k-th end closes the k-th start
        rows.append(pd.DataFrame({
            "site": wbgt["site"].values[site], "date": days[first].date, "band": band,
            "threshold_degC": float(threshold), "start": local[first].strftime("%H:%M"),
            "end": local[last].strftime("%H:%M"), "hours": last - first + 1,
        }, columns=list(WINDOW_COLUMNS)))
    windows = pd.concat(rows, ignore_index=True)
    return windows.sort_values(["site", "band", "date", "start"], kind="stable").reset_index(drop=True)



def with_heat_windows(levels: pd.DataFrame, windows: pd.DataFrame, issue_date: dt.date) -> pd.DataFrame:
    """`levels` (one row per asset_id and lead) with each day's hourly windows (heat_windows' rows, lead =
    local date - `issue_date`): `wbgt_windows`, a tuple of (band, threshold_degC, start, end) ordered by
    band and start (empty: none), and `wbgt_hour_band`, the highest band an hour reaches that day (0: none)."""
    table = windows.assign(lead=[(day - issue_date).days for day in windows["date"]])
    table["window"] = list(zip(table["band"], table["threshold_degC"], table["start"], table["end"], strict=True))
    grouped = table.sort_values(["band", "start"], kind="stable").groupby(["site", "lead"])
    by_day = {"wbgt_windows": grouped["window"].agg(tuple), "wbgt_hour_band": grouped["band"].max()}
    keys = pd.MultiIndex.from_frame(levels[["asset_id", "lead"]])
    windows_of = by_day["wbgt_windows"].reindex(keys).to_numpy()
    return levels.assign(
        wbgt_windows=[w if isinstance(w, tuple) else () for w in windows_of],
        wbgt_hour_band=by_day["wbgt_hour_band"].reindex(keys).fillna(0).astype(int).to_numpy())
