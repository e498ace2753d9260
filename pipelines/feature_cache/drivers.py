"""Read a bundle's forecasts as issued, with the observed hours before each issue, and derive drivers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import xarray as xr

from features.rain_climate import gev_rain_climate, tank_storage
from features.weather import daily_drivers
from pipelines.bundle.checks import CONTROL_MEMBER, FORECASTS
from pipelines.bundle.readers import control_run, say_control_run
from pipelines.timezones import local_midnight_utc, local_midnights_utc

_VARIABLES = ("pr", "tas", "hurs", "sfcWind", "rsds", "zos")
ANTECEDENT_HOURS = 72  # observed hours before each issue the drivers read (antecedent rain)


def _read_one(path: Path, hours: int) -> tuple[dict[str, np.ndarray], int]:
    """The first `hours` lead hours of each variable of the forecast at `path` (its control member when
    it is an ensemble) and its number of members (1 without a `member` dim)."""
    with netCDF4.Dataset(path) as nc:
        nc.set_auto_mask(False)
        if "member" not in nc.dimensions:
            return {name: np.asarray(nc[name][:hours], dtype="float32") for name in _VARIABLES}, 1
        control = int(np.flatnonzero(nc["member"][:] == CONTROL_MEMBER)[0])  # validated: there is one
        values = {name: np.asarray(nc[name][control, :hours], dtype="float32") for name in _VARIABLES}
        return values, nc.dimensions["member"].size


def forecast_stack(bundle: Path, issue_dates: list[dt.date], *, lead_days: int,
                   progress=lambda message: None) -> xr.Dataset:
    """The forecasts issued on `issue_dates`, dims (issue_date, lead_time, y, x), canonical units, with
    the regional grid's CRS (its `y`, `x` may be degrees or metres).

    Read with netCDF4 directly: a few ms per file, where opening each with xarray costs more.
    The bundle has been validated, so every file holds the same variables and regional grid. Of an
    ensemble forecast only the control member is read, and the log says so once, naming a file.
    """
    hours = 24 * lead_days
    folder = bundle / FORECASTS
    with xr.open_dataset(folder / f"{issue_dates[0]:%Y-%m-%d}.nc", decode_coords="all") as first:
        template = control_run(first.isel(lead_time=slice(0, hours))).load()
    arrays = {name: np.empty((len(issue_dates), *template[name].shape), "float32") for name in _VARIABLES}
    ensembles, members = [], 1
    for i, day in enumerate(issue_dates):
        values, count = _read_one(folder / f"{day:%Y-%m-%d}.nc", hours)
        for name in _VARIABLES:
            arrays[name][i] = values[name]
        if count > 1:
            ensembles.append(f"{FORECASTS}/{day:%Y-%m-%d}.nc")
            members = max(members, count)
        if (i + 1) % 250 == 0 or i + 1 == len(issue_dates):
            progress(f"read forecasts {i + 1}/{len(issue_dates)}")
    if ensembles:
        say_control_run(bundle, ensembles, members)
    dims = ("issue_date", *template["pr"].dims)
    return xr.Dataset(
        {name: (dims, arrays[name], {"units": template[name].attrs["units"]}) for name in _VARIABLES},
        coords={"issue_date": pd.DatetimeIndex(issue_dates), "y": template.y.values, "x": template.x.values},
    ).rio.write_crs(template.rio.crs)


def antecedent_rain(history: xr.Dataset, issue_times_utc: pd.DatetimeIndex) -> xr.DataArray:
    """Observed hourly rain of the 72 h before each issue time, dims (issue_date, hour, y, x), mm h-1."""
    times = pd.DatetimeIndex(history.time.values)
    end = times.searchsorted(issue_times_utc.tz_convert(None) if issue_times_utc.tz else issue_times_utc)
    if (end < ANTECEDENT_HOURS).any():
        first = issue_times_utc[np.argmax(end < ANTECEDENT_HOURS)]
        raise ValueError(f"weather/history.nc: time: less than {ANTECEDENT_HOURS} h of history before {first}")
    index = end[:, None] - ANTECEDENT_HOURS + np.arange(ANTECEDENT_HOURS)
    values = history["pr"].transpose("time", "y", "x").values[index]
    return xr.DataArray(
        values, dims=("issue_date", "hour", "y", "x"),
        coords={"hour": np.arange(-ANTECEDENT_HOURS, 0), "y": history.y.values, "x": history.x.values},
        attrs={"units": "mm h-1"},
    )


def tanks_at_issue(history: xr.Dataset, issue_times_utc: pd.DatetimeIndex) -> xr.DataArray:
    """Storage of the soil water index tanks at each issue time, dims (issue_date, tank, y, x), mm.

    The tanks start empty at the history's first hour and fill with its observed rain up to the hour
    before each issue time (the first weeks of a history underestimate the slow third tank).
    """
    times = pd.DatetimeIndex(history.time.values)
    end = times.searchsorted(issue_times_utc.tz_convert(None) if issue_times_utc.tz else issue_times_utc)
    if (end < 1).any():
        raise ValueError(f"weather/history.nc: time: no history before {issue_times_utc[np.argmax(end < 1)]}")
    storage = tank_storage(history["pr"].isel(time=slice(0, int(end.max()))).transpose("y", "x", "time"))
    return storage["storage_mm"].isel(time=xr.DataArray(end - 1, dims="issue_date")).drop_vars("time").transpose(
        "issue_date", "tank", "y", "x").assign_attrs(units="mm")


def rain_climate(history: xr.Dataset, before: dt.date | None, timezone: str) -> xr.Dataset:
    """The GEV rain climate (features.rain_climate.gev_rain_climate) of the observed hours before local
    midnight starting `before` (the sealed test period's first day), or of every hour with None."""
    pr = history["pr"]
    if before is not None:
        pr = pr.isel(time=slice(0, int(pd.DatetimeIndex(pr.time.values).searchsorted(
            local_midnight_utc(before, timezone)))))
    return gev_rain_climate(pr.transpose("time", "y", "x"))


def read_drivers(path: Path) -> xr.Dataset:
    """A drivers file of the feature cache, (issue_date, lead, y, x), its grid mapping a coordinate (the CRS)."""
    return xr.load_dataset(path, decode_coords="all")


def drivers_for_dates(bundle: Path, history: xr.Dataset, issue_dates: list[dt.date], *, lead_days: int,
                      timezone: str, climate_before: dt.date | None, progress=lambda message: None) -> xr.Dataset:
    """Daily drivers (issue_date, lead, y, x) on the regional grid for each issue date, with its CRS.

    Rain return periods read the climate of the history before `climate_before` (the sealed test
    period's first day; None: all of it), the same for every issue date, so that a model and the
    forecasts it makes see one scale.
    """
    stack = forecast_stack(bundle, issue_dates, lead_days=lead_days, progress=progress)
    issue_times = local_midnights_utc(issue_dates, timezone)
    antecedent = antecedent_rain(history, issue_times).assign_coords(issue_date=stack.issue_date)
    tanks = tanks_at_issue(history, issue_times).assign_coords(issue_date=stack.issue_date)
    climate = rain_climate(history, climate_before, timezone)
    if climate["shape"].isnull().any():
        progress(f"weather/history.nc: {int(climate['n_maxima'].min())} annual rain maxima before {climate_before}: "
                 "too few for a rain climate, the rain return periods are NaN")
    drivers = daily_drivers(stack, antecedent, lead_days=lead_days, climate=climate, tanks_at_issue_mm=tanks)
    return drivers.transpose("issue_date", "lead", "y", "x").rio.write_crs(stack.rio.crs)
