"""The demo world's static layers, built together: ground, water, buildings, assets and zones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr
from scipy import ndimage

from features.grid import cell_lonlat
from features.terrain import height_above_nearest_drainage
from features.urban import distance_to_m, line_mask
from pipelines.bundle.assets import core_centre, heritage_assets, heritage_zones, read_asset_table
from pipelines.demo_world.city import (
    buildings,
    built_density,
    street_distance_m,
    street_drains,
    surface_fractions,
)
from pipelines.demo_world.terrain import (
    distance_to_sea_m,
    land_geometry,
    land_mask,
    stream_network,
    synthetic_dem,
)
from pipelines.demo_world.truth import CellLayers

_EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class StaticWorld:
    """Every static layer of the demo world on the city grid (y, x), and its vector files."""

    land: xr.DataArray  # bool
    dem: xr.DataArray  # m
    upstream_area: xr.DataArray  # km2
    hand: xr.DataArray  # m
    density: xr.DataArray  # built density 0..1
    building_frac: xr.DataArray
    impervious: xr.DataArray
    sea: gpd.GeoDataFrame
    waterways: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    assets: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame


def build_static_world(
    template: xr.DataArray, *, city_slug: str, coastline: Literal["penang", "synthetic"], assets: str,
    streams: dict[str, np.random.Generator], progress: Callable[[str], None],
) -> StaticWorld:
    """The static world on `template`'s grid; `streams` holds the "coast", "terrain" and "city" RNGs."""
    crs = str(template.rio.crs)
    resolution_m = abs(template.rio.transform().a)
    bounds = tuple(float(b) for b in template.rio.bounds())
    table, prefix = read_asset_table(assets, city_slug)
    sites = heritage_assets(table, prefix, crs, bounds, progress)

    land_shape = land_geometry(coastline, crs, bounds, float(sites.geometry.x.max()),
                                            streams["coast"])
    land = land_mask(land_shape, template)
    dem = synthetic_dem(land, resolution_m, streams["terrain"])
    flow_dir, upstream, stream_lines = stream_network(dem, land)

    rng = streams["city"]
    density = built_density(dem, land, core_centre(sites), resolution_m, rng)
    footprints = buildings(density, land, bounds, rng)
    building_frac, impervious = surface_fractions(footprints, density, bounds)
    waterways = pd.concat([stream_lines, street_drains(density, bounds)], ignore_index=True)

    coast = ndimage.binary_dilation(~land.values, _EIGHT_NEIGHBOURS) & land.values
    drains = line_mask(waterways.geometry, template).values | coast  # as features/static.py sees them
    drains = xr.DataArray(drains, coords=template.coords, dims=template.dims, name="drains")
    hand = height_above_nearest_drainage(dem.where(land), flow_dir, drains)
    sea = gpd.GeoDataFrame(geometry=[shapely.box(*bounds).difference(land_shape)], crs=crs)
    return StaticWorld(
        land=land, dem=dem, upstream_area=upstream, hand=hand, density=density,
        building_frac=building_frac, impervious=impervious.where(land, 0.0), sea=sea,
        waterways=waterways, buildings=footprints, assets=sites,
        zones=heritage_zones(sites, land_shape, bounds),
    )


def land_cells(world: StaticWorld, template: xr.DataArray) -> tuple[CellLayers, np.ndarray, np.ndarray]:
    """The truth's layers on the land cells (flattened), and the (row, col) of each land cell."""
    row, col = np.nonzero(world.land.values)
    lon, lat = cell_lonlat(template)
    drains = world.waterways.geometry
    def at(layer) -> np.ndarray:
        return np.asarray(layer)[row, col]
    cells = CellLayers(
        lon=at(lon), lat=at(lat), elevation_m=at(world.dem).astype("float64"),
        upstream_area_km2=at(world.upstream_area).astype("float64"), hand_m=at(world.hand).astype("float64"),
        drain_distance_m=at(distance_to_m(line_mask(drains, template))).astype("float64"),
        sea_distance_m=at(distance_to_sea_m(world.land, abs(template.rio.transform().a))),
        impervious_frac=at(world.impervious).astype("float64"),
        building_frac=at(world.building_frac).astype("float64"),
        x=template.x.values[col], y=template.y.values[row],
    )
    return cells, row, col


def report_exposure(
    world: StaticWorld, template: xr.DataArray, row: np.ndarray, col: np.ndarray
) -> np.ndarray:
    """Where people see and report floods (land cells): built density, more so by the streets."""
    xx, yy = np.meshgrid(template.x.values, template.y.values)
    bounds = tuple(float(b) for b in template.rio.bounds())
    near_street = np.exp(-street_distance_m(xx, yy, bounds) / 30)
    exposure = world.density.values * (0.5 + 0.5 * near_street) + 0.02
    return exposure[row, col]
