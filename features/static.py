"""Assembly of the static feature layers of a city bundle onto its grid."""

from __future__ import annotations

import geopandas
import numpy as np
import xarray as xr
from rasterio.enums import Resampling
from scipy import ndimage

from features.grid import require_units
from features.terrain import flow_direction, height_above_nearest_drainage, slope_deg, upstream_area_km2
from features.urban import (
    cover_fraction,
    distance_to_m,
    impervious_fraction,
    line_mask,
    mean_building_height_m,
)

_EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)


def _mask(values: np.ndarray, template: xr.DataArray, name: str) -> xr.DataArray:
    """A boolean (y, x) layer on the grid of `template`."""
    return xr.DataArray(values, coords=template.coords, dims=template.dims, name=name)


def _sea_mask(elevation: xr.DataArray, sea: geopandas.GeoDataFrame | None) -> xr.DataArray:
    """True on sea cells: at least half covered by `sea` if given, else DEM <= 0 joined to the border."""
    if sea is not None:
        return _mask(cover_fraction(sea.geometry, elevation).values >= 0.5, elevation, "sea")
    low = (elevation <= 0).values  # NaN compares False: a DEM hole is not sea
    labels, _ = ndimage.label(low, structure=_EIGHT_NEIGHBOURS)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return _mask(np.isin(labels, border[border > 0]), elevation, "sea")


def static_features(
    dem: xr.DataArray,
    buildings: geopandas.GeoDataFrame,
    waterways: geopandas.GeoDataFrame,
    sea: geopandas.GeoDataFrame | None,
    impervious: xr.DataArray | None,
    template: xr.DataArray,
) -> xr.Dataset:
    """Static features of every cell of `template`'s grid, one float32 variable each; dims (y, x).

    `dem` (m, any CRS and resolution) is resampled bilinearly onto the grid. `land` is True off
    the sea (the `sea` polygons, else DEM <= 0 connected to the grid border) where the DEM has
    data; continuous features are NaN off land. Drains for HAND are waterway cells and land cells
    next to the sea. Without waterways (or sea) the distance to them is unknown: NaN everywhere.
    Without buildings the fractions and heights are 0.
    """
    require_units(dem, "m", "dem")
    resampled = dem.astype("float32").rio.reproject_match(
        template, resampling=Resampling.bilinear, nodata=np.nan
    )
    elevation = xr.DataArray(resampled.values, coords=template.coords, dims=template.dims,
                             name="elevation_m", attrs={"units": "m"})  # exactly the template's coords
    sea_cells = _sea_mask(elevation, sea)
    land = _mask(~sea_cells.values & np.isfinite(elevation.values), template, "land")

    land_elevation = elevation.where(land)
    flow_dir = flow_direction(land_elevation, land)
    coast = ndimage.binary_dilation(sea_cells.values, _EIGHT_NEIGHBOURS) & land.values
    waterway_cells = line_mask(waterways.geometry, template)
    drains = _mask(waterway_cells.values | coast, template, "drains")

    layers = {
        "elevation_m": land_elevation.assign_attrs(
            standard_name="surface_altitude", long_name="terrain elevation above mean sea level", units="m"),
        "slope_deg": slope_deg(land_elevation),
        "upstream_area_km2": upstream_area_km2(flow_dir),
        "hand_m": height_above_nearest_drainage(land_elevation, flow_dir, drains),
        "dist_waterway_m": distance_to_m(waterway_cells).assign_attrs(
            long_name="distance to the nearest river, drain or canal"),
        "dist_sea_m": distance_to_m(sea_cells).assign_attrs(long_name="distance to the sea"),
        "impervious_frac": impervious_fraction(buildings.geometry, template, impervious),
        "building_frac": cover_fraction(buildings.geometry, template).assign_attrs(
            long_name="building footprint fraction"),
        "building_height_m": mean_building_height_m(buildings, template),
    }
    features = xr.Dataset(
        {name: layer.where(land).astype("float32").rename(name) for name, layer in layers.items()}
    )
    features["land"] = land.assign_attrs(long_name="land cell (False: sea or no DEM)", units="1")
    return features.rio.write_crs(template.rio.crs).rio.write_transform(template.rio.transform())
