"""Byte-deterministic writers of the demo world's netCDF files, each built in a temp path and renamed.

The static GeoTIFFs and GeoPackages are written by pipelines.bundle.writers, as the live sources write them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import netCDF4
import numpy as np
import xarray as xr

from pipelines.demo_world.truth import Truth
from pipelines.storage import write_atomic

_CHUNK_DAYS = 32
_TASMAX_FILL = -32768


def add_variable(nc: netCDF4.Dataset, name: str, dtype: str, dims: tuple, data, attrs: dict,
                 **options) -> netCDF4.Variable:
    """Create `name` in `nc` with `attrs` and write `data` as given (no packing): a scalar when
    `dims` is empty, nothing when `data` is None."""
    attrs = dict(attrs)
    var = nc.createVariable(name, dtype, dims, fill_value=attrs.pop("_FillValue", None), **options)
    var.set_auto_maskandscale(False)
    var.setncatts(attrs)
    if data is not None and dims:
        var[:] = data
    elif data is not None:
        var.assignValue(data)
    return var


def add_grid(nc: netCDF4.Dataset, template: xr.DataArray) -> None:
    """Dims, 1-D coordinates and the `spatial_ref` grid mapping of `template`'s (y, x) grid."""
    for dim in ("y", "x"):
        nc.createDimension(dim, template.sizes[dim])
        add_variable(nc, dim, "f8", (dim,), template[dim].values, dict(template[dim].attrs))
    add_variable(nc, "spatial_ref", "i4", (), 0, dict(template["spatial_ref"].attrs))


def write_history(path: Path, weather: xr.Dataset) -> Path:
    """The hourly regional weather as history.nc: float32, light zlib, hours since the first hour."""
    first = np.datetime_as_string(weather.time.values[0], unit="s").replace("T", " ")
    encoding = {name: {"zlib": True, "complevel": 1, "_FillValue": None, "grid_mapping": "spatial_ref"}
                for name in weather.data_vars}
    encoding |= {
        "time": {"units": f"hours since {first}", "dtype": "int32", "calendar": "proleptic_gregorian"},
        "y": {"_FillValue": None}, "x": {"_FillValue": None}, "spatial_ref": {"dtype": "int32"},
    }  # int32: CF checkers reject int64, and int32 hours reach 245,000 years
    weather = weather.assign_attrs(Conventions="CF-1.8", title="Warisan demo world: hourly regional weather",
                                   source="pipelines.demo_world.generate (synthetic)",
                                   history="written by pipelines.demo_world.writers.write_history")
    weather.time.attrs.update(standard_name="time", long_name="start of the hour (UTC)")
    return write_atomic(path, lambda tmp: weather.to_netcdf(tmp, engine="netcdf4", encoding=encoding),
                        suffix=".nc")


def write_daily_grid(
    path: Path, template: xr.DataArray, first_day: str, n_days: int, daily: dict[str, tuple],
    static: dict[str, tuple], title: str,
) -> Path:
    """A truth file on the city grid: (time, y, x) variables written by chunks of days, plus (y, x) ones.

    `daily` maps name -> (dtype, attrs, fill(slab, days) callback filling a (days, y, x) array);
    `static` maps name -> (values (y, x) float32, attrs). `time` counts local days from `first_day`.
    """
    ny, nx = template.shape
    def write(tmp: Path) -> None:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
            nc.setncatts({"Conventions": "CF-1.8", "title": title,
                          "source": "pipelines.demo_world.generate (synthetic truth; never read by training)",
                          "history": "written by pipelines.demo_world.writers.write_daily_grid"})
            nc.createDimension("time", n_days)
            add_variable(nc, "time", "i4", ("time",), np.arange(n_days),
                         {"standard_name": "time", "long_name": "local day",
                          "units": f"days since {first_day}", "calendar": "proleptic_gregorian"})
            add_grid(nc, template)
            chunks = (min(_CHUNK_DAYS, n_days), ny, nx)
            for name, (dtype, attrs, fill) in daily.items():
                var = add_variable(nc, name, dtype, ("time", "y", "x"), None,
                                   {**attrs, "grid_mapping": "spatial_ref"},
                                   zlib=True, complevel=1, shuffle=True, chunksizes=chunks)
                for first in range(0, n_days, _CHUNK_DAYS * 8):
                    days = np.arange(first, min(first + _CHUNK_DAYS * 8, n_days))
                    var[days[0]:days[-1] + 1] = fill(days)
            for name, (values, attrs) in static.items():
                add_variable(nc, name, "f4", ("y", "x"), values, {**attrs, "grid_mapping": "spatial_ref"},
                             zlib=True, complevel=1)
    return write_atomic(path, write, suffix=".nc")


def write_truth(truth_dir: Path, truth: Truth, template, row: np.ndarray, col: np.ndarray,
                 start: dt.date, n_days: int) -> None:
    """flood.nc and tasmax.nc of `truth` (on the land cells at `row`, `col`) on the city grid.

    Sea cells are 0 in `flooded` and missing in `tasmax`; `time` counts local days from `start`.
    """
    order = np.argsort(truth.flood_day, kind="stable")
    flood_day, flood_cell = truth.flood_day[order], truth.flood_cell[order]

    def flooded(days: np.ndarray) -> np.ndarray:
        slab = np.zeros((days.size, *template.shape), dtype=np.int8)
        hit = slice(*np.searchsorted(flood_day, [days[0], days[-1] + 1]))
        slab[flood_day[hit] - days[0], row[flood_cell[hit]], col[flood_cell[hit]]] = 1
        return slab

    def tasmax(days: np.ndarray) -> np.ndarray:
        slab = np.full((days.size, *template.shape), _TASMAX_FILL, dtype=np.int16)
        slab[:, row, col] = truth.tasmax_centi[days]
        return slab

    def on_grid(values: np.ndarray) -> np.ndarray:
        grid = np.full(template.shape, np.nan, dtype="float32")
        grid[row, col] = values
        return grid

    first_day = start.isoformat()
    write_daily_grid(
        truth_dir / "flood.nc", template, first_day, n_days,
        daily={"flooded": ("i1", {"long_name": "cell flooded on the local day", "units": "1",
                                  "flag_values": np.array([0, 1], dtype=np.int8),
                                  "flag_meanings": "dry flooded"}, flooded)},
        static={
            "flood_susceptibility": (on_grid(truth.flood_susceptibility),
                                     {"long_name": "relative flood susceptibility "
                                                   "(ponding over drainage capacity)", "units": "1"}),
            "urban_heat_degC": (on_grid(truth.urban_heat_degC),
                                {"long_name": "offset of cell tasmax from the regional tasmax on an average "
                                              "day (urban heat, sea distance, elevation)", "units": "degC"}),
        },
        title="Warisan demo world: flood truth",
    )
    write_daily_grid(
        truth_dir / "tasmax.nc", template, first_day, n_days,
        daily={"tasmax": ("i2", {"standard_name": "air_temperature", "units": "degC",
                                 "long_name": "daily maximum air temperature",
                                 "cell_methods": "time: maximum",
                                 "scale_factor": np.float32(0.01), "_FillValue": np.int16(_TASMAX_FILL)},
                          tasmax)},
        static={}, title="Warisan demo world: tasmax truth",
    )
