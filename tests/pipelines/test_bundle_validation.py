"""validate_bundle lists every way a bundle breaks docs/data-contract.md, naming file and field."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from shapely.geometry import Polygon

from pipelines.bundle.plausible import compass
from pipelines.bundle.readers import (
    forecast_dates,
    read_dem,
    read_flood_events,
    read_flood_extents,
    read_history,
    read_raster,
    read_temperature_obs,
    read_vector,
)
from pipelines.bundle.validate import (
    BundleError,
    Problem,
    require_city_bundle,
    require_valid_bundle,
    unchecked,
    validate_bundle,
    warnings_markdown,
)
from pipelines.cli import main
from tests.pipelines.bundle_factory import (
    CITY_BOUNDS,
    FORECAST_DATES,
    TIMEZONE,
    VALIDATE_KWARGS,
    flood_extents,
    forecast,
    history,
    write_bundle,
    write_dem,
    write_flood_extents,
    write_provenance,
    write_vector,
)

HISTORY = "weather/history.nc"
NEWEST = f"weather/forecasts/{FORECAST_DATES[-1]}.nc"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return write_bundle(tmp_path_factory.mktemp("template") / "bundle")


@pytest.fixture
def bundle(template, tmp_path):
    return shutil.copytree(template, tmp_path / "bundle")


def problems_of(root, **kwargs) -> list[Problem]:
    return validate_bundle(root, **{**VALIDATE_KWARGS, **kwargs})


def assert_problem(problems: list[Problem], file: str, field: str, text: str) -> Problem:
    """The one problem about `file` and `field`, whose message contains `text`."""
    found = [p for p in problems if p.file == file and p.field == field and text in p.message]
    assert found, f"no problem {file}: {field}: ...{text}... in:\n" + "\n".join(map(str, problems))
    return found[0]


def rewrite_history(root, change) -> None:
    ds = history()
    change(ds)
    (root / HISTORY).unlink()
    ds.to_netcdf(root / HISTORY)
    write_provenance(root)


def rewrite_csv(root, file, change) -> None:
    frame = pd.read_csv(root / file, dtype=str)
    frame = change(frame)
    frame.to_csv(root / file, index=False)
    write_provenance(root)


def test_the_factory_bundle_is_valid(bundle):
    assert problems_of(bundle, check_forecasts="all") == []


def test_a_valid_bundle_passes_require_valid_bundle(bundle):
    require_valid_bundle(bundle, **VALIDATE_KWARGS)


def test_missing_dem_is_reported(bundle):
    (bundle / "static/dem.tif").unlink()
    problems = problems_of(bundle)
    assert_problem(problems, "static/dem.tif", "", "missing (required)")
    assert_problem(problems, "provenance.json", "files.static/dem.tif", "not in the bundle")


def test_truncated_history_is_a_problem_not_a_traceback(bundle):
    data = (bundle / HISTORY).read_bytes()
    (bundle / HISTORY).write_bytes(data[: len(data) // 2])
    write_provenance(bundle)
    assert_problem(problems_of(bundle), HISTORY, "", "cannot read")


def test_truncated_dem_is_a_problem_not_a_traceback(bundle):
    data = (bundle / "static/dem.tif").read_bytes()
    (bundle / "static/dem.tif").write_bytes(data[:300])
    write_provenance(bundle)
    assert_problem(problems_of(bundle), "static/dem.tif", "", "cannot read")


@pytest.mark.parametrize(
    ("name", "units", "expected"), [("pr", "kg m-2 s-1", "mm h-1"), ("tas", "K", "degC")]
)
def test_wrong_units_are_named_with_the_expected_units(bundle, name, units, expected):
    rewrite_history(bundle, lambda ds: ds[name].attrs.update(units=units))
    message = f"units are {units!r}, expected {expected!r}"
    problem = assert_problem(problems_of(bundle), HISTORY, name, message)
    assert str(problem) == f"{HISTORY}: {name}: {message}"


def test_nan_in_history_is_counted_with_its_first_time(bundle):
    def add_nan(ds):
        ds["hurs"][[5, 7], 0, 1] = np.nan

    rewrite_history(bundle, add_nan)
    assert_problem(problems_of(bundle), HISTORY, "hurs", "2 NaN values (hourly weather must be complete), "
                   "first at 2024-01-01T05:00:00")


def test_negative_rain_is_out_of_range(bundle):
    def make_negative(ds):
        ds["pr"][30, 0, 2] = -1.5

    rewrite_history(bundle, make_negative)
    assert_problem(problems_of(bundle), HISTORY, "pr", "1 values outside 0..500 (min -1.5")


def test_absurd_tasmax_in_station_records_is_out_of_range(bundle):
    def heat(frame):
        frame.loc[3, "tasmax"] = "75.2"
        return frame

    rewrite_csv(bundle, "obs/temperature.csv", heat)
    message = "1 values outside -10..60, first '75.2' at line 5"
    assert_problem(problems_of(bundle), "obs/temperature.csv", "tasmax", message)


def test_duplicated_times_are_reported(bundle):
    def duplicate(ds):
        times = ds.time.values.copy()
        times[10] = times[9]
        ds["time"] = times

    rewrite_history(bundle, duplicate)
    assert_problem(problems_of(bundle), HISTORY, "time", "1 duplicate times, first from 2024-01-01T09:00:00")


def test_a_gap_in_time_is_reported_with_the_missing_hours(bundle):
    def skip_three_hours(ds):
        later = np.arange(ds.time.size) >= 50
        ds["time"] = ds.time + np.where(later, np.timedelta64(3, "h"), np.timedelta64(0, "h"))

    rewrite_history(bundle, skip_three_hours)
    message = "1 gaps (3 missing hours), first from 2024-01-03T01:00:00 to 2024-01-03T05:00:00"
    assert_problem(problems_of(bundle), HISTORY, "time", message)


def test_time_with_a_utc_offset_is_not_naive_utc(bundle):
    ds = history()
    ds.time.encoding["units"] = "hours since 2024-01-01 00:00:00+08:00"
    (bundle / HISTORY).unlink()
    ds.to_netcdf(bundle / HISTORY)
    write_provenance(bundle)
    assert_problem(problems_of(bundle), HISTORY, "time", "carry a UTC offset")


def test_dem_without_crs_is_reported(bundle):
    write_dem(bundle / "static/dem.tif", crs=None)
    write_provenance(bundle)
    assert_problem(problems_of(bundle), "static/dem.tif", "crs", "no CRS")


def test_dem_away_from_the_city_does_not_overlap(bundle):
    write_dem(bundle / "static/dem.tif", origin=(CITY_BOUNDS[0] + 50_000, CITY_BOUNDS[3]))
    write_provenance(bundle)
    assert_problem(problems_of(bundle), "static/dem.tif", "bounds", "does not overlap the city bounds")


def test_missing_column_in_temperature_csv(bundle):
    rewrite_csv(bundle, "obs/temperature.csv", lambda frame: frame.drop(columns="tasmax"))
    assert_problem(problems_of(bundle), "obs/temperature.csv", "tasmax", "missing column")


def test_bad_date_in_flood_events(bundle):
    def misdate(frame):
        frame.loc[1, "date"] = "2024-02-30"
        return frame

    rewrite_csv(bundle, "obs/flood_events.csv", misdate)
    message = "1 values are not dates YYYY-MM-DD, first '2024-02-30' at line 3"
    assert_problem(problems_of(bundle), "obs/flood_events.csv", "date", message)


def test_a_flood_report_outside_the_grid_is_a_warning_with_its_distance_and_direction(bundle, capsys):
    def move(frame):
        frame.loc[1, ["lon", "lat"]] = ["100.38", "5.48"]  # 13 km north-east, off the grid
        return frame

    rewrite_csv(bundle, "obs/flood_events.csv", move)
    problems = problems_of(bundle)
    message = "1 rows outside the city grid, first '100.38, 5.48' at line 3, 13.4 km north-east of the grid"
    assert assert_problem(problems, "obs/flood_events.csv", "lon, lat", message).severity == "warning"
    assert require_valid_bundle(bundle, **VALIDATE_KWARGS) == problems  # used, not refused
    assert main(["validate", str(bundle)]) == 0  # the DEM's grid, without a config
    out = capsys.readouterr().out
    assert f"warning: obs/flood_events.csv: lon, lat: {message}" in out
    assert out.rstrip().endswith(f"{bundle}: valid, with 1 warning(s)")


@pytest.mark.parametrize(("lon_lat", "looks_like"), [
    (lambda frame: frame[["lat", "lon"]].to_numpy(), "lon/lat swapped"),
    (lambda frame: [["642481.5", "596588.2"], ["642702.7", "596809.8"]],  # UTM 47N metres
     "projected metres of EPSG:32647 given as degrees"),
])
def test_flood_reports_an_axis_or_crs_mix_up_would_put_on_the_grid_are_refused(bundle, lon_lat, looks_like):
    rewrite_csv(bundle, "obs/flood_events.csv", lambda frame: frame.assign(**dict(zip(
        ["lon", "lat"], np.transpose(lon_lat(frame)), strict=True))))
    problem = assert_problem(problems_of(bundle), "obs/flood_events.csv", "lon, lat",
                             f"2 rows outside the city grid, looks like {looks_like}, first")
    assert problem.severity == "error" and "at line 2" in problem.message


def test_flood_reports_all_outside_the_grid_are_refused(bundle):
    rewrite_csv(bundle, "obs/flood_events.csv", lambda frame: frame.assign(lon=["101.5", "101.6"], lat="3.1"))
    problem = assert_problem(problems_of(bundle), "obs/flood_events.csv", "lon, lat",
                             "all 2 rows outside the city grid, first '101.5, 3.1' at line 2, 287.1 km south-east")
    assert problem.severity == "error" and problem.message.endswith("none can be used")


def test_duplicate_station_days_are_reported(bundle):
    rewrite_csv(bundle, "obs/temperature.csv", lambda frame: pd.concat([frame, frame.iloc[[4]]]))
    message = "2 rows repeat a station day, first 'S1 2024-01-05' at line 6"
    assert_problem(problems_of(bundle), "obs/temperature.csv", "station_id, date", message)


def test_duplicate_asset_id(bundle):
    assets = gpd.read_file(bundle / "static/heritage_assets.gpkg")
    assets.loc[2, "asset_id"] = "GT01"
    write_vector(bundle, "heritage_assets", assets)
    write_provenance(bundle)
    message = "2 rows share a value, first 'GT01' at feature 1"
    assert_problem(problems_of(bundle), "static/heritage_assets.gpkg", "asset_id", message)


def test_empty_geometry(bundle):
    buildings = gpd.read_file(bundle / "static/buildings.gpkg")
    buildings.loc[1, "geometry"] = Polygon()
    write_vector(bundle, "buildings", buildings)
    write_provenance(bundle)
    message = "1 empty or null geometries, first at feature 2"
    assert_problem(problems_of(bundle), "static/buildings.gpkg", "geometry", message)


def test_waterway_of_unknown_kind(bundle):
    waterways = gpd.read_file(bundle / "static/waterways.gpkg")
    waterways.loc[0, "kind"] = "stream"
    write_vector(bundle, "waterways", waterways)
    write_provenance(bundle)
    message = "1 values not in {canal, drain, river}, first 'stream' at feature 1"
    assert_problem(problems_of(bundle), "static/waterways.gpkg", "kind", message)


def test_forecast_reference_time_must_match_the_name(bundle):
    shifted = forecast(FORECAST_DATES[-1])  # issued at local, not UTC, midnight
    issued = shifted.forecast_reference_time + np.timedelta64(8, "h")
    shifted = shifted.assign_coords(forecast_reference_time=issued)
    (bundle / NEWEST).unlink()
    shifted.to_netcdf(bundle / NEWEST)
    write_provenance(bundle)
    assert_problem(problems_of(bundle), NEWEST, "forecast_reference_time",
                   "is 2024-01-11T00:00:00, expected 2024-01-10T16:00:00 (local midnight of 2024-01-11")


def test_without_a_config_or_recorded_time_zone_validate_passes_and_says_what_it_could_not_check(
        bundle, tmp_path, capsys):
    elsewhere = shutil.copytree(bundle, tmp_path / "elsewhere")  # provenance.json records no time zone
    assert validate_bundle(elsewhere, check_forecasts="all") == []
    assert main(["validate", str(elsewhere), "--all-forecasts"]) == 0
    out = capsys.readouterr().out
    assert ("warning: weather/forecasts/*.nc: forecast_reference_time not checked against local midnight of the "
            "file's date, nor obs/flood_extents.gpkg: event_date against the history's local days: the bundle's "
            "time zone is unknown (give --config CITY.yaml for its city.timezone, or record `timezone` in "
            "provenance.json)") in out
    assert out.rstrip().endswith(f"{elsewhere}: valid")


def test_without_a_config_the_time_zone_recorded_in_provenance_places_local_midnight(bundle):
    write_provenance(bundle, timezone=TIMEZONE)
    assert validate_bundle(bundle, check_forecasts="all") == []
    assert unchecked(bundle) == []
    write_provenance(bundle, timezone="UTC")  # the forecasts were issued at midnight in Kuala Lumpur
    assert_problem(validate_bundle(bundle), NEWEST, "forecast_reference_time",
                   "is 2024-01-10T16:00:00, expected 2024-01-11T00:00:00 (local midnight of 2024-01-11 in UTC")


def test_the_config_time_zone_comes_before_the_recorded_one(bundle):
    write_provenance(bundle, timezone="UTC")
    assert validate_bundle(bundle, timezone=TIMEZONE) == []
    assert unchecked(bundle, timezone=TIMEZONE) == []


def test_a_recorded_time_zone_that_is_no_zone_is_a_problem(bundle):
    write_provenance(bundle, timezone="Penang/George_Town")
    assert_problem(validate_bundle(bundle), "provenance.json", "timezone",
                   "'Penang/George_Town' is not an IANA time zone")


def test_last_mode_reads_only_the_newest_forecast(bundle):
    oldest = f"weather/forecasts/{FORECAST_DATES[0]}.nc"
    (bundle / oldest).write_bytes(b"not netcdf")
    write_provenance(bundle)
    assert problems_of(bundle, check_forecasts="last") == []
    assert_problem(problems_of(bundle, check_forecasts="all"), oldest, "", "cannot read")


def test_forecast_names_must_be_dates(bundle):
    shutil.copy(bundle / NEWEST, bundle / "weather/forecasts/latest.nc")
    assert_problem(problems_of(bundle), "weather/forecasts/latest.nc", "", "name is not a date")


def test_provenance_sha256_mismatch_names_the_changed_file(bundle):
    buildings = gpd.read_file(bundle / "static/buildings.gpkg")
    write_vector(bundle, "buildings", buildings.iloc[:2])
    problems = problems_of(bundle)
    assert_problem(problems, "static/buildings.gpkg", "sha256", "bytes do not match provenance.json")


def test_provenance_must_list_every_file(bundle):
    record = json.loads((bundle / "provenance.json").read_text())
    del record["files"]["obs/temperature.csv"]
    del record["files"]["weather/forecasts/"]["files"][f"{FORECAST_DATES[0]}.nc"]
    (bundle / "provenance.json").write_text(json.dumps(record))
    problems = problems_of(bundle)
    assert_problem(problems, "provenance.json", "files.obs/temperature.csv", "no entry for this file")
    oldest = f"files.weather/forecasts/files.{FORECAST_DATES[0]}.nc"
    assert_problem(problems, "provenance.json", oldest, "no sha256 for this forecast")


def test_several_problems_are_all_listed_at_once(bundle):
    (bundle / "static/dem.tif").unlink()
    rewrite_history(bundle, lambda ds: ds["pr"].attrs.update(units="kg m-2 s-1"))
    waterways = gpd.read_file(bundle / "static/waterways.gpkg")
    waterways.loc[1, "kind"] = "sewer"
    write_vector(bundle, "waterways", waterways)
    rewrite_csv(bundle, "obs/flood_events.csv", lambda frame: frame.drop(columns="lat"))
    expected = [("static/dem.tif", ""), (HISTORY, "pr"), ("static/waterways.gpkg", "kind"),
                ("obs/flood_events.csv", "lat")]
    problems = problems_of(bundle)
    for file, field in expected:
        assert_problem(problems, file, field, "")
    with pytest.raises(BundleError) as raised:
        require_valid_bundle(bundle, **VALIDATE_KWARGS)
    lines = str(raised.value).splitlines()
    assert len(lines) == 1 + len(problems) == 1 + len(raised.value.problems)
    kinds = "{canal, drain, river}"
    assert f"  static/waterways.gpkg: kind: 1 values not in {kinds}, first 'sewer' at feature 2" in lines


def test_loaders_read_the_bundle_as_the_contract_lays_it_out(bundle):
    dem = read_dem(bundle)
    assert dem.dims == ("y", "x") and dem.shape == (20, 20) and dem.attrs["units"] == "m"
    assert dem.rio.crs.to_epsg() == 32647
    with pytest.raises(FileNotFoundError, match="impervious.tif"):
        read_raster(bundle, "impervious")
    assert forecast_dates(bundle) == list(FORECAST_DATES)
    xr.testing.assert_allclose(read_history(bundle)["tas"], history()["tas"])
    assert set(read_vector(bundle, "waterways")["kind"]) == {"river", "drain"}
    assert read_flood_events(bundle)["date"].iloc[0] == pd.Timestamp("2024-01-03")
    obs = read_temperature_obs(bundle)
    assert obs["station_id"].tolist()[:1] == ["S1"] and obs["date"].dt.date.iloc[-1] == dt.date(2024, 1, 10)


def test_optional_impervious_raster_is_checked_when_present(bundle):
    write_dem(bundle / "static/impervious.tif")  # elevations in m are no 0..1 fraction
    write_provenance(bundle)
    assert_problem(problems_of(bundle), "static/impervious.tif", "values", "cells outside 0..1")


# --- obs/flood_extents.gpkg (optional) --------------------------------------------------------

EXTENTS = "obs/flood_extents.gpkg"


def rewrite_extents(root, change) -> None:
    write_flood_extents(root, change(flood_extents()))
    write_provenance(root)


def test_a_bundle_without_flood_extents_is_valid_and_reads_none(bundle):
    (bundle / EXTENTS).unlink()
    write_provenance(bundle)
    assert problems_of(bundle) == []
    assert read_flood_extents(bundle) is None


def test_flood_extents_read_with_local_dates_in_the_grid_crs(bundle):
    extents = read_flood_extents(bundle, crs="EPSG:4326")
    assert list(extents["event_date"]) == [pd.Timestamp("2024-01-03")] * 2 + [pd.Timestamp("2024-01-07")]
    assert extents.crs.to_epsg() == 4326 and set(extents["source"]) == {"test survey"}
    assert read_flood_extents(bundle).geometry.area.iloc[0] == pytest.approx(120 * 90)


def test_flood_extents_in_another_crs_are_accepted(bundle):
    rewrite_extents(bundle, lambda frame: frame.to_crs("EPSG:4326"))
    assert problems_of(bundle) == []


def test_a_survey_before_the_history_is_named_with_the_period(bundle):
    rewrite_extents(bundle, lambda frame: frame.assign(event_date=["2024-01-03", "2023-12-01", "2024-01-12"]))
    message = "2 dates outside the bundle's history 2024-01-01..2024-01-11, first '2023-12-01' at feature 2"
    assert_problem(problems_of(bundle), EXTENTS, "event_date", message)


def test_a_survey_date_that_is_no_date(bundle):
    rewrite_extents(bundle, lambda frame: frame.assign(event_date=["2024-01-03", "3 Jan", "2024-01-07"]))
    message = "1 values are not dates YYYY-MM-DD, first '3 Jan' at feature 2"
    assert_problem(problems_of(bundle), EXTENTS, "event_date", message)


def test_surveyed_extents_must_be_polygons(bundle):
    rewrite_extents(bundle, lambda frame: frame.set_geometry(frame.geometry.centroid))
    message = "3 geometries are not MultiPolygon or Polygon, first 'Point' at feature 1"
    assert_problem(problems_of(bundle), EXTENTS, "geometry", message)


def test_a_self_crossing_extent_is_invalid(bundle):
    x0, y0 = CITY_BOUNDS[0], CITY_BOUNDS[1]
    bowtie = Polygon([(x0 + 50, y0 + 50), (x0 + 150, y0 + 150), (x0 + 150, y0 + 50), (x0 + 50, y0 + 150)])
    rewrite_extents(bundle, lambda frame: frame.set_geometry([*frame.geometry[:2], bowtie], crs=frame.crs))
    assert_problem(problems_of(bundle), EXTENTS, "geometry", "1 invalid geometries (Self-intersection")


def test_flood_extents_without_features_or_source(bundle):
    rewrite_extents(bundle, lambda frame: frame.iloc[:0])
    assert_problem(problems_of(bundle), EXTENTS, "", "has no features")
    rewrite_extents(bundle, lambda frame: frame.drop(columns="source"))
    assert_problem(problems_of(bundle), EXTENTS, "source", "missing column")


def test_unreadable_flood_extents_are_a_problem_not_a_traceback(bundle):
    (bundle / EXTENTS).write_bytes(b"not a geopackage")
    write_provenance(bundle)
    assert_problem(problems_of(bundle), EXTENTS, "", "cannot read")


def test_flood_extents_away_from_the_city_do_not_overlap(bundle):
    rewrite_extents(bundle, lambda frame: frame.translate(xoff=50_000))
    assert_problem(problems_of(bundle), EXTENTS, "geometry", "does not overlap the city bounds")


def city_config(bundle):
    """What require_city_bundle reads of a city config, for the factory bundle."""
    return SimpleNamespace(
        bundle_dir=bundle, grid=SimpleNamespace(crs=VALIDATE_KWARGS["city_crs"], bounds=CITY_BOUNDS),
        city=SimpleNamespace(timezone=TIMEZONE), forecast_days=VALIDATE_KWARGS["lead_days"])


def test_every_flow_logs_the_bundle_warnings_at_start_and_returns_them_for_the_run(bundle, caplog):
    rewrite_csv(bundle, "obs/flood_events.csv", lambda frame: frame.assign(depth_cm=["20", "650"]))
    warned = require_city_bundle.fn(city_config(bundle))  # forecast, features (and so train), ingest
    line = "warning: obs/flood_events.csv: depth_cm: 1 values outside the usual 0..500, first '650' at line 3"
    assert warned == [line]
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [f"bundle {bundle}: {line}"]


def test_every_flow_refuses_a_bundle_with_an_error_but_not_for_its_warnings(bundle):
    rewrite_csv(bundle, "obs/flood_events.csv", lambda frame: frame.assign(depth_cm=["-20", "650"]))
    with pytest.raises(BundleError) as raised:
        require_city_bundle.fn(city_config(bundle))
    assert [str(p) for p in raised.value.problems] == [
        "obs/flood_events.csv: depth_cm: 1 values outside 0..10000, first '-20' at line 2"]


def test_the_run_artifacts_list_the_bundle_warnings_and_nothing_without_them():
    line = "warning: obs/flood_events.csv: depth_cm: 1 values outside the usual 0..500, first '650' at line 3"
    assert warnings_markdown([line]) == f"**The bundle was used with these warnings:**\n\n- {line}\n\n"
    assert warnings_markdown([]) == ""


@pytest.mark.parametrize(("dx", "dy", "direction"), [
    (0, 5, "north"), (3, 3, "north-east"), (10, 1, "east"), (2, -2, "south-east"), (0, -1, "south"),
    (-4, -4, "south-west"), (-7, 0.5, "west"), (-1, 1, "north-west"),
])
def test_an_offset_off_the_grid_reads_as_a_compass_direction(dx, dy, direction):
    assert compass(dx, dy) == direction


def test_validate_exits_1_on_an_error_and_counts_the_warnings_beside_it(bundle, capsys):
    rewrite_csv(bundle, "obs/flood_events.csv", lambda frame: frame.assign(depth_cm=["-20", "650"]))
    assert main(["validate", str(bundle)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "obs/flood_events.csv: depth_cm: 1 values outside 0..10000, first '-20' at line 2" in out
    assert "warning: obs/flood_events.csv: depth_cm: 1 values outside the usual 0..500, first '650' at line 3" in out
    assert out[-1] == f"{bundle}: 1 problem(s), with 1 warning(s)"
