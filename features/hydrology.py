"""Hydrology of the city grid beyond routing: depressions, wetness, drains, capacity, tide blocking.

Routing itself (filling, flow directions, accumulation, HAND) is pyflwdir's, in features/terrain.py;
here are the layers a flood model reads from it and from the waterways.
"""

from __future__ import annotations

import numpy as np
import pyflwdir
import xarray as xr
from scipy import ndimage

from features.grid import cell_size_m, require_same_grid, require_units
from features.terrain import flow_network

_EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)
_MIN_TAN_SLOPE = 1e-3  # flats: TWI would be infinite; 0.06 degrees is below DEM noise
# Drainage-capacity proxy (mm of rain in 3 h a cell sheds without ponding): a street with a drain
# beside it sheds about 40 mm (a 2-5 year design storm of an urban drain, MSMA 2nd ed.), halving
# every 250 m of overland travel to the nearest drain; pervious ground soaks up to 30 mm more.
_DRAIN_CAPACITY_MM = 40.0
_DRAIN_HALF_DISTANCE_M = 250.0
_SOIL_CAPACITY_MM = 30.0


def _layer(values: np.ndarray, like: xr.DataArray, name: str, units: str, long_name: str) -> xr.DataArray:
    return xr.DataArray(values.astype("float32"), coords=like.coords, dims=like.dims, name=name,
                        attrs={"long_name": long_name, "units": units})


def depression_depth_m(dem: xr.DataArray, conditioned: xr.DataArray) -> xr.DataArray:
    """Depth of each cell below the pour point of the depression it lies in, in m (0 outside one).

    `conditioned` is the depression-filled DEM (`terrain.conditioned_elevation_m`); NaN where
    either is NaN.
    """
    require_same_grid(dem=dem, conditioned=conditioned)
    require_units(dem, "m", "dem")
    require_units(conditioned, "m", "conditioned")
    depth = np.maximum(conditioned.values - dem.values, 0)  # NaN stays NaN
    return _layer(depth, dem, "depression_depth_m", "m", "depth below the pour point of a closed depression")


def depression_area_ha(depth: xr.DataArray, *, min_depth_m: float = 0.01) -> xr.DataArray:
    """Area of the closed depression each cell lies in, in ha (0 outside one); dims (y, x).

    A depression is a connected (8 neighbours) patch of cells deeper than `min_depth_m`.
    NaN where `depth` is NaN.
    """
    require_units(depth, "m", "depth")
    dx, dy = cell_size_m(depth, "depth")
    labels, _ = ndimage.label(np.nan_to_num(depth.values) > min_depth_m, structure=_EIGHT_NEIGHBOURS)
    cells = np.bincount(labels.ravel())
    cells[0] = 0  # label 0: not in a depression
    area = np.where(np.isfinite(depth.values), cells[labels] * dx * dy / 1e4, np.nan)
    return _layer(area, depth, "depression_area_ha", "ha", "area of the closed depression the cell lies in")


def topographic_wetness_index(upstream_area_km2: xr.DataArray, slope_deg: xr.DataArray) -> xr.DataArray:
    """ln(a / tan b): a the upstream area per unit contour width (m), b the slope; unitless, (y, x).

    Contour width is one cell width; slopes under 0.06 degrees count as 0.06. Beven and Kirkby
    (1979), Hydrol. Sci. Bull. 24, 43-69. NaN where either input is NaN.
    """
    require_same_grid(upstream_area_km2=upstream_area_km2, slope_deg=slope_deg)
    require_units(upstream_area_km2, "km2", "upstream_area_km2")
    require_units(slope_deg, "degree", "slope_deg")
    width, _ = cell_size_m(upstream_area_km2, "upstream_area_km2")
    tan_slope = np.maximum(np.tan(np.radians(slope_deg.values)), _MIN_TAN_SLOPE)
    twi = np.log(upstream_area_km2.values * 1e6 / width / tan_slope)
    return _layer(twi, slope_deg, "topographic_wetness_index", "1", "topographic wetness index ln(a / tan b)")


def height_above_nearest_drain_m(dem: xr.DataArray, drains: xr.DataArray) -> xr.DataArray:
    """Elevation of each cell above the nearest drain cell in straight-line distance, in m; (y, x).

    Unlike HAND (which follows the flow path) this is the lift water needs to reach the closest
    drain. Negative below it; NaN where `dem` is NaN or there is no drain on the grid.
    """
    require_same_grid(dem=dem, drains=drains)
    require_units(dem, "m", "dem")
    if drains.dtype != bool:
        raise ValueError(f"`drains` must be boolean, got dtype {drains.dtype}")
    if not drains.values.any():
        return _layer(np.full(dem.shape, np.nan), dem, "drain_height_m", "m", "height above the nearest drain")
    dx, dy = cell_size_m(dem, "dem")
    _, (row, col) = ndimage.distance_transform_edt(~drains.values, sampling=(dy, dx), return_indices=True)
    return _layer(dem.values - dem.values[row, col], dem, "drain_height_m", "m", "height above the nearest drain")


def drainage_capacity_mm(dist_waterway_m: xr.DataArray, impervious_frac: xr.DataArray) -> xr.DataArray:
    """Proxy of the rain a cell sheds in 3 h without ponding, in mm; dims (y, x).

    40 mm through a drain at the cell, halving with every 250 m to the nearest waterway, plus
    up to 30 mm soaked up by its pervious share. A proxy, not a sewer model: the waterways layer
    holds no pipe sizes. NaN where either input is NaN.
    """
    require_same_grid(dist_waterway_m=dist_waterway_m, impervious_frac=impervious_frac)
    require_units(dist_waterway_m, "m", "dist_waterway_m")
    require_units(impervious_frac, "1", "impervious_frac")
    drained = _DRAIN_CAPACITY_MM / (1 + dist_waterway_m.values / _DRAIN_HALF_DISTANCE_M)
    soaked = _SOIL_CAPACITY_MM * (1 - np.clip(impervious_frac.values, 0, 1))
    return _layer(drained + soaked, dist_waterway_m, "drainage_capacity_mm", "mm",
                  "rain shed in 3 h without ponding (drain and soil proxy)")


def tide_block_level_m(conditioned: xr.DataArray, flow_dir: xr.DataArray, sea: xr.DataArray) -> xr.DataArray:
    """Sea level (m above mean sea level) that backs the sea up a cell's flow path to the cell; (y, x).

    On the conditioned DEM a flow path never rises, so the sea reaches a cell draining to a sea
    outfall (a flow outlet next to `sea`) once it stands above the cell's conditioned elevation.
    NaN for cells whose water leaves the grid elsewhere (a land border), and off the network.
    """
    require_same_grid(conditioned=conditioned, flow_dir=flow_dir, sea=sea)
    require_units(conditioned, "m", "conditioned")
    if sea.dtype != bool:
        raise ValueError(f"`sea` must be boolean, got dtype {sea.dtype}")
    network = flow_network(flow_dir)
    at_sea = ndimage.binary_dilation(sea.values, _EIGHT_NEIGHBOURS).ravel()[network.idxs_pit]
    basin = network.basins()  # 1.. in the order of idxs_pit; 0 off the network
    to_sea = np.concatenate([[False], at_sea])[basin]
    return _layer(np.where(to_sea, conditioned.values, np.nan), conditioned, "tide_block_level_m", "m",
                  "sea level above mean sea level that backs the sea up to the cell")


def outfall_distance_m(flow_dir: xr.DataArray) -> xr.DataArray:
    """Length of each cell's flow path to where its water leaves the grid, in m; dims (y, x).

    NaN off the flow network.
    """
    network = flow_network(flow_dir)
    # FlwdirRaster.stream_distance(unit="m") hands its affine.Affine to numba, which affine 3
    # no longer allows; the kernel it wraps takes the same six numbers as a tuple
    distance = pyflwdir.streams.stream_distance(
        idxs_ds=network.idxs_ds, seq=network.idxs_seq, ncol=flow_dir.shape[1], mask=None,
        real_length=True, transform=tuple(network.transform)[:6], latlon=False,
    ).reshape(flow_dir.shape)
    return _layer(np.where(network.mask.reshape(flow_dir.shape), distance, np.nan), flow_dir,
                  "outfall_distance_m", "m", "flow-path length to the outfall")
