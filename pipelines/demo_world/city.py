"""The demo world's built fabric: density, streets, buildings, imperviousness and street drains.

Buildings are axis-aligned rectangles on lattices: rows of shophouses (5.4 m x 26 m lots) in
the dense historic core, houses and larger blocks outward, none on the sea, steep slopes or
streets. Streets form a grid (110 m x 90 m blocks) over the built-up area; every third street
carries a drain to the waterway network.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import rasterio.features
import shapely
import xarray as xr
from affine import Affine

from pipelines.demo_world.terrain import smooth_noise

STREET_SPACING_M = (110.0, 90.0)  # between north-south and between east-west streets
STREET_HALF_WIDTH_M = 5.0
CORE_DENSITY = 0.68  # shophouse rows above this built density
BUILT_DENSITY = 0.12  # streets and buildings above this
DRAIN_DENSITY = 0.35  # street drains above this
_SUPERSAMPLE = 5


def built_density(
    dem: xr.DataArray, land: xr.DataArray, centre: tuple[float, float], resolution_m: float,
    rng: np.random.Generator,
) -> xr.DataArray:
    """Built-up density 0..1 per cell: highest at the historic core, none on sea, hills or slopes."""
    xx, yy = np.meshgrid(dem.x.values, dem.y.values)
    core = np.exp(-np.hypot(xx - centre[0], yy - centre[1]) / 1300)
    flat = np.clip(1 - (np.nan_to_num(_slope_deg(np.where(land.values, dem.values, np.nan).astype("float64"), resolution_m)) - 4) / 6,
                   0, 1)
    low = np.clip(1 - (dem.values - 30) / 40, 0, 1)
    noise = 0.1 * smooth_noise(rng, dem.shape, 400 / resolution_m)
    density = np.clip(0.42 + 0.58 * core + noise, 0, 1) * flat * low * land.values
    return xr.DataArray(density.astype("float32"), coords=dem.coords, dims=dem.dims, name="built_density",
                        attrs={"long_name": "built-up density", "units": "1"})


def _slope_deg(z: np.ndarray, resolution_m: float) -> np.ndarray:
    """Steepest slope (degrees) of the (y, x) elevations `z`: central differences, one-sided
    beside NaN or the grid's edge, 0 with no valid neighbour; NaN where `z` is NaN."""
    def gradient(axis: int) -> np.ndarray:
        padded = np.pad(z, [(1, 1) if a == axis else (0, 0) for a in range(2)], constant_values=np.nan)
        steps = np.stack([np.take(padded, np.arange(2, z.shape[axis] + 2), axis=axis) - z,
                          z - np.take(padded, np.arange(z.shape[axis]), axis=axis)])
        count = np.isfinite(steps).sum(axis=0)
        return np.where(count > 0, np.nansum(steps, axis=0) / np.maximum(count, 1), 0.0) / resolution_m

    rise = np.hypot(gradient(1), gradient(0))
    return np.where(np.isfinite(z), np.degrees(np.arctan(rise)), np.nan).astype("float32")


def street_distance_m(x: np.ndarray, y: np.ndarray, bounds: tuple) -> np.ndarray:
    """Distance (m) from points to the nearest street centre line of the lattice."""
    (sx, sy), (xmin, ymin) = STREET_SPACING_M, bounds[:2]
    dx = np.abs((x - xmin) % sx - sx / 2)
    dy = np.abs((y - ymin) % sy - sy / 2)
    return np.minimum(dx, dy)


def _cell_index(x: np.ndarray, y: np.ndarray, template: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    col, row = ~template.rio.transform() @ (x, y)
    ny, nx = template.shape
    return np.clip(np.floor(row).astype(int), 0, ny - 1), np.clip(np.floor(col).astype(int), 0, nx - 1)


def _lots(step: tuple[float, float], size: tuple[float, float], bounds: tuple) -> tuple[np.ndarray, ...]:
    """Lower-left corners of a lattice of lots over `bounds`, and their upper-right corners."""
    xmin, ymin, xmax, ymax = bounds
    x0, y0 = np.meshgrid(np.arange(xmin, xmax - size[0], step[0]), np.arange(ymin, ymax - size[1], step[1]))
    x0, y0 = x0.ravel(), y0.ravel()
    return x0, y0, x0 + size[0], y0 + size[1]


def _clear_of_streets(x0, y0, x1, y1, bounds) -> np.ndarray:
    """True for rectangles (shorter than a block) that no street band crosses."""
    (sx, sy), (xmin, ymin) = STREET_SPACING_M, bounds[:2]
    def clear(low, high, origin, spacing):
        mid = (low + high) / 2
        street = origin + spacing * (np.round((mid - origin) / spacing - 0.5) + 0.5)  # nearest
        return np.abs(mid - street) > STREET_HALF_WIDTH_M + (high - low) / 2
    return clear(x0, x1, xmin, sx) & clear(y0, y1, ymin, sy)


def _block_id(x: np.ndarray, y: np.ndarray, bounds: tuple, size: float) -> np.ndarray:
    """Id of the `size` m square of a lattice anchored at the bounds' lower left that holds (x, y)."""
    return np.floor((x - bounds[0]) / size).astype(np.int64) * 1_000_000 + np.floor((y - bounds[1]) / size)


def buildings(
    density: xr.DataArray, land: xr.DataArray, bounds: tuple, rng: np.random.Generator
) -> gpd.GeoDataFrame:
    """Building footprints (rectangles) with `height_m`, in the grid CRS."""
    def density_at(x0, y0, x1, y1):
        return density.values[_cell_index((x0 + x1) / 2, (y0 + y1) / 2, density)]

    # shophouse rows in the core: 6 m frontage, 30 m deep lots, 2-3 storeys
    shop = _lots((6.0, 30.0), (5.4, 26.0), bounds)
    shop_keep = (density_at(*shop) > CORE_DENSITY) & (rng.random(shop[0].size) < 0.92)
    shop_height = 7.5 + 3.5 * rng.random(shop[0].size)
    # larger blocks (flats, schools, warehouses, a few towers), one per 60 m square at most
    bx0, by0, _, _ = _lots((60.0, 60.0), (50.0, 48.0), bounds)
    bx0, by0 = bx0 + rng.uniform(0, 10, bx0.size), by0 + rng.uniform(0, 12, bx0.size)
    block = (bx0, by0, bx0 + rng.uniform(25, 40, bx0.size), by0 + rng.uniform(20, 36, bx0.size))
    block_density = density_at(*block)
    block_keep = (block_density > 0.3) & (block_density <= CORE_DENSITY) & (rng.random(bx0.size) < 0.15)
    block_height = 10 + 50 * rng.random(bx0.size) ** 3
    # houses, one per 20 m lot, fewer where the density is low, none in a large block's square
    hx0, hy0, _, _ = _lots((20.0, 20.0), (18.0, 18.0), bounds)
    width, depth = rng.uniform(8, 16, hx0.size), rng.uniform(8, 14, hx0.size)
    hx0, hy0 = hx0 + rng.random(hx0.size) * (18 - width), hy0 + rng.random(hx0.size) * (18 - depth)
    house = (hx0, hy0, hx0 + width, hy0 + depth)
    house_density = density_at(*house)
    taken = _block_id(bx0[block_keep], by0[block_keep], bounds, 60.0)
    house_keep = ((house_density > 0.05) & (house_density <= CORE_DENSITY)
                  & (rng.random(hx0.size) < 0.9 * house_density)
                  & ~np.isin(_block_id(hx0, hy0, bounds, 60.0), taken))
    house_height = 4 + 5 * rng.random(hx0.size)

    x0, y0, x1, y1 = (np.concatenate(corner) for corner in zip(shop, block, house, strict=True))
    height = np.concatenate([shop_height, block_height, house_height])
    keep = np.concatenate([shop_keep, block_keep, house_keep]) & _clear_of_streets(x0, y0, x1, y1, bounds)
    keep &= land.values[_cell_index(x0, y0, land)] & land.values[_cell_index(x1, y1, land)]
    return gpd.GeoDataFrame(
        {"height_m": np.round(height[keep], 1)},
        geometry=shapely.box(x0[keep], y0[keep], x1[keep], y1[keep]), crs=density.rio.crs,
    )


def _fine_centres(template: xr.DataArray) -> tuple[np.ndarray, np.ndarray, Affine]:
    transform = template.rio.transform() @ Affine.scale(1 / _SUPERSAMPLE)
    ny, nx = (n * _SUPERSAMPLE for n in template.shape)
    x = transform.c + transform.a * (np.arange(nx) + 0.5)
    y = transform.f + transform.e * (np.arange(ny) + 0.5)
    return x, y, transform


def _block_mean(fine: np.ndarray) -> np.ndarray:
    ny, nx = fine.shape[0] // _SUPERSAMPLE, fine.shape[1] // _SUPERSAMPLE
    return fine.reshape(ny, _SUPERSAMPLE, nx, _SUPERSAMPLE).mean(axis=(1, 3))


def surface_fractions(
    footprints: gpd.GeoDataFrame, density: xr.DataArray, bounds: tuple
) -> tuple[xr.DataArray, xr.DataArray]:
    """Building footprint and impervious fractions (0..1) per cell; streets and yards are paved."""
    x, y, transform = _fine_centres(density)
    shape = (y.size, x.size)
    built = rasterio.features.rasterize(
        ((geom, 1) for geom in footprints.geometry), out_shape=shape, transform=transform, fill=0,
        dtype="uint8",
    ).astype(bool) if len(footprints) else np.zeros(shape, bool)
    xx, yy = np.meshgrid(x, y)
    streets = (street_distance_m(xx, yy, bounds) <= STREET_HALF_WIDTH_M) & ~built
    streets &= np.repeat(np.repeat(density.values > BUILT_DENSITY, _SUPERSAMPLE, 0), _SUPERSAMPLE, 1)
    building_frac, street_frac = _block_mean(built), _block_mean(streets)
    yards = 0.35 * density.values * (1 - building_frac - street_frac)
    impervious = np.clip(building_frac + street_frac + yards, 0, 1)
    def layer(values, name, long_name):
        return xr.DataArray(values.astype("float32"), coords=density.coords, dims=density.dims, name=name,
                            attrs={"long_name": long_name, "units": "1"})
    return (layer(building_frac, "building_frac", "building footprint fraction"),
            layer(impervious, "impervious_frac", "impervious surface fraction"))


def street_drains(density: xr.DataArray, bounds: tuple) -> gpd.GeoDataFrame:
    """Drain lines under every third street, where the city is dense enough to need them."""
    (sx, sy), (xmin, ymin, xmax, ymax) = STREET_SPACING_M, bounds
    urban = density.values > DRAIN_DENSITY
    lines = []
    for x in np.arange(xmin + 1.5 * sx, xmax, 3 * sx):  # north-south streets, one column each
        col = _cell_index(np.full(1, x), np.full(1, ymax - 1), density)[1][0]
        lines += [shapely.LineString([(x, density.y.values[a]), (x, density.y.values[b])])
                  for a, b in _runs(urban[:, col])]
    for y in np.arange(ymin + 1.5 * sy, ymax, 3 * sy):  # east-west streets
        row = _cell_index(np.full(1, xmin + 1), np.full(1, y), density)[0][0]
        lines += [shapely.LineString([(density.x.values[a], y), (density.x.values[b], y)])
                  for a, b in _runs(urban[row, :])]
    return gpd.GeoDataFrame({"kind": ["drain"] * len(lines), "width_m": [1.2] * len(lines)},
                            geometry=lines, crs=density.rio.crs)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) indices of the runs of at least two True values in a 1-D mask."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True) if b > a]
