"""The demo world's weather forecasts: the true future plus errors that grow with lead.

One forecast a local day, issued at local midnight, hourly leads 0 .. 24 x forecast days - 1 h on
the regional grid. Errors: temperature bias and drift, humidity errors tied to them, wind and
sunshine factors, a small surge error on the well-known tide, and for rain a timing jitter, a
lognormal amount error per lead day, missed events and false alarms, all larger at longer leads.

How the errors grow: each error's size is a linear function of the lead's growth days
(`error_growth_days`), which equal the lead in days over the first FIRST_STREAM_DAYS days and then
saturate, approaching FIRST_STREAM_DAYS + GROWTH_SATURATION_DAYS (at lead day 6, about 4.5). The
choice: over the tropics a global model's near-surface temperature and rain errors grow fastest in
the first days and then level off towards the climate's own day-to-day spread, since the weather is
set by convection and the monsoon flow, which a model loses within days, rather than by
mid-latitude waves whose errors keep growing for a week. On the demo's stations in 2024 the raw
tasmax RMSE grows from 1.19 degC at lead day 1 to 2.10 at lead day 6 (a linear growth would have
given about 2.9).

The random draws of the first FIRST_STREAM_DAYS days come from one stream and those of later days
from a second, each error process continued across the boundary (the AR(1) drifts run on), so a
forecast file's first three days are the same whatever its length.
Files are written with netCDF4 directly (a few ms each), in the layout xarray would write.
"""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from scipy.signal import lfilter

from pipelines.bundle.checks import VARIABLE_ATTRS
from pipelines.demo_world.writers import add_variable
from pipelines.storage import sha256_file, write_atomic

FIRST_STREAM_DAYS = 3  # days drawn from the first stream: the files' length before heat looked a week ahead
GROWTH_SATURATION_DAYS = 2.0  # e-folding of the error growth past FIRST_STREAM_DAYS, in lead days


def error_growth_days(lead_days: np.ndarray) -> np.ndarray:
    """Growth days of leads `lead_days` (days, float): the lead itself up to FIRST_STREAM_DAYS, then
    FIRST_STREAM_DAYS + GROWTH_SATURATION_DAYS x (1 - exp(-(lead - FIRST_STREAM_DAYS) / GROWTH_SATURATION_DAYS))."""
    lead_days = np.asarray(lead_days, dtype=float)
    past = np.maximum(lead_days - FIRST_STREAM_DAYS, 0.0)
    saturated = FIRST_STREAM_DAYS + GROWTH_SATURATION_DAYS * -np.expm1(-past / GROWTH_SATURATION_DAYS)
    return np.where(lead_days <= FIRST_STREAM_DAYS, lead_days, saturated)


class _LeadDraws:
    """Random draws whose axis 1 runs along leads: the leads before `first_leads` from `first`, the
    others from `beyond`, so a longer forecast keeps its first leads' values."""

    def __init__(self, first: np.random.Generator, beyond: np.random.Generator, first_leads: int) -> None:
        self.first, self.beyond, self.first_leads = first, beyond, first_leads

    def __call__(self, method: str, shape: tuple[int, ...], **kwargs) -> np.ndarray:
        head = min(shape[1], self.first_leads)
        drawn = [getattr(self.first, method)(size=(shape[0], head, *shape[2:]), **kwargs)]
        if shape[1] > head:
            drawn.append(getattr(self.beyond, method)(size=(shape[0], shape[1] - head, *shape[2:]), **kwargs))
        return np.concatenate(drawn, axis=1)


def _drift(draw: _LeadDraws, shape: tuple[int, int], phi: float) -> np.ndarray:
    """Standard normal AR(1) series along axis 1 (leads) for each row (issue)."""
    noise = draw("standard_normal", shape)
    noise[:, 0] /= np.sqrt(1 - phi**2)
    return lfilter([np.sqrt(1 - phi**2)], [1, -phi], noise, axis=1)


def _rain_forecast(truth_pr: np.ndarray, windows: np.ndarray, draw: _LeadDraws) -> np.ndarray:
    """Rain (issues, leads, points) in mm h-1: the truth shifted in time and rescaled per lead day,
    with some events missed and some false alarms on dry days. `draw` runs along lead days."""
    n_issues, n_leads = windows.shape
    n_points = truth_pr.shape[1]
    lead_day = np.arange(n_leads) // 24
    n_days = lead_day[-1] + 1
    growth = error_growth_days(np.arange(n_days))
    shift = np.rint(draw("normal", (n_issues, n_days), loc=0, scale=1) * (0.6 + 0.8 * growth))
    source = np.clip(windows + shift[:, lead_day].astype(int), 0, truth_pr.shape[0] - 1)
    rain = truth_pr[source]  # (issues, leads, points)

    sigma = 0.3 + 0.25 * growth
    common = draw("standard_normal", (n_issues, n_days, 1))
    local = draw("standard_normal", (n_issues, n_days, n_points))
    factor = np.exp(sigma[:, None] * (np.sqrt(0.7) * common + np.sqrt(0.3) * local) - sigma[:, None] ** 2 / 2)
    missed = draw("random", (n_issues, n_days)) < 0.04 + 0.05 * growth
    factor = np.where(missed[:, :, None], 0.1 * factor, factor)
    rain = rain * factor[:, lead_day]

    daily_truth = truth_pr[windows].reshape(n_issues, n_days, 24, n_points).sum(axis=2).mean(axis=2)
    false_alarm = (daily_truth < 1.0) & (draw("random", (n_issues, n_days)) < 0.03 + 0.04 * growth)
    amount = draw("exponential", (n_issues, n_days, 1), scale=10.0) * false_alarm[:, :, None]
    amount = amount * draw("uniform", (n_issues, n_days, n_points), low=0.5, high=1.5)
    shower = np.zeros((n_issues, n_days, 24, n_points))
    shower[:, :, 15:18] = amount[:, :, None, :] * np.array([0.5, 0.3, 0.2])[:, None]  # 15-18 h local
    return rain + shower.reshape(n_issues, n_leads, n_points)


def forecast_values(
    weather: xr.Dataset, issue_index: np.ndarray, n_leads: int, rng: np.random.Generator,
    beyond: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Forecast values (issues, leads, y, x), float32, for issues starting at hours `issue_index`
    of the hourly truth `weather`; `weather` must run n_leads hours (plus a day) past the last.

    The first FIRST_STREAM_DAYS days' errors are drawn from `rng`, later ones from `beyond`."""
    n_y, n_x = weather.sizes["y"], weather.sizes["x"]
    truth = {name: weather[name].values.reshape(weather.sizes["time"], n_y * n_x) for name in VARIABLE_ATTRS}
    windows = issue_index[:, None] + np.arange(n_leads)
    shape = windows.shape
    hourly, daily = (_LeadDraws(rng, beyond, FIRST_STREAM_DAYS * k) for k in (24, 1))
    lead = error_growth_days(np.arange(n_leads) / 24)  # days
    tas_error = (0.3 * rng.standard_normal(shape[0])[:, None] * (1 + 0.5 * lead)
                 + (0.35 + 0.3 * lead) * _drift(hourly, shape, 0.95))[:, :, None]
    tas_error = tas_error + 0.15 * hourly("standard_normal", (*shape, n_y * n_x))
    values = {
        "pr": _rain_forecast(truth["pr"], windows, daily),
        "tas": truth["tas"][windows] + tas_error,
        "hurs": np.clip(truth["hurs"][windows] - 3.0 * tas_error
                        + ((1.5 + 1.0 * lead) * _drift(hourly, shape, 0.9))[:, :, None], 0, 100),
        "sfcWind": np.clip(truth["sfcWind"][windows]
                           * np.exp((0.12 + 0.06 * lead) * _drift(hourly, shape, 0.9))[:, :, None], 0, 75),
        "rsds": np.clip(truth["rsds"][windows]
                        * np.clip(1 + (0.08 + 0.05 * lead) * _drift(hourly, shape, 0.95), 0.3, 1.7)[:, :, None],
                        0, 1500),
        "zos": truth["zos"][windows] + ((0.02 + 0.015 * lead) * _drift(hourly, shape, 0.98))[:, :, None],
    }
    return {name: v.reshape(*shape, n_y, n_x).astype("float32") for name, v in values.items()}


def _crs_attrs() -> dict:
    return dict(xr.DataArray(0).rio.write_crs("EPSG:4326")["spatial_ref"].attrs)


def _write_forecast(path: Path, values: dict[str, np.ndarray], issue: pd.Timestamp,
                    lat: np.ndarray, lon: np.ndarray, crs_attrs: dict) -> None:
    """One forecast file, as xarray would write it: CF times, timedelta leads, grid mapping."""
    n_leads = next(iter(values.values())).shape[0]
    since = f"hours since {issue:%Y-%m-%d %H:%M:%S}"
    with netCDF4.Dataset(path, "w", format="NETCDF3_64BIT_OFFSET") as nc:
        nc.setncatts({"Conventions": "CF-1.8", "title": "Warisan demo world: weather forecast",
                      "source": "pipelines.demo_world.generate (synthetic)",
                      "history": "written by pipelines.demo_world.forecasts.write_forecasts"})
        for dim, size in (("lead_time", n_leads), ("y", lat.size), ("x", lon.size)):
            nc.createDimension(dim, size)
        for name in VARIABLE_ATTRS:
            add_variable(nc, name, "f4", ("lead_time", "y", "x"), values[name],
                         {**VARIABLE_ATTRS[name], "grid_mapping": "spatial_ref",
                          "coordinates": "forecast_reference_time time"})
        add_variable(nc, "lead_time", "i4", ("lead_time",), np.arange(n_leads),
                     {"long_name": "time since the forecast was issued", "units": "hours",
                      "dtype": "timedelta64[ns]"})
        add_variable(nc, "time", "i4", ("lead_time",), np.arange(n_leads),
                     {"standard_name": "time", "long_name": "valid time (UTC)", "units": since,
                      "calendar": "proleptic_gregorian"})
        add_variable(nc, "y", "f8", ("y",), lat,
                     {"standard_name": "latitude", "units": "degrees_north", "axis": "Y"})
        add_variable(nc, "x", "f8", ("x",), lon,
                     {"standard_name": "longitude", "units": "degrees_east", "axis": "X"})
        add_variable(nc, "forecast_reference_time", "i4", (), 0,
                     {"standard_name": "forecast_reference_time", "units": since,
                      "calendar": "proleptic_gregorian"})
        add_variable(nc, "spatial_ref", "i4", (), 0, crs_attrs)


def write_forecasts(
    folder: Path, values: dict[str, np.ndarray], issue_dates: list, issue_times: pd.DatetimeIndex,
    lat: np.ndarray, lon: np.ndarray,
) -> dict[str, str]:
    """Write `<folder>/<YYYY-MM-DD>.nc` for every issue; returns file name -> sha256."""
    crs_attrs = _crs_attrs()
    hashes = {}
    for i, (day, issued) in enumerate(zip(issue_dates, issue_times, strict=True)):
        path = folder / f"{day:%Y-%m-%d}.nc"
        write_atomic(path, lambda tmp, i=i, issued=issued: _write_forecast(
            tmp, {name: v[i] for name, v in values.items()}, issued, lat, lon, crs_attrs), suffix=".nc")
        hashes[path.name] = sha256_file(path)
    return hashes
