"""Open-Meteo weather for a bundle: hourly history (archive API), forecasts, sea level (marine API).

Requests go through the official `openmeteo_requests` client (FlatBuffers responses), on a
requests-cache session with urllib3 retries and backoff (retry-requests), one request at a time
under a rate limit. Every response is decoded and checked (points, hours, variables, units,
finite values) before any file is written: a malformed or truncated payload raises
WeatherResponseError and never reaches the bundle.

Units: Open-Meteo is asked for wind in m s-1 (`wind_speed_unit=ms`); precipitation comes in mm
per hour and shortwave radiation in W m-2 as means over the *preceding* hour, so both are moved
back one hour to the contract's "start of the hour" convention. Sea level is the marine API's
`sea_level_height_msl` (m above the model's mean sea level, tide and surge included; not Chart
Datum), requested at one sea point and given to every grid point, like a tide gauge.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from openmeteo_sdk.Unit import Unit
from openmeteo_sdk.Variable import Variable

from features.grid import regional_axes
from pipelines.bundle.checks import VARIABLE_ATTRS, WEATHER_VARIABLES

LICENCE = "Weather data by Open-Meteo.com, CC BY 4.0 (ERA5: Copernicus Climate Change Service)."
_HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class Field:
    """One Open-Meteo hourly variable and how it maps onto a contract variable."""

    api_name: str
    variable: int  # openmeteo_sdk.Variable
    unit: int  # openmeteo_sdk.Unit, as requested
    preceding_hour: bool  # value at T is the mean or sum over T-1h..T


ATMOSPHERE = {
    "pr": Field("precipitation", Variable.precipitation, Unit.millimetre, True),
    "tas": Field("temperature_2m", Variable.temperature, Unit.celsius, False),
    "hurs": Field("relative_humidity_2m", Variable.relative_humidity, Unit.percentage, False),
    "sfcWind": Field("wind_speed_10m", Variable.wind_speed, Unit.metre_per_second, False),
    "rsds": Field("shortwave_radiation", Variable.shortwave_radiation, Unit.watt_per_square_metre, True),
}
SEA_LEVEL = {"zos": Field("sea_level_height_msl", Variable.sea_level_height_msl, Unit.metre, False)}
ZOS_COMMENT = ("Open-Meteo marine sea_level_height_msl at one sea point (m above model mean sea level, not Chart "
               "Datum), same at every point")


class WeatherResponseError(ValueError):
    """An Open-Meteo response that does not hold what was asked for; nothing is written from it."""


@dataclass(frozen=True)
class Request:
    """One Open-Meteo call: the API URL, its query, and the fields expected back."""

    url: str
    params: dict
    fields: dict[str, Field]
    first_hour: pd.Timestamp  # UTC, naive; the first hour of the contract's time axis
    hours: int
    missing_ok: bool = False  # hours may be missing (NaN kept): the caller decides what to do about them

    def describe(self) -> str:
        query = "&".join(f"{k}={_join(v)}" for k, v in self.params.items())
        return f"GET {self.url}?{query}&format=flatbuffers"


def _join(value) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)


def coarse_points(lonlat_bounds: tuple[float, float, float, float], spacing_deg: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes (descending) and longitudes (ascending) of the coarse points over the bbox."""
    west, south, east, north = lonlat_bounds
    return regional_axes((west, east), (south, north), spacing_deg)


def _point_params(lat: np.ndarray, lon: np.ndarray) -> dict:
    lat2, lon2 = np.meshgrid(lat, lon, indexing="ij")  # row-major: y then x
    return {"latitude": [float(v) for v in lat2.ravel()], "longitude": [float(v) for v in lon2.ravel()]}


def _date_window(first_hour: pd.Timestamp, hours: int) -> dict:
    """start_date/end_date (UTC days, timezone=GMT) that cover `hours` hours from `first_hour`."""
    last = first_hour + (hours - 1) * _HOUR
    return {"start_date": first_hour.strftime("%Y-%m-%d"), "end_date": last.strftime("%Y-%m-%d")}


def atmosphere_request(url: str, lat: np.ndarray, lon: np.ndarray, first_hour: pd.Timestamp, hours: int,
                       model: str | None = None) -> Request:
    """The hourly atmosphere over the coarse points for `hours` hours from `first_hour` (UTC).

    The days asked for reach one hour past the last, so the preceding-hour fields (rain,
    radiation) cover the last hour too.
    """
    params = {**_point_params(lat, lon), "hourly": [f.api_name for f in ATMOSPHERE.values()],
              **_date_window(first_hour, hours + 1), "timezone": "GMT",
              "wind_speed_unit": "ms", "precipitation_unit": "mm", "temperature_unit": "celsius"}
    if model:
        params["models"] = model
    return Request(url, params, ATMOSPHERE, first_hour, hours)


def sea_level_request(url: str, sea_point: tuple[float, float], first_hour: pd.Timestamp, hours: int,
                      missing_ok: bool = False) -> Request:
    """Hourly sea level at one sea point (lon, lat) for `hours` hours from `first_hour` (UTC).

    With `missing_ok`, hours the model lacks (before its record begins, or a gap) come back as NaN.
    """
    lon, lat = sea_point
    params = {"latitude": [float(lat)], "longitude": [float(lon)], "hourly": [SEA_LEVEL["zos"].api_name],
              **_date_window(first_hour, hours), "timezone": "GMT", "cell_selection": "sea"}
    return Request(url, params, SEA_LEVEL, first_hour, hours, missing_ok)


class RateLimiter:
    """At most `per_minute` calls a minute, spaced evenly; safe across threads."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval, self.clock, self.sleep = 60.0 / per_minute, clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self.clock()
            if now < self._next:
                self.sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


def open_meteo_client(cache_dir: Path, *, retries: int, backoff_s: float, forecast_url: str,
                      marine_url: str):
    """The official client on a cached session that retries 429 and 5xx with backoff.

    Archive responses never expire (the past does not change once in ERA5); forecast and
    marine responses expire after an hour, so a rerun the same hour sends nothing.
    """
    import openmeteo_requests
    import requests_cache
    from retry_requests import retry

    cache_dir.mkdir(parents=True, exist_ok=True)
    hourly = {f"{u.split('://', 1)[1].split('/', 1)[0]}/*": dt.timedelta(hours=1)
              for u in (forecast_url, marine_url)}
    session = requests_cache.CachedSession(
        str(cache_dir / "open-meteo"), backend="sqlite", allowable_codes=(200,),
        expire_after=requests_cache.NEVER_EXPIRE, urls_expire_after=hourly,
    )
    session = retry(session, retries=retries, backoff_factor=backoff_s,
                    status_to_retry=(429, 500, 502, 503, 504))
    return openmeteo_requests.Client(session=session)


def meta_url(forecast_url: str, model: str) -> str:
    """Open-Meteo's metadata of one model (its last run), beside the forecast API."""
    scheme, rest = forecast_url.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}/data/{model}/static/meta.json"


def model_run_time(forecast_url: str, model: str, timeout_s: float) -> str | None:
    """The initialisation time (UTC, ISO) of `model`'s last run; None for best_match or when unknown.

    Metadata only: a failure here never fails the forecast, it leaves the run time unknown.
    """
    import requests

    if model == "best_match":
        return None  # a blend of models has no single run
    try:
        response = requests.get(meta_url(forecast_url, model), timeout=timeout_s)
        response.raise_for_status()
        seconds = int(response.json()["last_run_initialisation_time"])
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None
    return pd.Timestamp(seconds, unit="s").isoformat() + "Z"


def fetch(client, request: Request, limiter: RateLimiter, timeout_s: float) -> xr.Dataset:
    """Send `request` and return its checked variables on (time, point); raise on any defect."""
    limiter.wait()
    params = {key: _join(value) for key, value in request.params.items()}  # lists as a,b,c, as documented
    responses = client.weather_api(request.url, params=params, timeout=timeout_s)
    return decode(responses, request)


def decode(responses: list, request: Request) -> xr.Dataset:
    """The hourly variables of `responses` as (time, point) float32 in contract units.

    Raises WeatherResponseError naming what is wrong: point count, time axis, a variable
    missing, in another unit, of another length, or holding NaN or values outside the
    contract's range.
    """
    n_points = len(np.atleast_1d(request.params["latitude"]))
    if len(responses) != n_points:
        raise WeatherResponseError(f"{request.url}: {len(responses)} locations in the response, "
                                   f"expected {n_points}")
    columns = {name: [] for name in request.fields}
    for i, response in enumerate(responses):
        try:
            hourly = response.Hourly()
            first, interval = pd.Timestamp(hourly.Time(), unit="s"), hourly.Interval()
            steps = (hourly.TimeEnd() - hourly.Time()) // interval
            found = [hourly.Variables(j) for j in range(hourly.VariablesLength())]
        except Exception as err:  # a payload the SDK cannot read is malformed
            raise WeatherResponseError(f"{request.url}: location {i}: unreadable payload ({err})") from err
        offset = (request.first_hour - first) // _HOUR
        needed = request.hours + any(f.preceding_hour for f in request.fields.values())
        if interval != 3600 or offset < 0 or offset + needed > steps:
            raise WeatherResponseError(
                f"{request.url}: location {i}: hourly axis {first} + {steps} x {interval} s does not "
                f"cover {request.first_hour} + {request.hours} h")
        if len(found) != len(request.fields):
            raise WeatherResponseError(f"{request.url}: location {i}: {len(found)} variables, "
                                       f"expected {len(request.fields)}")
        for (name, field), var in zip(request.fields.items(), found, strict=True):
            if var.Variable() != field.variable or var.Unit() != field.unit:
                raise WeatherResponseError(
                    f"{request.url}: location {i}: {name}: got variable {var.Variable()} in unit "
                    f"{var.Unit()}, expected {field.variable} in {field.unit} ({field.api_name})")
            try:
                values = var.ValuesAsNumpy()
            except ValueError as err:  # a vector running past the end: a truncated payload
                raise WeatherResponseError(f"{request.url}: location {i}: {name}: truncated ({err})") from err
            if values is None or np.size(values) != steps:
                raise WeatherResponseError(f"{request.url}: location {i}: {name}: "
                                           f"{np.size(values)} values, expected {steps}")
            start = offset + (1 if field.preceding_hour else 0)
            columns[name].append(np.asarray(values, dtype="float32")[start:start + request.hours])
    times = pd.date_range(request.first_hour, periods=request.hours, freq="h")
    data = {name: (("time", "point"), np.stack(cols, axis=1)) for name, cols in columns.items()}
    ds = xr.Dataset(data, coords={"time": times.to_numpy()})
    _check_values(ds, request.url, request.missing_ok)
    return ds


def _check_values(ds: xr.Dataset, url: str, missing_ok: bool) -> None:
    for name, var in ds.data_vars.items():
        lo, hi = WEATHER_VARIABLES[name].valid_range
        values = var.values
        missing = ~np.isfinite(values).all(axis=1)
        if missing.any() and not missing_ok:
            raise WeatherResponseError(f"{url}: {name}: missing values in {int(missing.sum())} hours, "
                                       f"first at {pd.Timestamp(ds.time.values[np.argmax(missing)])}")
        values = values[np.isfinite(values)]
        if (values < lo).any() or (values > hi).any():
            raise WeatherResponseError(f"{url}: {name}: values outside {lo}..{hi} "
                                       f"(min {values.min():g}, max {values.max():g})")


def on_grid(atmosphere: xr.Dataset, sea_level: xr.Dataset, lat: np.ndarray, lon: np.ndarray) -> xr.Dataset:
    """The contract's (time, y, x) weather: atmosphere per point, sea level broadcast to all points."""
    shape = (atmosphere.sizes["time"], lat.size, lon.size)
    variables = {
        name: (("time", "y", "x"), atmosphere[name].values.reshape(shape), VARIABLE_ATTRS[name])
        for name in ATMOSPHERE
    }
    zos = np.broadcast_to(sea_level["zos"].values[:, :1, None], shape)
    variables["zos"] = (("time", "y", "x"), zos.astype("float32"), {**VARIABLE_ATTRS["zos"], "comment": ZOS_COMMENT})
    ds = xr.Dataset(variables, coords={"time": atmosphere.time.values, "y": lat, "x": lon})
    ds.y.attrs.update(standard_name="latitude", units="degrees_north", axis="Y")
    ds.x.attrs.update(standard_name="longitude", units="degrees_east", axis="X")
    return ds.rio.write_crs("EPSG:4326")
