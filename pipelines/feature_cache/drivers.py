"""Read a bundle's forecasts as issued, with the observed hours before each issue, and derive drivers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import xarray as xr

from features.weather import daily_drivers
from pipelines.timezones import local_midnights_utc

_VARIABLES = ("pr", "tas", "hurs", "sfcWind", "rsds", "zos")
_ANTECEDENT_HOURS = 72


def _read_one(path: Path, hours: int) -> dict[str, np.ndarray]:
    with netCDF4.Dataset(path) as nc:
        nc.set_auto_mask(False)
        return {name: np.asarray(nc[name][:hours], dtype="float32") for name in _VARIABLES}


def forecast_stack(bundle: Path, issue_dates: list[dt.date], *, lead_days: int,
                   progress=lambda message: None) -> xr.Dataset:
    """The forecasts issued on `issue_dates`, dims (issue_date, lead_time, y, x), canonical units, with
    the regional grid's CRS (its `y`, `x` may be degrees or metres).

    Read with netCDF4 directly: a few ms per file, where opening each with xarray costs more.
    The bundle has been validated, so every file holds the same variables and regional grid.
    """
    hours = 24 * lead_days
    folder = bundle / "weather" / "forecasts"
    with xr.open_dataset(folder / f"{issue_dates[0]:%Y-%m-%d}.nc", decode_coords="all") as first:
        template = first.isel(lead_time=slice(0, hours)).load()
    arrays = {name: np.empty((len(issue_dates), *template[name].shape), "float32") for name in _VARIABLES}
    for i, day in enumerate(issue_dates):
        for name, values in _read_one(folder / f"{day:%Y-%m-%d}.nc", hours).items():
            arrays[name][i] = values
        if (i + 1) % 250 == 0 or i + 1 == len(issue_dates):
            progress(f"read forecasts {i + 1}/{len(issue_dates)}")
    dims = ("issue_date", *template["pr"].dims)
    return xr.Dataset(
        {name: (dims, arrays[name], {"units": template[name].attrs["units"]}) for name in _VARIABLES},
        coords={"issue_date": pd.DatetimeIndex(issue_dates), "y": template.y.values, "x": template.x.values},
    ).rio.write_crs(template.rio.crs)


def antecedent_rain(history: xr.Dataset, issue_times_utc: pd.DatetimeIndex) -> xr.DataArray:
    """Observed hourly rain of the 72 h before each issue time, dims (issue_date, hour, y, x), mm h-1."""
    times = pd.DatetimeIndex(history.time.values)
    end = times.searchsorted(issue_times_utc.tz_convert(None) if issue_times_utc.tz else issue_times_utc)
    if (end < _ANTECEDENT_HOURS).any():
        first = issue_times_utc[np.argmax(end < _ANTECEDENT_HOURS)]
        raise ValueError(f"weather/history.nc: time: less than {_ANTECEDENT_HOURS} h of history before {first}")
    index = end[:, None] - _ANTECEDENT_HOURS + np.arange(_ANTECEDENT_HOURS)
    values = history["pr"].transpose("time", "y", "x").values[index]
    return xr.DataArray(
        values, dims=("issue_date", "hour", "y", "x"),
        coords={"hour": np.arange(-_ANTECEDENT_HOURS, 0), "y": history.y.values, "x": history.x.values},
        attrs={"units": "mm h-1"},
    )


def read_drivers(path: Path) -> xr.Dataset:
    """A drivers file of the feature cache, (issue_date, lead, y, x), its grid mapping a coordinate (the CRS)."""
    return xr.load_dataset(path, decode_coords="all")


def drivers_for_dates(bundle: Path, history: xr.Dataset, issue_dates: list[dt.date], *, lead_days: int,
                      timezone: str, progress=lambda message: None) -> xr.Dataset:
    """Daily drivers (issue_date, lead, y, x) on the regional grid for each issue date, with its CRS."""
    stack = forecast_stack(bundle, issue_dates, lead_days=lead_days, progress=progress)
    antecedent = antecedent_rain(history, local_midnights_utc(issue_dates, timezone))
    antecedent = antecedent.assign_coords(issue_date=stack.issue_date)
    drivers = daily_drivers(stack, antecedent, lead_days=lead_days)
    return drivers.transpose("issue_date", "lead", "y", "x").rio.write_crs(stack.rio.crs)
