"""Open-Meteo through the official client against a local server speaking FlatBuffers."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from openmeteo_requests.Client import OpenMeteoRequestsError
from openmeteo_sdk.Unit import Unit
from openmeteo_sdk.Variable import Variable
from openmeteo_sdk.WeatherApiResponse import WeatherApiResponse

from pipelines.config import load_city_config
from pipelines.sources import open_meteo
from pipelines.sources.refresh import refresh_weather
from pipelines.sources.staging import live_city, weather_settings
from pipelines.sources.weather import history_requests
from tests.pipelines.recorded.fake_apis import open_meteo_handler, open_meteo_payload, write_live_config
from tests.pipelines.recorded.servers import LocalServer, weather_message

ISSUE = dt.date(2025, 6, 1)
NOW = pd.Timestamp("2025-06-01 01:00")
FIRST = pd.Timestamp("2025-05-20")


def _client(tmp_path, config):
    source = config.source.open_meteo
    return open_meteo.open_meteo_client(tmp_path / "cache", retries=source.retries, backoff_s=0,
                                        forecast_url=source.forecast_url, marine_url=source.marine_url)


def _refresh(tmp_path, config, now=NOW):
    city = live_city(config)
    return refresh_weather(config.bundle_dir, city, weather_settings(config, city),
                                        config.source.open_meteo, ISSUE, now)


@pytest.fixture
def server():
    with LocalServer() as running:
        running.queries = []
        running.routes["/v1/"] = open_meteo_handler(running.queries)
        yield running


@pytest.fixture
def config(tmp_path, server):
    return load_city_config(write_live_config(tmp_path, server.url))


def test_built_payload_reads_back_through_the_sdk():
    message = weather_message(5.4, 100.3, 0, [(Variable.temperature, Unit.celsius, np.array([1.0, 2.0]))])
    response = WeatherApiResponse.GetRootAs(message, 4)
    variable = response.Hourly().Variables(0)
    assert (variable.Variable(), variable.Unit()) == (Variable.temperature, Unit.celsius)
    np.testing.assert_array_equal(variable.ValuesAsNumpy(), [1.0, 2.0])
    assert response.Hourly().TimeEnd() == 7200


def test_rain_and_radiation_move_back_one_hour_to_the_start_of_the_hour(tmp_path, config):
    request = open_meteo.atmosphere_request(config.source.open_meteo.archive_url, np.array([5.4]),
                                            np.array([100.3]), FIRST, 48)
    weather = open_meteo.fetch(_client(tmp_path, config), request, open_meteo.RateLimiter(600), 2)
    hours = (weather.time.values.astype("datetime64[h]").astype(int) % 24)
    np.testing.assert_allclose(weather["pr"].values[:, 0], ((hours + 1) % 24) / 10.0, atol=1e-6)
    np.testing.assert_allclose(weather["sfcWind"].values, 3.0)  # m s-1 asked for, m s-1 back


def test_wind_in_kmh_is_refused():
    request = open_meteo.atmosphere_request("http://x/v1/archive", np.array([5.4]), np.array([100.3]), FIRST, 24)
    query = {k: [",".join(map(str, v)) if isinstance(v, list) else str(v)] for k, v in request.params.items()}
    query.pop("wind_speed_unit")
    payload = open_meteo_payload(query)
    responses = [WeatherApiResponse.GetRootAs(payload, 4)]
    with pytest.raises(open_meteo.WeatherResponseError, match="sfcWind: got variable .* in unit 24"):
        open_meteo.decode(responses, request)


def test_history_and_forecast_make_contract_files(tmp_path, config):
    entries = _refresh(tmp_path, config)
    history = xr.open_dataset(config.bundle_dir / "weather/history.nc", decode_coords="all")
    issue = pd.Timestamp("2025-05-31 16:00")  # local midnight of 1 June in UTC
    assert history.time.values[0] == np.datetime64(FIRST) and history.time.values[-1] == np.datetime64(
        issue - pd.Timedelta(hours=1))
    assert {v: history[v].attrs["units"] for v in history.data_vars} == {
        "pr": "mm h-1", "tas": "degC", "hurs": "%", "sfcWind": "m s-1", "rsds": "W m-2", "zos": "m"}
    assert history.attrs["archive_until"] == "2025-05-26 23:00:00"  # ERA5 lags 5 days
    forecast = xr.open_dataset(config.bundle_dir / "weather/forecasts/2025-06-01.nc", decode_timedelta=True)
    assert forecast.sizes["lead_time"] == 48
    assert forecast.forecast_reference_time.values == np.datetime64(issue)
    assert entries["weather/forecasts/"]["model"] == "best_match"
    assert entries["weather/history.nc"]["licence"].startswith("Weather data by Open-Meteo.com")


def test_a_daily_rerun_asks_only_for_the_new_hours(tmp_path, config, server):
    _refresh(tmp_path, config)
    settings = weather_settings(config, live_city(config))  # the next day's requests:
    pairs, _ = history_requests(settings, FIRST.date(), pd.Timestamp("2025-06-01 16:00"),
                                pd.Timestamp("2025-06-02 01:00"), pd.Timestamp("2025-05-31 15:00"),
                                pd.Timestamp("2025-05-26 23:00"))
    assert [p[0].params["start_date"] for p in pairs] == ["2025-05-27", "2025-05-28"]
    assert pairs[0][0].url.endswith("/v1/archive") and pairs[1][0].url.endswith("/v1/forecast")


def test_rate_limiter_spaces_calls():
    clock, slept = [0.0], []
    limiter = open_meteo.RateLimiter(60, clock=lambda: clock[0], sleep=slept.append)
    limiter.wait()
    limiter.wait()
    assert slept == [1.0]


@pytest.mark.parametrize(("status", "body", "match"), [
    (429, b'{"error": true, "reason": "Minutely API request limit exceeded"}', "too many 429"),
    (500, b"internal error", "too many 500"),
    (400, b'{"error": true, "reason": "Cannot initialize WeatherVariable"}', "Cannot initialize"),
])
def test_http_errors_after_retries_raise(tmp_path, config, server, status, body, match):
    server.routes["/v1/"] = lambda method, query, b: (status, {"Retry-After": "0"}, body)
    request = open_meteo.sea_level_request(config.source.open_meteo.marine_url, (100.35, 5.42), FIRST, 24)
    with pytest.raises(OpenMeteoRequestsError, match=match):
        open_meteo.fetch(_client(tmp_path, config), request, open_meteo.RateLimiter(600), 2)
    assert len(server.log) == (1 if status == 400 else 2)  # one retry (retries: 1) on 429 and 5xx


def test_a_429_then_success_is_retried(tmp_path, config, server):
    good, calls = open_meteo_handler(), []

    def flaky(method, query, body):
        calls.append(1)
        return (429, {"Retry-After": "0"}, b'{"error": true}') if len(calls) == 1 else good(method, query, body)
    server.routes["/v1/"] = flaky
    request = open_meteo.sea_level_request(config.source.open_meteo.marine_url, (100.35, 5.42), FIRST, 24)
    weather = open_meteo.fetch(_client(tmp_path, config), request, open_meteo.RateLimiter(600), 2)
    assert weather.sizes["time"] == 24 and len(calls) == 2


def test_a_timeout_raises(tmp_path, config, server):
    import time

    def slow(method, query, body):
        time.sleep(2.5)
        return 200, {}, b""
    server.routes["/v1/"] = slow
    request = open_meteo.sea_level_request(config.source.open_meteo.marine_url, (100.35, 5.42), FIRST, 24)
    with pytest.raises(OpenMeteoRequestsError, match="(?i)timed out|timeout"):
        open_meteo.fetch(_client(tmp_path, config), request, open_meteo.RateLimiter(600), 0.5)


@pytest.mark.parametrize("cut", ["garbage", "truncated", "short"])
def test_malformed_payloads_are_refused(tmp_path, config, server, cut):
    def broken(method, query, body):
        payload = open_meteo_payload(query)
        if cut == "garbage":
            payload = b"\x10\x00\x00\x00" + bytes(range(16))
        elif cut == "truncated":
            payload = payload[: len(payload) // 2]
        else:
            query = {**query, "end_date": query["start_date"]}  # a day too few
            payload = open_meteo_payload(query)
        return 200, {}, payload
    server.routes["/v1/"] = broken
    request = open_meteo.sea_level_request(config.source.open_meteo.marine_url, (100.35, 5.42), FIRST, 48)
    with pytest.raises((open_meteo.WeatherResponseError, OpenMeteoRequestsError)):
        open_meteo.fetch(_client(tmp_path, config), request, open_meteo.RateLimiter(600), 2)


def test_the_model_run_time_comes_from_the_model_metadata(server):
    server.routes["/data/ecmwf_ifs025/static/meta.json"] = lambda m, q, b: (
        200, {}, b'{"last_run_initialisation_time": 1748736000, "temporal_resolution_seconds": 3600}')
    assert open_meteo.model_run_time(f"{server.url}/v1/forecast", "ecmwf_ifs025", 2) == "2025-06-01T00:00:00Z"
    assert open_meteo.model_run_time(f"{server.url}/v1/forecast", "gfs_global", 2) is None  # 404: unknown
    assert open_meteo.model_run_time(f"{server.url}/v1/forecast", "best_match", 2) is None
