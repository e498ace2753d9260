"""The store as STAC: an item per issue date, a catalog per city, relative links, `latest`."""

from pathlib import Path

import pystac
import pytest
from pystac.extensions.datacube import DatacubeExtension
from pystac.extensions.projection import ProjectionExtension
from rio_cogeo.cogeo import cog_validate

from pipelines.publish.stac import forecast_item
from tests.pipelines.conftest_publish import small_forecast

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture(scope="module")
def catalog(run):
    return pystac.Catalog.from_file(str(run["store"] / "catalog.json"))


def test_catalog_lists_every_published_date_with_relative_links(run, catalog):
    dates = sorted(p.name for p in (run["store"] / "forecasts").iterdir() if p.name[:2] == "20")
    items = list(catalog.get_items())
    assert sorted(item.properties["warisan:issue_date"] for item in items) == dates
    raw = (run["store"] / "catalog.json").read_text()
    assert str(run["store"]) not in raw and '"href": "./forecasts/' in raw


def test_every_asset_of_every_item_resolves_to_a_file(catalog):
    for item in catalog.get_items():
        assert item.assets, item.id
        for key, asset in item.assets.items():
            assert not Path(asset.href).is_absolute() or Path(asset.href).exists()
            assert Path(asset.get_absolute_href()).exists(), (item.id, key, asset.href)
        hrefs = {Path(a.href).name for a in item.assets.values()}
        assert {"forecast.nc", "index.html", "map_d0.png", "flood_level_d1.tif"} <= hrefs


def test_item_carries_projection_datacube_and_the_forecast_times(run, catalog):
    item = next(catalog.get_items())
    projection = ProjectionExtension.ext(item)
    assert projection.code == "EPSG:32650" and projection.shape == [40, 50]
    cube = DatacubeExtension.ext(item)
    assert cube.dimensions["lead"].to_dict()["values"] == [0, 1, 2]  # heat's three days (flood's two)
    assert {"flood_probability", "flood_level", "heat_level", "tasmax_q50"} <= set(cube.variables)
    assert item.properties["forecast:reference_datetime"].endswith("Z")
    assert item.properties["warisan:valid_dates"] == ["2023-12-31", "2024-01-01", "2024-01-02"]
    assert not any(a.href.endswith("flood_level_d2.tif") for a in item.assets.values())  # flood's are 2 days
    assert item.get_root().id == "port-test"
    cog = next(a for a in item.assets.values() if a.href.endswith("flood_level_d0.tif"))
    assert cog.media_type == pystac.MediaType.COG and cog_validate(cog.get_absolute_href(), quiet=True)[0]
    geojson = [a for a in item.assets.values() if a.href.endswith(".geojson")]
    assert {Path(a.href).name for a in geojson} == {"warning_areas.geojson", "flood_warning_polygons.geojson"}
    assert all(a.media_type == "application/geo+json" and a.roles == ["data"] for a in geojson)


def test_latest_points_at_the_newest_complete_date(run):
    latest = run["store"] / "forecasts" / "latest"
    assert latest.is_symlink() and latest.resolve() == (run["store"] / "forecasts" / "2023-12-31").resolve()
    assert (latest / "item.json").is_file()


def test_a_demo_world_city_is_forecast_without_bundle_warnings(catalog):
    for item in catalog.get_items():  # warnings would be listed here and in forecast.nc's bundle_warnings
        assert item.properties["warisan:bundle_warnings"] == [], item.id


def test_an_item_lists_the_warnings_the_bundle_was_used_with(tmp_path):
    line = "warning: obs/flood_events.csv: depth_cm: 1 values outside the usual 0..500, first '650' at line 3"
    forecast = small_forecast().assign_attrs(bundle_warnings=f"{line}\n{line.replace('650', '700')}")
    item = forecast_item(forecast, tmp_path, [])
    assert item.properties["warisan:bundle_warnings"] == [line, line.replace("650", "700")]
