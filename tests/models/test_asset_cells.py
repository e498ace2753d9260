"""asset_cells and its reductions, for every asset at once, against a plain scan of the whole grid per asset."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from models.asset_cells import asset_cells, reduce_by_asset, value_at_peak

X = np.arange(15.0, 600.0, 30.0)  # 20 columns of 30 m cells
Y = np.arange(885.0, 0.0, -30.0)  # 30 rows, north up
XX, YY = np.meshgrid(X, Y)


def brute_force(geom, land, *, buffer_m, reach_m):
    """The rule of asset_cells, by scanning every cell for one asset."""
    if geom is None:
        return np.zeros(land.size, bool), "none"
    polygonal = geom.geom_type in ("Polygon", "MultiPolygon")
    anchor = geom.representative_point() if polygonal else geom
    gap = np.hypot(np.maximum(np.abs(XX - anchor.x) - 15, 0), np.maximum(np.abs(YY - anchor.y) - 15, 0))
    inside = shapely.contains_xy(geom, XX, YY) if polygonal else np.zeros_like(land)
    cells, rule = (inside & land, "footprint") if inside.any() else ((gap <= buffer_m) & land, "buffer")
    if not cells.any():
        distance = np.where(land, np.hypot(XX - anchor.x, YY - anchor.y), np.inf)
        cells = (distance == distance.min()) & (distance.min() <= reach_m)
        rule = "nearest_land" if cells.any() else "none"
    return cells.ravel(), rule


def random_assets(rng, n):
    geoms = []
    for i in range(n):
        x, y = rng.uniform(-100, 700), rng.uniform(-100, 1000)
        geoms.append([shapely.Point(x, y), shapely.Point(x, y).buffer(rng.uniform(5, 120)),
                      shapely.box(x, y, x + rng.uniform(1, 25), y + rng.uniform(1, 25)), None][i % 4])
    return np.array(geoms, dtype=object)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_asset_cells_are_those_a_scan_of_the_whole_grid_finds(seed):
    rng = np.random.default_rng(seed)
    land = XX < rng.uniform(200, 500)  # sea in the east
    land[rng.integers(0, 30, 40), rng.integers(0, 20, 40)] = False  # ponds
    geoms = random_assets(rng, 60)
    got = asset_cells(geoms, X, Y, land, buffer_m=30.0, reach_m=90.0)
    for i, geom in enumerate(geoms):
        cells, rule = brute_force(geom, land, buffer_m=30.0, reach_m=90.0)
        assert got.cells_from[i] == rule, i
        np.testing.assert_array_equal(got.cell[got.asset == i], np.flatnonzero(cells))


def test_reductions_per_asset_ignore_nan_and_leave_an_asset_without_cells_nan():
    land = np.ones_like(XX, bool)
    geoms = np.array([shapely.box(0, 840, 60, 900), shapely.Point(5000, 5000)], dtype=object)  # 4 cells; none
    cells = asset_cells(geoms, X, Y, land, buffer_m=0.0, reach_m=0.0)
    values = np.tile(np.arange(XX.size, dtype=float), (2, 1))
    values[1, cells.cell[0]] = np.nan
    peak = np.zeros_like(values)
    peak[:, cells.cell[2]] = 1.0
    expected = values[:, cells.cell]
    np.testing.assert_array_equal(reduce_by_asset(values, cells, "max")[:, 0], np.nanmax(expected, axis=1))
    np.testing.assert_array_equal(reduce_by_asset(values, cells, "min")[:, 0], np.nanmin(expected, axis=1))
    np.testing.assert_allclose(reduce_by_asset(values, cells, "mean")[:, 0], np.nanmean(expected, axis=1))
    np.testing.assert_array_equal(value_at_peak(values, peak, cells)[:, 0], values[:, cells.cell[2]])
    assert np.isnan(reduce_by_asset(values, cells, "max")[:, 1]).all()
    assert np.isnan(value_at_peak(values, peak, cells)[:, 1]).all()
