"""Open-Meteo weather for a bundle: hourly history (archive API), forecasts (forecast or ensemble
API), sea level (marine API).

Requests go through the official `openmeteo_requests` client (FlatBuffers responses), on a
requests-cache session with urllib3 retries and backoff on 5xx (retry-requests), one request at a
time, paced by weight: Open-Meteo counts a request as several calls when it asks for more than 10
variables or 14 days (`request_weight`) against budgets per minute, hour and day that reset on the
clock (`RateLimiter`); a 429 waits for the next minute. Every response is decoded and checked (points, hours, variables, units,
finite values) before any file is written: a malformed or truncated payload raises
WeatherResponseError and never reaches the bundle. A forecast's missing hours come back as NaN
for `feed_faults`, which also refuses frozen, re-served and old forecasts.

Units: Open-Meteo is asked for wind in m s-1 (`wind_speed_unit=ms`); precipitation comes in mm
per hour and shortwave radiation in W m-2 as means over the *preceding* hour, so both are moved
back one hour to the contract's "start of the hour" convention. Sea level is the marine API's
`sea_level_height_msl` (m above the model's mean sea level, tide and surge included; not Chart
Datum), requested at one sea point and given to every grid point, like a tide gauge.

Ensembles: the ensemble API sends each variable once per member (`EnsembleMember()` 0, the
control, to members - 1), interpolated to hourly steps whatever the model's own (3- or 6-hourly);
a request counts every member of its model in its weight.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from openmeteo_requests.Client import OpenMeteoRequestsError
from openmeteo_sdk.Unit import Unit
from openmeteo_sdk.Variable import Variable

from features.grid import regional_axes
from pipelines.bundle.checks import VARIABLE_ATTRS, WEATHER_VARIABLES
from pipelines.progress import log

MODEL_CREDITS = {  # Open-Meteo model -> whose data it is
    "era5": "ERA5 (Copernicus Climate Change Service)",
    "era5_land": "ERA5-Land (Copernicus Climate Change Service)",
    "era5_seamless": "ERA5 and ERA5-Land (Copernicus Climate Change Service)",
    "ecmwf_ifs": "ECMWF IFS HRES 9 km (ECMWF)",
    "ecmwf_ifs025": "ECMWF IFS 0.25 degree open data (ECMWF)",
    "ecmwf_ifs025_ensemble": "ECMWF IFS ENS 0.25 degree open data (ECMWF)",
    "ecmwf_aifs025_ensemble": "ECMWF AIFS ENS 0.25 degree open data (ECMWF)",
}
_HOUR = pd.Timedelta(hours=1)


def licence(*models: str) -> str:
    """The credit line of Open-Meteo data from `models` (a model without a known credit is named as it is)."""
    credits = "; ".join(dict.fromkeys(MODEL_CREDITS.get(model, f"model {model}") for model in models))
    return f"Weather data by Open-Meteo.com, CC BY 4.0 ({credits})."


@dataclass(frozen=True)
class Field:
    """One Open-Meteo hourly variable and how it maps onto a contract variable."""

    api_name: str
    variable: int  # openmeteo_sdk.Variable
    unit: int  # openmeteo_sdk.Unit, as requested
    preceding_hour: bool  # value at T is the mean or sum over T-1h..T
    previous_day: int = 0  # previous-runs API: from the runs 24 x previous_day .. +23 h before the valid hour


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
    members: int = 1  # ensemble members each field comes back as (the ensemble API), the control first

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
                       model: str | None = None, missing_ok: bool = False, members: int = 1) -> Request:
    """The hourly atmosphere over the coarse points for `hours` hours from `first_hour` (UTC).

    The days asked for reach one hour past the last, so the preceding-hour fields (rain,
    radiation) cover the last hour too. With `missing_ok`, missing hours come back as NaN. An
    ensemble `model` (the ensemble API's `url`) sends each field for each of its `members`.
    """
    params = {**_point_params(lat, lon), "hourly": [f.api_name for f in ATMOSPHERE.values()],
              **_date_window(first_hour, hours + 1), "timezone": "GMT",
              "wind_speed_unit": "ms", "precipitation_unit": "mm", "temperature_unit": "celsius"}
    if model:
        params["models"] = model
    return Request(url, params, ATMOSPHERE, first_hour, hours, missing_ok, members)


def previous_runs_request(url: str, lat: np.ndarray, lon: np.ndarray, first_hour: pd.Timestamp, hours: int,
                          model: str, lead_days: int) -> Request:
    """Archived forecasts of `model` over the coarse points for `hours` hours from `first_hour` (UTC):
    each atmosphere variable as the runs 1 .. `lead_days` days before each valid hour forecast it
    (`<variable>_previous_day<n>`, Open-Meteo's previous-runs API); missing hours come back as NaN.
    """
    fields = {f"{name}_previous_day{day}": Field(f"{field.api_name}_previous_day{day}", field.variable, field.unit,
                                                 field.preceding_hour, previous_day=day)
              for day in range(1, lead_days + 1) for name, field in ATMOSPHERE.items()}
    request = atmosphere_request(url, lat, lon, first_hour, hours, model, missing_ok=True)
    return Request(url, {**request.params, "hourly": [f.api_name for f in fields.values()]}, fields, first_hour,
                   hours, missing_ok=True)


def contract_name(name: str) -> str:
    """The contract variable a decoded column holds: `pr_previous_day2` -> `pr`."""
    return name.split("_previous_day")[0]


def sea_level_request(url: str, sea_point: tuple[float, float], first_hour: pd.Timestamp, hours: int,
                      missing_ok: bool = False) -> Request:
    """Hourly sea level at one sea point (lon, lat) for `hours` hours from `first_hour` (UTC).

    With `missing_ok`, hours the model lacks (before its record begins, or a gap) come back as NaN.
    """
    lon, lat = sea_point
    params = {"latitude": [float(lat)], "longitude": [float(lon)], "hourly": [SEA_LEVEL["zos"].api_name],
              **_date_window(first_hour, hours), "timezone": "GMT", "cell_selection": "sea"}
    return Request(url, params, SEA_LEVEL, first_hour, hours, missing_ok)


def request_days(request: Request) -> int:
    """The days of data `request` asks for: start_date to end_date, both included."""
    first, last = (dt.date.fromisoformat(request.params[k]) for k in ("start_date", "end_date"))
    return (last - first).days + 1


def request_weight(request: Request) -> float:
    """What `request` counts for against Open-Meteo's call budgets, in calls (fractional).

    Per location max(1, variables / 10 x max(1, days / 14)), variables counted once per model and
    ensemble member; summed over locations. This is the server's `calculateQueryWeight`: more than
    10 variables or more than 2 weeks of data count as several calls, fewer never as less than one.
    """
    locations = len(request.params["latitude"])
    models = len(str(request.params["models"]).split(",")) if "models" in request.params else 1
    variables = len(request.params["hourly"]) * models * request.members
    return locations * max(1.0, variables / 10 * max(1.0, request_days(request) / 14))


def point_chunks(request: Request, max_weight: float) -> list[Request]:
    """`request` as requests over consecutive runs of its points, each weighing at most `max_weight`
    calls; `[request]` when it fits whole. A single point heavier than that stays one request (the
    limiter refuses it, naming the setting)."""
    latitude, longitude = request.params["latitude"], request.params["longitude"]
    one_point = request_weight(replace(request, params={**request.params, "latitude": latitude[:1]}))
    size = max(1, math.floor(max_weight / one_point + 1e-9))
    if size >= len(latitude):
        return [request]
    return [replace(request, params={**request.params, "latitude": latitude[i:i + size],
                                     "longitude": longitude[i:i + size]}) for i in range(0, len(latitude), size)]


def days_within(weight: float, locations: int, variables: int) -> int:
    """The most days of data one request over `locations` points and `variables` variables may ask
    for without weighing more than `weight` calls; 0 when even one day weighs more."""
    if locations * max(1.0, variables / 10) > weight:
        return 0
    return max(14, math.floor(14 * weight / (locations * variables / 10) + 1e-9))


@dataclass(frozen=True)
class CallBudget:
    """The calls we allow ourselves in each fixed-clock minute, hour and UTC day."""

    per_minute: float
    per_hour: float
    per_day: float

    @classmethod
    def with_margin(cls, per_minute: float, per_hour: float, per_day: float, margin: float) -> CallBudget:
        """Open-Meteo's limits less a safety `margin` (a fraction, for other users of the same address)."""
        return cls(per_minute * (1 - margin), per_hour * (1 - margin), per_day * (1 - margin))

    def windows(self) -> dict[int, float]:
        """Window length in s -> calls allowed in it."""
        return {60: self.per_minute, 3600: self.per_hour, 86400: self.per_day}


FREE_TIER = CallBudget(600, 5000, 10000)  # Open-Meteo's non-commercial limits, in weighted calls


class CallBudgetError(ValueError):
    """A request heavier than a whole window's budget: no wait would ever let it through."""


class RateLimiter:
    """Paces requests by their weight against a CallBudget's fixed-clock windows; safe across threads.

    Open-Meteo counts calls per minute, hour and UTC day of the wall clock, and its counters reset at
    the window's start (no Retry-After). `wait(weight)` sleeps until the next window of each budget the
    request would pass, and spaces requests at least 60 / `requests_per_minute` s apart. `clock`
    (epoch seconds, UTC) and `sleep` are injectable, so tests never sleep.
    """

    def __init__(self, budget: CallBudget = FREE_TIER, requests_per_minute: float = 600, *,
                 retries_on_429: int = 4, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, log: Callable[[str], None] = log) -> None:
        self.budget, self.interval, self.retries_on_429 = budget, 60.0 / requests_per_minute, retries_on_429
        self.clock, self.sleep, self.log = clock, sleep, log
        self._next = -math.inf
        self._used = {length: (None, 0.0) for length in budget.windows()}  # length -> (window index, calls)
        self._lock = threading.Lock()

    def used(self, length: int, now: float) -> float:
        """Calls counted in the window of `length` s that holds `now`."""
        index, calls = self._used[length]
        return calls if index == now // length else 0.0

    def wait(self, weight: float) -> float:
        """Sleep until `weight` more calls fit every budget, then count them; return the time slept, s."""
        if weight > self.budget.per_minute:
            raise CallBudgetError(
                f"a request weighing {weight:.1f} calls is more than the minute's budget of "
                f"{self.budget.per_minute:g} (`open_meteo.calls_per_minute` less `open_meteo.budget_margin`): "
                "ask for fewer points, variables or days per request")
        slept = 0.0
        with self._lock:
            while True:
                now = self.clock()
                full = [length for length, limit in self.budget.windows().items()
                        if self.used(length, now) + weight > limit]
                until = max([self._next] + [(now // length + 1) * length for length in full])
                if until <= now:
                    break
                if full:
                    window = {60: "minute", 3600: "hour", 86400: "UTC day"}[max(full)]
                    self.log(f"open-meteo: the next request weighs {weight:.1f} calls, the {window}'s budget "
                             f"has {self.budget.windows()[max(full)] - self.used(max(full), now):.1f} left: "
                             f"waiting {until - now:.0f} s for the next {window}")
                self.sleep(until - now)
                slept += until - now
            for length in self._used:
                self._used[length] = (now // length, self.used(length, now) + weight)
            self._next = now + self.interval
        return slept

    def after_429(self, reason: str, attempt: int) -> None:
        """Sleep until the next minute window after an HTTP 429 (Open-Meteo sends no Retry-After)."""
        with self._lock:
            now = self.clock()
            until = (now // 60 + 1) * 60
            self.log(f"open-meteo: HTTP 429 ({reason}), no Retry-After: waiting {until - now:.0f} s for the "
                     f"next minute window, then retry {attempt} of {self.retries_on_429}")
            self.sleep(until - now)


def minimum_seconds(weights: list[float], budget: CallBudget, requests_per_minute: float) -> float:
    """The least time, in s, before the last of requests weighing `weights` may be sent from the start
    of a UTC day, as RateLimiter paces them (a later start only waits longer)."""
    clock = [0.0]
    limiter = RateLimiter(budget, requests_per_minute, clock=lambda: clock[0],
                          sleep=lambda s: clock.__setitem__(0, clock[0] + s), log=lambda message: None)
    for weight in weights:
        limiter.wait(weight)
    return clock[0]


_CUSTOMER_HOSTS = ("api.open-meteo.com", "archive-api.open-meteo.com", "marine-api.open-meteo.com",
                   "previous-runs-api.open-meteo.com", "ensemble-api.open-meteo.com")
_API_KEY = re.compile(r"(apikey=)[^&\s'\"]+")


def customer_url(url: str) -> str:
    """`url` on Open-Meteo's customer endpoint (customer-<host>) when it is one of its public hosts;
    any other URL (a mirror, a test server) unchanged."""
    scheme, rest = url.split("://", 1)
    host, _, path = rest.partition("/")
    return f"{scheme}://customer-{host}/{path}" if host in _CUSTOMER_HOSTS else url


def api_key_from_env(variable: str | None) -> str | None:
    """The API key in the environment variable `variable` (None: no key wanted); raise if it is unset."""
    if variable is None:
        return None
    key = os.environ.get(variable, "").strip()
    if not key:
        raise ValueError(f"`open_meteo.api_key_env` names {variable}, which is not set in the environment")
    return key


def mask_key(text: str) -> str:
    """`text` with the value of every `apikey=` (as a URL's query holds it) replaced by ***."""
    return _API_KEY.sub(r"\1***", text)


def open_meteo_client(cache_dir: Path, *, retries: int, backoff_s: float, forecast_url: str,
                      marine_url: str, api_key: str | None = None, ensemble_url: str | None = None):
    """The official client on a cached session that retries 5xx with backoff.

    A 429 is not retried here: `fetch` waits for the next minute window. With `api_key`, every
    request carries `apikey=`; the cache neither keys on it nor stores it (redacted). Archive
    responses never expire (the past does not change once in ERA5), nor do previous-runs ones (runs made
    before the issue time); forecast, ensemble and marine responses
    expire after an hour, so a rerun the same hour sends nothing.
    """
    import openmeteo_requests
    import requests_cache
    from retry_requests import retry

    cache_dir.mkdir(parents=True, exist_ok=True)
    hourly = {f"{u.split('://', 1)[1].split('/', 1)[0]}/*": dt.timedelta(hours=1)
              for u in (forecast_url, marine_url, *([ensemble_url] if ensemble_url else []))}
    session = requests_cache.CachedSession(
        str(cache_dir / "open-meteo"), backend="sqlite", allowable_codes=(200,),
        expire_after=requests_cache.NEVER_EXPIRE, urls_expire_after=hourly, ignored_parameters=["apikey"],
    )
    if api_key:
        session.params["apikey"] = api_key
    session = retry(session, retries=retries, backoff_factor=backoff_s, status_to_retry=(500, 502, 503, 504))
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
    """Send `request` and return its checked variables on (time, point), (member, time, point) for an
    ensemble; raise on any defect.

    Paced by `limiter` at the request's weight, sent in runs of points (`point_chunks`) when it weighs
    more than the minute's budget (an ensemble's members do); an HTTP 429 waits for the next minute
    window and is sent again, up to `limiter.retries_on_429` times. Errors show an API key as `apikey=***`.
    """
    if len(parts := point_chunks(request, limiter.budget.per_minute)) > 1:
        pieces = [fetch(client, part, limiter, timeout_s) for part in parts]
        first_sent = min(piece.attrs["first_hour_sent"] for piece in pieces)  # ISO times sort as strings
        return xr.concat(pieces, "point", combine_attrs="drop").assign_attrs(first_hour_sent=first_sent)
    weight = request_weight(request)
    params = {key: _join(value) for key, value in request.params.items()}  # lists as a,b,c, as documented
    statuses = []  # HTTP status of each response, from a requests hook: the client's errors lack it

    def record(response, *args, **kwargs):
        statuses.append(response.status_code)
    for attempt in range(limiter.retries_on_429 + 1):
        limiter.wait(weight)
        statuses.clear()
        try:
            responses = client.weather_api(request.url, params=params, timeout=timeout_s, hooks={"response": record})
        except OpenMeteoRequestsError as err:
            if statuses[-1:] == [429] and attempt < limiter.retries_on_429:
                limiter.after_429(mask_key(_reason(err)), attempt + 1)
                continue
            suffix = f" (HTTP 429 still, after {attempt} waits for the next minute window)" if statuses[-1:] == [429] else ""
            raise OpenMeteoRequestsError(mask_key(str(err)) + suffix) from None
        return decode(responses, request)
    raise AssertionError("unreachable")  # the loop returns or raises


def _reason(err: Exception) -> str:
    cause = err.__cause__
    if isinstance(cause, OpenMeteoRequestsError) and isinstance(cause.args[0], dict):
        return str(cause.args[0].get("reason", "no reason given"))
    return str(err)


def decode(responses: list, request: Request) -> xr.Dataset:
    """The hourly variables of `responses` as (time, point) float32 in contract units, (member, time,
    point) for an ensemble request (`member` 0 the control); attribute `first_hour_sent` is the
    earliest hour the responses began with (a forecast's age, when its run time is unknown).

    Raises WeatherResponseError naming what is wrong: point count, time axis, members, a variable
    missing, in another unit, of another length, or holding NaN (unless the request is
    `missing_ok`) or values outside the contract's range.
    """
    n_points = len(np.atleast_1d(request.params["latitude"]))
    if len(responses) != n_points:
        raise WeatherResponseError(f"{request.url}: {len(responses)} locations in the response, "
                                   f"expected {n_points}")
    columns, starts = {name: [] for name in request.fields}, []
    for i, response in enumerate(responses):
        try:
            hourly = response.Hourly()
            first, interval = pd.Timestamp(hourly.Time(), unit="s"), hourly.Interval()
            steps = (hourly.TimeEnd() - hourly.Time()) // interval
            found = [hourly.Variables(j) for j in range(hourly.VariablesLength())]
        except Exception as err:  # a payload the SDK cannot read is malformed
            raise WeatherResponseError(f"{request.url}: location {i}: unreadable payload ({err})") from err
        if steps <= 0:
            raise WeatherResponseError(f"{request.url}: location {i}: empty: no hourly values")
        starts.append(first)
        offset = (request.first_hour - first) // _HOUR
        needed = request.hours + any(f.preceding_hour for f in request.fields.values())
        if interval != 3600 or offset < 0 or offset + needed > steps:
            raise WeatherResponseError(
                f"{request.url}: location {i}: hourly axis {first} + {steps} x {interval} s does not "
                f"cover {request.first_hour} + {request.hours} h")
        if len(found) != len(request.fields) * request.members:
            raise WeatherResponseError(f"{request.url}: location {i}: {len(found)} variables, "
                                       f"expected {len(request.fields) * request.members}")
        by_member = {}  # member -> its variables, in the order sent
        for var in found:
            by_member.setdefault(var.EnsembleMember(), []).append(var)
        if sorted(by_member) != list(range(request.members)) or {len(v) for v in by_member.values()} != {
                len(request.fields)}:
            sent = ", ".join(f"{m}: {len(v)}" for m, v in sorted(by_member.items()))
            raise WeatherResponseError(f"{request.url}: location {i}: variables by member {{{sent}}}, expected "
                                       f"{len(request.fields)} for each of 0..{request.members - 1}")
        for name in request.fields:
            columns[name].append(np.empty((request.members, request.hours), "float32"))
        for member, variables in by_member.items():
            for (name, field), var in zip(request.fields.items(), variables, strict=True):
                columns[name][-1][member] = _hours_of(var, name, field, request, i, offset, steps)
    times = pd.date_range(request.first_hour, periods=request.hours, freq="h")
    dims, coords = ("member", "time", "point"), {"time": times.to_numpy(), "member": np.arange(request.members)}
    data = {name: (dims, np.stack(cols, axis=-1)) for name, cols in columns.items()}
    ds = xr.Dataset(data, coords=coords, attrs={"first_hour_sent": str(min(starts))})
    ds = ds if request.members > 1 else ds.squeeze("member", drop=True)
    _check_values(ds, request.url, request.missing_ok)
    return ds


def _hours_of(var, name: str, field: Field, request: Request, location: int, offset: int, steps: int) -> np.ndarray:
    """The `request.hours` values of one decoded variable `var` from the request's first hour, float32."""
    where = f"{request.url}: location {location}: {name}"
    if (var.Variable(), var.Unit(), var.PreviousDay()) != (field.variable, field.unit, field.previous_day):
        raise WeatherResponseError(
            f"{where}: got variable {var.Variable()} in unit {var.Unit()} of previous day {var.PreviousDay()}, "
            f"expected {field.variable} in {field.unit} of previous day {field.previous_day} ({field.api_name})")
    try:
        values = var.ValuesAsNumpy()
    except ValueError as err:  # a vector running past the end: a truncated payload
        raise WeatherResponseError(f"{where}: truncated ({err})") from err
    if values is None or np.size(values) != steps:
        raise WeatherResponseError(f"{where}: {np.size(values)} values, expected {steps}")
    start = offset + (1 if field.preceding_hour else 0)
    return np.asarray(values, dtype="float32")[start:start + request.hours]


def _check_values(ds: xr.Dataset, url: str, missing_ok: bool) -> None:
    for name, var in ds.data_vars.items():
        lo, hi = WEATHER_VARIABLES[contract_name(name)].valid_range
        values = var.transpose("time", ...).values.reshape(ds.sizes["time"], -1)
        missing = ~np.isfinite(values).all(axis=1)
        if missing.any() and not missing_ok:
            raise WeatherResponseError(f"{url}: {name}: missing values in {int(missing.sum())} hours, "
                                       f"first at {pd.Timestamp(ds.time.values[np.argmax(missing)])}")
        values = values[np.isfinite(values)]
        if (values < lo).any() or (values > hi).any():
            raise WeatherResponseError(f"{url}: {name}: values outside {lo}..{hi} "
                                       f"(min {values.min():g}, max {values.max():g})")


def on_grid(atmosphere: xr.Dataset, sea_level: xr.Dataset, lat: np.ndarray, lon: np.ndarray) -> xr.Dataset:
    """The contract's (time, y, x) weather, (member, time, y, x) for an ensemble: atmosphere per
    point, sea level (one deterministic series) broadcast to all points and members."""
    dims = (*atmosphere["pr"].dims[:-1], "y", "x")  # ("member",) "time", then the points as y, x
    shape = (*atmosphere["pr"].shape[:-1], lat.size, lon.size)
    variables = {name: (dims, atmosphere[name].values.reshape(shape), VARIABLE_ATTRS[name]) for name in ATMOSPHERE}
    zos = np.broadcast_to(sea_level["zos"].values[:, :1, None], shape)
    variables["zos"] = (dims, zos.astype("float32"), {**VARIABLE_ATTRS["zos"], "comment": ZOS_COMMENT})
    coords = {"time": atmosphere.time.values, "y": lat, "x": lon}
    if "member" in atmosphere.dims:
        coords["member"] = ("member", atmosphere.member.values.astype("int32"),
                            {"long_name": "ensemble member (0: the control)"})
    ds = xr.Dataset(variables, coords=coords, attrs={"first_hour_sent": atmosphere.attrs["first_hour_sent"]})
    ds.y.attrs.update(standard_name="latitude", units="degrees_north", axis="Y")
    ds.x.attrs.update(standard_name="longitude", units="degrees_east", axis="X")
    return ds.rio.write_crs("EPSG:4326")
