"""Assembly of the static feature layers of a city bundle onto its grid."""

from __future__ import annotations

import geopandas
import numpy as np
import xarray as xr
from rasterio.enums import Resampling
from scipy import ndimage

from features.grid import require_units
from features.hydrology import (
    depression_area_ha,
    depression_depth_m,
    drainage_capacity_mm,
    height_above_nearest_drain_m,
    outfall_distance_m,
    tide_block_level_m,
    topographic_wetness_index,
)
from features.neighbourhood import neighbourhood_means
from features.terrain import (
    conditioned_elevation_m,
    flow_direction,
    height_above_nearest_drainage,
    slope_deg,
    upstream_area_km2,
)
from features.urban import (
    cover_fraction,
    distance_to_m,
    impervious_fraction,
    line_mask,
    mean_building_height_m,
)

_EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)
URBAN_HEAT_LAYERS = ("impervious_frac", "building_frac", "building_height_m")  # also as focal means


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
    next to the sea; the straight-line drain height reads waterway cells only. Without waterways
    (or sea) the distance to them is unknown: NaN everywhere.
    Without buildings the fractions and heights are 0. The urban layers are also given as focal
    means over land at about 100 m, 300 m and 1 km (`impervious_frac_300m`, ...).
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

    conditioned = conditioned_elevation_m(land_elevation, land)
    depression = depression_depth_m(land_elevation, conditioned)
    slope = slope_deg(land_elevation)
    upstream = upstream_area_km2(flow_dir)
    dist_waterway = distance_to_m(waterway_cells).assign_attrs(
        long_name="distance to the nearest river, drain or canal")
    impervious_frac = impervious_fraction(buildings.geometry, template, impervious)
    layers = {
        "elevation_m": land_elevation.assign_attrs(
            standard_name="surface_altitude", long_name="terrain elevation above mean sea level", units="m"),
        "slope_deg": slope,
        "upstream_area_km2": upstream,
        "hand_m": height_above_nearest_drainage(land_elevation, flow_dir, drains),
        "depression_depth_m": depression,
        "depression_area_ha": depression_area_ha(depression),
        "topographic_wetness_index": topographic_wetness_index(upstream, slope),
        "drain_height_m": height_above_nearest_drain_m(land_elevation, waterway_cells),
        "drainage_capacity_mm": drainage_capacity_mm(dist_waterway, impervious_frac),
        "tide_block_level_m": tide_block_level_m(conditioned, flow_dir, sea_cells),
        "outfall_distance_m": outfall_distance_m(flow_dir),
        "dist_waterway_m": dist_waterway,
        "dist_sea_m": distance_to_m(sea_cells).assign_attrs(long_name="distance to the sea"),
        "impervious_frac": impervious_frac,
        "building_frac": cover_fraction(buildings.geometry, template).assign_attrs(
            long_name="building footprint fraction"),
        "building_height_m": mean_building_height_m(buildings, template),
    }
    features = xr.Dataset(
        {name: layer.where(land).astype("float32").rename(name) for name, layer in layers.items()}
    )
    urban = features[list(URBAN_HEAT_LAYERS)]
    features = features.assign(neighbourhood_means(urban, land).data_vars)
    features["land"] = land.assign_attrs(long_name="land cell (False: sea or no DEM)", units="1")
    return features.rio.write_crs(template.rio.crs).rio.write_transform(template.rio.transform())
