"""The demo world's ground: coastline, land/sea mask, elevation and the natural stream network."""

from __future__ import annotations

from typing import Literal

import geopandas as gpd
import numpy as np
import pyflwdir
import rasterio.features
import shapely
import xarray as xr
from scipy import ndimage

from pipelines.data import packaged_data

STREAM_AREA_KM2 = 0.15  # cells draining more than this carry a stream
RIVER_AREA_KM2 = 1.0  # streams draining more than this are rivers (canals on the low plain)
CANAL_BELOW_M = 3.0
HILL_STREAM_FROM_M = 20.0  # small streams ending above this are rivers, below it urban drains
HILL_TOP_M = 380.0
_NODATA = -9999.0  # pyflwdir's nodata


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale_cells: float) -> np.ndarray:
    """Gaussian-filtered white noise over `shape`, correlation length `scale_cells`, unit std."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), max(scale_cells, 0.5), mode="reflect")
    return (field - field.mean()) / max(field.std(), 1e-12)


def land_geometry(
    coastline: Literal["penang", "synthetic"], crs: str, bounds: tuple[float, float, float, float],
    asset_x_max: float, rng: np.random.Generator,
) -> shapely.Geometry:
    """Land inside `bounds` (grid CRS): the real Penang shore, or a wavy coast with sea in the east.

    The synthetic shore runs north-south about 400 m east of the easternmost asset (kept between
    55 % and 88 % of the width from the west edge), with bays and capes of a few hundred metres.
    """
    frame = shapely.box(*bounds)
    if coastline == "penang":
        shore = gpd.read_file(packaged_data("penang_land.geojson")).to_crs(crs)
        land = shapely.union_all(shore.geometry.to_numpy()).intersection(frame)
    else:
        xmin, ymin, xmax, ymax = bounds
        width, height = xmax - xmin, ymax - ymin
        y = np.linspace(ymin - 1, ymax + 1, 241)
        base = np.clip(asset_x_max + 400.0, xmin + 0.55 * width, xmax - 0.12 * width)
        waves = sum(
            amp * np.sin(2 * np.pi * y / (wavelength * height) + phase)
            for amp, wavelength, phase in zip(
                width * np.array([0.05, 0.025, 0.012]), rng.uniform(0.5, 1.5, 3) * [1.2, 0.5, 0.2],
                rng.uniform(0, 2 * np.pi, 3), strict=True)
        )
        shore = np.column_stack([base + waves, y])
        land = shapely.Polygon([(xmin - 1, ymin - 1), *shore, (xmin - 1, ymax + 1)]).intersection(frame)
    if land.is_empty:
        raise ValueError(f"no land inside the grid bounds {bounds} with coastline={coastline!r}")
    return land


def land_mask(land: shapely.Geometry, template: xr.DataArray) -> xr.DataArray:
    """True on cells whose centre is on land; dims (y, x)."""
    burnt = rasterio.features.rasterize(
        [(land, 1)], out_shape=template.shape, transform=template.rio.transform(), fill=0, dtype="uint8"
    )
    return xr.DataArray(burnt.astype(bool), coords=template.coords, dims=template.dims, name="land",
                        attrs={"long_name": "land cell"})


def distance_to_sea_m(land: xr.DataArray, resolution_m: float) -> np.ndarray:
    """Distance (m) from each land cell to the nearest sea cell; from the east edge if no sea."""
    if land.values.all():
        return (land.x.values.max() - land.x.values)[None, :] + np.zeros(land.shape)
    return ndimage.distance_transform_edt(land.values, sampling=resolution_m)


def synthetic_dem(land: xr.DataArray, resolution_m: float, rng: np.random.Generator) -> xr.DataArray:
    """Elevation (m): a coastal plain of 0-10 m rising inland, hills of a few hundred m in the west.

    Smooth random relief gives the plain hollows and the hills valleys; sea cells deepen
    offshore below -0.5 m.
    """
    to_sea = distance_to_sea_m(land, resolution_m)
    to_land = ndimage.distance_transform_edt(~land.values, sampling=resolution_m)
    west = (land.x.values.max() - land.x.values) / np.ptp(land.x.values)  # 1 at the west edge
    cells = 1 / resolution_m
    plain = (0.8 + 9.0 * (1 - np.exp(-to_sea / 2500)) + 1.0 * smooth_noise(rng, land.shape, 600 * cells)
             + 0.3 * smooth_noise(rng, land.shape, 120 * cells))
    hill_ramp = np.clip((west[None, :] - 0.62) / 0.38, 0, 1) ** 1.2
    relief = sum(weight * smooth_noise(rng, land.shape, scale * cells)
                 for weight, scale in ((0.5, 1500), (0.3, 500), (0.15, 180)))
    hills = HILL_TOP_M * hill_ramp * np.clip(to_sea / 1500, 0, 1) * np.clip(0.55 + relief, 0.05, 1.3)
    elevation = np.where(land.values, np.maximum(plain + hills, 0.2), -np.minimum(0.5 + to_land / 200, 15))
    return xr.DataArray(
        elevation.astype("float32"), coords=land.coords, dims=land.dims, name="dem",
        attrs={"standard_name": "height_above_mean_sea_level", "long_name": "terrain elevation",
               "units": "m"},
    )


def stream_network(dem: xr.DataArray, land: xr.DataArray) -> tuple[pyflwdir.FlwdirRaster, gpd.GeoDataFrame]:
    """The D8 flow network of the depression-filled DEM over land, and its stream lines.

    Land cells on the edge of the land (by the sea or the grid border) may be outlets (Wang &
    Liu 2006, pyflwdir). Lines follow pyflwdir's segments between confluences, classed at their
    downstream end: canal where more than 1 km2 drains to below 3 m (lowland rivers are
    straightened), river where more than 1 km2 drains or the segment ends in the hills
    (>= 20 m), else drain.
    """
    elevation = np.where(land.values, dem.values, _NODATA).astype("float64")
    network = pyflwdir.from_dem(elevation, nodata=_NODATA, outlets="edge", transform=dem.rio.transform())
    area = np.maximum(network.upstream_area(unit="km2"), 0.0)  # nodata (-9999) off land
    segments = network.streams(mask=area >= STREAM_AREA_KM2, uparea=area, elevtn=dem.values)
    if not segments:
        return network, gpd.GeoDataFrame({"kind": [], "width_m": []}, geometry=[], crs=dem.rio.crs)
    lines = gpd.GeoDataFrame.from_features(segments, crs=dem.rio.crs)
    lines = lines[lines.length > 0].reset_index(drop=True)  # a one-cell segment is a point
    large = lines["uparea"].to_numpy() >= RIVER_AREA_KM2
    elevation = lines["elevtn"].to_numpy()
    kind = np.where(large & (elevation < CANAL_BELOW_M), "canal",
                    np.where(large | (elevation >= HILL_STREAM_FROM_M), "river", "drain"))
    width = np.where(large, np.round(6 + 4 * np.log10(np.maximum(lines["uparea"], 1)), 1), 1.5)
    return network, gpd.GeoDataFrame({"kind": kind, "width_m": width},
                                     geometry=lines.geometry.to_numpy(), crs=dem.rio.crs)
