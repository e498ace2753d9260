"""Copernicus GLO-30 tiles read by HTTP range requests from a local server."""

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from pipelines.config import DemConfig
from pipelines.sources import copernicus_dem
from pipelines.sources.refresh import refresh_dem
from pipelines.sources.staging import LiveCity, template_of
from tests.pipelines.recorded.servers import LocalServer

TILE = "Copernicus_DSM_COG_10_N05_00_E100_00_DEM"


def test_tile_names_follow_the_south_west_corner():
    assert copernicus_dem.tile_names((100.28, 5.39, 100.35, 5.45)) == [TILE]
    assert copernicus_dem.tile_names((-0.5, -1.8, 0.5, -1.2)) == [
        "Copernicus_DSM_COG_10_S02_00_W001_00_DEM", "Copernicus_DSM_COG_10_S02_00_E000_00_DEM"]


def write_tile(folder, name=TILE, west=100.0, north=6.0):
    """A 1x1 degree COG, 240 px (15 arc-s): height falls 2 km per degree eastward to 0 at 100.345 E."""
    lon = west + (np.arange(240) + 0.5) / 240
    height = np.clip((100.345 - lon) * 2000.0, 0, None).astype("float32")
    path = folder / name / f"{name}.tif"
    path.parent.mkdir(parents=True)
    with rasterio.open(path, "w", driver="COG", width=240, height=240, count=1, dtype="float32",
                       crs="EPSG:4326", transform=from_origin(west, north, 1 / 240, 1 / 240),
                       blocksize=64) as tile:
        tile.write(np.broadcast_to(height, (240, 240)), 1)
    return path


CITY = LiveCity("george-town", "Asia/Kuala_Lumpur", "EPSG:32647", (642300, 596400, 650100, 602100), 60,
                     (100.2844, 5.3941, 100.3549, 5.4459), 2, None, "george-town")


def test_dem_is_read_by_ranges_mosaicked_and_put_on_the_city_grid(tmp_path):
    write_tile(tmp_path)
    template = template_of(CITY)
    with LocalServer(files=tmp_path) as server:
        urls = [copernicus_dem.tile_url(server.url + "/dem", TILE).replace("/dem/", "/")]
        elevation = copernicus_dem.dem_on_grid(urls, CITY.crs, template.rio.transform(), template.shape, 0)
        ranged = [line for line in server.log if line.startswith("GET")]
    assert elevation.shape == template.shape
    assert elevation[:, 0].mean() > elevation[:, -1].mean()  # west is higher
    assert 50 < elevation.max() < 200 and elevation.min() == 0
    assert ranged  # read through /vsicurl/


def test_a_missing_tile_is_sea_but_no_tile_at_all_is_an_error(tmp_path):
    template = template_of(CITY)
    with LocalServer(files=tmp_path) as server, pytest.raises(copernicus_dem.DemError, match="none of the 1"):
        copernicus_dem.dem_on_grid([f"{server.url}/{TILE}/{TILE}.tif"], CITY.crs, template.rio.transform(),
                                   template.shape, 0)


def test_building_cells_come_down_to_the_street_ground_and_every_height_onto_mean_sea_level():
    template = template_of(CITY)
    ground = 3.0 + 0.01 * (template.x.values - template.x.values[0])[None, :] + 0 * template.y.values[:, None]
    x0, y0 = float(template.x[20]), float(template.y[20])  # a 5 x 5-cell block of 60 m cells, 12 m tall
    block = shapely.box(x0 - 30, y0 - 270, x0 + 270, y0 + 30)
    footprints = gpd.GeoDataFrame({"height_m": [12.0]}, geometry=[block], crs=CITY.crs)
    roofs = np.zeros(template.shape, bool)
    roofs[20:25, 20:25] = True
    surface = np.where(roofs, ground + 12.0, ground)
    terrain, lowered = copernicus_dem.bare_earth_on_msl(surface, template, footprints, msl_above_egm2008_m=0.4)
    assert lowered == 25
    np.testing.assert_allclose(terrain.values, ground - 0.4, atol=0.001)  # a plane under the roofs, exactly


def test_the_dem_step_stops_without_the_mean_sea_level_offset_or_the_buildings(tmp_path):
    unknown = DemConfig(base_url="http://127.0.0.1:9/dem", msl_above_egm2008_m=None)
    with pytest.raises(copernicus_dem.DemError, match="source.copernicus_dem.msl_above_egm2008_m is null"):
        refresh_dem(tmp_path, CITY, unknown)
    with pytest.raises(copernicus_dem.DemError, match="buildings.gpkg is missing"):
        refresh_dem(tmp_path, CITY, unknown.model_copy(update={"msl_above_egm2008_m": 0.0}))
