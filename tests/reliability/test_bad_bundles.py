"""Bad bundle files the validator refuses, each with the file and the field (docs/bad-inputs.md).

Cases already in tests/pipelines/test_bundle_validation.py are listed in the catalogue, not
repeated here. Each test breaks one file of the tiny valid bundle and rewrites provenance.json,
so only the intended problem remains.
"""

from __future__ import annotations

import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from shapely.affinity import translate
from shapely.geometry import Polygon

from pipelines.bundle.validate import validate_bundle
from tests.pipelines.bundle_factory import (
    FORECAST_DATES,
    forecast,
    history,
    write_dem,
    write_provenance,
    write_vector,
)
from tests.pipelines.test_bundle_validation import assert_problem, problems_of, rewrite_csv, rewrite_history

HISTORY = "weather/history.nc"
NEWEST = f"weather/forecasts/{FORECAST_DATES[-1]}.nc"
ASSETS = "static/heritage_assets.gpkg"
STATIONS = "obs/temperature.csv"
FLOODS = "obs/flood_events.csv"


def rewrite_newest_forecast(root, change) -> None:
    ds = change(forecast(FORECAST_DATES[-1]))
    (root / NEWEST).unlink()
    ds.to_netcdf(root / NEWEST)
    write_provenance(root)


def rewrite_assets(root, change) -> None:
    write_vector(root, "heritage_assets", change(gpd.read_file(root / ASSETS)))
    write_provenance(root)


def only_problem(root, file: str, field: str, text: str, severity: str = "error") -> None:
    """The bundle has exactly one problem: `file`, `field`, a message with `text`, of `severity`."""
    problems = problems_of(root)
    assert assert_problem(problems, file, field, text).severity == severity
    assert len(problems) == 1, "\n".join(map(str, problems))


# --- missing and empty files ---

@pytest.mark.parametrize("file", [HISTORY, STATIONS, ASSETS])
def test_a_missing_required_file_is_named(bundle, file):
    (bundle / file).unlink()
    write_provenance(bundle)
    only_problem(bundle, file, "", "missing (required)")


@pytest.mark.parametrize("file", [HISTORY, FLOODS, ASSETS, NEWEST])
def test_an_empty_file_cannot_be_read(bundle, file):
    (bundle / file).write_bytes(b"")
    write_provenance(bundle)
    only_problem(bundle, file, "", "cannot read")


def test_a_truncated_forecast_cannot_be_read(bundle):
    data = (bundle / NEWEST).read_bytes()
    (bundle / NEWEST).write_bytes(data[: len(data) // 3])
    write_provenance(bundle)
    only_problem(bundle, NEWEST, "", "cannot read")


def test_a_header_only_flood_inventory_is_valid(bundle):  # no floods reported yet is not an error
    (bundle / FLOODS).write_text("date,lon,lat,depth_cm,source\n")
    write_provenance(bundle)
    assert problems_of(bundle) == []


# --- CRS and place ---

def test_a_dem_in_degrees_is_not_projected(bundle):
    write_dem(bundle / "static/dem.tif", crs="EPSG:4326", origin=(100.28, 5.40))
    write_provenance(bundle)
    assert_problem(problems_of(bundle), "static/dem.tif", "crs", "EPSG:4326 is not a projected CRS")


def test_assets_in_metres_labelled_as_degrees_look_like_metres_given_as_degrees(bundle):
    rewrite_assets(bundle, lambda assets: assets.set_crs("EPSG:4326", allow_override=True))
    only_problem(bundle, ASSETS, "geometry", "3 features outside the city grid, looks like projected metres of "
                 "EPSG:32647 given as degrees, first 'GT01' at feature 1")


def test_an_asset_off_the_grid_is_a_warning_with_its_distance_and_direction(bundle):
    rewrite_assets(bundle, lambda assets: assets.set_geometry(
        [assets.geometry[0], assets.geometry[1], translate(assets.geometry[2], xoff=-2000)], crs=assets.crs))
    only_problem(bundle, ASSETS, "geometry", "1 features outside the city grid, first 'GT03' at feature 3, "
                 "1.9 km west of the grid", severity="warning")


@pytest.mark.filterwarnings("ignore:'crs' was not provided")  # pyogrio's warning on writing the bad file
def test_a_vector_layer_without_crs_is_reported(bundle):
    rewrite_assets(bundle, lambda assets: assets.set_crs(None, allow_override=True))
    only_problem(bundle, ASSETS, "crs", "no CRS")


def test_weather_without_crs_is_reported(bundle):
    def drop_crs(ds):
        ds = ds.drop_vars("spatial_ref")
        for var in ds.data_vars.values():
            var.attrs.pop("grid_mapping", None)
            var.encoding.pop("grid_mapping", None)
        return ds

    ds = drop_crs(history())
    (bundle / HISTORY).unlink()
    ds.to_netcdf(bundle / HISTORY)
    write_provenance(bundle)
    assert_problem(problems_of(bundle), HISTORY, "spatial_ref", "no CRS")


def test_a_weather_grid_away_from_the_city_does_not_overlap(bundle):
    rewrite_history(bundle, lambda ds: ds.__setitem__("x", ds.x + 2.0))  # two degrees east, off Penang
    assert_problem(problems_of(bundle), HISTORY, "y, x", "does not overlap the city bounds")


def test_a_forecast_on_another_grid_than_the_history_is_refused(bundle):
    rewrite_newest_forecast(bundle, lambda ds: ds.assign_coords(x=ds.x + 0.01))
    only_problem(bundle, NEWEST, "y, x", "grid differs from weather/history.nc's")


# --- absurd values ---

@pytest.mark.parametrize(("name", "value", "text"), [
    ("pr", 612.0, "values outside 0..500 (min 0, max 612)"),  # no rain gauge has seen 612 mm in an hour
    ("tas", 64.5, "values outside -10..60"),
    ("zos", 11.2, "values outside -10..10"),
])
def test_absurd_weather_in_the_forecast_is_out_of_range(bundle, name, value, text):
    def absurd(ds):
        ds[name][5, 0, 1] = value
        return ds

    rewrite_newest_forecast(bundle, absurd)
    only_problem(bundle, NEWEST, name, text)


def test_sea_level_above_ten_metres_in_the_history_is_out_of_range(bundle):
    rewrite_history(bundle, lambda ds: ds["zos"][100, 0, 0].__setitem__((), 10.5))
    only_problem(bundle, HISTORY, "zos", "1 values outside -10..10 (min")


def test_nan_in_a_forecast_is_counted_with_its_lead(bundle):
    def with_nan(ds):
        ds["sfcWind"][7, 0, 2] = np.nan
        return ds

    rewrite_newest_forecast(bundle, with_nan)
    only_problem(bundle, NEWEST, "sfcWind", "1 NaN values (hourly weather must be complete), first at lead 7 h")


def test_a_dem_of_nothing_but_nodata_is_refused(bundle):
    write_dem(bundle / "static/dem.tif")
    with rasterio.open(bundle / "static/dem.tif", "r+") as dem:
        dem.write(np.full((20, 20), np.nan, "float32"), 1)
    write_provenance(bundle)
    only_problem(bundle, "static/dem.tif", "values", "no valid cells")


# --- time ---

def test_unsorted_times_go_back(bundle):
    rewrite_history(bundle, lambda ds: ds.__setitem__("time", ds.time.values[np.r_[0:5, 6, 5, 7:ds.time.size]]))
    assert_problem(problems_of(bundle), HISTORY, "time",
                   "1 steps go back in time, first from 2024-01-01T06:00:00 to 2024-01-01T05:00:00")


def test_forecast_valid_times_in_local_time_are_refused(bundle):
    # The contract's times are timezone-naive UTC; local times written naive are 8 h off.
    rewrite_newest_forecast(bundle, lambda ds: ds.assign_coords(time=ds.time + np.timedelta64(8, "h")))
    only_problem(bundle, NEWEST, "time", "valid time is not forecast_reference_time + lead_time")


def test_a_forecast_file_for_the_wrong_date_is_refused(bundle):
    shutil.copy(bundle / f"weather/forecasts/{FORECAST_DATES[-2]}.nc", bundle / NEWEST)  # yesterday's, renamed
    write_provenance(bundle)
    only_problem(bundle, NEWEST, "forecast_reference_time",
                 "is 2024-01-09T16:00:00, expected 2024-01-10T16:00:00 (local midnight of 2024-01-11")


def test_a_forecast_one_day_short_is_refused(bundle):
    rewrite_newest_forecast(bundle, lambda ds: ds.isel(lead_time=slice(0, 24)))
    only_problem(bundle, NEWEST, "lead_time", "has 24 steps, expected 24 x 2 lead days")


# --- units and variables ---

@pytest.mark.parametrize(("name", "units", "text"), [
    ("pr", "m h-1", "units are 'm h-1', expected 'mm h-1'"),  # metres, not millimetres
    ("zos", "cm", "units are 'cm', expected 'm'"),
    ("hurs", None, "no units attribute, expected '%'"),
])
def test_wrong_or_missing_units_in_the_forecast_are_named(bundle, name, units, text):
    def relabel(ds):
        ds[name].attrs = {} if units is None else {"units": units}
        return ds

    rewrite_newest_forecast(bundle, relabel)
    only_problem(bundle, NEWEST, name, text)


def test_a_forecast_without_sea_level_is_refused(bundle):
    rewrite_newest_forecast(bundle, lambda ds: ds.drop_vars("zos"))
    only_problem(bundle, NEWEST, "zos", "missing variable")


# --- observation tables ---

def test_a_station_csv_without_its_header_is_refused(bundle):
    lines = (bundle / STATIONS).read_text().splitlines(keepends=True)
    (bundle / STATIONS).write_text("".join(lines[1:]))  # the first record is read as the header
    write_provenance(bundle)
    problems = problems_of(bundle)
    for column in ("station_id", "lon", "lat", "date", "tasmax"):
        assert_problem(problems, STATIONS, column, "missing column")


def test_a_misspelt_station_column_is_missing(bundle):
    rewrite_csv(bundle, STATIONS, lambda frame: frame.rename(columns={"tasmax": "tasmx"}))
    only_problem(bundle, STATIONS, "tasmax", "missing column")


def test_station_dates_in_another_format_are_not_dates(bundle):
    def day_first(frame):
        frame.loc[2, "date"] = "03/01/2024"
        return frame

    rewrite_csv(bundle, STATIONS, day_first)
    only_problem(bundle, STATIONS, "date", "1 values are not dates YYYY-MM-DD, first '03/01/2024' at line 4")


def test_a_station_outside_the_city_is_a_warning(bundle):
    def to_singapore(frame):
        frame.loc[frame["station_id"] == "S2", ["lon", "lat"]] = ["103.82", "1.35"]
        return frame

    rewrite_csv(bundle, STATIONS, to_singapore)
    only_problem(bundle, STATIONS, "lon, lat", "10 rows outside the city grid, first '103.82, 1.35' at line 12, "
                 "595.6 km south-east of the grid", severity="warning")


def test_station_coordinates_that_are_not_numbers_are_refused(bundle):
    def degrees_minutes(frame):
        frame.loc[0, "lat"] = "5°23'N"
        return frame

    rewrite_csv(bundle, STATIONS, degrees_minutes)
    only_problem(bundle, STATIONS, "lat", "1 values are not numbers")


def test_a_flood_reported_twice_is_refused(bundle):
    rewrite_csv(bundle, FLOODS, lambda frame: pd.concat([frame, frame.iloc[[0]].assign(source="radio")]))
    only_problem(bundle, FLOODS, "date, lon, lat",
                 "2 rows repeat a report (same date and place), first '2024-01-03 100.286, 5.396' at line 2")


# --- GeoPackages ---

def test_an_invalid_zone_polygon_is_refused(bundle):
    zone = gpd.read_file(bundle / "static/heritage_zone.gpkg")
    x0, y0 = zone.total_bounds[:2]
    zone.loc[0, "geometry"] = Polygon([(x0, y0), (x0 + 200, y0 + 200), (x0 + 200, y0), (x0, y0 + 200)])  # a bow tie
    write_vector(bundle, "heritage_zone", zone)
    write_provenance(bundle)
    only_problem(bundle, "static/heritage_zone.gpkg", "geometry", "1 invalid geometries (Self-intersection")


def test_a_zone_layer_without_features_is_refused(bundle):
    zone = gpd.read_file(bundle / "static/heritage_zone.gpkg")
    write_vector(bundle, "heritage_zone", zone.iloc[:0])
    write_provenance(bundle)
    only_problem(bundle, "static/heritage_zone.gpkg", "", "has no features")


def test_an_asset_without_an_id_is_refused(bundle):
    def blank(assets):
        assets.loc[1, "asset_id"] = None
        return assets

    rewrite_assets(bundle, blank)
    only_problem(bundle, ASSETS, "asset_id", "1 empty values, first at feature 2")


def test_assets_without_an_id_column_are_refused(bundle):
    rewrite_assets(bundle, lambda assets: assets.drop(columns="asset_id"))
    only_problem(bundle, ASSETS, "asset_id", "missing column")


# --- physical ranges ---

@pytest.mark.parametrize(("field", "values", "text"), [
    ("floor_height_m", [0.5, 12.0, np.nan], "1 values outside -1..10, first '12.0' at feature 2"),  # 12 m up
    ("flood_threshold", [1.0, np.nan, 0.2], "1 values not strictly between 0 and 1, first '1.0' at feature 1"),
    ("heat_threshold", [np.nan, np.nan, 307.0], "1 values outside 25..45, first '307.0' at feature 3"),  # in K
])
def test_an_asset_value_outside_its_physical_range_is_refused(bundle, field, values, text):
    rewrite_assets(bundle, lambda assets: assets.assign(**{field: values}))
    only_problem(bundle, ASSETS, field, text)


def test_a_negative_flood_depth_is_refused_and_a_very_deep_one_is_a_warning(bundle):
    rewrite_csv(bundle, FLOODS, lambda frame: frame.assign(depth_cm=["-5", "650"]))
    problems = problems_of(bundle)
    assert assert_problem(problems, FLOODS, "depth_cm", "1 values outside 0..10000, first '-5' at line 2").severity == "error"
    usual = assert_problem(problems, FLOODS, "depth_cm", "1 values outside the usual 0..500, first '650' at line 3")
    assert usual.severity == "warning" and len(problems) == 2


# --- forecasts against the newest ---

OLDEST = f"weather/forecasts/{FORECAST_DATES[0]}.nc"


def rewrite_oldest_forecast(root, change) -> None:
    ds = change(forecast(FORECAST_DATES[0]))
    (root / OLDEST).unlink()
    ds.to_netcdf(root / OLDEST)
    write_provenance(root)


def all_forecasts_problems(root, **kwargs) -> list:
    problems = problems_of(root, check_forecasts="all", **kwargs)
    assert problems_of(root, **kwargs) == [], "the default reads only the newest forecast"
    return problems


def test_a_forecast_shorter_than_the_newest_is_refused_without_a_config(bundle):
    rewrite_oldest_forecast(bundle, lambda ds: ds.isel(lead_time=slice(0, 24)))
    problems = all_forecasts_problems(bundle, lead_days=None)
    assert_problem(problems, OLDEST, "lead_time", f"has 24 steps, {NEWEST} has 48")
    assert len(problems) == 1, "\n".join(map(str, problems))


def test_a_forecast_with_a_variable_the_newest_lacks_is_refused(bundle):
    rewrite_oldest_forecast(bundle, lambda ds: ds.assign(tasmax=ds.tas))
    problems = all_forecasts_problems(bundle)
    assert_problem(problems, OLDEST, "variables", f"differ from {NEWEST}'s: tasmax only here")
    assert len(problems) == 1, "\n".join(map(str, problems))


def test_without_a_history_a_forecast_is_compared_with_the_newest_grid(bundle):
    (bundle / HISTORY).unlink()
    rewrite_oldest_forecast(bundle, lambda ds: ds.assign_coords(x=ds.x + 0.01))
    problems = problems_of(bundle, check_forecasts="all")
    assert_problem(problems, OLDEST, "y, x", f"grid differs from {NEWEST}'s")
    assert {(p.file, p.field) for p in problems} == {(HISTORY, ""), (OLDEST, "y, x")}, "\n".join(map(str, problems))


def test_an_ensemble_forecast_among_single_runs_is_accepted_as_they_are_its_one_member_case(bundle):
    rewrite_oldest_forecast(bundle, lambda ds: ds.expand_dims(member=3).assign_coords(member=[0, 1, 2]))
    assert problems_of(bundle, check_forecasts="all") == []  # the rest: tests/pipelines/test_bundle_members.py


# --- dates against the bundle's history and present ---

def test_a_flood_report_dated_after_the_newest_forecast_is_in_the_future_and_refused(bundle):
    rewrite_csv(bundle, FLOODS, lambda frame: frame.assign(date=["2024-01-03", "2024-01-20"]))
    only_problem(bundle, FLOODS, "date", "1 dates in the future (after 2024-01-12: the last day the newest forecast, "
                 f"{NEWEST}, covers), first '2024-01-20' at line 3")


def test_a_station_day_before_the_history_is_a_warning(bundle):
    def a_day_early(frame):
        frame.loc[10, "date"] = "2023-12-20"
        return frame

    rewrite_csv(bundle, STATIONS, a_day_early)
    only_problem(bundle, STATIONS, "date", "1 dates outside the bundle's history 2024-01-01..2024-01-11, "
                 "first '2023-12-20' at line 12", severity="warning")


def test_without_a_time_zone_a_report_a_day_past_the_history_in_utc_is_no_warning(bundle):
    rewrite_csv(bundle, FLOODS, lambda frame: frame.assign(date=["2024-01-03", "2024-01-11"]))  # local day
    assert validate_bundle(bundle) == []  # history ends 2024-01-10 23:00 UTC
    rewrite_csv(bundle, FLOODS, lambda frame: frame.assign(date=["2024-01-03", "2024-01-12"]))
    assert_problem(validate_bundle(bundle), FLOODS, "date", "outside the bundle's history 2023-12-31..2024-01-11")


def test_assets_in_degrees_labelled_as_utm_look_like_degrees_given_as_metres(bundle):
    rewrite_assets(bundle, lambda assets: assets.to_crs("EPSG:4326").set_crs("EPSG:32647", allow_override=True))
    only_problem(bundle, ASSETS, "geometry", "3 features outside the city grid, looks like degrees (EPSG:4326) "
                 "given as projected metres, first 'GT01' at feature 1")
