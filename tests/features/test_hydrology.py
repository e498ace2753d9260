import numpy as np
import pytest

from features.hydrology import (
    depression_area_ha,
    depression_depth_m,
    drainage_capacity_mm,
    height_above_nearest_drain_m,
    outfall_distance_m,
    tide_block_level_m,
    topographic_wetness_index,
)
from features.terrain import (
    conditioned_elevation_m,
    flow_direction,
    height_above_nearest_drainage,
    upstream_area_km2,
)
from tests.conftest import grid

CELL_HA = 0.09  # one 30 m cell

# A closed depression: a 2-cell pit (0.5 m and 1.0 m) inside a rim whose lowest pour point is 2 m.
PIT_DEM = grid([[3.0, 3.0, 3.0, 2.0, 3.0],
                [3.0, 0.5, 1.0, 2.5, 3.0],
                [3.0, 3.0, 3.0, 3.0, 3.0]], "dem", "m")
PIT_LAND = grid(np.ones((3, 5), bool), "land", None)

# A V-shaped valley 1x5 across: 4 2 0 2 4 m, the river in the middle.
V_DEM = grid([[4.0, 2.0, 0.0, 2.0, 4.0]], "dem", "m")
V_LAND = grid(np.ones((1, 5), bool), "land", None)
V_RIVER = grid(np.array([[False, False, True, False, False]]), "drains", None)

# A strip falling east to the sea: land at 2.0, 1.0, 0.5 m, then sea.
STRIP_DEM = grid([[2.0, 1.0, 0.5, -1.0]], "dem", "m")
STRIP_SEA = grid(np.array([[False, False, False, True]]), "sea", None)


def test_a_closed_depression_is_filled_to_its_pour_point():
    conditioned = conditioned_elevation_m(PIT_DEM, PIT_LAND)
    depth = depression_depth_m(PIT_DEM, conditioned)
    expected = np.zeros((3, 5))
    expected[1, 1:3] = [1.5, 1.0]
    np.testing.assert_allclose(depth.values, expected)
    assert depth.attrs["units"] == "m"


def test_depression_area_covers_every_cell_of_the_depression_only():
    depth = depression_depth_m(PIT_DEM, conditioned_elevation_m(PIT_DEM, PIT_LAND))
    area = depression_area_ha(depth)
    expected = np.zeros((3, 5))
    expected[1, 1:3] = 2 * CELL_HA
    np.testing.assert_allclose(area.values, expected)


def test_depression_depth_is_nan_off_land():
    land = PIT_LAND.copy(data=PIT_LAND.values.copy())
    land.values[2, 4] = False  # a DEM hole away from the pit
    depth = depression_depth_m(PIT_DEM.where(land), conditioned_elevation_m(PIT_DEM.where(land), land))
    assert np.isnan(depth.values[2, 4]) and depth.values[1, 1] == pytest.approx(1.5)


def test_hand_of_a_v_valley_is_the_drop_to_the_river():
    flow_dir = flow_direction(V_DEM, V_LAND)
    hand = height_above_nearest_drainage(V_DEM, flow_dir, V_RIVER)
    np.testing.assert_allclose(hand.values, [[4.0, 2.0, 0.0, 2.0, 4.0]])


def test_straight_line_drain_height_of_a_v_valley():
    height = height_above_nearest_drain_m(V_DEM, V_RIVER)
    np.testing.assert_allclose(height.values, [[4.0, 2.0, 0.0, 2.0, 4.0]])


def test_drain_height_is_unknown_without_drains():
    height = height_above_nearest_drain_m(V_DEM, V_RIVER.copy(data=np.zeros((1, 5), bool)))
    assert np.isnan(height.values).all()


def test_accumulation_on_a_tilted_plane_grows_by_one_cell_per_row():
    rows = np.arange(4)[:, None]
    dem = grid((10.0 - rows).astype(float), "dem", "m")  # one column falling south
    area = upstream_area_km2(flow_direction(dem, grid(np.ones((4, 1), bool), "land", None)))
    np.testing.assert_allclose(area.values[:, 0], np.array([1, 2, 3, 4]) * 0.03 * 0.03, rtol=1e-6)


def test_accumulation_on_a_wide_tilted_plane_brings_every_cell_to_an_outlet():
    rows = np.arange(4)[:, None]
    dem = grid(np.broadcast_to(10.0 - rows, (4, 3)).astype(float), "dem", "m")
    flow_dir = flow_direction(dem, grid(np.ones((4, 3), bool), "land", None))
    area = upstream_area_km2(flow_dir)
    outlets = flow_dir.values == 0
    assert area.values[outlets].sum() == pytest.approx(12 * 0.03 * 0.03, rel=1e-6)
    assert (area.values[:-1] <= area.values[1:].max()).all()


def test_wetness_index_is_hand_computed_down_a_tilted_plane():
    dem = grid((10.0 - np.arange(4)[:, None]).astype(float), "dem", "m")
    area = upstream_area_km2(flow_direction(dem, grid(np.ones((4, 1), bool), "land", None)))
    twi = topographic_wetness_index(area, grid(np.full((4, 1), 45.0), "slope", "degree"))
    np.testing.assert_allclose(twi.values[:, 0], np.log(np.array([1, 2, 3, 4]) * 900 / 30 / 1.0), rtol=1e-5)


def test_wetness_index_is_finite_on_flats():
    area = grid(np.full((1, 2), 0.0009), "area", "km2")
    twi = topographic_wetness_index(area, grid(np.zeros((1, 2)), "slope", "degree"))
    np.testing.assert_allclose(twi.values, np.log(30 / 1e-3), rtol=1e-5)


def test_the_outfall_is_blocked_once_the_sea_stands_above_the_cell():
    land = ~STRIP_SEA
    conditioned = conditioned_elevation_m(STRIP_DEM.where(land), land)
    flow_dir = flow_direction(STRIP_DEM.where(land), land)
    level = tide_block_level_m(conditioned, flow_dir, STRIP_SEA)
    np.testing.assert_allclose(level.values, [[2.0, 1.0, 0.5, np.nan]])
    blocked = level.values <= 1.2  # a 1.2 m tide backs up the two low cells, not the 2 m one
    np.testing.assert_array_equal(blocked, [[False, True, True, False]])


def test_cells_draining_off_a_land_border_are_never_tide_blocked():
    dem = grid([[0.5, 1.0, 2.0, -1.0]], "dem", "m")  # falls west, away from the sea in the east
    sea = grid(np.array([[False, False, False, True]]), "sea", None)
    flow_dir = flow_direction(dem.where(~sea), ~sea)
    level = tide_block_level_m(conditioned_elevation_m(dem.where(~sea), ~sea), flow_dir, sea)
    assert np.isnan(level.values[0, :2]).all()


def test_outfall_distance_counts_cells_along_the_path():
    land = ~STRIP_SEA
    flow_dir = flow_direction(STRIP_DEM.where(land), land)
    np.testing.assert_allclose(outfall_distance_m(flow_dir).values, [[60.0, 30.0, 0.0, np.nan]])


def test_drainage_capacity_halves_250_m_from_a_drain_on_sealed_ground():
    distance = grid([[0.0, 250.0, 250.0]], "d", "m")
    impervious = grid([[1.0, 1.0, 0.0]], "i", "1")
    np.testing.assert_allclose(drainage_capacity_mm(distance, impervious).values, [[40.0, 20.0, 50.0]])


def test_hydrology_rejects_wrong_units_and_grids_by_name():
    with pytest.raises(ValueError, match="`slope_deg` must be in 'degree'"):
        topographic_wetness_index(grid([[0.1]], "a", "km2"), grid([[1.0]], "s", "rad"))
    with pytest.raises(ValueError, match="`drains` is not on the grid of `dem`"):
        height_above_nearest_drain_m(V_DEM, V_RIVER.assign_coords(x=V_RIVER.x + 15))
    with pytest.raises(ValueError, match="`sea` must be boolean"):
        tide_block_level_m(STRIP_DEM, flow_direction(STRIP_DEM, ~STRIP_SEA), STRIP_SEA.astype(int))


def test_hydrology_leaves_inputs_unmodified():
    before = PIT_DEM.copy(deep=True)
    conditioned = conditioned_elevation_m(PIT_DEM, PIT_LAND)
    depression_area_ha(depression_depth_m(PIT_DEM, conditioned))
    height_above_nearest_drain_m(V_DEM, V_RIVER)
    assert PIT_DEM.identical(before)
