"""weather/history.nc and weather/forecasts/<date>.nc from Open-Meteo, incrementally.

History = the archive API (`archive_model`, asked for by name: the archive's default blends ERA5,
ERA5-Land and ECMWF IFS) up to `archive_lag_days` ago, then the forecast API's recent hours up to
the issue time (ERA5 lags by days; without them the last days' rain would be
missing). history.nc records `archive_until`: hours after it came from the forecast API and are
fetched again from the archive once it has them. A daily run so fetches only the new hours.

Training needs a forecast for every training day (`training_issue_dates`): the previous-runs API's
archived forecasts from `forecast_archive_from` on (`backfill_requests`, `as_issued`), and before
it stand-ins from the history with a stated error model (`history_forecasts`).

Sea level comes from the marine API, whose record begins in January 2022. Without tide constants
the history starts at its first hour and a missing hour after that is an error; with them
(`open_meteo.tide_constants`), every hour the marine API does not cover is the gauge's
astronomical tide (`fill_sea_level`), the history starts at `source.start`, and zos's attributes
list the hours filled.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from openmeteo_requests.Client import OpenMeteoRequestsError

from pipelines.bundle.checks import VARIABLE_ATTRS
from pipelines.demo_world.forecasts import forecast_values
from pipelines.feature_cache.drivers import ANTECEDENT_HOURS
from pipelines.sources import open_meteo as om
from pipelines.storage import write_atomic
from pipelines.tide import TideConstants, astronomical_tide
from pipelines.timezones import local_midnight_utc, local_midnights_utc

_HOUR = pd.Timedelta(hours=1)
_CHUNK_DAYS = 366  # one archive request covers at most a year
_MIN_OFFSET_HOURS = 720  # overlap needed to estimate the datum offset: a month, so spring and neap tides average out
_TIDE_HINT = "`open_meteo.tide_constants` would fill them from a tide gauge's astronomical tide"


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
    tide_constants: Path | None = None  # a gauge's harmonic constants: its tide fills missing sea level
    max_request_weight: float = float("inf")  # calls; the minute's budget, which no one request may pass
    archive_model: str = "era5_seamless"  # asked for by name: the archive's default is a blend
    previous_runs_url: str = ""
    forecast_archive_from: dt.date | None = None  # first issue date the previous-runs API holds; None: no backfill
    history_forecasts: bool = False  # stand-ins from the history for training days no archive holds
    ensemble_url: str = ""
    ensemble_model: str | None = None  # the issued forecast from the ensemble API; None: from the forecast API
    ensemble_members: int = 1

    @property
    def issued_url(self) -> str:
        """The API the forecast of the issue date comes from."""
        return self.ensemble_url if self.ensemble_model else self.forecast_url

    @property
    def issued_model(self) -> str:
        """The model of the forecast of the issue date: the ensemble's, else `model`."""
        return self.ensemble_model or self.model


def history_requests(settings: WeatherSettings, start: dt.date, issue_time: pd.Timestamp,
                     now: pd.Timestamp, kept_until: pd.Timestamp | None,
                     archive_until: pd.Timestamp | None) -> tuple[list[tuple[om.Request, om.Request]],
                                                                  pd.Timestamp]:
    """(atmosphere, sea level) request pairs for the hours history.nc lacks, and the new archive end.

    `kept_until` is the last hour kept from the existing file (None: no file); hours after
    `archive_until` are asked again. Archive hours stop `archive_lag_days` before `now`, in chunks of
    a year at most, fewer days when a year would weigh more than `settings.max_request_weight`. Sea
    level may come back with missing hours: `merge_history` crops, refuses or fills them.
    """
    first = pd.Timestamp(start) if kept_until is None else min(kept_until, archive_until) + _HOUR
    archive_end = min(now.floor("D") - pd.Timedelta(days=settings.archive_lag_days), issue_time)
    chunk = pd.Timedelta(days=_chunk_days(settings))
    pairs, cursor = [], first
    while cursor < archive_end:
        hours = int(min(chunk, archive_end - cursor) / _HOUR)
        pairs.append(_pair(settings, settings.archive_url, settings.archive_model, cursor, hours))
        cursor += hours * _HOUR
    if cursor < issue_time:
        hours = int((issue_time - cursor) / _HOUR)
        pairs.append(_pair(settings, settings.forecast_url, settings.model, cursor, hours))
    return pairs, max(archive_end, first) - _HOUR


def _chunk_days(settings: WeatherSettings) -> int:
    """Days of one archive request: a year, or fewer so that its weight fits the minute's budget."""
    points = settings.lat.size * settings.lon.size
    days = om.days_within(settings.max_request_weight, points, len(om.ATMOSPHERE)) - 1  # rain asks a day more
    if days < 1:
        raise om.CallBudgetError(
            f"one day of weather at the {points} points weighs more than the minute's budget of "
            f"{settings.max_request_weight:g} calls: raise `open_meteo.spacing_deg` (fewer points) or "
            "`open_meteo.calls_per_minute` (a paid plan)")
    return min(_CHUNK_DAYS, days)


def _pair(settings: WeatherSettings, url: str, model: str | None, first: pd.Timestamp, hours: int,
          atmosphere_missing_ok: bool = False, members: int = 1) -> tuple[om.Request, om.Request]:
    """Atmosphere (each field for each of `members`) and sea level for the same hours; missing
    sea-level hours always come back as NaN."""
    return (om.atmosphere_request(url, settings.lat, settings.lon, first, hours, model, atmosphere_missing_ok,
                                  members),
            om.sea_level_request(settings.marine_url, settings.sea_point, first, hours, missing_ok=True))


def forecast_requests(settings: WeatherSettings, issue_time: pd.Timestamp, lead_days: int
                      ) -> tuple[om.Request, om.Request]:
    """The forecast issued at `issue_time` (UTC): hourly leads 0 .. 24 x lead_days - 1, every member of
    `settings.ensemble_model` when it is set (the ensemble API).

    Missing hours come back as NaN, for `feed_faults.forecast_faults` to name before anything is written.
    """
    return _pair(settings, settings.issued_url, settings.issued_model, issue_time, 24 * lead_days,
                 atmosphere_missing_ok=True, members=settings.ensemble_members if settings.ensemble_model else 1)


def training_issue_dates(start: dt.date, issue_date: dt.date, timezone: str) -> list[dt.date]:
    """Every issue date training can learn from before `issue_date`: from the first whose issue time
    (local midnight) has ANTECEDENT_HOURS of history after `start` (00:00 UTC) to the day before."""
    first = next(start + dt.timedelta(days=k) for k in range(ANTECEDENT_HOURS // 24 + 3)
                 if local_midnight_utc(start + dt.timedelta(days=k), timezone)
                 - pd.Timedelta(hours=ANTECEDENT_HOURS) >= pd.Timestamp(start))
    return [first + dt.timedelta(days=k) for k in range((issue_date - first).days)]


def backfill_requests(settings: WeatherSettings, issue_dates: list[dt.date], timezone: str, lead_days: int
                      ) -> list[tuple[list[dt.date], tuple[om.Request, om.Request]]]:
    """The archived forecasts of `issue_dates` (those from `settings.forecast_archive_from` on), as
    (issue dates, (previous-runs request, sea-level request)) per run of consecutive dates, each cut
    short enough to weigh no more than `settings.max_request_weight`."""
    if settings.forecast_archive_from is None:
        return []
    dates = sorted(day for day in issue_dates if day >= settings.forecast_archive_from)
    points = settings.lat.size * settings.lon.size
    variables = len(om.ATMOSPHERE) * lead_days
    per_request = om.days_within(settings.max_request_weight, points, variables) - lead_days - 2  # valid days
    if per_request < 1:
        raise om.CallBudgetError(
            f"one archived forecast at the {points} points weighs more than the minute's budget of "
            f"{settings.max_request_weight:g} calls: raise `open_meteo.spacing_deg` (fewer points) or "
            "`open_meteo.calls_per_minute` (a paid plan)")
    runs = np.split(np.array(dates), np.flatnonzero(np.diff(dates) != dt.timedelta(days=1)) + 1) if dates else []
    chunks = [list(run[i:i + per_request]) for run in runs for i in range(0, len(run), per_request)]
    planned = []
    for chunk in chunks:
        first = local_midnight_utc(chunk[0], timezone)
        hours = int((local_midnight_utc(chunk[-1], timezone) - first) / _HOUR) + 24 * lead_days
        planned.append((chunk, (
            om.previous_runs_request(settings.previous_runs_url, settings.lat, settings.lon, first, hours,
                                     settings.model, lead_days),
            om.sea_level_request(settings.marine_url, settings.sea_point, first, hours, missing_ok=True))))
    return planned


def as_issued(archived: xr.Dataset, issue_time: pd.Timestamp, lead_days: int) -> xr.Dataset:
    """The forecast issued at `issue_time`, (time, point) in contract names, from previous-runs columns:
    lead day L (lead hours 24 L .. 24 L + 23) is `<name>_previous_day<L+1>`, so every value comes from a
    run made at least 24 (L + 1) h before its valid hour, which is at least an hour before the issue."""
    hours = pd.date_range(issue_time, periods=24 * lead_days, freq="h")
    window = archived.sel(time=hours)
    return xr.Dataset({
        name: xr.concat([window[f"{name}_previous_day{day + 1}"].isel(time=slice(24 * day, 24 * day + 24))
                         for day in range(lead_days)], dim="time")
        for name in om.ATMOSPHERE
    }, attrs={"first_hour_sent": str(issue_time)})


def history_forecasts(history: xr.Dataset, issue_dates: list[dt.date], timezone: str, lead_days: int, seed: int
                      ) -> dict[dt.date, xr.Dataset]:
    """Stand-in forecasts, (time, y, x) in contract units, for the `issue_dates` whose lead hours the
    observed `history` covers: those hours plus the demo world's forecast errors, drawn with `seed`.

    The error model (`pipelines.demo_world.forecasts.forecast_values`) grows with lead: temperature
    bias and drift, humidity tied to it, wind and sunshine factors, a small surge error, and for
    rain a timing jitter, a lognormal amount error per lead day, missed events and false alarms.
    It is stated, not fitted to the forecast model's errors over the city.
    """
    times = pd.DatetimeIndex(history.time.values)
    starts = times.get_indexer(local_midnights_utc(issue_dates, timezone))
    covered = (starts >= 0) & (starts + 24 * lead_days <= times.size)
    days = [day for day, inside in zip(issue_dates, covered, strict=True) if inside]
    if not days:
        return {}
    values = forecast_values(history.transpose("time", "y", "x"), starts[covered], 24 * lead_days,
                             np.random.default_rng(seed), np.random.default_rng([seed, 1]))
    coords = {"y": history.y.values, "x": history.x.values}
    return {day: xr.Dataset({name: (("time", "y", "x"), values[name][i], VARIABLE_ATTRS[name]) for name in values},
                            coords={**coords, "time": times[start:start + 24 * lead_days].to_numpy()},
                            ).rio.write_crs(history.rio.crs)
            for i, (day, start) in enumerate(zip(days, starts[covered], strict=True))}


def fetch_weather(client, pairs, settings: WeatherSettings, limiter: om.RateLimiter, timeout_s: float,
                  failed_sea_level: list[str] | None = None) -> xr.Dataset | None:
    """The (time, y, x) weather of all `pairs`, joined in time; None when there are none.

    With a list `failed_sea_level`, a sea-level request that still fails after its retries
    leaves its hours NaN (for `fill_sea_level`) and its error is appended to the list; without
    one it raises, as every other request does.
    """
    parts = [om.on_grid(om.fetch(client, atmos, limiter, timeout_s),
                        _sea_level(client, sea, limiter, timeout_s, failed_sea_level),
                        settings.lat, settings.lon) for atmos, sea in pairs]
    return xr.concat(parts, dim="time") if parts else None


def fetch_backfill(client, planned, settings: WeatherSettings, limiter: om.RateLimiter, timeout_s: float,
                   tide: TideConstants | None, timezone: str, lead_days: int, failed: list[str]
                   ) -> dict[dt.date, xr.Dataset]:
    """The archived forecast of every issue date in `planned` (`backfill_requests`), in the contract's
    (time, y, x) on the coarse points; missing hours NaN, for `feed_faults` to name. Sea level comes
    from the marine API, its missing hours over each request's span from `tide` when given
    (`fill_sea_level`, shifted to the marine datum when the span holds 720 hours of both).

    A request that still fails after its retries leaves its dates out (a later run asks again) and
    its error is appended to `failed`: the archive never stops the day's forecast.
    """
    forecasts = {}
    for dates, (atmosphere, sea) in planned:
        try:
            archived = om.fetch(client, atmosphere, limiter, timeout_s)
        except (OpenMeteoRequestsError, om.WeatherResponseError) as err:
            failed.append(_failed_request(atmosphere, err))
            continue
        sea_level = _sea_level(client, sea, limiter, timeout_s, failed=[])
        if tide is not None:  # fill_sea_level reads zos as (time, y, x)
            filled = fill_sea_level(sea_level.rename(point="x").expand_dims("y", axis=1), tide)
            sea_level = filled.squeeze("y", drop=True).rename(x="point")
        for day in dates:
            issued = as_issued(archived, local_midnight_utc(day, timezone), lead_days)
            forecasts[day] = om.on_grid(issued, sea_level.sel(time=issued.time), settings.lat, settings.lon)
    return forecasts


def _sea_level(client, request: om.Request, limiter: om.RateLimiter, timeout_s: float,
               failed: list[str] | None) -> xr.Dataset:
    try:
        return om.fetch(client, request, limiter, timeout_s)
    except (OpenMeteoRequestsError, om.WeatherResponseError) as err:
        if failed is None:
            raise
        failed.append(_failed_request(request, err))
        times = pd.date_range(request.first_hour, periods=request.hours, freq="h").to_numpy()
        return xr.Dataset({"zos": (("time", "point"), np.full((request.hours, 1), np.nan, "float32"))},
                          coords={"time": times})


def _failed_request(request: om.Request, err: Exception) -> str:
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{request.first_hour} + {request.hours} h: {type(err).__name__}: {message}"


def merge_history(old: xr.Dataset | None, kept_until: pd.Timestamp | None, new: xr.Dataset | None,
                  tide: TideConstants | None = None) -> xr.Dataset:
    """The old history up to `kept_until` followed by `new`, its sea level complete.

    Without `tide`, the history starts at the first hour with sea level, and a missing hour
    after that raises WeatherResponseError. With it, every missing hour is `tide`'s prediction
    (`fill_sea_level`) and nothing is cropped. Hours an earlier run filled (listed in the old
    zos's `tide_filled_ranges`) count as missing: they are filled again, or cropped, alike.
    """
    parts = ([old.sel(time=slice(None, kept_until))] if old is not None else []) + ([new] if new is not None else [])
    if not parts:
        raise om.WeatherResponseError("no weather hours to write")
    history = xr.concat(parts, dim="time") if len(parts) > 1 else parts[0]
    filled_before = _in_ranges(history.time.values, old["zos"].attrs.get("tide_filled_ranges", "")
                               if old is not None else "")
    marine = xr.DataArray(np.isfinite(history["zos"].values[:, 0, 0]) & ~filled_before, dims="time")
    zos = history["zos"].where(marine).astype("float32")
    zos.attrs = {**VARIABLE_ATTRS["zos"], "comment": om.ZOS_COMMENT}  # fresh: no earlier run's fill attributes
    history = history.assign(zos=zos)
    if tide is not None:
        return fill_sea_level(history, tide)
    present = marine.values
    if not present.any():
        raise om.WeatherResponseError("the marine API returned no sea level for the history period; "
                                      + _TIDE_HINT)
    history = history.isel(time=slice(int(np.argmax(present)), None))
    present = present[int(np.argmax(present)):]
    if not present.all():
        raise om.WeatherResponseError(
            f"sea level is missing in {int((~present).sum())} hours inside the history period, first at "
            f"{pd.Timestamp(history.time.values[np.argmin(present)])}; {_TIDE_HINT}")
    return history


def fill_sea_level(history: xr.Dataset, tide: TideConstants) -> xr.Dataset:
    """`history` with each hour of NaN `zos` set to the astronomical tide at `tide`'s gauge, in m
    above the marine series' mean sea level; zos's attributes list the hours filled.

    Datum: the marine API's `sea_level_height_msl` is above its model's mean sea level, the
    prediction above the gauge's (TICON-4, mean over its epoch); they differ by an offset (mean
    dynamic topography, sea-level rise since the epoch, the model's own bias). With at least 720
    hours of both, the offset is the mean of marine minus predicted tide over those hours and the
    prediction is shifted by it (`tide_offset_m`); with fewer it is not shifted (0). The
    prediction is instantaneous at the hour, as the marine values are, and holds no surge.
    """
    level = history["zos"].values[:, 0, 0]  # one sea point, the same at every grid point
    missing = ~np.isfinite(level)
    if not missing.any():
        return history
    times = pd.DatetimeIndex(history.time.values)
    predicted = astronomical_tide(times, tide).values
    overlap = int((~missing).sum())
    offset = float(np.mean(level[~missing] - predicted[~missing])) if overlap >= _MIN_OFFSET_HOURS else 0.0
    zos = history["zos"].fillna(xr.DataArray((predicted + offset).astype("float32"), dims="time",
                                             coords={"time": history.time}))
    first, last = times[missing][0], times[missing][-1]
    return history.assign(zos=zos.astype("float32").assign_attrs(
        comment=f"{om.ZOS_COMMENT}; the hours in tide_filled_ranges are the astronomical tide of {tide.gauge} "
                "(utide on TICON-4 harmonic constants) plus tide_offset_m, without surge",
        tide_filled_hours=int(missing.sum()), tide_filled_first=_hour(first), tide_filled_last=_hour(last),
        tide_filled_ranges=_ranges(times, missing), tide_gauge=tide.gauge,
        tide_datum="m above the gauge's mean sea level (TICON-4), shifted by tide_offset_m",
        tide_offset_m=round(offset, 4), tide_offset_from_hours=overlap if overlap >= _MIN_OFFSET_HOURS else 0,
    ))


def _hour(time) -> str:
    return pd.Timestamp(time).strftime("%Y-%m-%d %H:%M")


def _ranges(times: pd.DatetimeIndex, mask: np.ndarray) -> str:
    """The runs of True in `mask` as 'first/last' hours, separated by '; '."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
    return "; ".join(f"{_hour(times[a])}/{_hour(times[b - 1])}" for a, b in zip(edges[::2], edges[1::2], strict=True))


def _in_ranges(times: np.ndarray, ranges: str) -> np.ndarray:
    """Which `times` fall in the 'first/last' `ranges` (as `_ranges` writes them)."""
    inside = np.zeros(times.size, dtype=bool)
    for run in filter(None, (r.strip() for r in ranges.split(";"))):
        first, last = (np.datetime64(pd.Timestamp(t)) for t in run.split("/"))
        inside |= (times >= first) & (times <= last)
    return inside


def marine_hours(zos: xr.DataArray) -> np.ndarray:
    """Which hours of a history's (time, y, x) `zos` came from the marine API: finite, not tide-filled."""
    return np.isfinite(zos.values[:, 0, 0]) & ~_in_ranges(zos.time.values, zos.attrs.get("tide_filled_ranges", ""))


def read_history(path: Path) -> tuple[xr.Dataset | None, pd.Timestamp | None, pd.Timestamp | None]:
    """The existing history (loaded), its last hour and its `archive_until`; Nones when absent."""
    if not path.is_file():
        return None, None, None
    with xr.open_dataset(path, engine="netcdf4", decode_coords="all") as ds:
        history = ds.load()
    last = pd.Timestamp(history.time.values[-1])
    archive_until = pd.Timestamp(history.attrs.get("archive_until", str(last)))
    return history, last, archive_until


def write_history(path: Path, history: xr.Dataset, archive_until: pd.Timestamp, archive_model: str,
                  forecast_model: str) -> Path:
    """history.nc: float32, light zlib, hours since the first hour; `archive_until` and the models recorded."""
    history = history.drop_attrs(deep=False).assign_attrs(
        Conventions="CF-1.8", title="Warisan: hourly regional weather",
        source=f"Open-Meteo archive (model {archive_model}), forecast (model {forecast_model}) and marine APIs",
        history="written by pipelines.sources.weather.write_history",
        archive_until=str(min(archive_until, pd.Timestamp(history.time.values[-1]))),
    )
    history.time.attrs.update(standard_name="time", long_name="start of the hour (UTC)")
    return write_atomic(path, lambda tmp: history.to_netcdf(tmp, engine="netcdf4",
                                                           encoding=_encoding(history, "time")), suffix=".nc")


def forecast_dataset(weather: xr.Dataset, issue_time: pd.Timestamp, model: str, run_time: str | None
                     ) -> xr.Dataset:
    """The contract's forecast layout: `lead_time` dim (after `member`, for an ensemble), valid `time`,
    scalar issue time; global attributes set fresh (none of the decoded weather's)."""
    lead = (weather.time.values - np.datetime64(issue_time)).astype("timedelta64[h]").astype("timedelta64[ns]")
    ds = weather.swap_dims(time="lead_time").assign_coords(lead_time=("lead_time", lead))
    ds = ds.assign_coords(forecast_reference_time=np.datetime64(issue_time, "ns"))
    ds.time.attrs.update(standard_name="time", long_name="valid time (UTC)")
    ds.lead_time.attrs.update(long_name="time since the forecast was issued")
    ds.forecast_reference_time.attrs.update(standard_name="forecast_reference_time")
    api = f"ensemble API, model {model}, {ds.sizes['member']} members" if "member" in ds.dims else (
        f"forecast API, model {model}")
    return ds.drop_attrs(deep=False).assign_attrs(
        Conventions="CF-1.8", title="Warisan: weather forecast", source=f"Open-Meteo {api}",
        history="written by pipelines.sources.weather.write_forecast", model=model, model_run=run_time or "unknown")


def write_forecast(path: Path, forecast: xr.Dataset, issue_time: pd.Timestamp) -> Path:
    encoding = _encoding(forecast, "lead_time")
    since = f"hours since {issue_time:%Y-%m-%d %H:%M:%S}"
    encoding |= {"time": {"units": since, "dtype": "int32"}, "lead_time": {"units": "hours", "dtype": "int32"},
                 "forecast_reference_time": {"units": since, "dtype": "int32"}}
    if "member" in forecast.dims:
        encoding["member"] = {"dtype": "int32"}
    return write_atomic(path, lambda tmp: forecast.to_netcdf(tmp, engine="netcdf4", encoding=encoding),
                        suffix=".nc")


def _encoding(ds: xr.Dataset, time_dim: str) -> dict:
    encoding = {name: {"zlib": True, "complevel": 1, "_FillValue": None, "dtype": "float32",
                       "grid_mapping": "spatial_ref"} for name in ds.data_vars}
    # int32: CF checkers reject int64, and int32 hours reach 245,000 years
    encoding |= {"y": {"_FillValue": None}, "x": {"_FillValue": None}, "spatial_ref": {"dtype": "int32"}}
    if time_dim == "time":
        first = np.datetime_as_string(ds.time.values[0], unit="s").replace("T", " ")
        encoding["time"] = {"units": f"hours since {first}", "dtype": "int32",
                            "calendar": "proleptic_gregorian"}
    return encoding
