"""Publish the heritage sites' hourly heat stress (pipelines.forecast.hours) as a CF time series file."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from pipelines.storage import write_atomic

SITE_HOURS_FILE = "site_hours.nc"
_COMPRESSION = {"zlib": True, "complevel": 4, "dtype": "float32"}


def write_site_hours(hours: xr.Dataset, path: Path) -> Path:
    """Write `hours` (dims (site, time)) to `path` as CF-1.8 NetCDF-4, atomically.

    A discrete sampling geometry (featureType timeSeries): `site_id` (dim `site`) holds the asset
    ids (cf_role timeseries_id), `lat`/`lon`/`site_name` describe each site, `time` is UTC.
    """
    out = hours.copy(deep=False).rename_vars(site="site_id")  # strings make no coordinate variable
    out["site_id"] = out["site_id"].astype(str).assign_attrs(cf_role="timeseries_id", long_name="heritage asset id")
    out["time"].attrs = {"standard_name": "time", "long_name": "valid time (UTC)"}
    out["time"].encoding = {"units": "minutes since 1970-01-01 00:00:00", "calendar": "proleptic_gregorian",
                            "dtype": "int32"}
    out = out.drop_vars("lead", errors="ignore")
    for name in ("lat", "lon"):
        out[name].encoding = {"_FillValue": None}
    for name in out.data_vars:
        out[name].encoding = {**_COMPRESSION, "coordinates": "site_id lat lon site_name"}
    out.attrs = {
        "Conventions": "CF-1.8", "featureType": "timeSeries",
        "title": f"Warisan hourly heat stress at heritage sites, forecast issued {hours.attrs['issue_date']}",
        "source": "Warisan forecast (regional hourly weather, heat model's urban offset, Liljegren WBGT)",
        "history": f"forecast issued {hours.attrs['issue_date']}; written by pipelines.publish.sites",
        **{key: hours.attrs[key] for key in ("issue_date", "city", "timezone")},
    }
    return write_atomic(Path(path), lambda tmp: out.to_netcdf(tmp, engine="netcdf4", format="NETCDF4"),
                        suffix=".nc")
