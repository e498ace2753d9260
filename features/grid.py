"""The city grid, the regional weather grid's axes, and the checks feature functions make on their inputs."""

from __future__ import annotations

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from pyproj import Transformer


def grid_template(crs: str, bounds: tuple[float, float, float, float], resolution_m: float) -> xr.DataArray:
    """An all-NaN float32 (y, x) layer on the city grid: cell centres, y descending, CRS written.

    The grid covers `bounds` (xmin, ymin, xmax, ymax, m) with whole cells anchored at (xmin, ymax).
    """
    xmin, ymin, xmax, ymax = bounds
    nx = round((xmax - xmin) / resolution_m)
    ny = round((ymax - ymin) / resolution_m)
    x = xmin + resolution_m * (np.arange(nx) + 0.5)
    y = ymax - resolution_m * (np.arange(ny) + 0.5)
    layer = xr.DataArray(
        np.full((ny, nx), np.nan, dtype="float32"),
        coords={"y": y, "x": x}, dims=("y", "x"), name="template",
    )
    layer = layer.rio.write_crs(crs).rio.write_transform(
        Affine(resolution_m, 0, xmin, 0, -resolution_m, ymax)
    )
    layer.x.attrs.update(standard_name="projection_x_coordinate", units="m", axis="X")
    layer.y.attrs.update(standard_name="projection_y_coordinate", units="m", axis="Y")
    return layer


def regional_axes(
    lon_range: tuple[float, float], lat_range: tuple[float, float], spacing_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes (descending) and longitudes (ascending) of a grid aligned on multiples of
    `spacing_deg` that covers the ranges with one step to spare on every side."""
    def axis(low: float, high: float) -> np.ndarray:
        first = np.floor(low / spacing_deg + 1e-9) - 1
        last = np.ceil(high / spacing_deg - 1e-9) + 1
        return np.round(np.arange(first, last + 1) * spacing_deg, 6)

    return axis(*lat_range)[::-1].copy(), axis(*lon_range)


def require_units(layer: xr.DataArray, units: str, name: str) -> None:
    """Raise ValueError unless `layer.attrs['units']` is exactly `units`."""
    found = layer.attrs.get("units")
    if found != units:
        raise ValueError(f"`{name}` must be in {units!r}, got units={found!r}")


def require_same_grid(**layers: xr.DataArray) -> None:
    """Raise ValueError unless every layer has the (y, x) coordinates of the first one."""
    (ref_name, ref), *others = layers.items()
    for name, layer in others:
        same = (
            layer.sizes.get("y") == ref.sizes.get("y")
            and layer.sizes.get("x") == ref.sizes.get("x")
            and np.allclose(layer.x.values, ref.x.values)
            and np.allclose(layer.y.values, ref.y.values)
        )
        if not same:
            raise ValueError(f"`{name}` is not on the grid of `{ref_name}`")


def cell_size_m(layer: xr.DataArray, name: str) -> tuple[float, float]:
    """Width and height of one cell of `layer`'s (y, x) grid, in m (both positive).

    Raises ValueError for a geographic CRS: the city grid is projected, in metres.
    """
    crs = layer.rio.crs
    if crs is not None and crs.is_geographic:
        raise ValueError(f"`{name}` must be on a projected grid in m, got CRS {crs}")
    transform = layer.rio.transform()
    return abs(transform.a), abs(transform.e)


def cell_lonlat(template: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Longitude and latitude (degrees, WGS84) of every cell centre; dims (y, x)."""
    xx, yy = np.meshgrid(template.x.values, template.y.values)
    to_wgs84 = Transformer.from_crs(template.rio.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform(xx, yy)
    coords = {"y": template.y, "x": template.x}
    return (
        xr.DataArray(lon, coords=coords, dims=("y", "x"), name="lon",
                     attrs={"standard_name": "longitude", "units": "degrees_east"}),
        xr.DataArray(lat, coords=coords, dims=("y", "x"), name="lat",
                     attrs={"standard_name": "latitude", "units": "degrees_north"}),
    )


def project_points(lon, lat, crs) -> tuple:
    """Longitudes and latitudes (degrees, WGS84) projected to x, y in `crs` (m)."""
    to_crs = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return to_crs.transform(np.asarray(lon, float), np.asarray(lat, float))
