"""The grid cells standing for each heritage asset, and values reduced over them, for every asset at once.

Pure and vectorised over assets: a city may list thousands of sites, so nothing here loops over
assets or scans the whole grid per asset. Cells are flat indices into a regular (y, x) grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely


@dataclass(frozen=True)
class AssetCells:
    """(asset, cell) pairs sorted by asset then cell, and how each asset's cells were chosen."""

    asset: np.ndarray  # (pairs,) index into the assets
    cell: np.ndarray  # (pairs,) flat (y, x) index
    cells_from: np.ndarray  # (assets,) 'footprint', 'buffer', 'nearest_land' or 'none'
    on_water: np.ndarray  # (assets,) the asset's own cell is sea

    @property
    def counts(self) -> np.ndarray:
        """Cells per asset."""
        return np.bincount(self.asset, minlength=self.cells_from.size)


def asset_cells(geoms: np.ndarray, x: np.ndarray, y: np.ndarray, land: np.ndarray, *,
                buffer_m: float, reach_m: float) -> AssetCells:
    """The land cells standing for each asset (points or polygons in the grid's CRS, None for none).

    A polygon takes the land cells whose centre lies inside it ('footprint'); a point, or a
    polygon covering no cell centre, the land cells whose square comes within `buffer_m` of its
    anchor (the point, or the polygon's representative point: 'buffer'). A polygon covering only
    sea centres, or an asset with no land in its buffer, takes the nearest land cell(s) within
    `reach_m` (m) of its anchor ('nearest_land', ties all kept), else nothing ('none'). `x`, `y`
    are the cell centres (m, regular), `land` (y, x) bool.
    """
    geoms = np.asarray(geoms, dtype=object)
    n = geoms.size
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    polygonal = present & np.isin(shapely.get_type_id(geoms), [3, 6])  # Polygon, MultiPolygon
    anchors = np.where(polygonal, shapely.point_on_surface(geoms), geoms)
    ax, ay = shapely.get_x(anchors), shapely.get_y(anchors)  # NaN without a geometry
    present &= np.isfinite(ax) & np.isfinite(ay)
    flat_land = np.asarray(land, bool).ravel()

    # the cells around each anchor: their squares' gap to it, then the nearest land for those needing it
    half_x, half_y = abs(float(x[1] - x[0])) / 2, abs(float(y[1] - y[0])) / 2
    cell, valid, cx, cy = _around(ax, ay, present, x, y, buffer_m)
    gap = np.hypot(np.maximum(np.abs(cx - ax[:, None]) - half_x, 0.0), np.maximum(np.abs(cy - ay[:, None]) - half_y, 0.0))
    on_land = valid & flat_land[cell]
    own = valid & (gap == 0)
    on_water = own.any(axis=1) & ~(own & on_land).any(axis=1)
    buffered = on_land & (gap <= buffer_m)

    # the cells whose centre lies inside each polygon, from its bounding box
    foot_asset, foot_cell, inside = _inside_polygons(geoms, polygonal, x, y)
    has_inside = np.bincount(foot_asset[inside], minlength=n) > 0
    footprint = inside & flat_land[foot_cell]
    has_footprint = np.bincount(foot_asset[footprint], minlength=n) > 0

    use_footprint = has_footprint
    use_buffer = ~has_inside & buffered.any(axis=1)
    need = np.flatnonzero(present & ~use_footprint & ~use_buffer)  # few: assets over water or off the grid
    far_cell, far_valid, far_x, far_y = _around(ax[need], ay[need], present[need], x, y, reach_m)
    distance = np.where(far_valid & flat_land[far_cell],
                        np.hypot(far_x - ax[need, None], far_y - ay[need, None]), np.inf)
    nearest = np.isfinite(distance) & (distance == distance.min(axis=1, keepdims=True)) & (distance <= reach_m)
    use_nearest = np.zeros(n, bool)
    use_nearest[need] = nearest.any(axis=1)
    cells_from = np.select([use_footprint, use_buffer, use_nearest], ["footprint", "buffer", "nearest_land"], "none")
    near_asset, near_at = np.nonzero(nearest)
    buffer_asset, buffer_at = np.nonzero(buffered & use_buffer[:, None])
    asset = np.concatenate([foot_asset[footprint], buffer_asset, need[near_asset]])
    chosen = np.concatenate([foot_cell[footprint], cell[buffer_asset, buffer_at], far_cell[near_asset, near_at]])
    order = np.lexsort((chosen, asset))
    return AssetCells(asset[order], chosen[order], cells_from.astype(object), on_water)


def _around(ax: np.ndarray, ay: np.ndarray, present: np.ndarray, x: np.ndarray, y: np.ndarray,
            radius_m: float) -> tuple[np.ndarray, ...]:
    """(assets, window) flat cell index, inside-the-grid mask and cell centres x, y (m) of the cells
    within `radius_m` of each anchor (ax, ay) and a cell more."""
    dx, dy = float(x[1] - x[0]), float(y[1] - y[0])
    k = int(np.ceil((radius_m + max(abs(dx), abs(dy)) / 2) / min(abs(dx), abs(dy)))) + 1
    offsets = np.arange(-k, k + 1)
    rows = np.rint((np.nan_to_num(ay) - y[0]) / dy).astype(np.int64)[:, None, None] + offsets[None, :, None]
    cols = np.rint((np.nan_to_num(ax) - x[0]) / dx).astype(np.int64)[:, None, None] + offsets[None, None, :]
    rows, cols = (a.reshape(ax.size, offsets.size**2) for a in np.broadcast_arrays(rows, cols))
    valid = present[:, None] & (rows >= 0) & (rows < y.size) & (cols >= 0) & (cols < x.size)
    return (np.where(valid, rows * x.size + cols, 0), valid,
            x[np.clip(cols, 0, x.size - 1)], y[np.clip(rows, 0, y.size - 1)])


def _inside_polygons(geoms: np.ndarray, polygonal: np.ndarray, x: np.ndarray,
                     y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(asset, cell, centre inside) for every cell of each polygon's bounding box on the grid."""
    index = np.flatnonzero(polygonal)
    bounds = shapely.bounds(geoms[index]).reshape(-1, 4)
    dx, dy = float(x[1] - x[0]), float(y[1] - y[0])
    col_a, col_b = np.sort([(bounds[:, 0] - x[0]) / dx, (bounds[:, 2] - x[0]) / dx], axis=0)
    row_a, row_b = np.sort([(bounds[:, 1] - y[0]) / dy, (bounds[:, 3] - y[0]) / dy], axis=0)
    c0, c1 = np.clip(np.ceil(col_a), 0, x.size).astype(int), np.clip(np.floor(col_b) + 1, 0, x.size).astype(int)
    r0, r1 = np.clip(np.ceil(row_a), 0, y.size).astype(int), np.clip(np.floor(row_b) + 1, 0, y.size).astype(int)
    width, height = np.maximum(c1 - c0, 0), np.maximum(r1 - r0, 0)
    sizes = width * height
    which = np.repeat(np.arange(index.size), sizes)
    local = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    rows = r0[which] + local // np.maximum(width[which], 1)
    cols = c0[which] + local % np.maximum(width[which], 1)
    inside = shapely.contains_xy(geoms[index][which], x[cols], y[rows]) if which.size else np.zeros(0, bool)
    return index[which], rows * x.size + cols, inside


def reduce_by_asset(values: np.ndarray, cells: AssetCells, how: str) -> np.ndarray:
    """(lead, assets) 'max', 'min' or 'mean' of `values` (lead, y * x) over each asset's cells,
    ignoring NaN; NaN where an asset has no finite value at a lead."""
    at = values[:, cells.cell]
    out = np.full((values.shape[0], cells.cells_from.size), np.nan)
    counts = cells.counts
    some = counts > 0
    if not some.any():
        return out
    starts = (np.cumsum(counts) - counts)[some]
    if how == "mean":
        finite = ~np.isnan(at)
        total = np.add.reduceat(np.where(finite, at, 0.0), starts, axis=1)
        count = np.add.reduceat(finite.astype(int), starts, axis=1)
        out[:, some] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    else:
        out[:, some] = {"max": np.fmax, "min": np.fmin}[how].reduceat(at, starts, axis=1)
    return out


def value_at_peak(values: np.ndarray, peak_of: np.ndarray, cells: AssetCells) -> np.ndarray:
    """(lead, assets): `values` (lead, y * x) at each asset's cell of highest `peak_of` (lead, y * x)
    among cells where both are finite (the first such cell on ties); NaN without one."""
    at, key = values[:, cells.cell], peak_of[:, cells.cell]
    valid = ~np.isnan(at) & ~np.isnan(key)
    key = np.where(valid, key, -np.inf)
    peak = np.full((values.shape[0], cells.cells_from.size), -np.inf)
    np.maximum.at(peak, (slice(None), cells.asset), key)
    best = valid & (key == peak[:, cells.asset])
    position = np.where(best, np.arange(cells.cell.size), cells.cell.size)
    first = np.full(peak.shape, cells.cell.size)
    np.minimum.at(first, (slice(None), cells.asset), position)
    if not cells.cell.size:
        return np.full(peak.shape, np.nan)
    return np.where(first < cells.cell.size, np.take_along_axis(at, np.minimum(first, cells.cell.size - 1), axis=1),
                    np.nan)
