"""The weather grid's `y`, `x` are read in the CRS of its grid mapping: degrees or metres give the same drivers."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from pyproj import Transformer

from features.grid import grid_template
from features.weather import DRIVER_NAMES
from pipelines.bundle.readers import read_history
from pipelines.bundle.validate import validate_bundle
from pipelines.feature_cache.drivers import drivers_for_dates, read_drivers
from pipelines.forecast.frame import feature_frame, land_lonlat
from tests.pipelines.bundle_factory import (
    CITY_BOUNDS,
    CITY_CRS,
    FORECAST_DATES,
    LEAD_DAYS,
    TIMEZONE,
    VALIDATE_KWARGS,
    write_bundle,
    write_provenance,
)

# Two regional grids over the city: 3 x 3 points 0.05 deg apart, and 3 x 4 points 3 km apart in UTM 47N.
GEOGRAPHIC = ("EPSG:4326", np.array([5.45, 5.40, 5.35]), np.array([100.25, 100.30, 100.35]))
PROJECTED = (CITY_CRS, np.array([600_000.0, 597_000.0, 594_000.0]),
             np.array([638_000.0, 641_000.0, 644_000.0, 647_000.0]))
SLOPE = {"tas": 1.0, "hurs": -2.0, "sfcWind": 0.5, "rsds": 10.0, "zos": 0.05}  # added per 0.1 deg east or north
RAIN_SLOPE = 0.2  # rain is scaled instead (1 + 0.2 per 0.1 deg): every point's wettest 3 h stay the same hours


def same_field(ds: xr.Dataset, grid: tuple) -> xr.Dataset:
    """`ds`'s weather at its first point, shifted (rain scaled) linearly in lon and lat, on the regional
    `grid` (crs, y, x): the same field wherever it is sampled, as a weather service would serve it."""
    crs, y, x = grid
    xx, yy = np.meshgrid(x, y)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xx, yy)
    offset = xr.DataArray((lon - 100.2) / 0.1 + (lat - 5.3) / 0.1, dims=("y", "x"))  # positive over the region
    point = ds.isel(y=0, x=0, drop=True).drop_vars("spatial_ref", errors="ignore")
    out = xr.Dataset({name: point[name] + SLOPE[name] * offset for name in SLOPE}, coords={"y": y, "x": x})
    out["pr"] = point["pr"] * (1 + RAIN_SLOPE * offset)
    for name in (*SLOPE, "pr"):
        out[name] = out[name].astype("float32").assign_attrs(units=ds[name].attrs["units"])
    return out.assign_coords({k: v for k, v in point.coords.items() if k not in ("y", "x")}).rio.write_crs(crs)


def bundle_on(root, grid: tuple):
    """The factory bundle with its history and forecasts rewritten on the regional `grid`."""
    for path in [root / "weather/history.nc", *sorted((root / "weather/forecasts").glob("*.nc"))]:
        with xr.open_dataset(path, decode_timedelta=True) as stored:
            ds = stored.load()
        same_field(ds, grid).to_netcdf(path)
    write_provenance(root)
    return root


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    template = write_bundle(tmp_path_factory.mktemp("weather-crs") / "template")
    return {grid[0]: bundle_on(shutil.copytree(template, template.parent / grid[0].replace(":", "-")), grid)
            for grid in (GEOGRAPHIC, PROJECTED)}


def drivers_at_cells(bundle, tmp_path) -> pd.DataFrame:
    """Every driver at every cell of the city grid, the drivers stored and read back as the feature cache does."""
    with read_history(bundle) as history:
        drivers = drivers_for_dates(bundle, history.load(), list(FORECAST_DATES), lead_days=LEAD_DAYS,
                                    timezone=TIMEZONE, climate_before=None)
    drivers.to_netcdf(tmp_path / "drivers.nc")
    template = grid_template(CITY_CRS, CITY_BOUNDS, 30)
    cells = pd.DataFrame({"cell": np.arange(template.size)})
    return feature_frame(cells, land_lonlat(template, cells), read_drivers(tmp_path / "drivers.nc"))


def test_a_weather_grid_in_utm_is_a_valid_bundle(bundles):
    assert validate_bundle(bundles[CITY_CRS], **VALIDATE_KWARGS) == []


def test_the_same_weather_in_degrees_and_in_utm_gives_the_same_drivers(bundles, tmp_path):
    geographic = drivers_at_cells(bundles["EPSG:4326"], tmp_path)
    projected = drivers_at_cells(bundles[CITY_CRS], tmp_path)
    for name in DRIVER_NAMES:
        # Bilinear on either grid is exact for a field linear in lon and lat, up to the curvature of
        # UTM over a few km (well under 1e-3 of the spread) and float32.
        np.testing.assert_allclose(projected[name], geographic[name], rtol=1e-4, atol=1e-3, err_msg=name)
    tas = geographic["tasmax_regional_degC"]
    assert tas.max() - tas.min() > 0.05  # the cells read different points, not one corner
