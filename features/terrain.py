"""Terrain of the city grid: bare earth under a surface model, conditioned DEM, flow directions,
upstream area, HAND, slope."""

from __future__ import annotations

import numpy as np
import pyflwdir
import xarray as xr
from scipy import interpolate, ndimage, spatial

from features.grid import cell_size_m, require_same_grid, require_units

_PYFLWDIR_NODATA = -9999.0  # pyflwdir's value for cells outside the flow network
_D8_FLAGS = {
    "flag_values": np.array([1, 2, 4, 8, 16, 32, 64, 128, 0, 247], dtype="uint8"),
    "flag_meanings": "east southeast south southwest west northwest north northeast outlet nodata",
}

_EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)


def bare_earth_m(surface: xr.DataArray, buildings: xr.DataArray) -> xr.DataArray:
    """The ground under a surface model, in m: building cells lowered to the ground around them; dims (y, x).

    `surface` is a digital surface model (roofs included); `buildings` is True on cells whose
    height is a roof. Each building cell gets the linear interpolation (Delaunay triangles,
    scipy `griddata`) of the cells that ring the buildings (valid, not buildings, next to one),
    the nearest ring cell's height outside their hull, and never more than its surface height.
    Other cells are unchanged; NaN stays NaN. A plane under the roofs comes back exactly where
    ring cells surround a block; trees and roofs on ring cells stay in.
    """
    require_same_grid(surface=surface, buildings=buildings)
    require_units(surface, "m", "surface")
    if buildings.dtype != bool:
        raise ValueError(f"`buildings` must be boolean, got dtype {buildings.dtype}")
    height = surface.values.astype("float64")
    roofs = buildings.values & np.isfinite(height)
    ring = ndimage.binary_dilation(roofs, _EIGHT_NEIGHBOURS) & ~buildings.values & np.isfinite(height)
    ground = height.copy()
    if roofs.any():
        if not ring.any():
            raise ValueError("`buildings` covers every valid cell of `surface`: no ground to interpolate from")
        known, wanted = np.argwhere(ring), np.argwhere(roofs)
        nearest = interpolate.griddata(known, height[ring], wanted, method="nearest")
        try:
            under = interpolate.griddata(known, height[ring], wanted, method="linear")
        except spatial.QhullError:  # ring cells all on one line (a block on the grid's edge): no triangles
            under = nearest
        ground[roofs] = np.fmin(np.where(np.isfinite(under), under, nearest), height[roofs])
    return xr.DataArray(
        ground.astype("float32"), coords=surface.coords, dims=surface.dims, name="bare_earth_m",
        attrs={"long_name": "bare-earth terrain elevation (buildings removed from the surface model)",
               "units": "m"},
    )


def flow_direction(dem: xr.DataArray, land: xr.DataArray) -> xr.DataArray:
    """D8 flow direction (pyflwdir codes, uint8) over land, from the depression-filled DEM; dims (y, x).

    Sea cells (`land` False) and NaN elevations are nodata (247). Every land cell on the edge of
    the valid cells (next to the sea, a DEM hole or the grid border) may be an outlet (0): water
    leaves the grid there. Depressions inland are filled (Wang & Liu 2006, pyflwdir.from_dem).
    """
    _, d8 = _fill_depressions(dem, land)
    return xr.DataArray(
        d8, coords=dem.coords, dims=dem.dims, name="flow_dir",
        attrs={"long_name": "D8 flow direction (pyflwdir codes)", "units": "1", **_D8_FLAGS},
    )


def conditioned_elevation_m(dem: xr.DataArray, land: xr.DataArray) -> xr.DataArray:
    """The depression-filled DEM that `flow_direction` routes on, in m; dims (y, x), NaN off land.

    Every inland pit is raised to its pour point (Wang & Liu 2006); outlets as in `flow_direction`.
    """
    filled, _ = _fill_depressions(dem, land)
    return xr.DataArray(
        np.where(filled == _PYFLWDIR_NODATA, np.nan, filled).astype("float32"), coords=dem.coords,
        dims=dem.dims, name="conditioned_elevation_m",
        attrs={"long_name": "depression-filled terrain elevation above mean sea level", "units": "m"},
    )


def _fill_depressions(dem: xr.DataArray, land: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """pyflwdir's filled elevation (nodata -9999 off the valid cells) and D8 codes of `dem` over `land`."""
    require_same_grid(dem=dem, land=land)
    require_units(dem, "m", "dem")
    if land.dtype != bool:
        raise ValueError(f"`land` must be boolean, got dtype {land.dtype}")
    valid = land.values & np.isfinite(dem.values)
    elevation = np.where(valid, dem.values, _PYFLWDIR_NODATA).astype("float64")
    # pyflwdir.from_dem is fill_depressions() wrapped into a FlwdirRaster
    return pyflwdir.dem.fill_depressions(elevation, outlets="edge", nodata=_PYFLWDIR_NODATA)


def flow_network(flow_dir: xr.DataArray) -> pyflwdir.FlwdirRaster:
    """The pyflwdir network of a D8 `flow_dir` layer (uint8), with the grid's transform for areas."""
    if flow_dir.dtype != np.uint8:
        raise ValueError(f"`flow_dir` must hold uint8 D8 codes, got dtype {flow_dir.dtype}")
    cell_size_m(flow_dir, "flow_dir")  # areas need a projected grid
    return pyflwdir.from_array(flow_dir.values, ftype="d8", transform=flow_dir.rio.transform())


def upstream_area_km2(flow_dir: xr.DataArray) -> xr.DataArray:
    """Area draining through each cell, itself included, in km2; dims (y, x).

    NaN off the flow network (sea, nodata). Only the area inside the grid is counted.
    """
    raw = flow_network(flow_dir).upstream_area(unit="km2")
    return xr.DataArray(
        np.where(raw == _PYFLWDIR_NODATA, np.nan, raw).astype("float32"),
        coords=flow_dir.coords, dims=flow_dir.dims, name="upstream_area_km2",
        attrs={"long_name": "upstream drainage area", "units": "km2"},
    )


def height_above_nearest_drainage(
    dem: xr.DataArray, flow_dir: xr.DataArray, drains: xr.DataArray
) -> xr.DataArray:
    """Height of each cell above the drain its flow path reaches, in m; dims (y, x).

    `flow_dir` holds D8 codes (uint8); `drains` is True on rivers, drains and canals.
    Outlets count as drains (pyflwdir), so a flow path leaving the grid ends at height 0 on the
    border. Cells outside the flow network (sea, nodata) are NaN. Nobre et al. (2016).
    """
    require_same_grid(dem=dem, flow_dir=flow_dir, drains=drains)
    require_units(dem, "m", "dem")
    if drains.dtype != bool:
        raise ValueError(f"`drains` must be boolean, got dtype {drains.dtype}")
    raw = flow_network(flow_dir).hand(drain=drains.values, elevtn=dem.values)
    return xr.DataArray(
        np.where(raw == _PYFLWDIR_NODATA, np.nan, raw).astype("float32"),
        coords=dem.coords, dims=dem.dims, name="hand_m",
        attrs={"long_name": "height above nearest drainage", "units": "m"},
    )


def _gradient(z: np.ndarray, spacing: float, axis: int) -> np.ndarray:
    """dz/d(index * spacing) along `axis`: central where both neighbours are valid, else one-sided.

    NaN neighbours (sea, grid edge) are skipped; a cell with no valid neighbour gets 0.
    """
    padded = np.pad(z, [(1, 1) if a == axis else (0, 0) for a in range(z.ndim)],
                    constant_values=np.nan)
    ahead = np.take(padded, np.arange(2, z.shape[axis] + 2), axis=axis) - z
    behind = z - np.take(padded, np.arange(0, z.shape[axis]), axis=axis)
    steps = np.stack([ahead, behind])
    count = np.isfinite(steps).sum(axis=0)
    total = np.nansum(steps, axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0) / spacing


def slope_deg(dem: xr.DataArray) -> xr.DataArray:
    """Steepest slope of the terrain at each cell, in degrees (0 flat); dims (y, x).

    Finite differences on the grid spacing: central inside, one-sided where a neighbour is NaN
    (the coast) or off the grid, so a plane has the same slope everywhere. NaN where `dem` is NaN.
    """
    require_units(dem, "m", "dem")
    dx, dy = cell_size_m(dem, "dem")
    z = dem.values.astype("float64")
    rise = np.hypot(_gradient(z, dx, axis=dem.dims.index("x")),
                    _gradient(z, dy, axis=dem.dims.index("y")))
    degrees = np.where(np.isfinite(z), np.degrees(np.arctan(rise)), np.nan)
    return xr.DataArray(
        degrees.astype("float32"), coords=dem.coords, dims=dem.dims, name="slope_deg",
        attrs={"long_name": "terrain slope", "units": "degree"},
    )
