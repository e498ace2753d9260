"""weather/history.nc and weather/forecasts/<date>.nc from Open-Meteo, incrementally.

History = the archive API (ERA5) up to `archive_lag_days` ago, then the forecast API's recent
hours up to the issue time (ERA5 lags by days; without them the last days' rain would be
missing). history.nc records `archive_until`: hours after it came from the forecast API and are
fetched again from the archive once it has them. A daily run so fetches only the new hours.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from pipelines.sources import open_meteo as om
from pipelines.storage import write_atomic

_HOUR = pd.Timedelta(hours=1)
_CHUNK_DAYS = 366  # one archive request covers at most a year


@dataclass(frozen=True)
class WeatherSettings:
    """What the weather requests need, as plain values."""

    archive_url: str
    forecast_url: str
    marine_url: str
    model: str
    sea_point: tuple[float, float]
    lat: np.ndarray
    lon: np.ndarray
    archive_lag_days: int


def history_requests(settings: WeatherSettings, start: dt.date, issue_time: pd.Timestamp,
                     now: pd.Timestamp, kept_until: pd.Timestamp | None,
                     archive_until: pd.Timestamp | None) -> tuple[list[tuple[om.Request, om.Request]],
                                                                  pd.Timestamp]:
    """(atmosphere, sea level) request pairs for the hours history.nc lacks, and the new archive end.

    `kept_until` is the last hour kept from the existing file (None: no file); hours after
    `archive_until` are asked again. Archive hours stop `archive_lag_days` before `now`.
    """
    first = pd.Timestamp(start) if kept_until is None else min(kept_until, archive_until) + _HOUR
    archive_end = min(now.floor("D") - pd.Timedelta(days=settings.archive_lag_days), issue_time)
    pairs, cursor = [], first
    while cursor < archive_end:
        hours = int(min(pd.Timedelta(days=_CHUNK_DAYS), archive_end - cursor) / _HOUR)
        pairs.append(_pair(settings, settings.archive_url, None, cursor, hours, gap_ok=kept_until is None))
        cursor += hours * _HOUR
    if cursor < issue_time:
        hours = int((issue_time - cursor) / _HOUR)
        pairs.append(_pair(settings, settings.forecast_url, settings.model, cursor, hours, gap_ok=False))
    return pairs, max(archive_end, first) - _HOUR


def _pair(settings: WeatherSettings, url: str, model: str | None, first: pd.Timestamp, hours: int,
          gap_ok: bool) -> tuple[om.Request, om.Request]:
    return (om.atmosphere_request(url, settings.lat, settings.lon, first, hours, model),
            om.sea_level_request(settings.marine_url, settings.sea_point, first, hours, leading_gap_ok=gap_ok))


def forecast_requests(settings: WeatherSettings, issue_time: pd.Timestamp, lead_days: int
                      ) -> tuple[om.Request, om.Request]:
    """The forecast issued at `issue_time` (UTC): hourly leads 0 .. 24 x lead_days - 1."""
    return _pair(settings, settings.forecast_url, settings.model, issue_time, 24 * lead_days, gap_ok=False)


def fetch_weather(client, pairs, settings: WeatherSettings, limiter: om.RateLimiter, timeout_s: float
                  ) -> xr.Dataset | None:
    """The (time, y, x) weather of all `pairs`, joined in time; None when there are none."""
    parts = [om.on_grid(om.fetch(client, atmos, limiter, timeout_s), om.fetch(client, sea, limiter, timeout_s),
                        settings.lat, settings.lon) for atmos, sea in pairs]
    return xr.concat(parts, dim="time") if parts else None


def merge_history(old: xr.Dataset | None, kept_until: pd.Timestamp | None, new: xr.Dataset | None
                  ) -> xr.Dataset:
    """The old history up to `kept_until` followed by `new`, from the first hour with sea level.

    Raises WeatherResponseError when sea level is missing after its record has begun.
    """
    parts = ([old.sel(time=slice(None, kept_until))] if old is not None else []) + ([new] if new is not None else [])
    if not parts:
        raise om.WeatherResponseError("no weather hours to write")
    history = xr.concat(parts, dim="time") if len(parts) > 1 else parts[0]
    present = np.isfinite(history["zos"].values[:, 0, 0])
    if not present.any():
        raise om.WeatherResponseError("the marine API returned no sea level for the history period")
    history = history.isel(time=slice(int(np.argmax(present)), None))
    if not np.isfinite(history["zos"].values).all():
        raise om.WeatherResponseError("sea level is missing inside the history period")
    return history


def read_history(path: Path) -> tuple[xr.Dataset | None, pd.Timestamp | None, pd.Timestamp | None]:
    """The existing history (loaded), its last hour and its `archive_until`; Nones when absent."""
    if not path.is_file():
        return None, None, None
    with xr.open_dataset(path, engine="netcdf4", decode_coords="all") as ds:
        history = ds.load()
    last = pd.Timestamp(history.time.values[-1])
    archive_until = pd.Timestamp(history.attrs.get("archive_until", str(last)))
    return history, last, archive_until


def write_history(path: Path, history: xr.Dataset, archive_until: pd.Timestamp) -> Path:
    """history.nc: float32, light zlib, hours since the first hour; `archive_until` recorded."""
    history = history.assign_attrs(
        Conventions="CF-1.8", title="Warisan: hourly regional weather",
        source="Open-Meteo archive (ERA5), forecast and marine APIs",
        archive_until=str(min(archive_until, pd.Timestamp(history.time.values[-1]))),
    )
    history.time.attrs.update(standard_name="time", long_name="start of the hour (UTC)")
    return write_atomic(path, lambda tmp: history.to_netcdf(tmp, engine="netcdf4",
                                                           encoding=_encoding(history, "time")), suffix=".nc")


def forecast_dataset(weather: xr.Dataset, issue_time: pd.Timestamp, model: str, run_time: str | None
                     ) -> xr.Dataset:
    """The contract's forecast layout: `lead_time` dim, valid `time`, scalar issue time."""
    lead = (weather.time.values - np.datetime64(issue_time)).astype("timedelta64[h]").astype("timedelta64[ns]")
    ds = weather.swap_dims(time="lead_time").assign_coords(lead_time=("lead_time", lead))
    ds = ds.assign_coords(forecast_reference_time=np.datetime64(issue_time, "ns"))
    ds.time.attrs.update(standard_name="time", long_name="valid time (UTC)")
    ds.lead_time.attrs.update(long_name="time since the forecast was issued")
    ds.forecast_reference_time.attrs.update(standard_name="forecast_reference_time")
    return ds.assign_attrs(Conventions="CF-1.8", title="Warisan: weather forecast",
                           source=f"Open-Meteo forecast API, model {model}",
                           model=model, model_run=run_time or "unknown")


def write_forecast(path: Path, forecast: xr.Dataset, issue_time: pd.Timestamp) -> Path:
    encoding = _encoding(forecast, "lead_time")
    since = f"hours since {issue_time:%Y-%m-%d %H:%M:%S}"
    encoding |= {"time": {"units": since, "dtype": "int32"}, "lead_time": {"units": "hours", "dtype": "int32"},
                 "forecast_reference_time": {"units": since, "dtype": "int32"}}
    return write_atomic(path, lambda tmp: forecast.to_netcdf(tmp, engine="netcdf4", encoding=encoding),
                        suffix=".nc")


def _encoding(ds: xr.Dataset, time_dim: str) -> dict:
    encoding = {name: {"zlib": True, "complevel": 1, "_FillValue": None, "dtype": "float32",
                       "grid_mapping": "spatial_ref"} for name in ds.data_vars}
    encoding |= {"y": {"_FillValue": None}, "x": {"_FillValue": None}}
    if time_dim == "time":
        first = np.datetime_as_string(ds.time.values[0], unit="s").replace("T", " ")
        encoding["time"] = {"units": f"hours since {first}", "dtype": "int64",
                            "calendar": "proleptic_gregorian"}
    return encoding
