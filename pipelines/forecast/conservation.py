"""Conservation climate of each heritage site for one issue date: mould risk and drying from the hourly air."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr

from features.weather import regional_weights, sample_bilinear
from models.conservation import conservation_climate
from pipelines.bundle import readers
from pipelines.feature_cache.drivers import forecast_stack
from pipelines.timezones import local_midnight_utc

SPIN_UP_DAYS = 30  # the mould index starts at 0 this many days before issue and follows the observed air
_PER_LEAD = ("mould_index", "vpd_daily_mean_hpa")


def site_conservation(bundle_dir: Path, issue_date: dt.date, assets: gpd.GeoDataFrame, *, lead_days: int,
                      timezone: str) -> pd.DataFrame:
    """One row per (asset_id, lead): models.conservation.conservation_climate at each site's point.

    The hourly `tas` and `hurs` are read bilinearly at each site's representative point: the
    observed hours of the SPIN_UP_DAYS days before issue (weather/history.nc; hours it lacks are
    NaN and hold the mould index), then the forecast issued on `issue_date`. Per-site values over
    the forecast repeat on every lead of the site, with `forecast_hours` and `spin_up_days`.
    """
    issued = local_midnight_utc(issue_date, timezone)
    spin_up = pd.date_range(end=issued - pd.Timedelta(hours=1), periods=24 * SPIN_UP_DAYS, freq="h")
    points = assets.to_crs("EPSG:4326").geometry.representative_point()
    lon, lat = points.x.to_numpy(), points.y.to_numpy()
    forecast = forecast_stack(bundle_dir, [issue_date], lead_days=lead_days).isel(issue_date=0)
    with readers.read_history(bundle_dir) as history:
        observed = history[["tas", "hurs"]].reindex(time=spin_up).load()

    def at_sites(name: str) -> xr.DataArray:
        before = sample_bilinear(observed[name].transpose("time", "y", "x").values, regional_weights(observed, lon, lat))
        ahead = sample_bilinear(forecast[name].transpose("lead_time", "y", "x").values,
                                regional_weights(forecast, lon, lat))
        return xr.DataArray(np.concatenate([before, ahead]), dims=("time", "site"),
                            coords={"time": pd.date_range(spin_up[0], periods=len(before) + len(ahead), freq="h")},
                            attrs={"units": forecast[name].attrs["units"]})

    climate = conservation_climate(at_sites("tas"), at_sites("hurs"), observed_hours=len(spin_up), lead_days=lead_days)
    table = climate[list(_PER_LEAD)].to_dataframe().reset_index()
    summary = climate.drop_vars([*_PER_LEAD, "lead"]).to_dataframe().reset_index()
    table = table.merge(summary, on="site", validate="many_to_one")
    table["asset_id"] = assets["asset_id"].to_numpy()[table["site"].to_numpy()]
    return table.drop(columns="site").assign(forecast_hours=climate.attrs["forecast_hours"], spin_up_days=SPIN_UP_DAYS)
