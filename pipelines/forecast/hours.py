"""Hour-by-hour heat stress at each heritage site for an issue date (models.heat.hours)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import xarray as xr
from prefect import task

from features.weather import regional_weights, sample_bilinear
from models.assets import asset_risk, nearest_land_reach
from models.heat.hours import site_heat_hours
from pipelines.bundle import readers
from pipelines.bundle.checks import FORECASTS
from pipelines.config import CityConfig
from pipelines.feature_cache.build import with_built_up

_HOURLY = ("tas", "hurs", "sfcWind", "rsds")


@task
def site_hours(config: CityConfig, forecast: xr.Dataset) -> xr.Dataset:
    """Hourly air, humidity, heat index and WBGT at each heritage site, dims (site, time), for the
    forecast's issue date (its `issue_date` attribute: the weather forecast the grid was made from).

    The regional hourly forecast (weather/forecasts/<date>.nc) is read bilinearly at each site's
    representative point; the urban offset per lead is the site's tasmax_q50_max minus the regional
    maximum over the same cells (models.assets.asset_risk); the site is open to the sun in the share
    of its cells' ground without buildings (1 - building_frac).
    """
    issue_date = dt.date.fromisoformat(forecast.attrs["issue_date"])
    assets = readers.read_vector(config.bundle_dir, "heritage_assets")
    risk = asset_risk(with_built_up(config, forecast), assets,
                      nearest_land_cells=nearest_land_reach(config.grid.resolution_m))
    by_site = risk.set_index(["asset_id", "lead"]).to_xarray().rename(asset_id="site")
    points = assets.representative_point().to_crs("EPSG:4326")
    file = f"{FORECASTS}/{issue_date.isoformat()}.nc"
    path = config.bundle_dir / file
    hours = 24 * config.heat.lead_days
    with xr.open_dataset(path, decode_coords="all", decode_timedelta=True) as weather:
        missing = [name for name in ("time", *_HOURLY) if name not in weather.variables]
        if missing:
            raise ValueError(f"{path}: no variable {', '.join(missing)}")
        if "member" in weather.dims:
            readers.say_control_run(config.bundle_dir, [file], weather.sizes["member"])
        weather = readers.control_run(weather[list(_HOURLY)].isel(lead_time=slice(0, hours))).load()
    at_sites = sample_bilinear(np.stack([weather[name].transpose("lead_time", "y", "x").values for name in _HOURLY]),
                               regional_weights(weather, points.x.values, points.y.values))  # (variable, hour, site)
    coords = {"site": assets["asset_id"].to_numpy(), "time": weather["time"].values,
              "lead": ("time", np.arange(weather.sizes["lead_time"]) // 24)}

    def hourly(k: int) -> xr.DataArray:
        name = _HOURLY[k]
        return xr.DataArray(at_sites[k].T.astype(float), dims=("site", "time"), coords=coords,
                            attrs={"units": weather[name].attrs.get("units")})

    def per_site(values: np.ndarray, units: str) -> xr.DataArray:
        return xr.DataArray(np.asarray(values, float), dims="site", coords={"site": coords["site"]},
                            attrs={"units": units})

    offset = (by_site["tasmax_q50_max"] - by_site["tasmax_regional_degC"]).assign_attrs(units="degC")
    built = by_site["building_frac"].isel(lead=0) if "building_frac" in by_site else per_site(np.zeros(len(assets)), "1")
    site = site_heat_hours(
        hourly(0), hourly(1), hourly(2), hourly(3), urban_offset=offset.sel(site=coords["site"]),
        lat=per_site(points.y.values, "degrees_north"), lon=per_site(points.x.values, "degrees_east"),
        sun_share=(1 - built.fillna(0.0).clip(0, 1)).sel(site=coords["site"]).assign_attrs(units="1"))
    return site.assign_coords(
        lat=("site", points.y.values, {"standard_name": "latitude", "units": "degrees_north"}),
        lon=("site", points.x.values, {"standard_name": "longitude", "units": "degrees_east"}),
        site_name=("site", assets["name"].astype(str).to_numpy(), {"long_name": "heritage site name"}),
    ).assign_attrs(issue_date=issue_date.isoformat(), city=config.city.slug, timezone=config.city.timezone)
