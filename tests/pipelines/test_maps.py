import geopandas as gpd
import numpy as np
import pytest
from PIL import Image
from rasterio.crs import CRS
from shapely.geometry import Polygon, box

from models.assets import asset_alert_levels, asset_risk
from pipelines.publish.grid import LEVEL_COLOURS, with_levels
from pipelines.publish.maps import DPI, OWN_SITE_COLOUR, WATER_COLOUR, WIDTH_PX, Basemap, render_map
from tests.pipelines.conftest_publish import (
    river_and_block,
    small_assets,
    small_forecast,
    small_zone,
    with_warning_areas,
)


def levels():
    assets = small_assets()
    risk = asset_risk(small_forecast(), assets)
    return asset_alert_levels(risk, assets, default_flood_threshold=0.3, default_heat_threshold_degC=35.0)


def basemap(**layers) -> Basemap:
    """The heritage zone and the assets with `layers` (buildings, waterways), on the grid CRS."""
    return Basemap.from_layers(small_forecast().rio.crs, zone=small_zone(), assets=small_assets(), **layers)


@pytest.fixture(scope="module")
def map_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("maps") / "map_d1.png"
    forecast = with_levels(small_forecast(), flood_bands=(0.01, 0.05, 0.2), heat_bands_degC=(35, 37, 40))
    return render_map(forecast, 1, basemap=basemap(**river_and_block()), levels=levels(), path=path)


def test_map_is_a_png_of_the_briefing_width(map_png):
    with Image.open(map_png) as image:
        assert image.format == "PNG"
        assert image.width == WIDTH_PX
        assert 0.4 * WIDTH_PX < image.height < WIDTH_PX
        assert image.info.get("dpi", (DPI, DPI))[0] == pytest.approx(DPI, abs=1)


def test_map_has_real_content(map_png):
    with Image.open(map_png) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    colours = np.unique(pixels.astype(np.int64) @ np.array([1 << 16, 1 << 8, 1]))
    assert len(colours) > 50
    reds = (pixels[:, 0] > 180) & (pixels[:, 1] < 60) & (pixels[:, 2] < 60)
    assert reds.sum() > 20  # alert markers and the hottest cells
    water = np.array([int(WATER_COLOUR[i:i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(pixels.astype(int) - water).sum(axis=1) < 30).sum() > 100  # the river of the basemap


def test_map_outlines_the_zones_on_warning_in_their_level_s_colour(tmp_path):
    """Lead 0: no zone is on warning (only the city and a site); lead 1: the buffer zone at level 1
    (yellow) and the core at level 2 (orange); the sites' neighbourhoods are never outlined."""
    forecast = with_levels(with_warning_areas(small_forecast()), flood_bands=(0.01, 0.05, 0.2),
                           heat_bands_degC=(35, 37, 40))

    def count(lead: int, colour: str) -> int:
        path = render_map(forecast, lead, basemap=basemap(), levels=None, path=tmp_path / f"map_d{lead}.png")
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
        target = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        return int((np.abs(pixels - target).sum(axis=1) < 20).sum())

    yellow, orange = LEVEL_COLOURS["area_flood_level"][1:3]
    assert count(0, yellow) < 50 and count(0, orange) < 400  # the legend's orange line
    assert count(1, yellow) > 1000 and count(1, orange) > 1000


def test_map_without_levels_draws_every_site_neutral(tmp_path):
    path = render_map(small_forecast(), 0, basemap=basemap(), levels=None, path=tmp_path / "map_d0.png")
    with Image.open(path) as image:
        assert image.width == WIDTH_PX
    assert [p.name for p in tmp_path.iterdir()] == ["map_d0.png"]  # written atomically, no temp left


def test_map_rejects_a_lead_the_forecast_lacks(tmp_path):
    with pytest.raises(ValueError, match=r"`lead` 7 is not in the forecast's leads \[0, 1, 2\]"):
        render_map(small_forecast(), 7, basemap=basemap(), levels=None, path=tmp_path / "map.png")


def test_map_rejects_a_basemap_in_another_crs(tmp_path):
    other = Basemap.from_layers(CRS.from_epsg(3857), zone=small_zone(), assets=small_assets())
    with pytest.raises(ValueError, match="`basemap` is in EPSG:3857, the forecast in EPSG:32647"):
        render_map(small_forecast(), 0, basemap=other, levels=None, path=tmp_path / "map.png")


def test_basemap_turns_outer_rings_anticlockwise_and_courtyards_clockwise():
    """So the nonzero fill leaves a courtyard open and fills overlapping footprints once."""
    crs = small_forecast().rio.crs
    courtyard = Polygon([(0, 0), (0, 40), (40, 40), (40, 0)], [[(10, 10), (30, 10), (30, 30), (10, 30)]])
    clockwise = Polygon([(80, 30), (80, 10), (60, 10), (60, 30)])
    buildings = gpd.GeoDataFrame(geometry=[courtyard, box(50, 0, 70, 20), clockwise], crs=crs)
    rings = basemap(buildings=buildings).buildings.to_polygons()
    signed_areas = [0.5 * np.sum(r[:-1, 0] * r[1:, 1] - r[1:, 0] * r[:-1, 1]) for r in rings]
    assert sorted(signed_areas) == [-400.0, 400.0, 400.0, 1600.0]


def test_one_hot_cell_changes_no_other_colour_of_the_temperature_panel(tmp_path):
    """One colour scale for every map (TASMAX_SCALE_DEGC): a cell at 45 degC leaves the others' colours as they were."""
    forecast = small_forecast()
    hotter = forecast.copy(deep=True)
    hotter["tasmax_q50"][{"lead": 0, "y": 10, "x": 2}] = 45.0

    def pixels(dataset, name):
        with Image.open(render_map(dataset, 0, basemap=basemap(), levels=None, path=tmp_path / name)) as image:
            return np.asarray(image.convert("RGB")).astype(int)

    changed = (np.abs(pixels(forecast, "a.png") - pixels(hotter, "b.png")).sum(axis=2) > 0).sum()
    # the hot cell alone (a cell is ~27 px wide); a scale stretched to 45 degC recolours ~270,000 px
    assert 0 < changed < 3 * (WIDTH_PX / 2 / forecast.sizes["x"]) ** 2


def test_a_managers_own_sites_are_ringed_in_their_colour(tmp_path):
    def ring_pixels(own_sites: tuple[str, ...]) -> int:
        path = render_map(small_forecast(), 0, basemap=basemap(), levels=levels(), own_sites=own_sites,
                          path=tmp_path / f"map_{len(own_sites)}.png")
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
        target = np.array([int(OWN_SITE_COLOUR[i:i + 2], 16) for i in (1, 3, 5)])
        return int((np.abs(pixels - target).sum(axis=1) < 30).sum())

    one, two = small_assets()["asset_id"].iloc[:2]
    assert ring_pixels(()) == 0  # the colour is the rings' alone
    assert 0 < ring_pixels((one,)) < ring_pixels((one, two))  # legend and one ring per panel, then two
