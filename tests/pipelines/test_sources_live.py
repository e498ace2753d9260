"""The live ingest end to end against local servers: a valid bundle, outages, user files, dry run."""

import datetime as dt
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pipelines import cli
from pipelines.bundle.readers import forecast_dates
from pipelines.bundle.validate import validate_bundle
from pipelines.config import load_city_config
from pipelines.data import packaged_data
from pipelines.feature_cache.drivers import drivers_for_dates
from pipelines.sources.live import ingest_live
from pipelines.sources.staging import planned_requests
from pipelines.tide import astronomical_tide, read_tide_constants
from tests.pipelines.cf_checker import cf_findings, unexpected
from tests.pipelines.recorded.fake_apis import (
    open_meteo_handler,
    open_meteo_payload,
    overpass_handler,
    write_live_config,
)
from tests.pipelines.recorded.servers import LocalServer
from tests.pipelines.test_sources_copernicus_dem import TILE, write_tile

ISSUE = dt.date(2025, 6, 1)
NOW = pd.Timestamp("2025-06-01 01:00")


@pytest.fixture
def world(tmp_path):
    write_tile(tmp_path / "tiles" / "dem")
    (tmp_path / "files").mkdir()
    with LocalServer(files=tmp_path / "tiles") as server:
        server.routes["/v1/"] = open_meteo_handler()
        server.routes["/api/"] = overpass_handler
        yield server, load_city_config(write_live_config(tmp_path, server.url)), tmp_path


def _snapshot(bundle):
    return {p.relative_to(bundle).as_posix(): p.read_bytes() for p in sorted(bundle.rglob("*"))
            if p.is_file() and p.name != "provenance.json"}


def _problems(config):
    return validate_bundle(config.bundle_dir, city_crs=config.grid.crs, city_bounds=config.grid.bounds,
                           timezone=config.city.timezone, lead_days=config.forecast_days)


def test_live_ingest_makes_a_valid_bundle(world, prefect_api):
    _server, config, _ = world
    record = ingest_live(config, ISSUE, NOW)
    assert _problems(config) == []
    assert record["stale_sources"] == {}
    dem = record["files"]["static/dem.tif"]
    assert dem["tiles"] == [f"{TILE}.tif"]
    assert (dem["surface_datum"], dem["datum"], dem["msl_above_egm2008_m"]) == ("EGM2008 geoid", "test gauge MSL", 0.5)
    assert "ODbL" in " ".join(record["attribution"])


def test_live_weather_files_have_no_cf_finding(world, prefect_api):
    _server, config, _ = world
    ingest_live(config, ISSUE, NOW)
    weather = config.bundle_dir / "weather"
    for path in (weather / "history.nc", max((weather / "forecasts").glob("*.nc"))):
        assert unexpected(cf_findings(path), allowed={}) == {}, path.name


def test_a_live_bundle_with_tide_filled_sea_level_is_valid_and_says_so(world, prefect_api):
    server, _config, root = world
    marine_from = int(pd.Timestamp("2025-05-25").timestamp()) // 3600
    server.routes["/v1/"] = open_meteo_handler(
        sea_level=lambda h: np.where(h < marine_from, np.nan, 0.9 * np.cos(2 * np.pi * h / 12.42)))
    config = load_city_config(write_live_config(root, server.url, tide="penang"))
    record = ingest_live(config, ISSUE, NOW)
    assert _problems(config) == []
    assert record["stale_sources"] == {}
    fill = record["files"]["weather/history.nc"]["sea_level_tide_fill"]
    assert (fill["hours"], fill["first_hour"], fill["gauge"]) == (120, "2025-05-20 00:00", "Penang")
    marine = (pd.Timestamp("2025-05-31 16:00") - pd.Timestamp("2025-05-25")) // pd.Timedelta("1h")  # under a month
    assert record["files"]["weather/history.nc"]["sea_point_tide_check"] == {"checked": False, "hours": marine}


@pytest.mark.parametrize(("scale", "agrees"), [(1.0, True), (0.5, False)])
def test_the_sea_points_tide_is_checked_against_the_gauges_m2(world, prefect_api, scale, agrees):
    server, _config, root = world
    penang = read_tide_constants(packaged_data("penang_tide_ticon4.json"))
    server.routes["/v1/"] = open_meteo_handler(
        sea_level=lambda h: scale * astronomical_tide(pd.to_datetime(h * 3600, unit="s"), penang).values)
    config = load_city_config(write_live_config(root, server.url, start="2025-04-15", tide="penang"))
    record = ingest_live(config, ISSUE, NOW)
    check = record["files"]["weather/history.nc"]["sea_point_tide_check"]
    issue_utc = pd.Timestamp("2025-05-31 16:00")  # local midnight of ISSUE: every history hour is marine
    assert check["checked"] is True and check["hours"] == (issue_utc - pd.Timestamp("2025-04-15")) // pd.Timedelta("1h")
    assert check["within_tolerance"] is agrees
    assert check["amplitude_ratio"] == pytest.approx(scale, abs=0.02)


@pytest.mark.parametrize("failure", ["http-500", "truncated"])
def test_a_failing_source_leaves_the_bundle_byte_identical_and_marked_stale(world, prefect_api, failure):
    server, config, _ = world
    first = ingest_live(config, ISSUE, NOW)
    before = _snapshot(config.bundle_dir)
    good = open_meteo_handler()

    def broken(method, query, body):
        if failure == "http-500":
            return 500, {}, b"upstream error"
        status, headers, payload = good(method, query, body)
        return status, headers, payload[: len(payload) // 3]
    server.routes["/v1/"] = broken
    server.routes["/api/"] = lambda method, query, body: (500, {}, b"overpass down")
    source = config.source  # the next day (new requests: the cache cannot answer), tiles gone
    dem = source.copernicus_dem.model_copy(update={"base_url": f"{server.url}/gone"})
    config = config.model_copy(update={"source": source.model_copy(update={"copernicus_dem": dem})})
    record = ingest_live(config, ISSUE + dt.timedelta(days=1), NOW + pd.Timedelta(days=1))
    assert _snapshot(config.bundle_dir) == before
    assert set(record["stale_sources"]) == {"open-meteo", "osm", "copernicus-dem"}
    entry = record["files"]["weather/history.nc"]
    assert entry["stale"] is True and entry["last_success"] == first["files"]["weather/history.nc"]["retrieved"]
    assert _problems(config) == []
    assert not [p for p in config.bundle_dir.iterdir() if p.name.startswith(".staging")]


def test_user_files_override_fetched_layers(world, prefect_api):
    server, config, root = world
    ingest_live(config, ISSUE, NOW)
    assert any(line.startswith("GET /dem/") for line in server.log)
    requests_before = len(server.log)
    dem = config.bundle_dir / "static/dem.tif"
    (root / "files/static").mkdir(parents=True)
    shutil.copyfile(dem, root / "files/static/dem.tif")  # a "surveyed" DEM: same grid, another file
    (root / "files/obs").mkdir()
    (root / "files/obs/flood_events.csv").write_text("date,lon,lat,depth_cm,source\n2025-05-25,100.335,5.415,20,"
                                                       "city council\n")
    (root / "files/notes.txt").write_text("ignored")
    record = ingest_live(config, ISSUE, NOW)
    assert record["files"]["static/dem.tif"]["source"] == "files"
    assert not any(line.startswith("GET /dem/") for line in server.log[requests_before:])  # GLO-30 not fetched
    assert any(line.startswith(f"# terrain: the user's {root / 'files/static/dem.tif'}")
               for line in planned_requests(config, ISSUE, NOW))
    assert record["files"]["obs/flood_events.csv"]["source"] == "files"
    assert "city council" in (config.bundle_dir / "obs/flood_events.csv").read_text()
    assert _problems(config) == []


def _stats(bundle):
    """Every file, provenance.json included: path -> (bytes, mtime, inode); a rewrite changes the inode."""
    return {p.relative_to(bundle).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino)
            for p in sorted(bundle.rglob("*")) if p.is_file()}


def _credit_to_the_user(bundle, files):
    """Provenance as if the user's bundle brought `files` (all: every entry), credited to a survey office."""
    record = json.loads((bundle / "provenance.json").read_text())
    for name in files or record["files"]:
        record["files"][name]["source"] = "city survey office"
    record["attribution"] = ["Surveys: City survey office, CC BY 4.0."]
    (bundle / "provenance.json").write_text(json.dumps(record, indent=2))
    return record


def test_ingesting_a_bundle_the_user_brought_requests_nothing_and_rewrites_no_byte(world, prefect_api):
    server, config, root = world
    ingest_live(config, ISSUE, NOW)
    _credit_to_the_user(config.bundle_dir, None)
    before = _stats(config.bundle_dir)
    server.log.clear()
    assert cli.main(["ingest", "--config", str(root / "live.yaml"), "--date", "2025-06-02"]) == 0
    assert server.log == []
    assert _stats(config.bundle_dir) == before


def test_a_live_ingest_keeps_the_files_the_bundle_brought_and_their_credit(world, prefect_api):
    server, config, root = world
    ingest_live(config, ISSUE, NOW)
    dem, assets = "static/dem.tif", "static/heritage_assets.gpkg"
    old = _credit_to_the_user(config.bundle_dir, [dem, assets])
    (root / "files/static").mkdir(parents=True)
    shutil.copyfile(config.bundle_dir / dem, root / "files/static/dem.tif")  # a user file never replaces them
    kept = {name: stats for name, stats in _stats(config.bundle_dir).items() if name in (dem, assets)}
    server.log.clear()
    record = ingest_live(config, ISSUE + dt.timedelta(days=1), NOW + pd.Timedelta(days=1))
    assert not [line for line in server.log if "/dem/" in line]
    assert {name: stats for name, stats in _stats(config.bundle_dir).items() if name in kept} == kept
    assert {name: record["files"][name] for name in kept} == {name: old["files"][name] for name in kept}
    assert record["files"]["static/buildings.gpkg"]["source"] == "osm"
    assert record["attribution"][0] == old["attribution"][0] and "ODbL" in " ".join(record["attribution"])
    assert record["stale_sources"] == {}
    assert _problems(config) == []


def test_a_user_file_breaking_the_contract_is_refused(world, prefect_api):
    _server, config, root = world
    (root / "files/obs").mkdir(parents=True)
    (root / "files/obs/temperature.csv").write_text("station_id,lon,lat,date,tasmax\nS1,100.33,5.41,2025-05-25,99\n")
    record = ingest_live(config, ISSUE, NOW)
    assert "files" in record["stale_sources"]
    assert "tasmax" in record["stale_sources"]["files"]["error"]


def test_dry_run_prints_every_request_and_sends_none(world, capsys):
    server, _config, root = world
    assert cli.main(["ingest", "--config", str(root / "live.yaml"), "--dry-run", "--date", "2025-06-01"]) == 0
    out = capsys.readouterr().out
    assert server.log == []
    assert f"GET {server.url}/v1/archive?latitude=" in out and "start_date=2025-05-20" in out
    assert "wind_speed_unit=ms" in out and f"GET {server.url}/v1/marine?" in out
    assert f"{server.url}/dem/{TILE}/{TILE}.tif" in out
    assert f"POST {server.url}/api/interpreter (buildings" in out
    assert ("# datums: GLO-30 heights above the EGM2008 geoid; dem.tif above test gauge MSL = GLO-30 - "
            "msl_above_egm2008_m 0.5 m") in out
    assert "# sea level: the marine API's cell nearest lon 100.35, lat 5.42 that its model counts as sea" in out
    json.dumps(out)  # plain text


def test_dry_run_shows_each_requests_weight_the_total_and_the_least_time(world):
    server, config, _ = world
    lines = planned_requests(config, ISSUE, NOW)
    weighed = [line for line in lines if line.startswith(f"GET {server.url}/v1/")]
    # history (archive, recent) and forecast: 25 points x 1 call (5 variables, under 4 weeks), 1 for sea level
    assert len(weighed) == 6 and all(line.endswith(("(weight 25.0 calls)", "(weight 1.0 calls)")) for line in weighed)
    assert ("# open-meteo plan: 6 requests weighing 78.0 calls in all; budgets 540 a minute, 4500 an hour, "
            "9000 a UTC day (calls_per_* less budget_margin 0.1) take at least 0 min 0 s (uncached)") in lines


def test_dry_run_of_two_years_shows_the_minute_windows_they_wait_for(world):
    _server, config, _ = world
    config = config.model_copy(update={"source": config.source.model_copy(update={"start": dt.date(2023, 5, 20)})})
    lines = planned_requests(config, ISSUE, NOW)
    assert sum(line.endswith("(weight 327.7 calls)") for line in lines) == 2  # 25 points x 5 variables x 367 days
    # 2 x (327.7 + 2.6) + a 9-day chunk (25 + 1), recent hours and forecast (2 x 26): a minute per year's pair
    assert any(line.startswith("# open-meteo plan: 10 requests weighing 738.6 calls") and
               line.endswith("take at least 1 min 1 s (uncached)") for line in lines)  # 60 s + 7 x 0.1 s spacing


def _forecast_query(query):
    """Whether `query` asks for the forecast of ISSUE's next day (its UTC days reach 3 June), not recent hours."""
    return "models" in query and query["end_date"][0] == "2025-06-03"


_EDITS = {  # fault -> how the next day's forecast answer is changed (api name, values -> values)
    "no-hours": lambda name, values: values[:0],
    "empty": lambda name, values: np.full_like(values, np.nan) if name == "temperature_2m" else values,
    "frozen": lambda name, values: np.full_like(values, 27.0) if name == "temperature_2m" else values,
    "dry": lambda name, values: values * 0 if name == "precipitation" else values,
}


def _lying(fault, good):
    """An Open-Meteo stand-in that answers the next day's forecast query as a lying feed does."""
    def handle(method, query, body):
        if not _forecast_query(query) or fault == "old-run":
            return good(method, query, body)
        if fault == "same-as-yesterday":  # the run of the day before, served again
            payload = open_meteo_payload(query, run_day=int(pd.Timestamp("2025-05-31").timestamp()) // 86400)
        elif fault == "old-answer":  # an answer that begins three days before the day asked for
            payload = open_meteo_payload({**query, "start_date": ["2025-05-29"]})
        else:
            payload = open_meteo_payload(query, edit=_EDITS[fault])
        return 200, {}, payload
    return handle


@pytest.mark.parametrize(("fault", "reason"), [
    ("no-hours", "location 0: empty: no hourly values"),
    ("empty", "weather/forecasts/2025-06-02.nc: tas: empty: all 48 lead hours missing"),
    ("frozen", "weather/forecasts/2025-06-02.nc: tas: frozen: 27 degC through all 48 lead hours at 25 of 25 points"),
    ("same-as-yesterday", "weather/forecasts/2025-06-02.nc: pr, tas, hurs, sfcWind, rsds: same as before"),
    ("old-answer", ("weather/forecasts/2025-06-02.nc: forecast_reference_time: old: the first hour sent, "
                    "2025-05-29 00:00:00, is 88 h before the issue time 2025-06-01 16:00:00 (more than 30 h)")),
    ("old-run", ("weather/forecasts/2025-06-02.nc: forecast_reference_time: old: the model run, 2025-05-30 00:00:00, "
                 "is 64 h before")),
])
def test_a_lying_feed_leaves_the_weather_byte_identical_and_marked_stale_with_its_fault(world, prefect_api,
                                                                                         fault, reason):
    server, config, _ = world
    if fault == "old-run":  # a named model's last run, from its metadata: three days before
        model = config.source.open_meteo.model_copy(update={"forecast_model": "ecmwf_ifs025"})
        config = config.model_copy(update={"source": config.source.model_copy(update={"open_meteo": model})})
    first = ingest_live(config, ISSUE, NOW)
    weather = {name: data for name, data in _snapshot(config.bundle_dir).items() if name.startswith("weather/")}
    server.routes["/v1/"] = _lying(fault, open_meteo_handler())
    server.routes["/data/ecmwf_ifs025/static/meta.json"] = lambda m, q, b: (
        200, {}, json.dumps({"last_run_initialisation_time": int(pd.Timestamp("2025-05-30").timestamp())}).encode())
    record = ingest_live(config, ISSUE + dt.timedelta(days=1), NOW + pd.Timedelta(days=1))
    assert {name: data for name, data in _snapshot(config.bundle_dir).items() if name.startswith("weather/")} == weather
    assert reason in record["stale_sources"]["open-meteo"]["error"]
    entry = record["files"]["weather/forecasts/"]
    assert entry["stale"] is True and entry["last_success"] == first["files"]["weather/forecasts/"]["retrieved"]
    assert _problems(config) == []


def test_the_next_days_forecast_and_a_dry_day_raise_no_false_alarm(world, prefect_api):
    server, config, _ = world
    ingest_live(config, ISSUE, NOW)
    server.routes["/v1/"] = _lying("dry", open_meteo_handler())
    record = ingest_live(config, ISSUE + dt.timedelta(days=1), NOW + pd.Timedelta(days=1))
    assert record["stale_sources"] == {}
    with xr.open_dataset(config.bundle_dir / "weather/forecasts/2025-06-02.nc") as forecast:
        assert float(forecast["pr"].max()) == 0.0


@pytest.fixture
def archived_world(world):
    server, _config, root = world
    return server, load_city_config(write_live_config(root, server.url, archive_from="2025-05-26", stand_ins=True)), root


def test_a_first_ingest_backfills_a_forecast_for_each_training_day_the_archive_holds(archived_world, prefect_api):
    server, config, root = archived_world
    config = load_city_config(write_live_config(root, server.url, archive_from="2025-05-26", stand_ins=False))
    record = ingest_live(config, ISSUE, NOW)
    assert _problems(config) == []
    # training days 24-31 May (72 h of history from 20 May); the archive holds them from 26 May
    assert forecast_dates(config.bundle_dir) == [dt.date(2025, 5, 26) + dt.timedelta(days=k) for k in range(7)]
    entry = record["files"]["weather/forecasts/"]
    assert entry["archived"]["files"] == [f"2025-05-{day}.nc" for day in range(26, 32)]
    assert (entry["training_days_without_forecast"], entry["first_without_forecast"]) == (2, "2025-05-24")
    assert set(entry["files"]) == {f"{d}.nc" for d in forecast_dates(config.bundle_dir)}
    with xr.open_dataset(config.bundle_dir / "weather/forecasts/2025-05-28.nc", decode_timedelta=True) as forecast:
        hours = (forecast.time.values.astype("datetime64[h]").astype(int) % 24)
        lead_day = np.arange(48) // 24  # the stand-in's runs d days back are d degC warmer
        expected = 27 + 3 * np.sin(2 * np.pi * hours / 24) + lead_day + 1
        np.testing.assert_allclose(forecast["tas"].values[:, 0, 0], expected, atol=1e-4)
        assert "previous-runs" in forecast.attrs["source"]


def test_the_next_days_ingest_asks_the_archive_for_nothing(archived_world, prefect_api):
    server, config, _ = archived_world
    ingest_live(config, ISSUE, NOW)
    server.log.clear()
    ingest_live(config, ISSUE + dt.timedelta(days=1), NOW + pd.Timedelta(days=1))
    assert server.log and not [line for line in server.log if "previous-runs" in line]
    assert forecast_dates(config.bundle_dir)[-2:] == [ISSUE, ISSUE + dt.timedelta(days=1)]


def test_an_archived_day_with_a_feed_fault_is_left_out_and_named(archived_world, prefect_api):
    server, config, _ = archived_world
    good = open_meteo_handler()
    gap = int(pd.Timestamp("2025-05-29 03:00").timestamp()) // 3600  # inside the forecasts of 28 and 29 May

    def hole(method, query, body):
        if "previous_day1" not in query["hourly"][0]:
            return good(method, query, body)
        start = int(pd.Timestamp(query["start_date"][0]).timestamp()) // 3600
        return 200, {}, open_meteo_payload(query, edit=lambda name, values: np.where(
            (np.arange(values.size) + start == gap) & name.startswith("temperature_2m"), np.nan, values))
    server.routes["/v1/"] = hole
    record = ingest_live(config, ISSUE, NOW)
    left_out = record["files"]["weather/forecasts/"]["archived"]["left_out"]
    assert set(left_out) == {"weather/forecasts/2025-05-28.nc", "weather/forecasts/2025-05-29.nc"}
    assert "tas: incomplete" in left_out["weather/forecasts/2025-05-28.nc"]
    assert dt.date(2025, 5, 28) not in forecast_dates(config.bundle_dir) and record["stale_sources"] == {}


def test_dry_run_lists_the_archived_forecast_requests_of_the_training_days(archived_world):
    server, config, _ = archived_world
    lines = planned_requests(config, ISSUE, NOW)
    archived = [line for line in lines if line.startswith(f"GET {server.url}/v1/previous-runs?")]
    assert len(archived) == 1 and "start_date=2025-05-25" in archived[0] and "end_date=2025-06-01" in archived[0]
    assert "temperature_2m_previous_day2" in archived[0] and archived[0].endswith("(weight 25.0 calls)")
    assert ("# open-meteo archived forecasts (best_match, previous-runs API) for 6 of the 8 training days without "
            "one, years 2025-2025, in 1 request pairs; 2 days before forecast_archive_from (2025-05-26) have no "
            "archived forecast: stand-ins from the history (history_forecasts)") in lines
    assert server.log == []


def test_training_days_before_the_archive_get_stand_ins_from_the_history_marked_as_such(archived_world, prefect_api):
    _server, config, _ = archived_world
    record = ingest_live(config, ISSUE, NOW)
    assert _problems(config) == []
    assert forecast_dates(config.bundle_dir) == [dt.date(2025, 5, 24) + dt.timedelta(days=k) for k in range(9)]
    entry = record["files"]["weather/forecasts/"]
    assert entry["stand_ins"]["files"] == ["2025-05-24.nc", "2025-05-25.nc"]
    assert entry["stand_ins"]["error_model"] == "pipelines.demo_world.forecasts.forecast_values"
    assert entry["training_days_without_forecast"] == 0 and len(entry["archived"]["files"]) == 6
    with xr.open_dataset(config.bundle_dir / "weather/forecasts/2025-05-24.nc") as forecast:
        assert forecast.attrs["source"].startswith("stand-in, not a forecast: weather/history.nc")
    with xr.open_dataset(config.bundle_dir / "weather/history.nc", decode_coords="all") as history:
        drivers = drivers_for_dates(config.bundle_dir, history.load(), forecast_dates(config.bundle_dir),
                                    lead_days=config.forecast_days, timezone=config.city.timezone, climate_before=None)
    assert drivers.sizes["issue_date"] == 9  # every training day has its 72 h of history: drivers for all


def test_a_failing_archive_leaves_its_days_out_but_never_the_days_forecast(archived_world, prefect_api):
    server, config, _ = archived_world
    good = open_meteo_handler()
    server.routes["/v1/"] = lambda method, query, body: (
        (500, {}, b"upstream error") if "previous_day1" in query["hourly"][0] else good(method, query, body))
    record = ingest_live(config, ISSUE, NOW)
    entry = record["files"]["weather/forecasts/"]
    assert record["stale_sources"] == {} and entry["archived"]["files"] == []
    assert len(entry["archived"]["failed_requests"]) == 1 and "500" in entry["archived"]["failed_requests"][0]
    assert forecast_dates(config.bundle_dir) == [dt.date(2025, 5, 24), dt.date(2025, 5, 25), ISSUE]  # stand-ins, today
