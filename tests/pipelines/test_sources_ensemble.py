"""The issued forecast from Open-Meteo's ensemble API, against a local server speaking FlatBuffers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pipelines.bundle.validate import validate_bundle
from pipelines.config import load_city_config
from pipelines.sources import open_meteo
from pipelines.sources.feed_faults import forecast_faults
from pipelines.sources.staging import live_city, planned_requests, weather_settings
from pipelines.sources.weather import forecast_requests
from tests.pipelines.bundle_factory import FORECAST_DATES, ensemble_forecast
from tests.pipelines.cf_checker import cf_findings, unexpected
from tests.pipelines.recorded.fake_apis import ENSEMBLE_WARMING, open_meteo_handler, write_live_config
from tests.pipelines.recorded.servers import LocalServer
from tests.pipelines.test_sources_open_meteo import FIRST, ISSUE, NOW, POINTS, _client, _limiter, _refresh

MEMBERS = 5
FORECAST = f"weather/forecasts/{ISSUE}.nc"


@pytest.fixture
def server():
    with LocalServer() as running:
        running.queries, running.ensemble_queries = [], []
        running.routes["/v1/ensemble"] = open_meteo_handler(running.ensemble_queries, members=tuple(range(MEMBERS)))
        running.routes["/v1/"] = open_meteo_handler(running.queries)
        yield running


@pytest.fixture
def config(tmp_path, server):
    return load_city_config(write_live_config(tmp_path, server.url, ensemble_members=MEMBERS))


def _ensemble_request(server, members: int = MEMBERS, hours: int = 24) -> open_meteo.Request:
    return open_meteo.atmosphere_request(f"{server.url}/v1/ensemble", np.array([5.4]), np.array([100.3]), FIRST,
                                         hours, "ecmwf_ifs025_ensemble", members=members)


def test_the_issued_forecast_is_a_member_file_of_the_ensemble_credited_by_name(tmp_path, config, server):
    entries = _refresh(tmp_path, config)
    with xr.open_dataset(config.bundle_dir / FORECAST, decode_timedelta=True) as forecast:
        forecast = forecast.load()
    assert forecast["tas"].dims == ("member", "lead_time", "y", "x")
    assert forecast.member.dtype == np.int32 and forecast.member.values.tolist() == list(range(MEMBERS))
    warming = (forecast["tas"] - forecast["tas"].sel(member=0)).mean(["lead_time", "y", "x"])
    np.testing.assert_allclose(warming, ENSEMBLE_WARMING * np.arange(MEMBERS), atol=1e-4)
    np.testing.assert_array_equal(forecast["zos"].sel(member=3), forecast["zos"].sel(member=0))  # one sea level
    assert forecast.attrs["source"] == f"Open-Meteo ensemble API, model ecmwf_ifs025_ensemble, {MEMBERS} members"
    entry = entries["weather/forecasts/"]
    assert (entry["url"], entry["model"], entry["members"]) == (
        f"{server.url}/v1/ensemble", "ecmwf_ifs025_ensemble", MEMBERS)
    assert "ECMWF IFS ENS 0.25 degree open data (ECMWF)" in entry["licence"]
    assert [q["models"] for q in server.ensemble_queries] == [["ecmwf_ifs025_ensemble"]]
    assert not any("models" in q and q["end_date"] == ["2025-06-02"] for q in server.queries)  # nor forecast API
    problems = validate_bundle(config.bundle_dir, timezone=config.city.timezone, lead_days=config.forecast_days)
    assert [p for p in problems if p.file.startswith("weather/")] == []  # the rest is other sources'


def test_the_ensemble_file_has_no_cf_finding(tmp_path, config):
    _refresh(tmp_path, config)
    assert unexpected(cf_findings(config.bundle_dir / FORECAST), allowed={}) == {}


def test_an_ensemble_whose_control_repeats_the_previous_one_is_served_again_whatever_its_members():
    previous = ensemble_forecast(FORECAST_DATES[0], members=(0, 1, 2))
    again = ensemble_forecast(FORECAST_DATES[0], members=(0, 1, 2, 3, 4))
    fresh = again.assign(tas=again.tas + 0.1)  # every member, the control too, another run

    def kinds(forecast):
        issue = pd.Timestamp(forecast.forecast_reference_time.values)
        return [f.kind for f in forecast_faults(forecast, previous, source="open-meteo", file=FORECAST,
                                                issue_time=issue, run_time=issue, first_hour_sent=issue,
                                                max_age_h=30)]
    assert kinds(again) == ["same as before"]
    assert kinds(fresh) == []


def test_a_rerun_within_the_hour_takes_the_ensemble_from_the_cache(tmp_path, config, server):
    _refresh(tmp_path, config)
    _refresh(tmp_path, config)
    assert len(server.ensemble_queries) == 1


def test_the_ensemble_decodes_by_member_id_the_control_first(tmp_path, config, server):
    ensemble = open_meteo.fetch(_client(tmp_path, config), _ensemble_request(server), _limiter(), 2)
    single = open_meteo.fetch(_client(tmp_path, config), open_meteo.atmosphere_request(
        f"{server.url}/v1/forecast", np.array([5.4]), np.array([100.3]), FIRST, 24, "ecmwf_ifs025"), _limiter(), 2)
    assert ensemble["tas"].dims == ("member", "time", "point")
    xr.testing.assert_identical(ensemble.sel(member=0, drop=True)[["pr", "hurs"]], single[["pr", "hurs"]])
    np.testing.assert_allclose(ensemble["tas"].sel(member=4) - ensemble["tas"].sel(member=0), 4 * ENSEMBLE_WARMING,
                               atol=1e-4)


@pytest.mark.parametrize(("sent", "match"), [
    (range(MEMBERS - 1), f"location 0: 20 variables, expected {5 * MEMBERS}"),
    (range(1, MEMBERS + 1), r"variables by member \{1: 5, 2: 5, 3: 5, 4: 5, 5: 5\}, expected 5 for each of 0\.\.4"),
])
def test_an_ensemble_without_a_member_or_its_control_is_refused(tmp_path, config, server, sent, match):
    server.routes["/v1/ensemble"] = open_meteo_handler(members=tuple(sent))
    with pytest.raises(open_meteo.WeatherResponseError, match=match):
        open_meteo.fetch(_client(tmp_path, config), _ensemble_request(server), _limiter(), 2)


def test_an_ensemble_request_weighs_every_member_and_is_sent_in_runs_of_points_that_fit_the_minute():
    request = open_meteo.atmosphere_request("http://x/v1/ensemble", *POINTS, FIRST, 72, "ecmwf_ifs025_ensemble",
                                            members=51)
    assert open_meteo.request_weight(request) == pytest.approx(25 * 5 * 51 / 10)  # 637.5: more than 540
    parts = open_meteo.point_chunks(request, 540)
    assert [len(p.params["latitude"]) for p in parts] == [21, 4]  # 21 x 25.5 = 535.5
    assert [lat for p in parts for lat in p.params["latitude"]] == request.params["latitude"]
    single = open_meteo.atmosphere_request("http://x/v1/forecast", *POINTS, FIRST, 72)
    assert open_meteo.point_chunks(single, 540) == [single]  # 25 calls: whole


def test_an_ensemble_heavier_than_the_minute_arrives_whole_from_its_runs_of_points(tmp_path, config, server):
    settings = weather_settings(config, live_city(config))
    atmosphere, _ = forecast_requests(settings, FIRST, 2)
    budget = open_meteo.CallBudget(2 * 2.5, 1000, 1000)  # 5 variables x 5 members: 2.5 calls a point
    ensemble = open_meteo.fetch(_client(tmp_path, config), atmosphere, _limiter(budget), 2)
    assert len(server.ensemble_queries) == 13  # 25 points, two a request
    assert ensemble.sizes == {"member": MEMBERS, "time": 48, "point": 25}


def test_the_dry_run_lists_the_ensemble_request_its_weight_and_its_model(tmp_path, server):
    config = load_city_config(write_live_config(tmp_path, server.url, ensemble_members=51))
    lines = planned_requests(config, ISSUE, NOW)
    ensemble = [line for line in lines if line.startswith(f"GET {server.url}/v1/ensemble?")]
    assert [line.rsplit("  ", 1)[1] for line in ensemble] == ["(weight 535.5 calls)", "(weight 102.0 calls)"]
    assert all("models=ecmwf_ifs025_ensemble" in line for line in ensemble)
    assert any(line.endswith("leads 0..47 h; ensemble ecmwf_ifs025_ensemble, 51 members (member 0 the control), "
                             "each counted in the weight") for line in lines)
    assert f"GET {server.url}/data/ecmwf_ifs025_ensemble/static/meta.json (model run time)" in lines
    assert not any("/v1/forecast?" in line and "end_date=2025-06-02" in line for line in lines)
    # history 2 x (25 + 1), the ensemble's two runs of points and the forecast's sea level: each run waits a minute
    assert any(line.startswith("# open-meteo plan: 7 requests weighing 690.5 calls") and
               line.endswith("take at least 2 min 0 s (uncached)") for line in lines)
