"""Publish one issue date's forecast grid: a CF-1.8 NetCDF and Cloud-Optimized GeoTIFFs."""

from __future__ import annotations

import datetime as dt
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from rasterio.crs import CRS
from rasterio.io import MemoryFile
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

from features.grid import cell_lonlat
from pipelines.storage import write_atomic

LEAD_VARIABLES = ("flood_probability", "tasmax_q10", "tasmax_q50", "tasmax_q90")
COG_TILE_PX = 256  # internal tile size; city grids are a few hundred cells across
_QUANTILES = {"tasmax_q10": 0.1, "tasmax_q50": 0.5, "tasmax_q90": 0.9}
_ORDINAL = {0.1: "10th", 0.5: "50th", 0.9: "90th"}


def valid_day(forecast: xr.Dataset, lead: int) -> dt.date:
    """The local day lead `lead` of `forecast` is valid for: the issue date + `lead` days."""
    return dt.date.fromisoformat(forecast.attrs["issue_date"]) + dt.timedelta(days=int(lead))


def forecast_cf_attrs(name: str) -> dict[str, object]:
    """The CF attributes a published forecast variable carries (units, standard_name, ...)."""
    if name == "flood_probability":
        return {"long_name": "probability that the cell floods during the local day", "units": "1",
                "valid_min": np.float32(0), "valid_max": np.float32(1)}
    if name in _QUANTILES:
        q = _QUANTILES[name]
        return {
            "standard_name": "air_temperature", "units": "degC", "cell_methods": "time: maximum",
            "long_name": f"daily maximum near-surface air temperature, {_ORDINAL[q]} percentile of the forecast",
            "quantile": q,
            "comment": f"the forecast gives a {q:.0%} chance that the day's maximum stays at or below this value",
        }
    if name == "land":
        return {"standard_name": "land_binary_mask", "long_name": "land cell (sea cells are not forecast)",
                "units": "1"}
    raise ValueError(f"no CF attributes defined for forecast variable {name!r}")


def write_forecast_netcdf(forecast: xr.Dataset, path: Path) -> Path:
    """Write `forecast` to `path` as CF-1.8 NetCDF-4 (zlib, one chunk per lead), atomically."""
    dataset = _cf_dataset(forecast)
    return write_atomic(
        Path(path), lambda tmp: dataset.to_netcdf(tmp, engine="netcdf4", format="NETCDF4"), suffix=".nc"
    )


def write_cogs(forecast: xr.Dataset, out_dir: Path) -> list[Path]:
    """Write one Cloud-Optimized GeoTIFF per variable and lead, `<variable>_d<lead>.tif`.

    float32, deflate with the floating-point predictor, nodata NaN (sea), internal
    overviews (average), a band description and tags naming the variable, units, lead,
    valid day and model versions.
    """
    out_dir = Path(out_dir)
    transform, crs = forecast.rio.transform(), forecast.rio.crs
    paths = []
    for name in LEAD_VARIABLES:
        attrs = forecast_cf_attrs(name)
        for lead in forecast.lead.values:
            day = valid_day(forecast, lead).isoformat()
            tags = {
                "variable": name, "units": attrs["units"], "long_name": attrs["long_name"],
                "lead_days": str(int(lead)), "valid_date": day, "issue_date": forecast.attrs["issue_date"],
                "city": forecast.attrs["city"],
                "flood_model_version": forecast.attrs["flood_model_version"],
                "heat_model_version": forecast.attrs["heat_model_version"],
            }
            description = f"{name} ({attrs['units']}), lead {int(lead)} d, valid {day}: {attrs['long_name']}"
            data = forecast[name].sel(lead=lead).transpose("y", "x").values.astype("float32")
            write = partial(_write_cog, data=data, transform=transform, crs=crs,
                            description=description, tags=tags)
            paths.append(write_atomic(out_dir / f"{name}_d{int(lead)}.tif", write, suffix=".tif"))
    return paths


def _cf_dataset(forecast: xr.Dataset) -> xr.Dataset:
    """A copy of `forecast` with the CF-1.8 metadata and encodings written by the NetCDF file."""
    grid_mapping = forecast.rio.grid_mapping
    reference = forecast["forecast_reference_time"].values.astype("datetime64[ns]")
    leads = forecast.lead.values
    starts = reference + leads.astype("timedelta64[D]")
    lon, lat = cell_lonlat(forecast["land"])
    ny, nx = forecast.sizes["y"], forecast.sizes["x"]
    out = forecast.copy(deep=False).assign_coords(
        lat=lat, lon=lon,
        forecast_period=("lead", leads.astype("int32"), {
            "standard_name": "forecast_period", "units": "days",
            "long_name": "time from the forecast reference time to the start of the valid local day"}),
        time=("lead", starts, {
            "standard_name": "time", "long_name": "start of the local day the values are valid for"}),
    )
    out["time_bnds"] = (("lead", "bnds"), np.stack([starts, starts + np.timedelta64(1, "D")], axis=1))
    out["forecast_reference_time"].attrs = {
        "standard_name": "forecast_reference_time", "long_name": "issue time: local midnight of the issue date"}
    out["lead"].attrs = {"long_name": "lead day (0 = the issue date)", "units": "1"}
    time_units = {"units": "minutes since 1970-01-01 00:00:00", "calendar": "proleptic_gregorian"}
    for name in ("time", "time_bnds", "forecast_reference_time"):
        out[name].encoding = dict(time_units)
    out["time"].encoding["bounds"] = "time_bnds"
    out["time_bnds"].encoding["coordinates"] = None  # a bounds variable names no coordinates
    lead_coords = "forecast_reference_time forecast_period time lat lon"
    for name in LEAD_VARIABLES:
        out[name].attrs = {**forecast_cf_attrs(name), "grid_mapping": grid_mapping}
        out[name].encoding = {"zlib": True, "complevel": 4, "chunksizes": (1, ny, nx),
                              "coordinates": lead_coords}
    out["land"].attrs = {**forecast_cf_attrs("land"), "grid_mapping": grid_mapping}
    out["land"].encoding = {"zlib": True, "complevel": 4, "coordinates": "lat lon"}
    attrs = forecast.attrs
    out.attrs = {
        **attrs,
        "Conventions": "CF-1.8",
        "title": f"Warisan flood and heat forecast for {attrs['city_name']}, issued {attrs['issue_date']}",
        "institution": "Warisan, open-source flood and heat forecasts for heritage cities",
        "source": (f"Warisan {_package_version()}: flood model {attrs['flood_model_version']}, "
                   f"heat model {attrs['heat_model_version']}"),
        "history": (f"{np.datetime_as_string(reference, unit='s')}Z forecast issued; "
                    "written by pipelines.publish.write_forecast_netcdf"),
        "references": "Model cards in the Warisan model registry, by the model versions in `source`",
        "comment": f"lead day L is valid for the local day issue_date + L ({attrs['timezone']})",
    }
    return out


def _write_cog(tmp: Path, *, data: np.ndarray, transform: Affine, crs: CRS,
               description: str, tags: dict[str, str]) -> None:
    """Write one band as a COG at `tmp`, translating from an in-memory GTiff."""
    height, width = data.shape
    profile = cog_profiles.get("deflate")
    profile.update(blockxsize=COG_TILE_PX, blockysize=COG_TILE_PX, predictor=3)
    overview_level = max(1, int(np.ceil(np.log2(max(height, width) / COG_TILE_PX))))
    with MemoryFile() as memfile:
        with memfile.open(driver="GTiff", width=width, height=height, count=1, dtype="float32",
                          crs=crs, transform=transform, nodata=np.nan) as source:
            source.write(data, 1)
            source.set_band_description(1, description)
            source.update_tags(**tags)
            source.update_tags(1, units=tags["units"], long_name=tags["long_name"])
        with memfile.open() as source:
            cog_translate(source, tmp, profile, overview_level=overview_level, overview_resampling="average",
                          forward_band_tags=True, in_memory=True, quiet=True)


def _package_version() -> str:
    try:
        return version("warisan")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"
