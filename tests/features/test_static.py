import geopandas
import numpy as np
import pytest
import xarray as xr
from shapely.geometry import LineString, box

from features.static import static_features
from tests.conftest import CRS, ORIGIN, grid, template

NY, NX = 30, 40
TEMPLATE = template(NY, NX)  # 900 m x 1200 m at 30 m
X0, Y0 = ORIGIN
X1 = X0 + 30 * NX
SEA_COLS = 5  # the sea is the eastern strip of 5 columns

# Hills in the west falling to the sea in the east, with a valley along the middle row.
_cols = np.arange(NX)[None, :]
_rows = np.arange(NY)[:, None]
_ELEVATION = np.broadcast_to(
    1.0 + 0.5 * (NX - SEA_COLS - 1 - _cols) + 0.3 * abs(_rows - NY // 2), (NY, NX)
).astype("float32")
_ELEVATION = np.where(_cols >= NX - SEA_COLS, -2.0, _ELEVATION)
DEM = grid(_ELEVATION, "dem", "m")

RIVER_Y = Y0 - 30 * (NY // 2) - 15  # the centre line of the valley row
WATERWAYS = geopandas.GeoDataFrame(
    {"kind": ["river"]}, geometry=[LineString([(X0 + 300, RIVER_Y), (X1 - 30 * SEA_COLS, RIVER_Y)])],
    crs=CRS,
)
BUILDINGS = geopandas.GeoDataFrame(
    {"height_m": [12.0, 6.0, np.nan]},
    geometry=[box(X0 + 600, Y0 - 300, X0 + 660, Y0 - 240),  # 2x2 cells, rows 8-9, cols 20-21
              box(X0 + 900, Y0 - 600, X0 + 915, Y0 - 570),  # half of cell (19, 30)
              box(X0 + 90, Y0 - 90, X0 + 120, Y0 - 60)],  # cell (2, 3), height unknown
    crs=CRS,
)
SEA = geopandas.GeoDataFrame(geometry=[box(X1 - 30 * SEA_COLS, Y0 - 30 * NY, X1 + 100, Y0)], crs=CRS)
VARIABLES = {"elevation_m": "m", "slope_deg": "degree", "upstream_area_km2": "km2", "hand_m": "m",
             "dist_waterway_m": "m", "dist_sea_m": "m", "impervious_frac": "1", "building_frac": "1",
             "building_height_m": "m", "land": "1",
             "depression_depth_m": "m", "depression_area_ha": "ha", "topographic_wetness_index": "1",
             "drain_height_m": "m", "drainage_capacity_mm": "mm", "tide_block_level_m": "m",
             "outfall_distance_m": "m"}
VARIABLES |= {f"{name}_{scale}m": units for name, units in  # urban layers as focal means
              (("impervious_frac", "1"), ("building_frac", "1"), ("building_height_m", "m"))
              for scale in (100, 300, 1000)}


@pytest.fixture(scope="module")
def features() -> xr.Dataset:
    return static_features(DEM, BUILDINGS, WATERWAYS, SEA, None, TEMPLATE)


def test_every_variable_has_its_units_and_a_long_name(features):
    assert set(features.data_vars) == set(VARIABLES)
    for name, units in VARIABLES.items():
        assert features[name].attrs["units"] == units, name
        assert features[name].attrs["long_name"], name
        assert features[name].dims == ("y", "x")


def test_continuous_features_are_float32_and_land_is_boolean(features):
    assert features["land"].dtype == bool
    for name in set(VARIABLES) - {"land"}:
        assert features[name].dtype == np.float32, name


def test_sea_cells_are_not_land_and_nan_everywhere(features):
    land = features["land"].values
    assert not land[:, -SEA_COLS:].any() and land[:, :-SEA_COLS].all()
    for name in set(VARIABLES) - {"land"}:
        assert features[name].isel(x=slice(-SEA_COLS, None)).isnull().all(), name
        on_land = features[name].isel(x=slice(None, -SEA_COLS)).notnull()
        assert on_land.sum() == land.sum() - (name == "building_height_m"), name  # one unknown height


def test_features_are_on_the_template_grid_with_its_crs(features):
    xr.testing.assert_equal(features.x, TEMPLATE.x)
    xr.testing.assert_equal(features.y, TEMPLATE.y)
    assert features.rio.crs == TEMPLATE.rio.crs


def test_the_river_and_coast_have_zero_hand_and_the_hills_stand_above(features):
    river_row = features.isel(y=NY // 2, x=slice(10, NX - SEA_COLS))
    np.testing.assert_array_equal(river_row["hand_m"].values, 0.0)
    np.testing.assert_array_equal(river_row["dist_waterway_m"].values, 0.0)
    assert (features["hand_m"].isel(y=0, x=slice(1, 20)) > 0).all()
    np.testing.assert_array_equal(features["hand_m"].isel(x=NX - SEA_COLS - 1).values, 0.0)


def test_distances_grow_away_from_the_sea_and_the_river(features):
    row = features["dist_sea_m"].isel(y=3).values[: NX - SEA_COLS]
    np.testing.assert_allclose(row, 30.0 * np.arange(NX - SEA_COLS, 0, -1))
    column = features["dist_waterway_m"].isel(x=20).values
    assert column[0] == pytest.approx(30.0 * (NY // 2))


def test_upstream_area_is_largest_where_the_valley_meets_the_sea(features):
    area = features["upstream_area_km2"]
    assert area.isel(y=NY // 2, x=NX - SEA_COLS - 1) == area.max()


def test_buildings_set_cover_imperviousness_and_height(features):
    np.testing.assert_array_equal(features["building_frac"].values[8:10, 20:22], 1.0)
    assert features["building_frac"].values[19, 30] == pytest.approx(0.5)
    assert features["impervious_frac"].values[19, 30] == pytest.approx(0.9)
    np.testing.assert_array_equal(features["building_height_m"].values[8:10, 20:22], 12.0)
    assert features["building_height_m"].values[19, 30] == pytest.approx(6.0)
    assert np.isnan(features["building_height_m"].values[2, 3])  # built, height unknown
    assert features["building_height_m"].values[0, 0] == 0.0


def test_without_a_sea_polygon_the_sea_is_low_land_joined_to_the_border(features):
    dem = DEM.copy(data=_ELEVATION.copy())
    dem[5, 5] = -1.0  # an inland pond below sea level stays land
    derived = static_features(dem, BUILDINGS, WATERWAYS, None, None, TEMPLATE)
    xr.testing.assert_equal(derived["land"].drop_vars("spatial_ref"),
                            features["land"].drop_vars("spatial_ref"))


def test_a_dem_in_geographic_coordinates_is_reprojected_onto_the_grid(features):
    fine = static_features(DEM.rio.reproject("EPSG:4326").assign_attrs(units="m"),
                           BUILDINGS, WATERWAYS, SEA, None, TEMPLATE)
    inland = {"y": slice(2, -2), "x": slice(2, NX - SEA_COLS - 2)}
    np.testing.assert_allclose(fine["elevation_m"].isel(inland), features["elevation_m"].isel(inland),
                               atol=0.5)
    xr.testing.assert_equal(fine.x, TEMPLATE.x)


def test_no_buildings_and_no_waterways_give_zero_cover_and_unknown_distance():
    empty = geopandas.GeoDataFrame(geometry=[], crs=CRS)
    features = static_features(DEM, empty, empty, SEA, None, TEMPLATE)
    land = features["land"]
    assert (features["building_frac"].where(land) == 0).sum() == land.sum()
    assert (features["impervious_frac"].where(land) == 0).sum() == land.sum()
    assert (features["building_height_m"].where(land) == 0).sum() == land.sum()
    assert features["dist_waterway_m"].isnull().all()
    assert features["hand_m"].where(land).notnull().sum() == land.sum()


def test_static_features_rejects_a_dem_in_feet():
    with pytest.raises(ValueError, match="`dem` must be in 'm', got units='ft'"):
        static_features(DEM.assign_attrs(units="ft"), BUILDINGS, WATERWAYS, SEA, None, TEMPLATE)


def test_static_features_leaves_its_inputs_unmodified(features):
    dem, buildings, template_ = DEM.copy(deep=True), BUILDINGS.copy(), TEMPLATE.copy(deep=True)
    static_features(dem, buildings, WATERWAYS, SEA, None, template_)
    xr.testing.assert_identical(dem, DEM)
    xr.testing.assert_identical(template_, TEMPLATE)
    assert buildings.equals(BUILDINGS)
