"""The day folder's GeoJSON: the warning areas and the warning polygons, as a planner's GIS reads them."""

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely

from pipelines.publish.areas import (
    AREAS_NAME,
    POLYGON_MIN_AREA_M2,
    POLYGONS_NAME,
    areas_on_warning,
    warning_polygons_geojson,
    write_area_files,
)
from pipelines.publish.grid import with_levels
from tests.pipelines.conftest_publish import (
    AREA_CHANCES,
    HOTSPOT,
    cell_centre,
    small_forecast,
    with_warning_areas,
)


def forecast_with_areas():
    return with_levels(with_warning_areas(small_forecast()), flood_bands=(0.01, 0.05, 0.2),
                       heat_bands_degC=(35, 37, 40))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("day")
    forecast = forecast_with_areas()
    return forecast, write_area_files(forecast, out)


def read(path):
    """The file as RFC 7946 says: a FeatureCollection with no `crs` member, in lon/lat."""
    collection = json.loads(path.read_text())
    assert collection["type"] == "FeatureCollection" and "crs" not in collection
    return collection, gpd.read_file(path)


def test_both_files_are_written_and_none_is_left_half_written(written):
    _, paths = written
    assert [p.name for p in paths] == [AREAS_NAME, POLYGONS_NAME]
    assert sorted(p.name for p in paths[0].parent.iterdir()) == sorted([AREAS_NAME, POLYGONS_NAME])


def test_geometries_are_valid_lon_lat_inside_the_city_and_wound_as_rfc_7946_asks(written):
    forecast, paths = written
    west, south, east, north = forecast.rio.transform_bounds("EPSG:4326")
    for path in paths:
        collection, frame = read(path)
        assert len(frame) and frame.crs.to_epsg() == 4326
        assert frame.geometry.is_valid.all() and not frame.geometry.is_empty.any()
        xmin, ymin, xmax, ymax = frame.total_bounds
        assert west - 1e-6 <= xmin < xmax <= east + 1e-6 and south - 1e-6 <= ymin < ymax <= north + 1e-6
        for feature in collection["features"]:
            shape = shapely.geometry.shape(feature["geometry"])
            for polygon in shapely.get_parts(shape):
                assert polygon.exterior.is_ccw and not any(ring.is_ccw for ring in polygon.interiors)


def test_areas_carry_each_lead_s_chance_and_level_as_in_the_forecast(written):
    forecast, paths = written
    collection, frame = read(paths[0])
    frame = frame.set_index("id")
    assert sorted(frame.index) == sorted(AREA_CHANCES)
    assert set(frame["kind"]) == {"city", "zone", "site"}
    for lead in forecast.lead.values:
        at = forecast.sel(lead=lead).set_index(area="area_id")
        for area_id in frame.index:
            assert frame.loc[area_id, f"chance_d{lead}"] == pytest.approx(
                float(at["area_flood_probability"].sel(area=area_id)), abs=5e-4)
            assert frame.loc[area_id, f"level_d{lead}"] == int(at["area_flood_level"].sel(area=area_id))
    hot = next(f for f in collection["features"] if f["id"] == "site-hot")["properties"]
    assert (hot["level_word_d2"], hot["valid_date_d2"], hot["issue_date"]) == ("Close", "2024-12-28", "2024-12-26")
    core = frame.to_crs(forecast.rio.crs).loc["zone-core"].geometry
    assert core.area == pytest.approx(300 * 270, rel=1e-3)  # the zone's outline survives the round trip


def test_warning_polygons_are_nested_per_lead_and_their_levels_are_the_forecast_s(written):
    forecast, paths = written
    _, frame = read(paths[1])
    local = frame.to_crs(forecast.rio.crs)
    hotspot = shapely.Point(cell_centre(*HOTSPOT))
    for lead in forecast.lead.values:
        polygons = local[local["lead"] == lead].sort_values("level")
        top = int(np.nanmax(forecast["flood_level"].sel(lead=lead)))
        assert polygons["level"].tolist() == list(range(1, top + 1))  # the hotspot's level 3 patch is big enough
        assert (polygons["valid_date"] == f"2024-12-{26 + lead}").all()
        assert all(polygons.geometry.contains(hotspot))
        for lower, upper in zip(polygons.geometry.iloc[:-1], polygons.geometry.iloc[1:], strict=True):
            assert upper.difference(lower).area < 1.0  # nested, up to the rounding of lon/lat
        assert (polygons["area_km2"] >= POLYGON_MIN_AREA_M2 / 1e6).all()
        assert polygons["area_km2"].to_numpy() == pytest.approx(polygons.geometry.area.to_numpy() / 1e6, abs=1e-4)
        # where a level-k polygon lies, most of its land cells are at level >= k
        for level, geometry in zip(polygons["level"], polygons.geometry, strict=True):
            grid = forecast["flood_level"].sel(lead=lead)
            xx, yy = np.meshgrid(grid.x, grid.y)
            inside = shapely.contains_xy(geometry, xx, yy) & forecast["land"].values
            assert (grid.values[inside] >= level).mean() > 0.9


def test_a_forecast_without_areas_writes_the_polygons_alone(tmp_path):
    forecast = with_levels(small_forecast(), flood_bands=(0.01, 0.05, 0.2), heat_bands_degC=(35, 37, 40))
    assert [p.name for p in write_area_files(forecast, tmp_path)] == [POLYGONS_NAME]
    assert areas_on_warning(forecast) == []


def test_a_quiet_day_has_no_warning_polygon():
    forecast = with_levels(small_forecast(), flood_bands=(0.95, 0.97, 0.99), heat_bands_degC=(35, 37, 40))
    assert warning_polygons_geojson(forecast) == {"type": "FeatureCollection", "features": []}


def test_areas_on_warning_are_by_lead_then_level_and_chance():
    rows = areas_on_warning(forecast_with_areas())
    assert [(r["lead"], r["id"], r["level"]) for r in rows if r["lead"] == 1] == [
        (1, "site-hot", 3), (1, "city", 2), (1, "zone-core", 2), (1, "zone-buffer", 1)]
    assert all(r["level"] >= 1 for r in rows) and {r["lead"] for r in rows} == {0, 1, 2}
