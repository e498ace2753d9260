"""Handlers that answer like Open-Meteo (FlatBuffers) and Overpass (JSON), for LocalServer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from openmeteo_sdk.Unit import Unit
from openmeteo_sdk.Variable import Variable

from tests.pipelines.recorded.servers import weather_message

OVERPASS_JSON = Path(__file__).with_name("overpass_george_town.json")
_FIELDS = {  # api name -> (variable, unit, values(hours since epoch))
    "precipitation": (Variable.precipitation, Unit.millimetre, lambda h: (h % 24) / 10.0),
    "temperature_2m": (Variable.temperature, Unit.celsius, lambda h: 27 + 3 * np.sin(2 * np.pi * h / 24)),
    "relative_humidity_2m": (Variable.relative_humidity, Unit.percentage, lambda h: 80 + 0 * h),
    "wind_speed_10m": (Variable.wind_speed, Unit.metre_per_second, lambda h: 3 + 0 * h),
    "shortwave_radiation": (Variable.shortwave_radiation, Unit.watt_per_square_metre,
                            lambda h: np.maximum(0, 800 * np.sin(2 * np.pi * (h % 24 - 23) / 24))),
    "sea_level_height_msl": (Variable.sea_level_height_msl, Unit.metre,
                             lambda h: 0.9 * np.cos(2 * np.pi * h / 12.42)),
}

# forecast API only (its queries name a model): each run differs from the run before at the same valid
# hour, and humidity and wind have a daily cycle, as real runs do (a feed that repeats them is faulty)
_RUN_CHANGE = {  # api name -> change(hours since epoch, run: days since epoch of start_date)
    "temperature_2m": lambda h, run: 0.3 * np.sin(2 * np.pi * (h / 24 + run / 7)),
    "relative_humidity_2m": lambda h, run: -10 * np.sin(2 * np.pi * h / 24) + run % 5,
    "wind_speed_10m": lambda h, run: np.sin(2 * np.pi * h / 24) ** 2 + 0.1 * (run % 5),
}


ENSEMBLE_WARMING = 0.2  # degC: the ensemble API's member m is m x this warmer than its control, member 0


def open_meteo_payload(query: dict, sea_level=None, run_day: int | None = None, edit=None,
                       members: tuple[int, ...] = (0,)) -> bytes:
    """The FlatBuffers answer to an Open-Meteo query: one message per location, whole UTC days.

    `sea_level` (hours since the epoch -> m, NaN where the marine model has nothing) replaces the
    default sea level. Forecast API answers come from the run of `run_day` (days since the epoch;
    default: the query's start_date). `edit` (api name, values -> values) changes what is sent.
    Each variable is sent for each of `members` (the ensemble API's, all of one variable together),
    member m ENSEMBLE_WARMING x m degC warmer.
    """
    lats = [float(v) for v in query["latitude"][0].split(",")]
    lons = [float(v) for v in query["longitude"][0].split(",")]
    start = pd.Timestamp(query["start_date"][0])
    end = pd.Timestamp(query["end_date"][0]) + pd.Timedelta(days=1)
    hours = np.arange(int(start.timestamp()) // 3600, int(end.timestamp()) // 3600)
    names = query["hourly"][0].split(",")
    run = run_day if run_day is not None else int(start.timestamp()) // 86400
    messages = []
    for lat, lon in zip(lats, lons, strict=True):
        variables = []
        for name in names:
            base, _, previous_day = name.partition("_previous_day")
            variable, unit, values = _FIELDS[base]
            if name == "sea_level_height_msl" and sea_level is not None:
                values = sea_level
            if base == "wind_speed_10m" and query.get("wind_speed_unit", [""])[0] != "ms":
                unit, values = Unit.kilometres_per_hour, (lambda h: 10.8 + 0 * h)
            if previous_day:  # the previous-runs API: the runs `previous_day` days back, 1 degC warmer a day
                change = _RUN_CHANGE.get(base) if base != "temperature_2m" else None
                sent = values(hours) + (change(hours, run - int(previous_day)) if change else
                                        int(previous_day) if base == "temperature_2m" else 0)
            else:
                change = _RUN_CHANGE.get(name) if "models" in query else None
                sent = values(hours) + (change(hours, run) if change else 0)
            sent = edit(name, sent) if edit else sent
            variables += [(variable, unit, sent + (ENSEMBLE_WARMING * m if base == "temperature_2m" else 0),
                           int(previous_day or 0), m) for m in members]
        messages.append(weather_message(lat, lon, int(start.timestamp()), variables))
    return b"".join(messages)


def open_meteo_handler(log: list | None = None, sea_level=None, members: tuple[int, ...] = (0,)):
    def handle(method: str, query: dict, body: bytes) -> tuple[int, dict, bytes]:
        if log is not None:
            log.append(query)
        return 200, {"Content-Type": "application/octet-stream"}, open_meteo_payload(query, sea_level,
                                                                                      members=members)
    return handle


def overpass_handler(method: str, query: dict, body: bytes) -> tuple[int, dict, bytes]:
    return 200, {"Content-Type": "application/json"}, OVERPASS_JSON.read_bytes()


def json_body(payload) -> bytes:
    return json.dumps(payload).encode()


LIVE_CONFIG = """
city: {{slug: george-town, name: George Town test, timezone: Asia/Kuala_Lumpur}}
grid: {{crs: "EPSG:32647", resolution_m: 60, bounds: [642300, 596400, 650100, 602100]}}
source:
  kind: live
  start: {start}
  assets: george-town
  open_meteo:
    archive_url: {url}/v1/archive
    forecast_url: {url}/v1/forecast
    marine_url: {url}/v1/marine
    previous_runs_url: {url}/v1/previous-runs
    forecast_archive_from: {archive_from}
    history_forecasts: {stand_ins}
    spacing_deg: 0.1
    forecast_model: {model}
    sea_point: [100.35, 5.42]
    requests_per_minute: 600
    retries: {retries}
    backoff_s: 0
    timeout_s: 2{tide}{ensemble}
  osm: {{overpass_url: {url}/api, timeout_s: 10}}
  copernicus_dem: {{base_url: {url}/dem, retries: 0, msl_above_egm2008_m: 0.5, msl_datum: test gauge MSL}}
  files: {files}
  task_retries: 0
paths: {{bundle: bundle, store: store}}
flood: {{lead_days: 2}}
heat: {{lead_days: 2}}
alerts: {{sender: warisan-test@example.org, sender_name: Warisan test, status: Test}}
"""


def write_live_config(root: Path, url: str, *, start: str = "2025-05-20", retries: int = 1,
                      files: str = "files", model: str = "best_match", tide: str | None = None,
                      archive_from: str = "null", stand_ins: bool = False, ensemble_members: int | None = None
                      ) -> Path:
    """The live city's config on `url`; with `ensemble_members`, the issued forecast from the ensemble
    API (`url`/v1/ensemble, model ecmwf_ifs025_ensemble) with that many members."""
    path = root / "live.yaml"
    tide = f"\n    tide_constants: {tide}" if tide else ""
    ensemble = (f"\n    ensemble: {{url: {url}/v1/ensemble, model: ecmwf_ifs025_ensemble, members: {ensemble_members}}}"
                if ensemble_members else "")
    path.write_text(LIVE_CONFIG.format(url=url, start=start, retries=retries, files=files, model=model, tide=tide,
                                       archive_from=archive_from, stand_ins=str(stand_ins).lower(), ensemble=ensemble))
    return path


def weighted_limits(handler, clock, per_minute: float, per_hour: float, per_day: float, log: list | None = None):
    """`handler` behind Open-Meteo's weighted limits on `clock` (epoch s): a query weighs, per location,
    max(1, variables / 10 x max(1, days / 14)); calls count in fixed clock windows, and one that would
    pass a window's limit gets a 429 without Retry-After. `log` collects (time, weight, status)."""
    used = {}  # (window length, index) -> calls

    def handle(method: str, query: dict, body: bytes) -> tuple[int, dict, bytes]:
        now, locations = clock(), len(query["latitude"][0].split(","))
        days = (pd.Timestamp(query["end_date"][0]) - pd.Timestamp(query["start_date"][0])).days + 1
        weight = locations * max(1.0, len(query["hourly"][0].split(",")) / 10 * max(1.0, days / 14))
        windows = {(60, now // 60): per_minute, (3600, now // 3600): per_hour, (86400, now // 86400): per_day}
        over = [key for key, limit in windows.items() if used.get(key, 0.0) + weight > limit]
        if log is not None:
            log.append((now, weight, 429 if over else 200))
        if over:
            reason = {60: "Minutely", 3600: "Hourly", 86400: "Daily"}[over[0][0]]
            return 429, {"Content-Type": "application/json"}, json_body(
                {"error": True, "reason": f"{reason} API request limit exceeded. Please try again later."})
        for key in windows:
            used[key] = used.get(key, 0.0) + weight
        return handler(method, query, body)
    return handle
