"""Publish one issue date's forecast grid: risk levels, CF-1.8 NetCDF or Zarr, Cloud-Optimized GeoTIFFs."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from rasterio.crs import CRS

from features.grid import cell_lonlat
from models.heat.levels import met_level_attrs
from pipelines.storage import write_atomic

COG_VARIABLES = ("flood_probability", "flood_level", "heat_level", "wbgt_band", "tasmax_q50")
LEVEL_VARIABLES = ("flood_level", "heat_level", "wbgt_band")
COG_TILE_PX = 256  # internal tile size; city grids are a few hundred cells across
LEVEL_NODATA = 255  # uint8 COG value of sea cells in level layers
# Level words and colours, shared by the COG colour tables, the PNG maps and the page. `heat_level` is
# MET Malaysia's (tasmax held for days), `wbgt_band` Singapore NEA's (WBGT of the day): two products.
LEVEL_WORDS = {
    "flood_level": ("Flooding unlikely", "Flooding possible", "Flooding likely", "Flooding very likely"),
    "heat_level": ("No heat alert", "Heat alert (Waspada)", "Heatwave", "Extreme heatwave"),
    "wbgt_band": ("Low heat stress", "Moderate heat stress", "High heat stress"),
    # the warning areas' levels (models.warning.areas), each tied to an action: configs/advisories.yaml
    "area_flood_level": ("No warning", "Watch", "Prepare", "Move collections off the floor", "Close"),
}
LEVEL_COLOURS = {
    "flood_level": ("#f4f7fb", "#9ecae1", "#3182bd", "#08306b"),
    "heat_level": ("#fbf6ef", "#fed976", "#fd8d3c", "#bd0026"),
    "wbgt_band": ("#f7f4f9", "#c994c7", "#980043"),
    "area_flood_level": ("#ffffff", "#ffd92f", "#fd8d3c", "#d7191c", "#7a0177"),  # warning colours, as the sites'
}
_QUANTILES = {"tasmax_q10": 0.1, "tasmax_q50": 0.5, "tasmax_q90": 0.9}
_ORDINAL = {0.1: "10th", 0.5: "50th", 0.9: "90th"}
INSTITUTION = "Warisan, open-source flood and heat forecasts for heritage cities"  # the CF `institution` of every file Warisan writes
_COMPRESSION = {"zlib": True, "complevel": 1, "shuffle": True}  # level 1: a third faster than 4, 4 % larger


def level_legend(level: xr.DataArray) -> list[str]:
    """The words of each level of a level layer, with where levels 1.. start (its `level_starts`):
    'Heatwave: median max from 37 °C, 3 days running', 'Moderate heat stress: WBGT from 31 °C'."""
    words = LEVEL_WORDS[str(level.name)]
    if "level_starts" not in level.attrs:
        return list(words)
    starts = [float(v) for v in np.atleast_1d(level.attrs["level_starts"])]
    if level.name == "flood_level":
        edges = [f"from {round(v * 100, 2):g}%" for v in starts]
    elif level.name == "wbgt_band":
        edges = [f"WBGT from {v:g} °C" for v in starts]
    else:
        days = int(level.attrs.get("sustained_days", 1))
        held = f", {days} days running" if days > 1 else " on the day (not held over days)"
        edges = [f"median max from {v:g} °C{held}" for v in starts]
    return [words[0], *(f"{word}: {edge}" for word, edge in zip(words[1:], edges, strict=True))]


def valid_day(forecast: xr.Dataset, lead: int) -> dt.date:
    """The local day lead `lead` of `forecast` is valid for: the issue date + `lead` days."""
    return dt.date.fromisoformat(forecast.attrs["issue_date"]) + dt.timedelta(days=int(lead))


HAZARD_LAYERS = {"flood": "flood_probability", "heat": "tasmax_q50"}  # the layer that says where a hazard is forecast


def hazard_leads(forecast: xr.Dataset, hazard: str) -> list[int]:
    """The leads at which `forecast` forecasts `hazard` ('flood' or 'heat'): its HAZARD_LAYERS layer has a
    value on land. A forecast carries the longer hazard's days; the other is NaN past its own."""
    layer = forecast[HAZARD_LAYERS[hazard]]
    known = layer.where(forecast["land"].astype(bool)).notnull().any(dim=[d for d in layer.dims if d != "lead"])
    return [int(lead) for lead in forecast.lead.values[known.values]]


def level_from_bands(values: xr.DataArray, bands: tuple[float, float, float], name: str) -> xr.DataArray:
    """Level 0..3 per cell: how many of the increasing `bands` `values` reaches; NaN stays NaN.

    Level k starts at bands[k-1] (inclusive), so with bands (0.01, 0.05, 0.2) a probability
    of 0.05 is level 2. float32, named `name`.
    """
    if list(bands) != sorted(set(bands)):
        raise ValueError(f"`bands` must be strictly increasing, got {bands}")
    level = sum((values >= band).astype("float32") for band in bands)
    return level.where(values.notnull()).astype("float32").rename(name)


def with_levels(
    forecast: xr.Dataset, *, flood_bands: tuple[float, float, float],
    heat_bands_degC: tuple[float, float, float],
) -> xr.Dataset:
    """`forecast` with `flood_level` (from flood_probability) and MET Malaysia's `heat_level`.

    A `heat_level` or `wbgt_band` already in `forecast` (the daily forecast's heat-stress layers,
    with their own attributes: models.heat.levels) is kept. Without one, `heat_level` counts
    the `heat_bands_degC` that one day's tasmax_q50 reaches, and its attributes say that the
    level is not held over days. Levels are 0..3 (WBGT bands 0..2), NaN on sea cells, with CF
    flag attributes naming each level and `level_starts` where each begins.
    """
    land = forecast["land"].astype(bool)
    out = forecast.assign(flood_level=level_from_bands(forecast["flood_probability"], flood_bands, "flood_level"))
    out["flood_level"].attrs = {
        **forecast_cf_attrs("flood_level"), "level_starts": np.asarray(flood_bands, "float32"),
        "comment": "level k where flood_probability reaches level_starts[k-1]"}
    if "heat_level" not in forecast:
        out["heat_level"] = level_from_bands(forecast["tasmax_q50"], heat_bands_degC, "heat_level")
        out["heat_level"].attrs = met_level_attrs(heat_bands_degC, sustained_days=1, observed_days=0)
    for name in LEVEL_VARIABLES:
        if name in out:
            out[name] = out[name].astype("float32").where(land).assign_attrs(out[name].attrs)
    return out


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
    if name == "flood_level":
        return {"long_name": "flood level of the local day (0 none .. 3 highest)", "units": "1",
                "flag_values": np.arange(4, dtype="int8"),
                "flag_meanings": " ".join(w.lower().replace(" ", "_") for w in LEVEL_WORDS[name])}
    raise ValueError(f"no CF attributes defined for forecast variable {name!r}")


def write_forecast_netcdf(forecast: xr.Dataset, path: Path) -> Path:
    """Write `forecast` to `path` as CF-1.8 NetCDF-4 (zlib, one chunk per lead), atomically.

    Every data variable is written; those without CF attributes defined here must carry
    their own `units` and `long_name`.
    """
    dataset = _cf_dataset(forecast)
    return write_atomic(
        Path(path), lambda tmp: dataset.to_netcdf(tmp, engine="netcdf4", format="NETCDF4"), suffix=".nc"
    )


def write_forecast_zarr(forecast: xr.Dataset, path: Path) -> Path:
    """Write `forecast` to the Zarr store `path` (format 2, one chunk per lead), the same CF content.

    Written beside `path`, then renamed into place; an existing store at `path` is replaced
    (not atomically: publish inside a version folder, where `path` is new).
    """
    path = Path(path)
    dataset = _cf_dataset(forecast)
    for name in dataset.variables:
        encoding = dataset[name].encoding
        for key in ("zlib", "complevel", "shuffle", "chunksizes"):
            encoding.pop(key, None)
        if "lead" in dataset[name].dims and name in dataset.data_vars:
            encoding["chunks"] = tuple(1 if d == "lead" else dataset.sizes[d] for d in dataset[name].dims)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        dataset.to_zarr(tmp, mode="w", zarr_format=2, consolidated=True)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def write_cogs(forecast: xr.Dataset, out_dir: Path, variables: tuple[str, ...] = COG_VARIABLES) -> list[Path]:
    """Write one Cloud-Optimized GeoTIFF per variable of `variables` in `forecast` and lead, `<variable>_d<lead>.tif`:
    the flood layers at the flood leads, the others at the heat leads (hazard_leads).

    Continuous layers: float32, deflate with the floating-point predictor, nodata NaN (sea),
    overviews by average. Level layers: uint8 with a colour table, nodata 255, overviews by
    mode. All carry a band description and tags naming the variable, units, lead, valid day
    and model versions (and the word for each level).
    """
    out_dir = Path(out_dir)
    transform, crs = forecast.rio.transform(), forecast.rio.crs
    paths = []
    leads = {hazard: hazard_leads(forecast, hazard) for hazard in HAZARD_LAYERS}
    for name in (v for v in variables if v in forecast):
        attrs = _published_attrs(forecast[name])
        for lead in leads["flood" if name.startswith("flood") else "heat"]:
            day = valid_day(forecast, lead).isoformat()
            tags = {
                "variable": name, "units": attrs["units"], "long_name": attrs["long_name"],
                "lead_days": str(int(lead)), "valid_date": day, "issue_date": forecast.attrs["issue_date"],
                "city": forecast.attrs["city"],
                "flood_model_version": forecast.attrs["flood_model_version"],
                "heat_model_version": forecast.attrs["heat_model_version"],
            }
            description = f"{name} ({attrs['units']}), lead {int(lead)} d, valid {day}: {attrs['long_name']}"
            values = forecast[name].sel(lead=lead).transpose("y", "x").values
            if name in LEVEL_WORDS:
                tags |= {f"level_{k}": word for k, word in enumerate(LEVEL_WORDS[name])}
                data = np.where(np.isfinite(values), values, LEVEL_NODATA).astype("uint8")
                colours = _colour_table(LEVEL_COLOURS[name])
            else:
                data, colours = values.astype("float32"), None
            write = partial(_write_cog, data=data, transform=transform, crs=crs,
                            description=description, tags=tags, colours=colours)
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
    out["lead"].encoding = {"dtype": "int32"}
    # int32 minutes since 1970 reach the year 6053; CF checkers reject int64
    time_units = {"units": "minutes since 1970-01-01 00:00:00", "calendar": "proleptic_gregorian", "dtype": "int32"}
    for name in ("time", "time_bnds", "forecast_reference_time"):
        out[name].encoding = dict(time_units)
    out["time"].encoding["bounds"] = "time_bnds"
    out["time_bnds"].encoding["coordinates"] = None  # a bounds variable names no coordinates
    for name in ("x", "y", "lat", "lon"):  # coordinates have no missing values, so no _FillValue
        out[name].encoding = {**out[name].encoding, "_FillValue": None}
    out[grid_mapping].encoding = {**out[grid_mapping].encoding, "dtype": "int32"}
    lead_coords = "forecast_reference_time forecast_period time lat lon"
    area_coords = "forecast_reference_time forecast_period time area_id area_name area_kind area_geometry"
    for name, variable in forecast.data_vars.items():
        if name in (grid_mapping, "time_bnds"):
            continue
        out[name].attrs = {**_published_attrs(variable), "grid_mapping": grid_mapping}
        if "area" in variable.dims:  # warning areas: not on the grid
            del out[name].attrs["grid_mapping"]
            encoding = {**_COMPRESSION, "coordinates": area_coords}
        elif "lead" in variable.dims:
            encoding = {**_COMPRESSION, "chunksizes": (1, ny, nx), "coordinates": lead_coords}
        else:
            encoding = {**_COMPRESSION, "coordinates": "lat lon"}
        if name in LEVEL_WORDS or "flag_values" in out[name].attrs:  # levels, flood drivers' feature indices
            encoding |= {"dtype": "int8", "_FillValue": np.int8(-1)}  # NaN (sea) is written as -1
            out[name].attrs["flag_values"] = _int8(out[name].attrs["flag_values"], name)
        elif variable.dtype.kind == "f":
            encoding["_FillValue"] = np.float32(np.nan)
        out[name].encoding = encoding
    attrs = forecast.attrs
    out.attrs = {
        **attrs,
        "Conventions": "CF-1.8",
        "title": f"Warisan flood and heat forecast for {attrs['city_name']}, issued {attrs['issue_date']}",
        "institution": INSTITUTION,
        "source": (f"Warisan {_package_version()}: flood model {attrs['flood_model_version']}, "
                   f"heat model {attrs['heat_model_version']}"),
        "history": (f"{np.datetime_as_string(reference, unit='s')}Z forecast issued; "
                    "written by pipelines.publish.grid"),
        "references": "Model cards in the Warisan model registry, by the model versions in `source`",
        "comment": f"lead day L is valid for the local day issue_date + L ({attrs['timezone']})",
    }
    return out


def _int8(flag_values, name: str) -> np.ndarray:
    """`flag_values` as int8, the dtype the flag variable `name` is written in (CF: the same type)."""
    values = np.asarray(flag_values)
    if values.min() < 0 or values.max() > np.iinfo("int8").max:
        raise ValueError(f"flag_values of {name!r} must lie in 0..127 to be written as int8, got {values}")
    return values.astype("int8")


def _published_attrs(variable: xr.DataArray) -> dict:
    """`variable`'s attributes with those of forecast_cf_attrs over them; a variable without such
    (the heat levels, heat stress, drivers) must carry its own `units` and `long_name`."""
    own = {k: v for k, v in variable.attrs.items() if k != "grid_mapping"}
    try:
        return {**own, **forecast_cf_attrs(str(variable.name))}
    except ValueError:
        missing = {"units", "long_name"} - set(own)
        if missing:
            raise ValueError(f"forecast variable {variable.name!r} lacks {sorted(missing)}") from None
        return own


def _colour_table(colours: tuple[str, ...]) -> dict[int, tuple[int, int, int, int]]:
    """GDAL colour table: level k -> its RGBA colour; nodata transparent."""
    table = {k: (*(int(c[i:i + 2], 16) for i in (1, 3, 5)), 255) for k, c in enumerate(colours)}
    return table | {LEVEL_NODATA: (0, 0, 0, 0)}


def _write_cog(tmp: Path, *, data: np.ndarray, transform: Affine, crs: CRS, description: str,
               tags: dict[str, str], colours: dict[int, tuple[int, int, int, int]] | None) -> None:
    """Write one band as a COG at `tmp` with GDAL's COG driver (one copy from memory, overviews included)."""
    height, width = data.shape
    categorical = colours is not None
    overviews = max(1, int(np.ceil(np.log2(max(height, width) / COG_TILE_PX))))
    with rasterio.open(tmp, "w", driver="COG", width=width, height=height, count=1, dtype=data.dtype.name, crs=crs,
                       transform=transform, nodata=LEVEL_NODATA if categorical else np.nan, compress="DEFLATE",
                       predictor=2 if categorical else 3, blocksize=COG_TILE_PX, overview_count=overviews,
                       overview_resampling="MODE" if categorical else "AVERAGE") as cog:
        cog.write(data, 1)
        cog.set_band_description(1, description)
        cog.update_tags(**tags)
        cog.update_tags(1, units=tags["units"], long_name=tags["long_name"])
        if categorical:
            cog.write_colormap(1, colours)


def _package_version() -> str:
    try:
        return version("warisan")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"
