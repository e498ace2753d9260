"""Open-Meteo through the official client against a local server speaking FlatBuffers."""

import datetime as dt
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from openmeteo_requests.Client import OpenMeteoRequestsError
from openmeteo_sdk.Unit import Unit
from openmeteo_sdk.Variable import Variable
from openmeteo_sdk.WeatherApiResponse import WeatherApiResponse

from pipelines.config import ConfigError, load_city_config
from pipelines.data import packaged_data
from pipelines.sources import open_meteo
from pipelines.sources.refresh import refresh_weather
from pipelines.sources.staging import call_budget, live_city, weather_settings
from pipelines.sources.weather import (
    as_issued,
    backfill_requests,
    fill_sea_level,
    history_forecasts,
    history_requests,
    training_issue_dates,
)
from pipelines.tide import astronomical_tide, read_tide_constants
from tests.pipelines.recorded.fake_apis import (
    open_meteo_handler,
    open_meteo_payload,
    weighted_limits,
    write_live_config,
)
from tests.pipelines.recorded.servers import LocalServer, weather_message

ISSUE = dt.date(2025, 6, 1)
NOW = pd.Timestamp("2025-06-01 01:00")
FIRST = pd.Timestamp("2025-05-20")
PENANG = read_tide_constants(packaged_data("penang_tide_ticon4.json"))


def _client(tmp_path, config):
    source = config.source.open_meteo
    return open_meteo.open_meteo_client(tmp_path / "cache", retries=source.retries, backoff_s=0,
                                        forecast_url=source.forecast_url, marine_url=source.marine_url)


class FakeClock:
    """Epoch seconds that move only when something sleeps; shared with the fake servers."""

    def __init__(self, start: float = pd.Timestamp("2025-06-01 01:00:30").timestamp()):
        self.now, self.slept = start, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _limiter(budget=open_meteo.FREE_TIER, clock=None, **kwargs):
    clock = clock or FakeClock()
    return open_meteo.RateLimiter(budget, 600, clock=clock, sleep=clock.sleep, **kwargs)


def _refresh(tmp_path, config, now=NOW, limiter=None):
    city = live_city(config)
    return refresh_weather(config.bundle_dir, city, weather_settings(config, city),
                           config.source.open_meteo, ISSUE, now, limiter=limiter)


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
    weather = open_meteo.fetch(_client(tmp_path, config), request, _limiter(), 2)
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
    clock = FakeClock(0.0)
    limiter = open_meteo.RateLimiter(open_meteo.FREE_TIER, 60, clock=clock, sleep=clock.sleep)
    limiter.wait(1)
    limiter.wait(1)
    assert clock.slept == [1.0]


POINTS = (np.linspace(5.2, 5.6, 5), np.linspace(100.1, 100.5, 5))  # 5 x 5 = 25 points


@pytest.mark.parametrize(("request_", "weight"), [
    # 25 points x 5 variables x 367 days (a year and the extra hour): 25 x 0.5 x 367 / 14
    (open_meteo.atmosphere_request("http://x/v1/archive", *POINTS, FIRST, 366 * 24), 25 * 0.5 * 367 / 14),
    (open_meteo.atmosphere_request("http://x/v1/forecast", *POINTS, FIRST, 72), 25.0),  # 4 days: 1 a point
    (open_meteo.sea_level_request("http://x/v1/marine", (100.35, 5.42), FIRST, 366 * 24), 0.1 * 366 / 14),
    (open_meteo.sea_level_request("http://x/v1/marine", (100.35, 5.42), FIRST, 24), 1.0),
])
def test_a_request_weighs_what_open_meteo_counts(request_, weight):
    assert open_meteo.request_weight(request_) == pytest.approx(weight)


def test_more_than_ten_variables_weigh_more_than_one_call_even_for_a_day():
    request = open_meteo.sea_level_request("http://x/v1/marine", (100.35, 5.42), FIRST, 24)
    request.params["hourly"] = [f"v{i}" for i in range(15)]
    assert open_meteo.request_weight(request) == pytest.approx(1.5)


def test_days_within_is_the_longest_span_that_fits():
    assert open_meteo.days_within(540, 25, 5) == 604  # 25 x 0.5 x 604 / 14 = 539.3
    assert open_meteo.days_within(24, 25, 5) == 0  # one day at 25 points weighs 25
    assert open_meteo.days_within(25, 25, 5) == 28  # 5 variables: four weeks weigh the minimum, 1 a point


def _send_times(limiter, clock, weights):
    times = []
    for weight in weights:
        limiter.wait(weight)
        times.append(clock())
    return times


def test_the_limiter_waits_for_the_next_minute_and_hour_windows():
    clock = FakeClock(0.0)  # the start of a UTC day
    limiter = open_meteo.RateLimiter(open_meteo.CallBudget(100, 250, 1000), 600, clock=clock, sleep=clock.sleep)
    # 60 + 60 passes the minute's 100; the fifth 60 would pass the hour's 250 (240 used)
    assert _send_times(limiter, clock, [60] * 5) == [0, 60, 120, 180, 3600]


def test_the_limiter_waits_for_the_next_utc_day():
    clock = FakeClock(0.0)
    limiter = open_meteo.RateLimiter(open_meteo.CallBudget(100, 100, 150), 600, clock=clock, sleep=clock.sleep)
    assert _send_times(limiter, clock, [100, 40, 40]) == [0, 3600, 86400]


def test_the_limiter_says_why_it_waits(caplog):
    clock = FakeClock(30.0)
    limiter = open_meteo.RateLimiter(open_meteo.CallBudget(100, 1000, 1000), 600, clock=clock, sleep=clock.sleep)
    limiter.wait(80)
    limiter.wait(30)
    assert "the next request weighs 30.0 calls, the minute's budget has 20.0 left: waiting 30 s for the next " \
           "minute" in caplog.text


def test_a_request_heavier_than_the_minutes_budget_is_refused_naming_the_setting():
    limiter = _limiter(open_meteo.CallBudget.with_margin(600, 5000, 10000, 0.1))
    with pytest.raises(open_meteo.CallBudgetError, match=r"weighing 600.0 calls is more than the minute's budget "
                                                         r"of 540 \(`open_meteo.calls_per_minute`"):
        limiter.wait(600)


def test_the_minimum_time_of_a_plan_is_one_minute_per_year_of_archive():
    year, sea = 25 * 0.5 * 367 / 14, 0.1 * 367 / 14  # 327.7 + 2.6: one pair a minute at 540
    budget = open_meteo.CallBudget.with_margin(600, 5000, 10000, 0.1)
    assert open_meteo.minimum_seconds([year, sea] * 6, budget, 600) == pytest.approx(300.1)


def test_archive_chunks_shrink_to_fit_the_minutes_budget(config):
    settings = weather_settings(config, live_city(config))
    light = replace(settings, max_request_weight=200.0)  # 25 points: 223 days (224 with the extra hour)
    pairs, _ = history_requests(light, dt.date(2023, 1, 1), pd.Timestamp("2025-05-31 16:00"), NOW, None, None)
    weights = [open_meteo.request_weight(atmos) for atmos, _ in pairs]
    assert max(weights) <= 200 and pairs[0][0].params["end_date"] == "2023-08-12"
    assert pairs[1][0].params["start_date"] == "2023-08-12"  # hours join up: 223 days from 2023-01-01


def test_too_many_points_for_the_minutes_budget_are_refused_naming_the_settings(config):
    settings = replace(weather_settings(config, live_city(config)), max_request_weight=20.0)
    with pytest.raises(open_meteo.CallBudgetError, match=r"25 points .* `open_meteo.spacing_deg` .* "
                                                         r"`open_meteo.calls_per_minute`"):
        history_requests(settings, FIRST.date(), pd.Timestamp("2025-05-31 16:00"), NOW, None, None)


def test_a_first_run_against_weighted_limits_completes_without_a_429(tmp_path, config, server):
    clock, sent = FakeClock(), []
    server.routes["/v1/"] = weighted_limits(open_meteo_handler(), clock, 60, 200, 1000, sent)
    source = config.source.open_meteo.model_copy(update={"calls_per_minute": 60, "calls_per_hour": 200,
                                                         "calls_per_day": 1000})
    limiter = open_meteo.RateLimiter(call_budget(source), 600, clock=clock, sleep=clock.sleep)
    _refresh(tmp_path, config, limiter=limiter)  # 78 calls: more than a minute's 60 (54 with the margin)
    assert [status for _, _, status in sent] == [200] * 6
    assert sum(w for _, w, _ in sent) == pytest.approx(78) and clock() >= FakeClock().now + 30


@pytest.mark.parametrize(("status", "body", "match"), [
    (500, b"internal error", "too many 500"),
    (400, b'{"error": true, "reason": "Cannot initialize WeatherVariable"}', "Cannot initialize"),
])
def test_http_errors_after_retries_raise(tmp_path, config, server, status, body, match):
    server.routes["/v1/"] = lambda method, query, b: (status, {"Retry-After": "0"}, body)
    request = open_meteo.sea_level_request(config.source.open_meteo.marine_url, (100.35, 5.42), FIRST, 24)
    with pytest.raises(OpenMeteoRequestsError, match=match):
        open_meteo.fetch(_client(tmp_path, config), request, _limiter(), 2)
    assert len(server.log) == (1 if status == 400 else 2)  # one retry (retries: 1) on 5xx


_MINUTELY = b'{"error": true, "reason": "Minutely API request limit exceeded. Please try again in one minute."}'


def test_a_429_waits_for_the_next_minute_window_then_succeeds(tmp_path, config, server, caplog):
    good, clock, sent_at = open_meteo_handler(), FakeClock(), []

    def limited(method, query, body):  # Open-Meteo's 429: no Retry-After
        sent_at.append(clock())
        return (429, {}, _MINUTELY) if len(sent_at) == 1 else good(method, query, body)
    server.routes["/v1/"] = limited
    request = open_meteo.sea_level_request(config.source.open_meteo.marine_url, (100.35, 5.42), FIRST, 24)
    weather = open_meteo.fetch(_client(tmp_path, config), request, _limiter(clock=clock), 2)
    assert weather.sizes["time"] == 24
    assert [t % 60 for t in sent_at] == [30, 0]  # sent at hh:mm:30, again at the next minute's start
    assert "HTTP 429 (Minutely API request limit exceeded. Please try again in one minute.), no Retry-After: " \
           "waiting 30 s for the next minute window, then retry 1 of 4" in caplog.text


def test_429s_that_outlast_the_retries_raise_saying_so(tmp_path, config, server):
    server.routes["/v1/"] = lambda method, query, b: (429, {}, _MINUTELY)
    request = open_meteo.sea_level_request(config.source.open_meteo.marine_url, (100.35, 5.42), FIRST, 24)
    clock = FakeClock()
    with pytest.raises(OpenMeteoRequestsError, match="HTTP 429 still, after 2 waits for the next minute window"):
        open_meteo.fetch(_client(tmp_path, config), request, _limiter(clock=clock, retries_on_429=2), 2)
    assert len(server.log) == 3 and clock.slept == [30, 60]


def test_a_timeout_raises(tmp_path, config, server):
    import time

    def slow(method, query, body):
        time.sleep(2.5)
        return 200, {}, b""
    server.routes["/v1/"] = slow
    request = open_meteo.sea_level_request(config.source.open_meteo.marine_url, (100.35, 5.42), FIRST, 24)
    with pytest.raises(OpenMeteoRequestsError, match="(?i)timed out|timeout"):
        open_meteo.fetch(_client(tmp_path, config), request, _limiter(), 0.5)


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
        open_meteo.fetch(_client(tmp_path, config), request, _limiter(), 2)


def test_the_model_run_time_comes_from_the_model_metadata(server):
    server.routes["/data/ecmwf_ifs025/static/meta.json"] = lambda m, q, b: (
        200, {}, b'{"last_run_initialisation_time": 1748736000, "temporal_resolution_seconds": 3600}')
    assert open_meteo.model_run_time(f"{server.url}/v1/forecast", "ecmwf_ifs025", 2) == "2025-06-01T00:00:00Z"
    assert open_meteo.model_run_time(f"{server.url}/v1/forecast", "gfs_global", 2) is None  # 404: unknown
    assert open_meteo.model_run_time(f"{server.url}/v1/forecast", "best_match", 2) is None


def _marine_lacking(*, before: str | None = None, hours: tuple[str, ...] = ()):
    """The fake marine sea level, NaN before `before` and at `hours` (UTC)."""
    def epoch_hour(t):
        return int(pd.Timestamp(t).timestamp()) // 3600
    lacking = [epoch_hour(t) for t in hours]

    def sea_level(h):
        gap = np.isin(h, lacking) | (h < (epoch_hour(before) if before else -np.inf))
        return np.where(gap, np.nan, 0.9 * np.cos(2 * np.pi * h / 12.42))
    return sea_level


def _history(config):
    with xr.open_dataset(config.bundle_dir / "weather/history.nc") as history:
        return history.load()


def _tide_at(times):
    return astronomical_tide(pd.DatetimeIndex(times), PENANG).values


@pytest.fixture
def tide_config(tmp_path, server):
    return load_city_config(write_live_config(tmp_path, server.url, tide="penang"))


def test_hours_before_the_marine_record_are_the_tide_and_flagged(tmp_path, tide_config, server):
    server.routes["/v1/"] = open_meteo_handler(sea_level=_marine_lacking(before="2025-05-25"))
    entries = _refresh(tmp_path, tide_config)
    history = _history(tide_config)
    assert history.time.values[0] == np.datetime64(FIRST)  # source.start, not the marine record's start
    before = history.time.sel(time=slice(None, "2025-05-24 23:00")).values
    np.testing.assert_allclose(history.zos.sel(time=before).values[:, 2, 3], _tide_at(before), atol=1e-6)
    assert np.isfinite(history.zos.values).all()
    attrs = history.zos.attrs
    assert (attrs["tide_filled_hours"], attrs["tide_filled_first"], attrs["tide_filled_last"]) == (
        120, "2025-05-20 00:00", "2025-05-24 23:00")
    assert attrs["tide_gauge"] == PENANG.gauge and "TICON-4" in attrs["tide_datum"]
    assert (attrs["tide_offset_m"], attrs["tide_offset_from_hours"]) == (0, 0)  # 160 h of overlap: too few
    fill = entries["weather/history.nc"]["sea_level_tide_fill"]
    assert (fill["hours"], fill["ranges"], fill["constants"]) == (120, "2025-05-20 00:00/2025-05-24 23:00", "penang")


def test_missing_marine_hours_are_filled_from_the_tide(tmp_path, tide_config, server):
    holes = ("2025-05-23 05:00", "2025-05-28 10:00")  # one in the archive's hours, one in the recent ones
    server.routes["/v1/"] = open_meteo_handler(sea_level=_marine_lacking(hours=holes))
    _refresh(tmp_path, tide_config)
    history = _history(tide_config)
    np.testing.assert_allclose(history.zos.sel(time=list(holes)).values[:, 0, 0], _tide_at(holes), atol=1e-6)
    assert history.zos.attrs["tide_filled_ranges"] == "2025-05-23 05:00/2025-05-23 05:00; 2025-05-28 10:00/2025-05-28 10:00"


def test_a_failing_marine_request_is_filled_from_the_tide_and_recorded(tmp_path, tide_config, server):
    good = open_meteo_handler()

    def marine_down_for_the_archive(method, query, body):  # the recent hours' and forecast's sea level work
        if query["hourly"] == ["sea_level_height_msl"] and query["start_date"] == ["2025-05-20"]:
            return 500, {}, b"upstream error"
        return good(method, query, body)
    server.routes["/v1/"] = marine_down_for_the_archive
    entries = _refresh(tmp_path, tide_config)
    fill = entries["weather/history.nc"]["sea_level_tide_fill"]
    assert (fill["hours"], fill["first_hour"], fill["last_hour"]) == (24 * 7, "2025-05-20 00:00", "2025-05-26 23:00")
    assert len(fill["failed_marine_requests"]) == 1 and "too many 500" in fill["failed_marine_requests"][0]


def test_hours_filled_by_an_earlier_run_stay_flagged_after_a_rerun(tmp_path, tide_config, server):
    server.routes["/v1/"] = open_meteo_handler(sea_level=_marine_lacking(before="2025-05-25"))
    _refresh(tmp_path, tide_config)
    _refresh(tmp_path, tide_config, now=NOW + pd.Timedelta(days=1))
    assert _history(tide_config).zos.attrs["tide_filled_ranges"] == "2025-05-20 00:00/2025-05-24 23:00"


def test_without_tide_constants_history_starts_with_the_marine_record(tmp_path, config, server):
    server.routes["/v1/"] = open_meteo_handler(sea_level=_marine_lacking(before="2025-05-25"))
    entries = _refresh(tmp_path, config)
    assert _history(config).time.values[0] == np.datetime64("2025-05-25")
    assert "sea_level_tide_fill" not in entries["weather/history.nc"]


def test_without_tide_constants_a_missing_hour_is_refused_naming_the_setting(tmp_path, config, server):
    server.routes["/v1/"] = open_meteo_handler(sea_level=_marine_lacking(hours=("2025-05-28 10:00",)))
    with pytest.raises(open_meteo.WeatherResponseError,
                       match=r"missing in 1 hours .* first at 2025-05-28 10:00:00; `open_meteo.tide_constants` would"):
        _refresh(tmp_path, config)
    assert not (config.bundle_dir / "weather/history.nc").exists()


def _sea_level(values, first="2025-01-01"):
    times = pd.date_range(first, periods=len(values), freq="h")
    zos = np.asarray(values, dtype="float32")[:, None, None]
    return xr.Dataset({"zos": (("time", "y", "x"), zos, {"units": "m"})}, coords={"time": times})


def test_the_tide_is_shifted_to_the_marine_datum_by_their_mean_difference():
    times = pd.date_range("2025-01-01", periods=800, freq="h")
    marine = _tide_at(times) + 0.25  # the marine model's mean sea level 0.25 m above the gauge's
    marine[:50] = np.nan  # 750 hours of overlap: enough
    filled = fill_sea_level(_sea_level(marine), PENANG)
    np.testing.assert_allclose(filled.zos.values[:50, 0, 0], _tide_at(times[:50]) + 0.25, atol=1e-5)
    assert filled.zos.attrs["tide_offset_m"] == pytest.approx(0.25, abs=1e-4)
    assert filled.zos.attrs["tide_offset_from_hours"] == 750


def test_fill_sea_level_leaves_its_input_and_a_complete_series_alone():
    series = _sea_level([0.1, np.nan, 0.3])
    before = series.copy(deep=True)
    filled = fill_sea_level(series, PENANG)
    xr.testing.assert_identical(series, before)
    assert filled.zos.attrs["tide_filled_hours"] == 1
    complete = _sea_level([0.1, 0.2, 0.3])
    xr.testing.assert_identical(fill_sea_level(complete, PENANG), complete)


KEY = "s3cr3tKey0123456789abcdef"


def test_an_api_key_goes_in_every_query_and_nowhere_else(tmp_path, server, monkeypatch, caplog):
    monkeypatch.setenv("WARISAN_TEST_OM_KEY", KEY)
    good = open_meteo_handler(server.queries)

    def marine_down_for_the_archive(method, query, body):  # its error (with the URL) goes into provenance
        if query["hourly"] == ["sea_level_height_msl"] and query["start_date"] == ["2025-05-20"]:
            return 500, {}, b"upstream error"
        return good(method, query, body)
    server.routes["/v1/"] = marine_down_for_the_archive
    config = load_city_config(write_live_config(tmp_path, server.url, tide="penang"))
    source = config.source.open_meteo.model_copy(update={"api_key_env": "WARISAN_TEST_OM_KEY"})
    config = config.model_copy(update={"source": config.source.model_copy(update={"open_meteo": source})})
    entries = _refresh(tmp_path, config, limiter=_limiter())
    assert server.queries and all(query["apikey"] == [KEY] for query in server.queries)
    failure = entries["weather/history.nc"]["sea_level_tide_fill"]["failed_marine_requests"][0]
    assert "apikey=***" in failure
    assert KEY not in json.dumps(entries) and KEY not in caplog.text
    written = [p for p in tmp_path.rglob("*") if p.is_file()]  # bundle, cache (sqlite), config
    assert any(p.name.startswith("open-meteo") for p in written)
    assert [p for p in written if KEY.encode() in p.read_bytes()] == []


def test_an_unset_api_key_variable_is_an_error_naming_it():
    with pytest.raises(ValueError, match="`open_meteo.api_key_env` names WARISAN_UNSET_KEY, which is not set"):
        open_meteo.api_key_from_env("WARISAN_UNSET_KEY")


def test_a_key_written_in_the_config_is_refused(tmp_path, server):
    path = write_live_config(tmp_path, server.url)
    path.write_text(path.read_text().replace("    retries:", f"    api_key_env: {KEY}\n    retries:", 1))
    with pytest.raises(ConfigError, match="api_key_env: .*name of an environment variable .* never the key itself"):
        load_city_config(path)


@pytest.mark.parametrize(("url", "customer"), [
    ("https://api.open-meteo.com/v1/forecast", "https://customer-api.open-meteo.com/v1/forecast"),
    ("https://archive-api.open-meteo.com/v1/archive", "https://customer-archive-api.open-meteo.com/v1/archive"),
    ("https://marine-api.open-meteo.com/v1/marine", "https://customer-marine-api.open-meteo.com/v1/marine"),
    ("http://127.0.0.1:8080/v1/marine", "http://127.0.0.1:8080/v1/marine"),  # a mirror or a test server
])
def test_a_key_switches_open_meteos_hosts_to_the_customer_endpoints(url, customer):
    assert open_meteo.customer_url(url) == customer


@pytest.mark.parametrize("tail", ["&format=flatbuffers", " (Caused by", "'", ""])
def test_mask_key_hides_the_key_in_a_url(tail):
    text = f"Max retries exceeded with url: /v1/marine?latitude=5.4&apikey={KEY}{tail}"
    assert open_meteo.mask_key(text) == f"Max retries exceeded with url: /v1/marine?latitude=5.4&apikey=***{tail}"


def test_the_archive_is_asked_for_its_model_by_name_and_each_model_is_credited(tmp_path, config, server):
    entries = _refresh(tmp_path, config)
    archive = [q for q in server.queries if q["start_date"] == ["2025-05-20"] and "sea_level_height_msl"
               not in q["hourly"][0]]
    assert [q["models"] for q in archive] == [["era5_seamless"]]
    assert "ERA5 and ERA5-Land" in entries["weather/history.nc"]["licence"]
    assert entries["weather/history.nc"]["model"] == "era5_seamless"
    assert "model era5_seamless" in _history(config).attrs["source"]


def test_the_credit_line_names_each_model_once_and_an_unknown_model_as_it_is():
    assert open_meteo.licence("era5", "ecmwf_ifs", "era5") == (
        "Weather data by Open-Meteo.com, CC BY 4.0 (ERA5 (Copernicus Climate Change Service); "
        "ECMWF IFS HRES 9 km (ECMWF)).")
    assert "(model gfs_global)" in open_meteo.licence("gfs_global")


ARCHIVED = xr.Dataset(  # previous-runs columns over 3 days x 2 points: value = 10 x previous day + hour / 100
    {f"{name}_previous_day{day}": (("time", "point"), np.repeat(
        (10 * day + np.arange(72) / 100)[:, None], 2, axis=1).astype("float32"))
     for name in open_meteo.ATMOSPHERE for day in (1, 2)},
    coords={"time": pd.date_range("2025-05-30 16:00", periods=72, freq="h")})


def test_each_lead_day_comes_from_the_runs_a_day_further_back():
    issued = as_issued(ARCHIVED, pd.Timestamp("2025-05-31 16:00"), lead_days=2)
    assert list(issued.data_vars) == list(open_meteo.ATMOSPHERE) and issued.sizes == {"time": 48, "point": 2}
    hour = np.arange(24, 72) / 100  # the issue is the archive's 24th hour
    expected = np.where(np.arange(48) < 24, 10, 20) + hour  # lead day 0 from previous_day1, lead day 1 from 2
    np.testing.assert_allclose(issued["tas"].values[:, 1], expected, rtol=1e-6)
    assert issued.time.values[0] == np.datetime64("2025-05-31T16:00")


def test_as_issued_refuses_an_archive_that_ends_before_the_last_lead():
    with pytest.raises(KeyError):
        as_issued(ARCHIVED, pd.Timestamp("2025-06-01 16:00"), lead_days=2)


def test_training_starts_with_the_first_issue_that_has_72_hours_of_history():
    days = training_issue_dates(dt.date(2025, 5, 20), ISSUE, "Asia/Kuala_Lumpur")
    assert (days[0], days[-1], len(days)) == (dt.date(2025, 5, 24), dt.date(2025, 5, 31), 8)
    assert training_issue_dates(dt.date(2025, 5, 20), dt.date(2025, 5, 23), "UTC") == []  # 3 days: not yet
    assert training_issue_dates(dt.date(2025, 5, 20), dt.date(2025, 5, 24), "UTC") == [dt.date(2025, 5, 23)]


def test_backfill_asks_only_from_the_archive_on_splits_at_gaps_and_fits_the_minutes_budget(config):
    settings = replace(weather_settings(config, live_city(config)), forecast_archive_from=dt.date(2025, 1, 10),
                       max_request_weight=100.0)  # 25 points x 10 variables: 56 days a request, 52 issue dates
    days = [dt.date(2025, 1, 1) + dt.timedelta(days=k) for k in range(120) if k != 70]
    planned = backfill_requests(settings, days, "Asia/Kuala_Lumpur", lead_days=2)
    dates = [chunk for chunk, _ in planned]
    assert [(c[0], len(c)) for c in dates] == [(dt.date(2025, 1, 10), 52), (dt.date(2025, 3, 3), 9),
                                               (dt.date(2025, 3, 13), 49)]  # 12 March missing: a new run
    assert all(open_meteo.request_weight(atmos) <= 100 for _, (atmos, _) in planned)
    atmos, sea = planned[0][1]
    assert atmos.params["models"] == "best_match" and atmos.params["start_date"] == "2025-01-09"
    assert "temperature_2m_previous_day2" in atmos.params["hourly"] and sea.params["cell_selection"] == "sea"
    assert backfill_requests(replace(settings, forecast_archive_from=None), days, "UTC", 2) == []


def test_a_column_from_another_previous_day_is_refused(tmp_path, config):
    request = open_meteo.previous_runs_request(config.source.open_meteo.previous_runs_url, np.array([5.4]),
                                               np.array([100.3]), FIRST, 48, "ecmwf_ifs", lead_days=1)
    query = {k: [",".join(map(str, v)) if isinstance(v, list) else str(v)] for k, v in request.params.items()}
    payload = open_meteo_payload({**query, "hourly": [query["hourly"][0].replace("previous_day1", "previous_day2")]})
    with pytest.raises(open_meteo.WeatherResponseError, match="of previous day 2, expected .* of previous day 1"):
        open_meteo.decode([WeatherApiResponse.GetRootAs(payload, 4)], request)


def _steady_history(days: int) -> xr.Dataset:
    """`days` of hourly history on 2 x 2 points, every variable steady (tas 27 degC) except the tide."""
    times = pd.date_range("2025-01-01", periods=24 * days, freq="h")
    steady = {"pr": 0.5, "tas": 27.0, "hurs": 80.0, "sfcWind": 3.0, "rsds": 200.0}
    data = {name: (("time", "y", "x"), np.full((times.size, 2, 2), value, "float32")) for name, value in steady.items()}
    data["zos"] = (("time", "y", "x"), np.broadcast_to(np.cos(np.arange(times.size) / 2)[:, None, None],
                                                       (times.size, 2, 2)).astype("float32"))
    return xr.Dataset(data, coords={"time": times, "y": [5.5, 5.4], "x": [100.2, 100.3]}).rio.write_crs("EPSG:4326")


def test_stand_in_forecasts_err_more_at_longer_leads_and_only_where_the_history_reaches():
    history = _steady_history(200)
    days = [dt.date(2025, 1, 2) + dt.timedelta(days=k) for k in range(200)]
    stand_ins = history_forecasts(history, days, "UTC", 2, seed=1)
    assert min(stand_ins) == dt.date(2025, 1, 2) and max(stand_ins) == dt.date(2025, 7, 18)  # 2 days before the end
    error = np.stack([f["tas"].values[:, 0, 0] - 27.0 for f in stand_ins.values()])  # (issue, lead hour)
    assert error[:, 24:].std() > error[:, :24].std() > 0.1
    first = stand_ins[dt.date(2025, 1, 2)]
    assert first.time.values[0] == np.datetime64("2025-01-02T00:00") and first["tas"].attrs["units"] == "degC"
    again = history_forecasts(history, days, "UTC", 2, seed=1)
    xr.testing.assert_identical(again[dt.date(2025, 3, 1)], stand_ins[dt.date(2025, 3, 1)])


def test_a_first_run_with_archived_forecasts_stays_within_the_weighted_limits(tmp_path, server):
    clock, sent = FakeClock(), []
    server.routes["/v1/"] = weighted_limits(open_meteo_handler(), clock, 60, 200, 1000, sent)
    config = load_city_config(write_live_config(tmp_path, server.url, archive_from="2025-05-26"))
    source = config.source.open_meteo.model_copy(update={"calls_per_minute": 60, "calls_per_hour": 200,
                                                         "calls_per_day": 1000})
    limiter = open_meteo.RateLimiter(call_budget(source), 600, clock=clock, sleep=clock.sleep)
    _refresh(tmp_path, config, limiter=limiter)  # 78 calls as before, and the archive's 25 + 1
    assert [status for _, _, status in sent] == [200] * 8
    assert sum(w for _, w, _ in sent) == pytest.approx(104) and clock() >= FakeClock().now + 30  # 2 minutes
    assert len(list((config.bundle_dir / "weather/forecasts").glob("*.nc"))) == 7  # 26 May .. 1 June
