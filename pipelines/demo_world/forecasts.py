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

from dataclasses import dataclass, fields, replace
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


@dataclass(frozen=True)
class ForecastErrors:
    """One draw of the error model for issues (axis 0) and leads (axis 1): hourly leads for the
    weather, lead days for rain; axis 2 runs over the regional points (size 1 where the error is
    shared by all of them)."""

    tas_k: np.ndarray  # temperature error, K, (issues, leads, points)
    hurs_drift_pct: np.ndarray  # humidity error beside -3 x tas_k, %, (issues, leads, 1)
    wind_log_factor: np.ndarray  # log of the wind speed factor, (issues, leads, 1)
    sunshine_offset: np.ndarray  # the sunshine factor less 1, before clipping to 0.3..1.7, (issues, leads, 1)
    zos_m: np.ndarray  # surge error, m, (issues, leads, 1)
    rain_shift_h: np.ndarray  # timing shift before rounding, h, (issues, days)
    rain_log_factor: np.ndarray  # log amount factor before its lognormal mean correction, (issues, days, points)
    rain_missed: np.ndarray  # bool, an event missed (amount x 0.1), (issues, days)
    false_alarm_draw: np.ndarray  # uniform 0..1, a false alarm where below the rate on a dry day, (issues, days)
    false_alarm_mm: np.ndarray  # a false alarm's rain, mm per day, (issues, days, points)

    def rows(self, issues: np.ndarray) -> ForecastErrors:
        """The errors of the issues at positions `issues` only."""
        return ForecastErrors(**{f.name: getattr(self, f.name)[issues] for f in fields(self)})


_CONTINUOUS = ("tas_k", "hurs_drift_pct", "wind_log_factor", "sunshine_offset", "zos_m", "rain_shift_h",
               "rain_log_factor")  # errors that live in a space where draws add (the others are events)


def _rain_sigma(growth: np.ndarray) -> np.ndarray:
    """Standard deviation of the log rain amount factor at lead days of `growth` growth days."""
    return 0.3 + 0.25 * growth


def forecast_errors(n_issues: int, n_leads: int, n_points: int, rng: np.random.Generator,
                    beyond: np.random.Generator) -> ForecastErrors:
    """One draw of the demo world's error model for `n_issues` forecasts of `n_leads` hourly leads
    over `n_points` points. The first FIRST_STREAM_DAYS days come from `rng`, later ones from `beyond`."""
    shape = (n_issues, n_leads)
    hourly, daily = (_LeadDraws(rng, beyond, FIRST_STREAM_DAYS * k) for k in (24, 1))
    lead = error_growth_days(np.arange(n_leads) / 24)  # days
    tas_k = (0.3 * rng.standard_normal(n_issues)[:, None] * (1 + 0.5 * lead)
             + (0.35 + 0.3 * lead) * _drift(hourly, shape, 0.95))[:, :, None]
    tas_k = tas_k + 0.15 * hourly("standard_normal", (*shape, n_points))

    days = (n_issues, (n_leads - 1) // 24 + 1)
    growth = error_growth_days(np.arange(days[1]))
    rain_shift_h = daily("normal", days, loc=0, scale=1) * (0.6 + 0.8 * growth)
    sigma = _rain_sigma(growth)
    common = daily("standard_normal", (*days, 1))
    local = daily("standard_normal", (*days, n_points))
    rain_log_factor = sigma[:, None] * (np.sqrt(0.7) * common + np.sqrt(0.3) * local)
    rain_missed = daily("random", days) < 0.04 + 0.05 * growth
    false_alarm_draw = daily("random", days)
    false_alarm_mm = daily("exponential", (*days, 1), scale=10.0)
    false_alarm_mm = false_alarm_mm * daily("uniform", (*days, n_points), low=0.5, high=1.5)
    return ForecastErrors(
        tas_k=tas_k, rain_shift_h=rain_shift_h, rain_log_factor=rain_log_factor, rain_missed=rain_missed,
        false_alarm_draw=false_alarm_draw, false_alarm_mm=false_alarm_mm,
        hurs_drift_pct=((1.5 + 1.0 * lead) * _drift(hourly, shape, 0.9))[:, :, None],
        wind_log_factor=((0.12 + 0.06 * lead) * _drift(hourly, shape, 0.9))[:, :, None],
        sunshine_offset=((0.08 + 0.05 * lead) * _drift(hourly, shape, 0.95))[:, :, None],
        zos_m=((0.02 + 0.015 * lead) * _drift(hourly, shape, 0.98))[:, :, None],
    )


def _rain_forecast(truth_pr: np.ndarray, windows: np.ndarray, errors: ForecastErrors) -> np.ndarray:
    """Rain (issues, leads, points) in mm h-1: the truth shifted in time and rescaled per lead day,
    with some events missed and some false alarms on dry days."""
    n_issues, n_leads = windows.shape
    n_points = truth_pr.shape[1]
    lead_day = np.arange(n_leads) // 24
    n_days = lead_day[-1] + 1
    growth = error_growth_days(np.arange(n_days))
    shift = np.rint(errors.rain_shift_h)
    source = np.clip(windows + shift[:, lead_day].astype(int), 0, truth_pr.shape[0] - 1)
    rain = truth_pr[source]  # (issues, leads, points)

    factor = np.exp(errors.rain_log_factor - _rain_sigma(growth)[:, None] ** 2 / 2)
    factor = np.where(errors.rain_missed[:, :, None], 0.1 * factor, factor)
    rain = rain * factor[:, lead_day]

    daily_truth = truth_pr[windows].reshape(n_issues, n_days, 24, n_points).sum(axis=2).mean(axis=2)
    false_alarm = (daily_truth < 1.0) & (errors.false_alarm_draw < 0.03 + 0.04 * growth)
    amount = np.where(false_alarm[:, :, None], errors.false_alarm_mm, 0.0)
    shower = np.zeros((n_issues, n_days, 24, n_points))
    shower[:, :, 15:18] = amount[:, :, None, :] * np.array([0.5, 0.3, 0.2])[:, None]  # 15-18 h local
    return rain + shower.reshape(n_issues, n_leads, n_points)


def forecast_with_errors(weather: xr.Dataset, issue_index: np.ndarray, errors: ForecastErrors
                         ) -> dict[str, np.ndarray]:
    """Forecast values (issues, leads, y, x), float32: the hourly truth `weather` from hours
    `issue_index` on, plus `errors`; humidity moves against temperature (-3 % per K)."""
    n_y, n_x = weather.sizes["y"], weather.sizes["x"]
    truth = {name: weather[name].values.reshape(weather.sizes["time"], n_y * n_x) for name in VARIABLE_ATTRS}
    windows = issue_index[:, None] + np.arange(errors.tas_k.shape[1])
    values = {
        "pr": _rain_forecast(truth["pr"], windows, errors),
        "tas": truth["tas"][windows] + errors.tas_k,
        "hurs": np.clip(truth["hurs"][windows] - 3.0 * errors.tas_k + errors.hurs_drift_pct, 0, 100),
        "sfcWind": np.clip(truth["sfcWind"][windows] * np.exp(errors.wind_log_factor), 0, 75),
        "rsds": np.clip(truth["rsds"][windows] * np.clip(1 + errors.sunshine_offset, 0.3, 1.7), 0, 1500),
        "zos": truth["zos"][windows] + errors.zos_m,
    }
    return {name: v.reshape(*windows.shape, n_y, n_x).astype("float32") for name, v in values.items()}


def forecast_values(
    weather: xr.Dataset, issue_index: np.ndarray, n_leads: int, rng: np.random.Generator,
    beyond: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Forecast values (issues, leads, y, x), float32, for issues starting at hours `issue_index`
    of the hourly truth `weather`; `weather` must run n_leads hours (plus a day) past the last.

    The first FIRST_STREAM_DAYS days' errors are drawn from `rng`, later ones from `beyond`."""
    n_points = weather.sizes["y"] * weather.sizes["x"]
    return forecast_with_errors(weather, issue_index, forecast_errors(issue_index.size, n_leads, n_points, rng, beyond))


def ensemble_values(
    weather: xr.Dataset, issue_index: np.ndarray, control: ForecastErrors, members: int,
    rng: np.random.Generator, beyond: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Ensemble forecast values (issues, member, leads, y, x), float32: member 0 the control (the
    truth plus `control`, as forecast_values gives it), then `members` perturbed members.

    A hidden centre c = truth - t, t = -e0/2 + z/2 with e0 the control's errors and z a fresh draw
    of the error model, leaves the truth and the control independent around c at half the error
    variance each; member m is c + e_m/sqrt(2), e_m another fresh draw. The truth and every member
    are then exchangeable around c, every member's error has the control's size at each lead, and
    the spread matches the ensemble mean's error. Continuous errors (temperature, humidity drift,
    log wind and rain amount factors, sunshine, surge, rain timing) combine so; missed rain and
    false alarms are each member's own, at the control's rates. Draws come from `rng` and `beyond`
    as in forecast_errors (the centre first, then members 1, 2, ...)."""
    n_issues, n_leads = control.tas_k.shape[:2]
    n_points = weather.sizes["y"] * weather.sizes["x"]
    centre = forecast_errors(n_issues, n_leads, n_points, rng, beyond)
    offset = {name: (getattr(control, name) - getattr(centre, name)) / 2 for name in _CONTINUOUS}
    runs = [forecast_with_errors(weather, issue_index, control)]
    for _ in range(members):
        spread = forecast_errors(n_issues, n_leads, n_points, rng, beyond)
        member = replace(spread, **{name: offset[name] + getattr(spread, name) / np.sqrt(2) for name in _CONTINUOUS})
        runs.append(forecast_with_errors(weather, issue_index, member))
    return {name: np.stack([run[name] for run in runs], axis=1) for name in runs[0]}


def _crs_attrs() -> dict:
    return dict(xr.DataArray(0).rio.write_crs("EPSG:4326")["spatial_ref"].attrs)


def _write_forecast(path: Path, values: dict[str, np.ndarray], issue: pd.Timestamp,
                    lat: np.ndarray, lon: np.ndarray, crs_attrs: dict) -> None:
    """One forecast file, as xarray would write it: CF times, timedelta leads, grid mapping. Values
    with a leading member axis (member 0 the control) make a member file: NETCDF4, zlib level 1, a
    chunk per member (reading the control inflates only its own)."""
    shape = next(iter(values.values())).shape
    members = len(shape) == 4
    n_leads = shape[-3]
    since = f"hours since {issue:%Y-%m-%d %H:%M:%S}"
    layout = {"format": "NETCDF4", "options": {"zlib": True, "complevel": 1, "shuffle": True,
                                               "chunksizes": (1, *shape[1:])}} if members else {
        "format": "NETCDF3_64BIT_OFFSET", "options": {}}
    with netCDF4.Dataset(path, "w", format=layout["format"]) as nc:
        nc.setncatts({"Conventions": "CF-1.8", "title": "Warisan demo world: weather forecast",
                      "source": "pipelines.demo_world.generate (synthetic)",
                      "history": "written by pipelines.demo_world.forecasts.write_forecasts"})
        dims = (("member", shape[0]),) if members else ()
        for dim, size in (*dims, ("lead_time", n_leads), ("y", lat.size), ("x", lon.size)):
            nc.createDimension(dim, size)
        for name in VARIABLE_ATTRS:
            add_variable(nc, name, "f4", (*dict(dims), "lead_time", "y", "x"), values[name],
                         {**VARIABLE_ATTRS[name], "grid_mapping": "spatial_ref",
                          "coordinates": "forecast_reference_time time"}, **layout["options"])
        if members:
            add_variable(nc, "member", "i4", ("member",), np.arange(shape[0]),
                         {"long_name": "ensemble member (0 the control)"})
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
    """Write `<folder>/<YYYY-MM-DD>.nc` for every issue; returns file name -> sha256. Values
    (issues, member, leads, y, x) from ensemble_values make member files."""
    crs_attrs = _crs_attrs()
    hashes = {}
    for i, (day, issued) in enumerate(zip(issue_dates, issue_times, strict=True)):
        path = folder / f"{day:%Y-%m-%d}.nc"
        write_atomic(path, lambda tmp, i=i, issued=issued: _write_forecast(
            tmp, {name: v[i] for name, v in values.items()}, issued, lat, lon, crs_attrs), suffix=".nc")
        hashes[path.name] = sha256_file(path)
    return hashes
