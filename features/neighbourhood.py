"""Neighbourhood (focal) means of urban layers over land, at several scales."""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import ndimage

from features.grid import cell_size_m

NEIGHBOURHOOD_SCALES_M = (100, 300, 1000)  # a street block, a quarter, a district


def window_cells(scale_m: float, resolution_m: float) -> int:
    """Odd number of cells whose width is nearest `scale_m` (at least 1); a tie takes the wider."""
    if scale_m <= 0:
        raise ValueError(f"`scale_m` must be > 0, got {scale_m}")
    return 2 * max(0, int(np.floor((scale_m / resolution_m - 1) / 2 + 0.5))) + 1


def focal_mean(layer: xr.DataArray, land: xr.DataArray, scale_m: float) -> xr.DataArray:
    """Mean of `layer` over the land cells of a square window about `scale_m` wide; dims (y, x).

    Sea cells and NaN values neither count nor pull the mean towards 0; the window shrinks at
    the grid edge. NaN off land and where the window holds no valid cell. Keeps `layer`'s units.
    """
    if land.dtype != bool:
        raise ValueError(f"`land` must be boolean, got dtype {land.dtype}")
    dx, dy = cell_size_m(layer, "layer")
    size = (window_cells(scale_m, dy), window_cells(scale_m, dx))
    valid = land.values & np.isfinite(layer.values)
    total = ndimage.uniform_filter(np.where(valid, layer.values, 0.0), size=size, mode="constant")
    count = ndimage.uniform_filter(valid.astype(float), size=size, mode="constant")
    mean = np.where(land.values & (count > 1e-9), total / np.maximum(count, 1e-9), np.nan)
    return xr.DataArray(
        mean.astype("float32"), coords=layer.coords, dims=layer.dims, name=f"{layer.name}_{scale_m:g}m",
        attrs={"units": layer.attrs.get("units", "1"),
               "long_name": f"{layer.attrs.get('long_name', layer.name)}, mean over land within about {scale_m:g} m",
               "cell_methods": "area: mean where land"},
    )


def neighbourhood_means(layers: xr.Dataset, land: xr.DataArray,
                        scales_m: tuple[float, ...] = NEIGHBOURHOOD_SCALES_M) -> xr.Dataset:
    """Focal means of every (y, x) variable of `layers` at each of `scales_m`, named `<name>_<scale>m`."""
    return xr.Dataset({
        f"{name}_{scale:g}m": focal_mean(layer.rename(name), land, scale)
        for name, layer in layers.data_vars.items() for scale in scales_m
    })
