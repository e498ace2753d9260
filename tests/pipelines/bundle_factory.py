"""A tiny city bundle that follows docs/data-contract.md exactly, for tests that need one on disk.

`write_bundle(root)` writes it in well under a second; tests break one file, then call
`write_provenance(root)` so that only the intended problem remains.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from rasterio.transform import from_origin
from shapely.geometry import LineString, Point, box

from pipelines.storage import sha256_file

CITY_CRS = "EPSG:32647"
CITY_BOUNDS = (642300.0, 596400.0, 642900.0, 597000.0)  # 600 m x 600 m: 20 x 20 cells of 30 m
TIMEZONE = "Asia/Kuala_Lumpur"
LEAD_DAYS = 2
HISTORY_START = pd.Timestamp("2024-01-01T00:00")  # UTC
HISTORY_HOURS = 10 * 24
FORECAST_DATES = (dt.date(2024, 1, 9), dt.date(2024, 1, 10), dt.date(2024, 1, 11))
VALIDATE_KWARGS = {  # validate_bundle's arguments for this city
    "city_crs": CITY_CRS, "city_bounds": CITY_BOUNDS, "timezone": TIMEZONE, "lead_days": LEAD_DAYS,
}

_LON = np.array([100.25, 100.30, 100.35])  # a 1 x 3 regional grid around the city (EPSG:4326)
_LAT = np.array([5.40])


def _weather(steps: int, start_hour: int = 0, seed: int = 0) -> dict[str, tuple]:
    """Plausible hourly values of the six contract variables on the regional grid, float32."""
    rng = np.random.default_rng(seed)
    hours = (start_hour + np.arange(steps))[:, None, None]  # hours since a UTC midnight
    shape = (steps, _LAT.size, _LON.size)
    daily = np.sin(2 * np.pi * (hours % 24 - 2) / 24)  # peaks at 08 UTC, 16 local
    values = {
        "pr": ("mm h-1", rng.gamma(0.3, 2.0, shape) * (rng.random(shape) < 0.2)),
        "tas": ("degC", 27 + 3 * daily + rng.normal(0, 0.5, shape)),
        "hurs": ("%", np.clip(80 - 10 * daily + rng.normal(0, 3, shape), 0, 100)),
        "sfcWind": ("m s-1", rng.gamma(2.0, 1.5, shape)),
        "rsds": ("W m-2", np.clip(900 * np.sin(np.pi * (hours % 24 - 23) / 12), 0, None) + np.zeros(shape)),
        "zos": ("m", 0.9 * np.sin(2 * np.pi * hours / 12.42) + np.zeros(shape)),  # semi-diurnal tide
    }
    return {name: (units, data.astype("float32")) for name, (units, data) in values.items()}


def _weather_dataset(time_dim: str, steps: int, start_hour: int, seed: int) -> xr.Dataset:
    data_vars = {
        name: ((time_dim, "y", "x"), data, {"units": units})
        for name, (units, data) in _weather(steps, start_hour, seed).items()
    }
    ds = xr.Dataset(data_vars, coords={"y": _LAT, "x": _LON})
    return ds.rio.write_crs("EPSG:4326")


def history() -> xr.Dataset:
    """Ten days of hourly regional weather from HISTORY_START (UTC)."""
    ds = _weather_dataset("time", HISTORY_HOURS, 0, seed=1)
    return ds.assign_coords(time=pd.date_range(HISTORY_START, periods=HISTORY_HOURS, freq="h"))


def forecast(issue: dt.date) -> xr.Dataset:
    """The forecast issued at local midnight of `issue`: LEAD_DAYS x 24 hourly leads."""
    issued = pd.Timestamp(issue).tz_localize(TIMEZONE).tz_convert("UTC").tz_localize(None)
    steps = 24 * LEAD_DAYS
    ds = _weather_dataset("lead_time", steps, issued.hour, seed=issue.toordinal())
    lead = pd.to_timedelta(np.arange(steps), unit="h")
    return ds.assign_coords(lead_time=lead, forecast_reference_time=issued, time=("lead_time", issued + lead))


def write_dem(path: Path, *, crs: str | None = CITY_CRS, origin: tuple[float, float] | None = None) -> None:
    """A 20 x 20 float32 DEM sloping from 40 m in the west to the sea (<= 0 m) in the east."""
    x0, y0 = origin or (CITY_BOUNDS[0], CITY_BOUNDS[3])
    elevation = np.linspace(40, -3, 20, dtype="float32")[None, :] + np.zeros((20, 1), "float32")
    profile = {"driver": "GTiff", "width": 20, "height": 20, "count": 1, "dtype": "float32",
               "crs": crs, "transform": from_origin(x0, y0, 30, 30), "nodata": np.nan}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(elevation, 1)


def _vectors() -> dict[str, gpd.GeoDataFrame]:
    x0, y0 = CITY_BOUNDS[0], CITY_BOUNDS[1]
    core = box(x0 + 100, y0 + 100, x0 + 400, y0 + 400)
    return {
        "buildings": gpd.GeoDataFrame(
            {"height_m": [8.0, 12.5, np.nan]},
            geometry=[box(x0 + 100 + 60 * i, y0 + 300, x0 + 140 + 60 * i, y0 + 340) for i in range(3)],
            crs=CITY_CRS),
        "waterways": gpd.GeoDataFrame(
            {"kind": ["river", "drain"]},
            geometry=[LineString([(x0, y0 + 100), (x0 + 600, y0 + 120)]),
                      LineString([(x0 + 300, y0 + 500), (x0 + 320, y0 + 120)])], crs=CITY_CRS),
        "heritage_assets": gpd.GeoDataFrame(
            {"asset_id": ["GT01", "GT02", "GT03"], "name": ["Fort", "Clan house", "Temple"],
             "kind": ["fort", "clan_house", "temple"], "flood_threshold": [0.3, np.nan, 0.2]},
            geometry=[Point(x0 + 500, y0 + 450), Point(x0 + 250, y0 + 250), Point(x0 + 150, y0 + 400)],
            crs=CITY_CRS),
        "heritage_zone": gpd.GeoDataFrame(
            {"zone": ["core", "buffer"]},
            geometry=[core, box(x0 + 50, y0 + 50, x0 + 450, y0 + 450).difference(core)], crs=CITY_CRS),
    }


def flood_extents() -> gpd.GeoDataFrame:
    """Two surveyed flooded areas of 2024-01-03 and one of 2024-01-07, on the city grid (optional file)."""
    x0, y0 = CITY_BOUNDS[0], CITY_BOUNDS[1]
    return gpd.GeoDataFrame(
        {"event_date": ["2024-01-03", "2024-01-03", "2024-01-07"], "source": "test survey"},
        geometry=[box(x0 + 60, y0 + 60, x0 + 180, y0 + 150), box(x0 + 300, y0 + 60, x0 + 360, y0 + 120),
                  box(x0 + 120, y0 + 240, x0 + 270, y0 + 330)],
        crs=CITY_CRS)


def write_flood_extents(root: Path, frame: gpd.GeoDataFrame) -> None:
    frame.to_file(Path(root) / "obs/flood_extents.gpkg", driver="GPKG", engine="pyogrio")


def write_vector(root: Path, name: str, frame: gpd.GeoDataFrame) -> None:
    frame.to_file(root / "static" / f"{name}.gpkg", driver="GPKG", engine="pyogrio")


def write_bundle(root: Path) -> Path:
    """Write the tiny valid bundle under `root` (created if needed) and return `root`."""
    root = Path(root)
    for folder in ("static", "weather/forecasts", "obs"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    write_dem(root / "static/dem.tif")
    for name, frame in _vectors().items():
        write_vector(root, name, frame)
    history().to_netcdf(root / "weather/history.nc")
    for issue in FORECAST_DATES:
        forecast(issue).to_netcdf(root / f"weather/forecasts/{issue}.nc")
    pd.DataFrame({
        "date": ["2024-01-03", "2024-01-07"], "lon": [100.286, 100.288], "lat": [5.396, 5.398],
        "depth_cm": [20.0, None], "source": ["news", "citizen report"],
    }).to_csv(root / "obs/flood_events.csv", index=False)
    days = pd.date_range("2024-01-01", periods=10, freq="D").strftime("%Y-%m-%d")
    pd.DataFrame({
        "station_id": np.repeat(["S1", "S2"], 10), "lon": np.repeat([100.285, 100.289], 10),
        "lat": np.repeat([5.395, 5.399], 10), "date": np.tile(days, 2),
        "tasmax": np.r_[np.linspace(31, 33, 10), np.linspace(30.5, 32.5, 10)].round(1),
        "tasmin": 24.5,
    }).to_csv(root / "obs/temperature.csv", index=False)
    write_flood_extents(root, flood_extents())
    write_provenance(root)
    return root


def write_provenance(root: Path, *, timezone: str | None = None) -> None:
    """provenance.json with the current sha256 of every file in the bundle, and `timezone` when given."""
    root = Path(root)
    entry = {"source": "test", "generator": "tests.pipelines.bundle_factory", "seed": 0, "url": None,
             "retrieved": "2024-01-12T00:00:00Z"}
    files = {
        path.relative_to(root).as_posix(): {**entry, "sha256": sha256_file(path)}
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "provenance.json" and "forecasts" not in path.parts
    }
    forecasts = sorted((root / "weather/forecasts").glob("*.nc"))
    files["weather/forecasts/"] = {**entry, "files": {path.name: sha256_file(path) for path in forecasts}}
    record = {"bundle_version": 1, "city": "test-city", "source": "test", "created": "2024-01-12T00:00:00Z",
              "attribution": ["synthetic test data"], "files": files}
    if timezone is not None:
        record["timezone"] = timezone
    (root / "provenance.json").write_text(json.dumps(record, indent=1))


def ensemble_forecast(issue: dt.date, members: tuple[int, ...] = (0, 1, 2)) -> xr.Dataset:
    """`forecast(issue)` as an ensemble with a leading `member` dim: member 0 (the control) is that
    forecast, member k is 0.5 k degC warmer."""
    control = forecast(issue)
    ids = xr.DataArray(np.array(members, dtype="int32"), dims="member")
    warmer = (0.5 * ids).astype("float32")
    ensemble = control.expand_dims(member=ids.size).assign_coords(member=ids).copy(deep=True)  # writable
    return ensemble.assign(tas=(control["tas"] + warmer).transpose("member", ...).assign_attrs(control["tas"].attrs))
