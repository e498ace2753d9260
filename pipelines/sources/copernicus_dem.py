"""Copernicus GLO-30 elevation: the tiles over a bbox, read by HTTP range requests, on the city grid.

The public bucket holds one 1x1 degree Cloud-Optimized GeoTIFF per tile,
`<base>/<name>/<name>.tif` with `<name>` = Copernicus_DSM_COG_10_N05_00_E100_00_DEM (the tile's
south-west corner). GDAL's /vsicurl/ reads only the byte ranges a window needs. Tiles the
bucket lacks (open sea: HTTP 403/404) are sea at 0 m; if every tile is lacking, that is an error.

GLO-30 is a surface model (roofs and trees included) with heights above the EGM2008 geoid; the
bundle's DEM is terrain above mean sea level. `bare_earth_on_msl` lowers the cells at least half
under building footprints to the ground around them (features.terrain.bare_earth_m) and subtracts
the local mean sea level's height above EGM2008 (`msl_above_egm2008_m`, docs/live-city.md).
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import xarray as xr
from rasterio.errors import RasterioIOError
from rasterio.warp import Resampling, reproject

from features.terrain import bare_earth_m
from features.urban import cover_fraction
from pipelines.bundle.writers import write_geotiff

LICENCE = ("Copernicus DEM GLO-30, (c) DLR e.V. 2010-2014 and (c) Airbus Defence and Space GmbH 2014-2018 "
           "provided under COPERNICUS by the European Union and ESA; all rights reserved (free licence).")
SURFACE_DATUM = "EGM2008 geoid"
BUILDING_CELL_COVER = 0.5  # a cell at least this much under footprints has a roof for its height
_GDAL_HTTP = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif",
              "GDAL_HTTP_RETRY_DELAY": "1", "VSI_CACHE": "TRUE", "GDAL_HTTP_TIMEOUT": "60"}


class DemError(ValueError):
    """No usable elevation for the city; nothing is written."""


def tile_names(lonlat_bounds: tuple[float, float, float, float]) -> list[str]:
    """GLO-30 tile names covering (west, south, east, north) in degrees, south-west first."""
    west, south, east, north = lonlat_bounds
    names = []
    for lat in range(math.floor(south), math.ceil(north)):
        for lon in range(math.floor(west), math.ceil(east)):
            ns, ew = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
            names.append(f"Copernicus_DSM_COG_10_{ns}{abs(lat):02d}_00_{ew}{abs(lon):03d}_00_DEM")
    return names


def tile_url(base_url: str, name: str) -> str:
    return f"{base_url.rstrip('/')}/{name}/{name}.tif"


def dem_on_grid(urls: list[str], crs: str, transform, shape: tuple[int, int], retries: int) -> np.ndarray:
    """Elevation (m) on the grid (`crs`, `transform`, `shape`), bilinear from the tiles at `urls`.

    Raises DemError when no tile could be read or the result holds no finite value.
    """
    elevation = np.full(shape, np.nan, dtype="float32")
    found = 0
    with rasterio.Env(**_GDAL_HTTP, GDAL_HTTP_MAX_RETRY=str(retries)):
        for url in urls:
            try:
                with rasterio.open(f"/vsicurl/{url}") as tile:
                    part = np.full(shape, np.nan, dtype="float32")
                    reproject(rasterio.band(tile, 1), part, dst_transform=transform, dst_crs=crs,
                              dst_nodata=np.nan, resampling=Resampling.bilinear)
            except RasterioIOError as err:
                if any(code in str(err) for code in ("HTTP response code: 404", "HTTP response code: 403")):
                    continue  # no tile: open sea
                raise
            found += 1
            elevation = np.where(np.isnan(elevation), part, elevation)
    if not found:
        raise DemError(f"none of the {len(urls)} DEM tiles exists: {', '.join(urls)}")
    elevation = np.where(np.isnan(elevation), 0.0, elevation).astype("float32")  # missing tiles: sea
    if not ((elevation > -500) & (elevation < 9000)).all():
        raise DemError(f"elevation outside -500..9000 m (min {elevation.min():g}, max {elevation.max():g})")
    return elevation


def bare_earth_on_msl(surface: np.ndarray, template: xr.DataArray, buildings: gpd.GeoDataFrame,
                      msl_above_egm2008_m: float) -> tuple[xr.DataArray, int]:
    """Terrain in m above local mean sea level from the GLO-30 `surface` (m above EGM2008) on the grid
    of `template`, and the number of building cells lowered.

    Cells at least BUILDING_CELL_COVER under `buildings` footprints take the ground interpolated from
    the cells around them (never higher than the surface); then every cell is lowered by
    `msl_above_egm2008_m`, the local mean sea level's height above the geoid.
    """
    roofs = cover_fraction(buildings.geometry, template) >= BUILDING_CELL_COVER
    ground = bare_earth_m(template.copy(data=surface.astype("float32")).assign_attrs(units="m"), roofs)
    terrain = (ground - np.float32(msl_above_egm2008_m)).rename("elevation_m").assign_attrs(
        units="m", long_name="bare-earth elevation above local mean sea level")
    return terrain, int(roofs.sum())


def write_dem(path: Path, terrain: xr.DataArray, msl_datum: str) -> Path:
    """static/dem.tif: `terrain` (m above `msl_datum`) on its city grid."""
    return write_geotiff(path, terrain, "m", f"bare-earth elevation above {msl_datum} (Copernicus GLO-30 "
                                             f"surface model on the {SURFACE_DATUM}, buildings removed)")
