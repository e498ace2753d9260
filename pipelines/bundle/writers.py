"""Writers of a bundle's static files, shared by the live sources and the demo world.

Each builds its file in a temp path and renames it into place; the bytes depend only on the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import pyogrio
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from pipelines.storage import write_atomic

_OGR_DATE = "2008-07-07T00:00:00Z"  # GeoPackages record a change date; a fixed one keeps bytes equal


@contextmanager
def _fixed_ogr_date() -> Iterator[None]:
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _OGR_DATE})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})


def write_gpkg(path: Path, frame: gpd.GeoDataFrame, layer: str) -> Path:
    """`frame` as a one-layer GeoPackage at `path`."""
    with _fixed_ogr_date():
        return write_atomic(
            path, lambda tmp: pyogrio.write_dataframe(frame, tmp, layer=layer, driver="GPKG"), suffix=".gpkg"
        )


def write_geotiff(path: Path, layer: xr.DataArray, units: str, description: str) -> Path:
    """A one-band float32 GeoTIFF (deflate) of the (y, x) `layer`, on its grid and CRS."""
    def write(tmp: Path) -> None:
        with rasterio.open(
            tmp, "w", driver="GTiff", height=layer.sizes["y"], width=layer.sizes["x"], count=1,
            dtype="float32", crs=layer.rio.crs, transform=layer.rio.transform(), compress="deflate",
        ) as raster:
            raster.write(layer.values.astype("float32"), 1)
            raster.set_band_description(1, description)
            raster.set_band_unit(1, units)
    return write_atomic(path, write, suffix=".tif")
