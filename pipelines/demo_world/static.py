"""The demo world's static layers, built together: ground, water, buildings, assets and zones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
import xarray as xr

from pipelines.bundle.assets import core_centre, heritage_assets, heritage_zones, read_asset_table
from pipelines.demo_world.city import (
    buildings,
    built_density,
    street_distance_m,
    street_drains,
    surface_fractions,
)
from pipelines.demo_world.grid import cell_lonlat
from pipelines.demo_world.terrain import (
    distance_to_sea_m,
    land_geometry,
    land_mask,
    stream_network,
    synthetic_dem,
)
from pipelines.demo_world.truth import CellLayers

STREET_DRAIN_M3S = 0.06  # what a street drain takes in along one cell, gullies and pipe together
CHANNEL_M3S_PER_M = 0.4  # what a river or canal takes in along one cell, per metre of its width


@dataclass(frozen=True)
class StaticWorld:
    """Every static layer of the demo world on the city grid (y, x), and its vector files."""

    land: xr.DataArray  # bool
    dem: xr.DataArray  # m
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
    _, stream_lines = stream_network(dem, land)

    rng = streams["city"]
    density = built_density(dem, land, core_centre(sites), resolution_m, rng)
    footprints = buildings(density, land, bounds, rng)
    building_frac, impervious = surface_fractions(footprints, density, bounds)
    waterways = pd.concat([stream_lines, street_drains(density, bounds)], ignore_index=True)
    sea = gpd.GeoDataFrame(geometry=[shapely.box(*bounds).difference(land_shape)], crs=crs)
    return StaticWorld(
        land=land, dem=dem, density=density,
        building_frac=building_frac, impervious=impervious.where(land, 0.0), sea=sea,
        waterways=waterways, buildings=footprints, assets=sites,
        zones=heritage_zones(sites, land_shape, bounds),
    )


def drain_capacity_m3s(waterways: gpd.GeoDataFrame, template: xr.DataArray) -> np.ndarray:
    """What the waterways take in along each cell they touch, in m3 s-1; (y, x), 0 elsewhere.

    Street drains take STREET_DRAIN_M3S, rivers and canals CHANNEL_M3S_PER_M per metre of width;
    where several meet, the largest counts.
    """
    capacity = np.where(waterways["kind"] == "drain", STREET_DRAIN_M3S, CHANNEL_M3S_PER_M * waterways["width_m"])
    order = np.argsort(capacity, kind="stable")  # burnt last, the largest wins
    if not order.size:
        return np.zeros(template.shape)
    return rasterio.features.rasterize(
        zip(waterways.geometry.to_numpy()[order], capacity[order], strict=True), out_shape=template.shape,
        transform=template.rio.transform(), fill=0.0, all_touched=True, dtype="float64",
    )


def land_cells(world: StaticWorld, template: xr.DataArray) -> CellLayers:
    """The truth's layers on the land cells (flattened), with each land cell's (row, col)."""
    row, col = np.nonzero(world.land.values)
    lon, lat = cell_lonlat(template)
    resolution_m = abs(template.rio.transform().a)
    def at(layer) -> np.ndarray:
        return np.asarray(layer)[row, col].astype("float64")
    return CellLayers(
        lon=at(lon), lat=at(lat), elevation_m=at(world.dem),
        sea_distance_m=at(distance_to_sea_m(world.land, resolution_m)),
        impervious_frac=at(world.impervious), building_frac=at(world.building_frac),
        drain_capacity_m3s=at(drain_capacity_m3s(world.waterways, template)),
        x=template.x.values[col], y=template.y.values[row], row=row, col=col,
        grid_shape=template.shape, resolution_m=resolution_m,
    )


def report_exposure(
    world: StaticWorld, template: xr.DataArray, row: np.ndarray, col: np.ndarray
) -> np.ndarray:
    """Where people see and report floods (land cells): built density, more so by the streets."""
    xx, yy = np.meshgrid(template.x.values, template.y.values)
    bounds = tuple(float(b) for b in template.rio.bounds())
    near_street = np.exp(-street_distance_m(xx, yy, bounds) / 30)
    exposure = world.density.values * (0.5 + 0.5 * near_street) + 0.02
    return exposure[row, col]
