"""Warning polygons (models.warning.polygons) on 20 x 20 grids of 100 m cells with known blocks."""

import numpy as np
import pytest
import shapely

from models.warning.polygons import level_polygons
from tests.conftest import CRS, ORIGIN, grid

CELL = 100.0  # m
SMOOTH = 50.0  # m: gaps up to 100 m (one cell) close
MIN_AREA = 50_000.0  # m2: five cells


def _levels() -> np.ndarray:
    values = np.zeros((20, 20))
    values[2:12, 2:12] = 1  # 10 x 10 cells: 1 km2
    values[4:8, 4:8] = 2  # 4 x 4 cells inside it: 0.16 km2
    values[17, 17] = 1  # a speck of one cell, 0.01 km2, far from the block
    return values


def _layer(values):
    return grid(np.asarray(values, float), "warning_level", None, resolution_m=CELL)


def _centre(row: int, col: int) -> shapely.Point:
    """Centre of grid cell (row, col), rows north to south from ORIGIN."""
    xmin, ymax = ORIGIN
    return shapely.Point(xmin + (col + 0.5) * CELL, ymax - (row + 0.5) * CELL)


def _polygons(values, **kwargs):
    return level_polygons(_layer(values), crs=CRS, **{"min_area_m2": MIN_AREA, "smooth_m": SMOOTH, **kwargs})


def test_nested_blocks_give_one_row_per_level_with_their_areas():
    out = _polygons(_levels())
    assert out["level"].tolist() == [1, 2]
    # squares close onto themselves; the simplify costs a few cm along the edges
    np.testing.assert_allclose(out["area_km2"], [1.0, 0.16], rtol=1e-3)
    np.testing.assert_allclose(out.geometry.area / 1e6, out["area_km2"])
    assert out.crs == CRS
    assert out["level"].dtype == np.int64


def test_level_two_lies_inside_level_one():
    one, two = _polygons(_levels()).geometry
    assert two.difference(one).area < 1e-6  # m2
    assert one.contains(_centre(5, 5)) and two.contains(_centre(5, 5))
    assert one.contains(_centre(10, 10)) and not two.contains(_centre(10, 10))


def test_a_speck_smaller_than_min_area_is_dropped():
    one = _polygons(_levels()).geometry.iloc[0]
    assert isinstance(one, shapely.Polygon)  # the block alone, no second part
    assert not one.intersects(_centre(17, 17).buffer(10))
    kept = _polygons(_levels(), min_area_m2=0).geometry.iloc[0]
    assert kept.contains(_centre(17, 17)) and len(shapely.get_parts(kept)) == 2


def test_ascending_y_gives_the_same_polygons():
    north_up = _layer(_levels())
    south_up = north_up.isel(y=slice(None, None, -1))
    assert south_up.y.values[0] < south_up.y.values[-1]
    a = level_polygons(north_up, crs=CRS, min_area_m2=MIN_AREA, smooth_m=SMOOTH)
    b = level_polygons(south_up, crs=CRS, min_area_m2=MIN_AREA, smooth_m=SMOOTH)
    for one, other in zip(a.geometry, b.geometry, strict=True):
        assert one.symmetric_difference(other).area < 1e-6


def test_descending_x_and_transposed_dims_give_the_same_polygons():
    layer = _layer(_levels())
    flipped = layer.isel(x=slice(None, None, -1)).transpose("x", "y")
    a = level_polygons(layer, crs=CRS, min_area_m2=MIN_AREA, smooth_m=SMOOTH)
    b = level_polygons(flipped, crs=CRS, min_area_m2=MIN_AREA, smooth_m=SMOOTH)
    assert a.geometry.iloc[0].symmetric_difference(b.geometry.iloc[0]).area < 1e-6


def test_a_concave_corner_is_rounded_and_convex_ones_kept():
    values = np.zeros((20, 20))
    values[2:12, 2:6] = 1
    values[8:12, 6:12] = 1  # an L of 64 cells, its inner corner at the NE corner of cell (8, 5)
    area = _polygons(values).geometry.iloc[0]
    corner = shapely.Point(ORIGIN[0] + 6 * CELL, ORIGIN[1] - 8 * CELL)
    fillet = shapely.Point(corner.x + 10, corner.y + 10)  # 10 m NE of the corner: outside the L cells
    assert area.contains(fillet)  # the closing fills the corner (radius 50 m)
    assert not area.contains(shapely.Point(corner.x + 40, corner.y + 40))  # but only within the fillet
    assert area.area / 1e4 == pytest.approx(64, abs=0.1)  # fillet 50^2 (1 - pi/4) = 537 m2, less simplify


def test_gaps_narrower_than_twice_smooth_merge():
    values = np.zeros((20, 20))
    values[2:8, 2:8] = 1
    values[2:8, 9:15] = 1  # one empty column (100 m) between two blocks
    assert isinstance(_polygons(values, smooth_m=60).geometry.iloc[0], shapely.Polygon)
    assert isinstance(_polygons(values, smooth_m=40).geometry.iloc[0], shapely.MultiPolygon)


def test_a_hole_smaller_than_min_area_is_filled():
    values = np.zeros((20, 20))
    values[2:12, 2:12] = 1
    values[6, 6] = 0
    assert _polygons(values, smooth_m=0).geometry.iloc[0].area == pytest.approx(1e6)
    assert _polygons(values, smooth_m=0, min_area_m2=5_000).geometry.iloc[0].area == pytest.approx(1e6 - 1e4)


def test_a_level_without_cells_of_its_own_still_covers_the_levels_above():
    values = np.zeros((20, 20))
    values[2:12, 2:12] = 1
    values[4:8, 4:8] = 3  # no cell at exactly 2
    out = _polygons(values)
    assert out["level"].tolist() == [1, 2, 3]
    assert out.geometry.iloc[1].symmetric_difference(out.geometry.iloc[2]).area < 1e-6


def test_nan_cells_are_not_warned():
    values = _levels()
    values[:, 8:] = np.nan  # sea east of column 8
    one = _polygons(values).geometry.iloc[0]
    assert one.area == pytest.approx(10 * 6 * CELL**2, rel=1e-3)


def test_all_zero_or_nan_grids_give_an_empty_frame():
    for values in (np.zeros((20, 20)), np.full((20, 20), np.nan)):
        out = _polygons(values)
        assert out.empty and list(out.columns) == ["level", "area_km2", "geometry"]
        assert out.crs == CRS


def test_a_level_whose_parts_are_all_too_small_has_no_row():
    out = _polygons(_levels(), min_area_m2=200_000)  # the level-2 block is 160 000 m2
    assert out["level"].tolist() == [1]


def test_input_is_left_unmodified():
    layer = _layer(_levels())
    before = layer.copy(deep=True)
    _ = level_polygons(layer, crs=CRS, min_area_m2=MIN_AREA, smooth_m=SMOOTH)
    assert layer.identical(before)


def test_irregular_coordinates_are_rejected():
    layer = _layer(_levels())
    x = layer.x.values.copy()
    x[5] += 10
    with pytest.raises(ValueError, match="`level` must have a regular `x` coordinate"):
        level_polygons(layer.assign_coords(x=x), crs=CRS, min_area_m2=MIN_AREA, smooth_m=SMOOTH)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"min_area_m2": -1.0}, "`min_area_m2` must be a finite number >= 0"),
    ({"smooth_m": float("nan")}, "`smooth_m` must be a finite number >= 0"),
    ({"crs": "EPSG:4326"}, "`crs` must be projected"),
    ({"crs": "not a crs"}, "`crs` is not a CRS"),
])
def test_bad_arguments_are_named(kwargs, message):
    arguments = {"crs": CRS, "min_area_m2": MIN_AREA, "smooth_m": SMOOTH, **kwargs}
    with pytest.raises(ValueError, match=message):
        level_polygons(_layer(_levels()), **arguments)


@pytest.mark.parametrize("bad", [1.5, -1.0])
def test_levels_must_be_whole_and_not_negative(bad):
    values = _levels()
    values[0, 0] = bad
    with pytest.raises(ValueError, match="`level` must hold whole numbers >= 0 or NaN"):
        _polygons(values)


def test_level_must_be_a_y_x_grid_of_two_cells_or_more():
    with pytest.raises(ValueError, match=r"`level` must have dims \(y, x\)"):
        level_polygons(_layer(_levels()).rename(y="row"), crs=CRS, min_area_m2=0, smooth_m=0)
    with pytest.raises(ValueError, match="`level` needs a 1-D `y` coordinate of at least 2 cells"):
        level_polygons(_layer(_levels()).isel(y=[0]), crs=CRS, min_area_m2=0, smooth_m=0)
