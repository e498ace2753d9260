import numpy as np
import pytest
import xarray as xr

from features.terrain import (
    bare_earth_m,
    cell_size_m,
    flow_direction,
    height_above_nearest_drainage,
    slope_deg,
    upstream_area_km2,
)
from tests.conftest import grid

CELL_KM2 = 0.03 * 0.03  # one 30 m cell

# A 3x3 valley draining south into a sea cell; every land cell drains to the centre's outlet.
DEM = grid([[5.0, 4.0, 5.0],
            [4.0, 1.0, 4.0],
            [5.0, 0.0, 5.0]], "dem", "m")
LAND = grid([[True, True, True],
             [True, True, True],
             [True, False, True]], "land", None)
E, SE, S, SW, W, NW, N, NE, OUTLET, NODATA = 1, 2, 4, 8, 16, 32, 64, 128, 0, 247

# A 1x4 valley: 3 2 1 2 m, the drain in the third cell.
ROW_DEM = grid([[3.0, 2.0, 1.0, 2.0]], "dem", "m")
ROW_LAND = grid(np.ones((1, 4), bool), "land", None)
ROW_DRAINS = grid(np.array([[False, False, True, False]]), "drains", None)


def test_flow_direction_points_every_land_cell_to_the_valley_outlet():
    flow_dir = flow_direction(DEM, LAND)
    expected = [[SE, S, SW], [E, OUTLET, W], [NE, NODATA, NW]]
    np.testing.assert_array_equal(flow_dir.values, expected)
    assert flow_dir.dtype == np.uint8
    assert flow_dir.name == "flow_dir"


def test_flow_direction_fills_an_inland_pit():
    dem = grid([[3.0, 3.0, 3.0, 3.0, 3.0],
                [3.0, 2.0, 0.5, 2.0, 3.0],
                [3.0, 2.0, 2.0, 2.0, 1.0]], "dem", "m")
    flow_dir = flow_direction(dem, grid(np.ones((3, 5), bool), "land", None))
    assert flow_dir.values[1, 2] != OUTLET  # the pit drains on, over its filled rim


def test_flow_direction_keeps_the_crs_and_coords():
    flow_dir = flow_direction(DEM, LAND)
    assert flow_dir.rio.crs == DEM.rio.crs
    xr.testing.assert_equal(flow_dir.x, DEM.x)


def test_upstream_area_counts_all_cells_draining_through_the_outlet():
    area = upstream_area_km2(flow_direction(DEM, LAND))
    expected = np.full((3, 3), CELL_KM2)
    expected[1, 1] = 8 * CELL_KM2
    expected[2, 1] = np.nan
    np.testing.assert_allclose(area.values, expected, rtol=1e-6)
    assert area.attrs["units"] == "km2"


def test_upstream_area_grows_downstream_along_a_valley_floor():
    rows, cols = np.mgrid[0:5, 0:6]
    dem = grid(0.5 * abs(rows - 2) + (5.0 - cols), "dem", "m")  # a V valley falling east
    land = grid(cols < 5, "land", None)  # the sea in the last column
    floor = upstream_area_km2(flow_direction(dem, land)).isel(y=2).values[:5]
    assert (np.diff(floor) > 0).all()
    assert floor[-1] == pytest.approx(25 * CELL_KM2)  # the whole land drains out through it


def test_hand_in_a_one_by_four_valley_is_the_drop_to_the_drain():
    flow_dir = flow_direction(ROW_DEM, ROW_LAND)
    hand = height_above_nearest_drainage(ROW_DEM, flow_dir, ROW_DRAINS)
    np.testing.assert_allclose(hand.values, [[2.0, 1.0, 0.0, 1.0]])
    assert hand.name == "hand_m" and hand.attrs["units"] == "m"


def test_hand_is_nan_at_sea_and_zero_at_the_outlet():
    flow_dir = flow_direction(DEM, LAND)
    hand = height_above_nearest_drainage(DEM, flow_dir, xr.zeros_like(LAND))
    assert np.isnan(hand.values[2, 1])
    expected = [[4.0, 3.0, 4.0], [3.0, 0.0, 3.0], [4.0, np.nan, 4.0]]
    np.testing.assert_allclose(hand.values, expected)


def test_hand_rejects_layers_on_another_grid():
    flow_dir = flow_direction(ROW_DEM, ROW_LAND)
    shifted = ROW_DRAINS.assign_coords(x=ROW_DRAINS.x + 15)
    with pytest.raises(ValueError, match="`drains` is not on the grid of `dem`"):
        height_above_nearest_drainage(ROW_DEM, flow_dir, shifted)


def test_hand_rejects_a_dem_in_feet():
    flow_dir = flow_direction(ROW_DEM, ROW_LAND)
    dem_ft = ROW_DEM.assign_attrs(units="ft")
    with pytest.raises(ValueError, match="`dem` must be in 'm', got units='ft'"):
        height_above_nearest_drainage(dem_ft, flow_dir, ROW_DRAINS)


def test_hand_rejects_non_boolean_drains():
    flow_dir = flow_direction(ROW_DEM, ROW_LAND)
    with pytest.raises(ValueError, match="`drains` must be boolean"):
        height_above_nearest_drainage(ROW_DEM, flow_dir, ROW_DRAINS.astype(int))


def test_flow_direction_rejects_non_boolean_land():
    with pytest.raises(ValueError, match="`land` must be boolean"):
        flow_direction(ROW_DEM, ROW_LAND.astype(float))


def test_flow_direction_rejects_a_land_mask_on_another_grid():
    with pytest.raises(ValueError, match="`land` is not on the grid of `dem`"):
        flow_direction(ROW_DEM, ROW_LAND.assign_coords(y=ROW_LAND.y + 30))


def test_upstream_area_rejects_float_flow_directions():
    flow_dir = flow_direction(ROW_DEM, ROW_LAND).astype("float32")
    with pytest.raises(ValueError, match="`flow_dir` must hold uint8 D8 codes"):
        upstream_area_km2(flow_dir)


def test_terrain_functions_leave_inputs_unmodified():
    dem, land, drains = DEM.copy(deep=True), LAND.copy(deep=True), xr.zeros_like(LAND)
    flow_dir = flow_direction(dem, land)
    before = flow_dir.copy(deep=True)
    upstream_area_km2(flow_dir)
    height_above_nearest_drainage(dem, flow_dir, drains)
    slope_deg(dem)
    xr.testing.assert_identical(dem, DEM)
    xr.testing.assert_identical(land, LAND)
    xr.testing.assert_identical(flow_dir, before)
    assert not drains.any()


def test_slope_of_a_plane_is_its_gradient_everywhere():
    x = np.arange(4) * 30.0
    plane = grid(np.tile(0.1 * x, (3, 1)) + 5.0, "dem", "m")  # rises 0.1 m per m eastward
    slope = slope_deg(plane)
    np.testing.assert_allclose(slope.values, np.degrees(np.arctan(0.1)), rtol=1e-6)
    assert slope.attrs["units"] == "degree" and slope.name == "slope_deg"


def test_slope_combines_both_directions_and_uses_the_cell_size():
    y = np.arange(3)[:, None] * 10.0
    x = np.arange(3)[None, :] * 10.0
    plane = grid(0.3 * x + 0.4 * y, "dem", "m", resolution_m=10)  # |gradient| = 0.5
    np.testing.assert_allclose(slope_deg(plane).values, np.degrees(np.arctan(0.5)), rtol=1e-6)


def test_slope_is_nan_at_sea_and_one_sided_on_the_coast():
    dem = grid([[3.0, 2.0, 1.0, np.nan]], "dem", "m")
    slope = slope_deg(dem)
    expected = np.degrees(np.arctan(1.0 / 30.0))
    np.testing.assert_allclose(slope.values[0, :3], expected, rtol=1e-6)
    assert np.isnan(slope.values[0, 3])


def test_slope_rejects_a_geographic_grid():
    dem = ROW_DEM.rio.write_crs("EPSG:4326")
    with pytest.raises(ValueError, match="`dem` must be on a projected grid in m"):
        slope_deg(dem)


def test_cell_size_is_read_from_the_grid():
    assert cell_size_m(grid(np.zeros((2, 3)), "dem", "m", resolution_m=25), "dem") == (25.0, 25.0)


# A 9x9 block of a shophouse town on ground that rises 0.3 m a cell eastward and falls 0.1 m a cell
# southward; a 3x3 block 10 m tall and a 2x2 block 7 m tall, streets around both.
ROWS, COLS = np.mgrid[0:9, 0:9]
GROUND = 2.0 + 0.3 * COLS - 0.1 * ROWS
BLOCKS = np.zeros((9, 9), bool)
BLOCKS[2:5, 2:5] = True
BLOCKS[6:8, 5:7] = True
ROOFS = GROUND + np.where(BLOCKS, np.where(ROWS < 5, 10.0, 7.0), 0.0)
BARE_EARTH_TOLERANCE_M = 0.001  # a plane under the roofs comes back exactly


def test_bare_earth_lowers_building_cells_to_the_ground_around_them():
    ground = bare_earth_m(grid(ROOFS, "dsm", "m"), grid(BLOCKS, "buildings", None))
    np.testing.assert_allclose(ground.values[BLOCKS], GROUND[BLOCKS], atol=BARE_EARTH_TOLERANCE_M)
    np.testing.assert_array_equal(ground.values[~BLOCKS], ROOFS[~BLOCKS].astype("float32"))
    assert (ground.name, ground.attrs["units"]) == ("bare_earth_m", "m")


def test_bare_earth_never_raises_a_cell_and_keeps_nan():
    surface = ROOFS.copy()
    surface[3, 3] = 1.0  # a courtyard (or a wrong roof) below the streets around it
    surface[0, 0] = np.nan
    ground = bare_earth_m(grid(surface, "dsm", "m"), grid(BLOCKS, "buildings", None))
    assert ground.values[3, 3] == 1.0
    assert np.isnan(ground.values[0, 0])
    assert np.all(ground.values[BLOCKS] <= surface[BLOCKS])


def test_bare_earth_of_a_block_on_the_grid_edge_takes_the_nearest_street():
    blocks = np.zeros((9, 9), bool)
    blocks[:, 0] = True  # the ring is one straight column: no triangles
    ground = bare_earth_m(grid(ROOFS + 10 * blocks, "dsm", "m"), grid(blocks, "buildings", None))
    np.testing.assert_allclose(ground.values[:, 0], GROUND[:, 1], atol=BARE_EARTH_TOLERANCE_M)


def test_bare_earth_refuses_a_town_that_is_all_roof():
    with pytest.raises(ValueError, match="`buildings` covers every valid cell of `surface`"):
        bare_earth_m(grid(ROOFS, "dsm", "m"), grid(np.ones((9, 9), bool), "buildings", None))


def test_bare_earth_checks_units_grid_and_mask_type():
    with pytest.raises(ValueError, match="`surface` must be in 'm'"):
        bare_earth_m(grid(ROOFS, "dsm", "ft"), grid(BLOCKS, "buildings", None))
    with pytest.raises(ValueError, match="`buildings` must be boolean"):
        bare_earth_m(grid(ROOFS, "dsm", "m"), grid(BLOCKS.astype(float), "buildings", None))
    with pytest.raises(ValueError, match="`buildings` is not on the grid of `surface`"):
        bare_earth_m(grid(ROOFS, "dsm", "m"), grid(BLOCKS[:8], "buildings", None))


def test_bare_earth_leaves_its_inputs_unmodified():
    surface, blocks = grid(ROOFS, "dsm", "m"), grid(BLOCKS, "buildings", None)
    before = surface.copy(deep=True), blocks.copy(deep=True)
    bare_earth_m(surface, blocks)
    xr.testing.assert_identical(surface, before[0])
    xr.testing.assert_identical(blocks, before[1])
