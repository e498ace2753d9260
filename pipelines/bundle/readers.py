"""Read the files of a city bundle into xarray and pandas objects, as the data contract lays them out.

These loaders trust the bundle: run `pipelines.bundle.validate.require_valid_bundle` first (ingest does).
Each reads its file whole and closes it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import rioxarray
import xarray as xr
from prefect.runtime import flow_run

from pipelines.bundle.checks import (
    CONTROL_MEMBER,
    DEM,
    FLOOD_EVENTS,
    FLOOD_EXTENTS,
    FORECASTS,
    HISTORY,
    IMPERVIOUS,
    PROVENANCE,
    TEMPERATURE,
    VECTOR_LAYERS,
)
from pipelines.progress import log

_RASTERS = {  # name: (path, variable name, attrs)
    "dem": (DEM, "dem", {"units": "m", "long_name": "elevation above mean sea level"}),
    "impervious": (IMPERVIOUS, "impervious_frac", {"units": "1", "long_name": "impervious fraction"}),
}


def read_raster(root: Path, name: str) -> xr.DataArray:
    """A raster of static/ by name ("dem" in m, "impervious" as a 0..1 fraction), dims (y, x).

    In the file's own CRS, nodata as NaN. The optional `impervious` raises FileNotFoundError
    when absent: check `(root / "static/impervious.tif").exists()` first.
    """
    if name not in _RASTERS:
        raise ValueError(f"`name` must be one of {', '.join(_RASTERS)}, got {name!r}")
    file, var_name, attrs = _RASTERS[name]
    path = Path(root) / file
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such raster in the bundle")
    with rioxarray.open_rasterio(path, masked=True) as raster:
        layer = raster.squeeze("band", drop=True).load()
    return layer.rename(var_name).assign_attrs(attrs)


def read_dem(root: Path) -> xr.DataArray:
    """Elevation above mean sea level in m, dims (y, x), in the DEM's own CRS; nodata is NaN."""
    return read_raster(root, "dem")


def read_vector(root: Path, name: str) -> gpd.GeoDataFrame:
    """One vector layer of static/ by name (buildings, waterways, sea, heritage_assets, heritage_zone).

    The optional `sea` layer raises FileNotFoundError when absent: check `(root / path).exists()`.
    """
    if name not in VECTOR_LAYERS:
        raise ValueError(f"`name` must be one of {', '.join(VECTOR_LAYERS)}, got {name!r}")
    path = Path(root) / VECTOR_LAYERS[name].path
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such vector layer in the bundle")
    return gpd.read_file(path, engine="pyogrio")


def _read_netcdf(path: Path) -> xr.Dataset:
    with xr.open_dataset(path, engine="netcdf4", decode_coords="all", decode_timedelta=True) as dataset:
        return dataset.load()


def read_history(root: Path) -> xr.Dataset:
    """Hourly regional weather, dims (time, y, x), time in UTC; CF short names as in the contract."""
    return _read_netcdf(Path(root) / HISTORY)


def forecast_dates(root: Path) -> list[dt.date]:
    """Issue dates (local) of every forecast in the bundle, oldest first."""
    folder = Path(root) / FORECASTS
    if not folder.is_dir():
        return []
    names = folder.glob("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9].nc")
    return sorted(dt.date.fromisoformat(path.stem) for path in names)


def control_run(forecast: xr.Dataset) -> xr.Dataset:
    """The control member (CONTROL_MEMBER) of an ensemble forecast, without the `member` dim; a
    forecast without one (the one-member case) as it is."""
    return forecast.sel(member=CONTROL_MEMBER, drop=True) if "member" in forecast.dims else forecast


_SAID_CONTROL_RUN: set[tuple[str | None, Path]] = set()  # (flow run id, forecast path) already logged


def say_control_run(root: Path, files: list[str], members: int) -> None:
    """Log, once per flow run (outside one: once per process), that only the control member of the
    ensemble forecasts `files` (paths in the bundle at `root`) of up to `members` members was read."""
    key = (flow_run.id, (Path(root) / files[0]).resolve())
    if key in _SAID_CONTROL_RUN:
        return
    _SAID_CONTROL_RUN.add(key)
    more = f" and {len(files) - 1} more forecasts" if len(files) > 1 else ""
    log(f"{files[0]}{more}: {members} ensemble members; the models read the control member ({CONTROL_MEMBER}) "
        "only, until they use the ensemble")


def read_flood_events(root: Path) -> pd.DataFrame:
    """Reported floods: `date` (local day, datetime64), `lon`, `lat`, `source`, optional `depth_cm`."""
    events = pd.read_csv(Path(root) / FLOOD_EVENTS, dtype={"source": str}, skipinitialspace=True)
    events["date"] = pd.to_datetime(events["date"], format="%Y-%m-%d")
    return events


def read_flood_extents(root: Path, *, crs: str | None = None) -> gpd.GeoDataFrame | None:
    """Surveyed flood extents: `event_date` (local day, datetime64), `source`, polygon geometry.

    In the file's CRS, or reprojected to `crs` when given. None when the bundle has no
    obs/flood_extents.gpkg (it is optional).
    """
    path = Path(root) / FLOOD_EXTENTS
    if not path.is_file():
        return None
    extents = gpd.read_file(path, engine="pyogrio")
    extents["event_date"] = pd.to_datetime(extents["event_date"], format="%Y-%m-%d").dt.normalize()
    return extents.to_crs(crs) if crs is not None else extents


def read_temperature_obs(root: Path) -> pd.DataFrame:
    """Daily station records: `station_id`, `lon`, `lat`, `date` (local day), `tasmax` in degC, ...

    Optional `tasmin` (degC) and `hurs_mean` (%); empty cells are NaN.
    """
    obs = pd.read_csv(Path(root) / TEMPERATURE, dtype={"station_id": str}, skipinitialspace=True)
    obs["date"] = pd.to_datetime(obs["date"], format="%Y-%m-%d")
    return obs


def read_provenance(root: Path, *, missing_ok: bool = False) -> dict:
    """The bundle's provenance.json; with `missing_ok`, {} when it is missing or unreadable."""
    try:
        return json.loads((root / PROVENANCE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        if missing_ok:
            return {}
        raise
