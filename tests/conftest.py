"""Shared factories: tiny layers on a real projected grid, built in memory."""

from __future__ import annotations

import numpy as np
import xarray as xr

from features.grid import grid_template

CRS = "EPSG:32647"  # UTM 47N, George Town's grid; any projected CRS would do
ORIGIN = (600_000.0, 600_000.0)  # (xmin, ymax) of every factory grid, m


def template(ny: int, nx: int, resolution_m: float = 30) -> xr.DataArray:
    """An all-NaN (y, x) layer of ny x nx cells anchored at ORIGIN, CRS and transform written."""
    xmin, ymax = ORIGIN
    bounds = (xmin, ymax - ny * resolution_m, xmin + nx * resolution_m, ymax)
    return grid_template(CRS, bounds, resolution_m)


def grid(values, name: str, units: str | None, resolution_m: float = 30) -> xr.DataArray:
    """`values` (a 2-D array, rows north to south) as a (y, x) layer named `name` with `units`.

    Booleans stay boolean and carry no units when `units` is None.
    """
    values = np.asarray(values)
    layer = template(*values.shape, resolution_m=resolution_m).copy(data=values)
    layer.attrs = {} if units is None else {"units": units}
    return layer.rename(name)
