"""OpenStreetMap through osmnx against a local Overpass server answering a hand-written JSON."""

import geopandas as gpd
import pytest

from pipelines.config import OsmConfig
from pipelines.sources import osm
from pipelines.sources.refresh import refresh_osm
from tests.pipelines.recorded.fake_apis import overpass_handler
from tests.pipelines.recorded.servers import LocalServer
from tests.pipelines.test_sources_copernicus_dem import CITY


@pytest.fixture(scope="module")
def layers(tmp_path_factory):
    bundle = tmp_path_factory.mktemp("osm") / "bundle"
    with LocalServer() as server:
        server.routes["/api/"] = overpass_handler
        entries = refresh_osm(bundle, CITY, OsmConfig(overpass_url=f"{server.url}/api", timeout_s=10))
        posts = [line for line in server.log if line.startswith("POST /api/interpreter")]
    frames = {p.stem: gpd.read_file(p) for p in (bundle / "static").glob("*.gpkg")}
    return frames, entries, posts


def test_one_overpass_query_per_layer(layers):
    assert len(layers[2]) == len(osm.QUERIES)


def test_buildings_take_height_or_levels_and_keep_osm_ids(layers):
    buildings = layers[0]["buildings"].set_index("osm_id")
    assert buildings.loc["way/1001", "height_m"] == 12.0
    assert buildings.loc["way/1002", "height_m"] == 9.0  # 3 levels x 3 m
    assert buildings["height_m"].isna().sum() == 2  # way/1003 and the heritage shophouse row


def test_waterways_map_to_river_canal_drain(layers):
    kinds = layers[0]["waterways"].set_index("osm_id")["kind"].to_dict()
    assert kinds == {"way/2001": "river", "way/2002": "drain", "way/2003": "canal", "way/2004": "river"}


def test_the_sea_lies_right_of_the_coastline(layers):
    sea = layers[0]["sea"].to_crs("EPSG:4326")
    west, _, east, _ = sea.total_bounds
    assert west > 100.344 and east == pytest.approx(100.3549, abs=1e-3)


def test_heritage_merges_listed_assets_with_named_osm_features(layers):
    assets = layers[0]["heritage_assets"]
    ids = set(assets["asset_id"])
    assert {"osm-node-" + str(i) for i in range(1, 100)} & ids  # the museum node
    assert "Test Shophouse Row" in set(assets["name"])
    assert "Fort Cornwallis (OSM)" not in set(assets["name"])  # within 50 m of the listed fort
    assert assets["name"].notna().all()
    assert set(layers[0]["heritage_zone"]["zone"]) == {"core", "buffer"}


def test_provenance_carries_the_odbl_note(layers):
    entry = layers[1]["static/buildings.gpkg"]
    assert "ODbL" in entry["licence"] and entry["source"] == "osm"
