"""Area warnings as polygons: the cells at or above each warning level, vectorised, smoothed and nested."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
import xarray as xr
from affine import Affine
from pyproj import CRS
from pyproj.exceptions import CRSError
from rasterio import features

# Simplify tolerance as a share of `smooth_m`: drops the buffer's redundant arc vertices, keeps the shape.
_SIMPLIFY_SHARE = 0.1


def _regular_spacing(coord: np.ndarray, name: str) -> float:
    """The constant step of a 1-D coordinate (signed), or ValueError naming `level`'s coordinate."""
    if coord.ndim != 1 or coord.size < 2:
        raise ValueError(f"`level` needs a 1-D `{name}` coordinate of at least 2 cells, got shape {coord.shape}")
    step = np.diff(coord)
    if step[0] == 0 or not np.allclose(step, step[0], rtol=1e-6, atol=0):
        raise ValueError(f"`level` must have a regular `{name}` coordinate (constant, non-zero spacing)")
    return float(step[0])


def _north_up(level: xr.DataArray) -> tuple[np.ndarray, Affine]:
    """`level`'s values with rows north to south and columns west to east, and their affine transform."""
    if set(level.dims) != {"y", "x"}:
        raise ValueError(f"`level` must have dims (y, x), got {level.dims}")
    level = level.transpose("y", "x")
    dx = _regular_spacing(np.asarray(level.x), "x")
    dy = _regular_spacing(np.asarray(level.y), "y")
    values = np.asarray(level, float)[:: -1 if dy > 0 else 1, :: -1 if dx < 0 else 1]
    x0, y0 = float(level.x.min()), float(level.y.max())  # centre of the north-west cell
    width, height = abs(dx), abs(dy)
    return values, Affine(width, 0, x0 - width / 2, 0, -height, y0 + height / 2)


def _projected_crs(crs) -> CRS:
    try:
        parsed = CRS.from_user_input(crs)
    except CRSError as err:
        raise ValueError(f"`crs` is not a CRS: {crs!r}") from err
    if not parsed.is_projected:
        raise ValueError(f"`crs` must be projected, in m (areas are in m2), got {parsed.to_string()}")
    return parsed


def _cells_at_or_above(values: np.ndarray, k: int, transform: Affine):
    """Union of the cells whose level is >= k, in the grid's coordinates."""
    inside = values >= k  # NaN compares False
    parts = features.shapes(inside.astype(np.uint8), mask=inside, transform=transform)
    return shapely.unary_union([shapely.geometry.shape(part) for part, _ in parts])


def _without_small_parts(area, min_area_m2: float):
    """`area` without polygons, and holes, smaller than `min_area_m2` (and without any line or point)."""
    kept = []
    for part in shapely.get_parts(shapely.get_parts(area)):  # a collection may hold multipolygons
        if isinstance(part, shapely.Polygon) and part.area >= min_area_m2:
            holes = [ring for ring in part.interiors if shapely.Polygon(ring).area >= min_area_m2]
            kept.append(shapely.Polygon(part.exterior, holes))
    return shapely.unary_union(kept)


def level_polygons(level: xr.DataArray, *, crs, min_area_m2: float, smooth_m: float) -> gpd.GeoDataFrame:
    """Warning areas by level: one row per level k >= 1 with the (multi)polygon of the cells at level >= k.

    `level` holds whole warning levels (0 none; float allowed, NaN sea or no data) on a (y, x)
    grid of regular 1-D cell-centre coordinates in m, either direction; `crs` is that grid's
    projected CRS. Areas are nested, as warning services draw them: each level's polygon lies
    inside the one below. Each is smoothed by a morphological closing of radius `smooth_m`
    (buffer out, then in: gaps and bays narrower than 2 x `smooth_m` fill, also over NaN cells),
    simplified by a tenth of `smooth_m`, clipped to the level below, then stripped of parts and
    holes smaller than `min_area_m2`. Columns `level` (int), `area_km2`, geometry. A level none
    of whose parts is large enough has no row (nor has any above it); no cell at level >= 1
    gives an empty frame with those columns.
    """
    values, transform = _north_up(level)
    crs = _projected_crs(crs)
    for name, value in {"min_area_m2": min_area_m2, "smooth_m": smooth_m}.items():
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"`{name}` must be a finite number >= 0, got {value!r}")
    known = values[~np.isnan(values)]
    if np.any((known != np.round(known)) | (known < 0)):
        raise ValueError("`level` must hold whole numbers >= 0 or NaN")
    top = int(known.max()) if known.size else 0
    levels, areas = [], []
    for k in range(1, top + 1):  # one pass per level; the cells are vectorised by rasterio
        area = _cells_at_or_above(values, k, transform).buffer(smooth_m).buffer(-smooth_m)
        area = area.simplify(_SIMPLIFY_SHARE * smooth_m)
        if areas:
            area = area.intersection(areas[-1])
        area = _without_small_parts(area, min_area_m2)
        if area.is_empty:
            break  # every level above lies inside this one
        levels.append(k)
        areas.append(area)
    return gpd.GeoDataFrame(
        {"level": np.array(levels, dtype=np.int64), "area_km2": np.array([a.area for a in areas]) / 1e6},
        geometry=gpd.GeoSeries(areas, crs=crs), crs=crs,
    )
