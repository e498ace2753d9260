"""Urban form on the city grid: cover fractions, line masks, distances, imperviousness, heights."""

from __future__ import annotations

import geopandas
import numpy as np
import rasterio.features
import xarray as xr
from affine import Affine
from rasterio.enums import Resampling
from scipy import ndimage

from features.grid import cell_size_m

# Derived imperviousness of a built cell: roads, yards and pavements around the footprints add
# about 60 % of the footprint area plus a 0.1 base; cells without buildings count as pervious.
_PAVED_PER_FOOTPRINT = 1.6
_PAVED_BASE = 0.1
_SUPERSAMPLE = 4  # sub-cells per cell side when burning polygons


def _layer(values: np.ndarray, template: xr.DataArray, name: str, **attrs: str) -> xr.DataArray:
    """`values` on the grid of `template`, with fresh attrs."""
    return xr.DataArray(values, coords=template.coords, dims=template.dims, name=name, attrs=attrs)


def _on_grid(shapes: geopandas.GeoSeries, template: xr.DataArray, name: str) -> geopandas.GeoSeries:
    """The non-empty geometries of `shapes` in the CRS of `template`."""
    if template.rio.crs is None:
        raise ValueError("`template` has no CRS")
    shapes = shapes[shapes.notna() & ~shapes.is_empty]
    if len(shapes) and shapes.crs is None:
        raise ValueError(f"`{name}` has no CRS")
    return shapes.to_crs(template.rio.crs) if len(shapes) else shapes


def _burn(shapes, values, template: xr.DataArray, supersample: int, fill: float, dtype: str,
          all_touched: bool = False) -> np.ndarray:
    """Rasterize (shape, value) pairs on `template`'s grid refined `supersample` times per axis."""
    ny, nx = template.sizes["y"], template.sizes["x"]
    out_shape = (ny * supersample, nx * supersample)
    if len(shapes) == 0:
        return np.full(out_shape, fill, dtype=dtype)
    return rasterio.features.rasterize(
        zip(shapes, values), out_shape=out_shape, fill=fill, dtype=dtype, all_touched=all_touched,
        transform=template.rio.transform() @ Affine.scale(1 / supersample),
    )


def _block_sum(fine: np.ndarray, supersample: int) -> np.ndarray:
    """Sum of each supersample x supersample block of `fine`: back to the template's cells."""
    ny, nx = fine.shape[0] // supersample, fine.shape[1] // supersample
    return fine.reshape(ny, supersample, nx, supersample).sum(axis=(1, 3))


def cover_fraction(
    shapes: geopandas.GeoSeries, template: xr.DataArray, *, supersample: int = _SUPERSAMPLE
) -> xr.DataArray:
    """Fraction 0..1 of each cell covered by the union of `shapes` (polygons); dims (y, x).

    Polygons are reprojected to the template CRS and burnt on a grid `supersample` times finer
    per axis, a sub-cell counting when its centre is inside: the fraction is exact to
    1 / supersample**2 for edges that do not align with the sub-cells.
    """
    if supersample < 1:
        raise ValueError(f"`supersample` must be >= 1, got {supersample}")
    shapes = _on_grid(shapes, template, "shapes")
    fine = _burn(shapes, np.ones(len(shapes)), template, supersample, fill=0, dtype="uint8")
    fraction = _block_sum(fine, supersample) / supersample**2
    return _layer(fraction.astype("float32"), template, "cover_frac",
                  long_name="fraction of the cell covered by polygons", units="1")


def line_mask(lines: geopandas.GeoSeries, template: xr.DataArray) -> xr.DataArray:
    """True on every cell a line of `lines` touches (reprojected to the template CRS); dims (y, x)."""
    lines = _on_grid(lines, template, "lines")
    touched = _burn(lines, np.ones(len(lines)), template, 1, fill=0, dtype="uint8", all_touched=True)
    return _layer(touched.astype(bool), template, "line_mask",
                  long_name="cell touched by a line", units="1")


def distance_to_m(mask: xr.DataArray) -> xr.DataArray:
    """Distance from each cell centre to the nearest centre of a True cell of `mask`, in m; dims (y, x).

    0 on True cells. With no True cell at all the distance is unknown and every cell is NaN.
    """
    if mask.dtype != bool:
        raise ValueError(f"`mask` must be boolean, got dtype {mask.dtype}")
    dx, dy = cell_size_m(mask, "mask")
    if not mask.any():
        distance = np.full(mask.shape, np.nan)
    else:
        sampling = [dy if dim == "y" else dx for dim in mask.dims]
        distance = ndimage.distance_transform_edt(~mask.values, sampling=sampling)
    return _layer(distance.astype("float32"), mask, "distance_m",
                  long_name="distance to the nearest marked cell", units="m")


def impervious_fraction(
    buildings: geopandas.GeoSeries, template: xr.DataArray, impervious: xr.DataArray | None
) -> xr.DataArray:
    """Impervious fraction 0..1 of each cell; dims (y, x).

    From `impervious` (any CRS, resampled onto the template by area average) where it has data;
    elsewhere, and when it is None, derived from building cover c: min(1, 1.6 c + 0.1) where
    c > 0, else 0 (roads and yards around footprints; open cells count as pervious).
    """
    cover = cover_fraction(buildings, template)
    derived = xr.where(cover > 0, np.minimum(1.0, _PAVED_PER_FOOTPRINT * cover + _PAVED_BASE), 0.0)
    if impervious is not None:
        given = impervious.astype("float32").rio.reproject_match(
            template, resampling=Resampling.average, nodata=np.nan
        ).assign_coords(x=template.x, y=template.y)
        if ((given < -0.01) | (given > 1.01)).any():  # a percentage, or a sentinel without nodata
            raise ValueError("`impervious` must be a fraction in [0, 1]")
        derived = given.clip(0, 1).fillna(derived)
    return _layer(derived.values.astype("float32"), template, "impervious_frac",
                  long_name="impervious surface fraction", units="1")


def mean_building_height_m(buildings: geopandas.GeoDataFrame, template: xr.DataArray) -> xr.DataArray:
    """Footprint-weighted mean height of the buildings in each cell, in m; dims (y, x).

    0 where no building stands; NaN where every building in the cell lacks `height_m` (NaN or
    no such column). Weights are footprint areas inside the cell, on cover_fraction's sub-cells;
    where footprints overlap, the building listed last counts.
    """
    heights = np.asarray(buildings.get("height_m", np.full(len(buildings), np.nan)), dtype=float)
    present = buildings.geometry.notna().to_numpy() & ~buildings.geometry.is_empty.to_numpy()
    shapes = _on_grid(buildings.geometry[present], template, "buildings")
    marked = np.where(np.isfinite(heights[present]), heights[present], -np.inf)  # -inf: unknown
    fine = _burn(shapes, marked, template, _SUPERSAMPLE, fill=np.nan, dtype="float32")
    known = np.isfinite(fine)
    counted = _block_sum(known, _SUPERSAMPLE)
    total = _block_sum(np.where(known, fine, 0.0), _SUPERSAMPLE)
    built = _block_sum(~np.isnan(fine), _SUPERSAMPLE) > 0
    height = np.where(counted > 0, total / np.maximum(counted, 1), np.where(built, np.nan, 0.0))
    return _layer(height.astype("float32"), template, "building_height_m",
                  long_name="footprint-weighted mean building height", units="m")
