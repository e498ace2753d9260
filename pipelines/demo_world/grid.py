"""The demo world's grids: the city grid, its cells' positions and the regional weather grid.

The demo world builds its grids itself, as it builds everything it is scored on, rather than
calling `features/`: a fault there must show as a gap between model and truth, not cancel out.
A bundle's readers check that the grid written here is the one a city config describes.
"""

from __future__ import annotations

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from pyproj import Transformer
from rasterio.transform import from_origin


def city_grid(crs: str, bounds: tuple[float, float, float, float], resolution_m: float) -> xr.DataArray:
    """An all-NaN float32 (y, x) layer of whole cells anchored at (xmin, ymax); y descending, CRS written."""
    xmin, ymin, xmax, ymax = bounds
    nx, ny = round((xmax - xmin) / resolution_m), round((ymax - ymin) / resolution_m)
    x = xmin + resolution_m * (np.arange(nx) + 0.5)
    y = ymax - resolution_m * (np.arange(ny) + 0.5)
    layer = xr.DataArray(np.full((ny, nx), np.nan, dtype="float32"), coords={"y": y, "x": x},
                         dims=("y", "x"), name="template")
    layer = layer.rio.write_crs(crs).rio.write_transform(from_origin(xmin, ymax, resolution_m, resolution_m))
    layer.x.attrs.update(standard_name="projection_x_coordinate", units="m", axis="X")
    layer.y.attrs.update(standard_name="projection_y_coordinate", units="m", axis="Y")
    return layer


def cell_lonlat(template: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (degrees, WGS84) of every cell centre of `template`; arrays (y, x)."""
    xx, yy = np.meshgrid(template.x.values, template.y.values)
    return Transformer.from_crs(template.rio.crs, "EPSG:4326", always_xy=True).transform(xx, yy)


def regional_axes(
    lon_range: tuple[float, float], lat_range: tuple[float, float], spacing_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes (descending) and longitudes (ascending) on multiples of `spacing_deg` covering
    the ranges with one step to spare on every side."""
    def axis(low: float, high: float) -> np.ndarray:
        first, last = np.floor(low / spacing_deg + 1e-9) - 1, np.ceil(high / spacing_deg - 1e-9) + 1
        return np.round(np.arange(first, last + 1) * spacing_deg, 6)

    return axis(*lat_range)[::-1].copy(), axis(*lon_range)


def bilinear_matrix(
    src_y: np.ndarray, src_x: np.ndarray, y: np.ndarray, x: np.ndarray
) -> np.ndarray:
    """Dense (src_y.size * src_x.size, points) bilinear weights from a regular grid to points (y, x).

    Columns sum to 1; points beyond the grid take the edge values.
    """
    def axis(src: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        order = np.argsort(src)
        pos = np.interp(pts, src[order], np.arange(src.size, dtype=float))
        lower = np.clip(np.floor(pos).astype(int), 0, max(src.size - 2, 0))
        weight = np.clip(pos - lower, 0.0, 1.0) if src.size > 1 else np.zeros_like(pos)
        return order[lower], order[np.minimum(lower + 1, src.size - 1)], weight

    iy0, iy1, wy = axis(np.asarray(src_y, float), np.asarray(y, float))
    ix0, ix1, wx = axis(np.asarray(src_x, float), np.asarray(x, float))
    matrix = np.zeros((src_y.size * src_x.size, wy.size), dtype="float64")
    target = np.arange(wy.size)
    for iy, ix, weight in ((iy0, ix0, (1 - wy) * (1 - wx)), (iy0, ix1, (1 - wy) * wx),
                           (iy1, ix0, wy * (1 - wx)), (iy1, ix1, wy * wx)):
        np.add.at(matrix, (iy * src_x.size + ix, target), weight)
    return matrix
