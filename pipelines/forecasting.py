"""The daily_forecast flow: the day's forecast -> features -> predictions -> published files -> alerts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from features.grid import cell_lonlat
from features.weather import DRIVER_NAMES, DRIVERS, drivers_on_city_grid
from models.assets import asset_alert_levels, asset_risk
from models.flood import predict_flood
from models.heat import predict_heat
from models.tables import land_cells
from pipelines import bundle as bundle_io
from pipelines.alerts import cap_messages, write_cap_messages
from pipelines.config import CityConfig, load_city_config
from pipelines.drivers import drivers_for_dates, issue_time_utc
from pipelines.featurize import build_static_features
from pipelines.flow_common import FLOOD_FEATURES, HEAT_FEATURES, city_template
from pipelines.ingest import validate_bundle
from pipelines.maps import render_map
from pipelines.publish import write_cogs, write_forecast_netcdf
from pipelines.registry import load_latest
from pipelines.storage import new_version_folder, publish_folder

ASSET_REACH_M = 400.0  # an asset over water (a jetty) reads the land cells this close


Layers = dict[str, tuple[np.ndarray, dict]]  # name -> (one value per row of the frame, CF attrs)


def _feature_frame(config: CityConfig, static: xr.Dataset, issue_date: dt.date) -> pd.DataFrame:
    """One row per land cell and lead: static features, then the day's drivers at the cell."""
    with bundle_io.read_history(config.bundle_dir) as history:
        drivers = drivers_for_dates(config.bundle_dir, history.load(), [issue_date],
                                    lead_days=config.lead_days, timezone=config.city.timezone)
    lon, lat = cell_lonlat(city_template(config))
    on_grid = drivers_on_city_grid(drivers.isel(issue_date=0), lon, lat)
    cells = land_cells(static)
    frame = pd.concat(
        [cells.assign(lead=lead, lead_days=lead) for lead in range(config.lead_days)], ignore_index=True
    )
    for name in DRIVER_NAMES:
        frame[name] = on_grid[name].values.reshape(config.lead_days, -1)[:, cells["cell"]].ravel()
    return frame


def flood_layers(config: CityConfig, frame: pd.DataFrame) -> tuple[Layers, str]:
    """Flood probability per row from the latest flood model, and that model's version."""
    boosters, card = load_latest(config.city_store / "models", "flood", FLOOD_FEATURES)
    probability = predict_flood(boosters["classifier"], frame, card["scores"]["negative_weight"])
    attrs = {"units": "1", "long_name": "probability of a flood reported within "
             f"{config.flood.label_radius_m:g} m of the cell during the local day"}
    return {"flood_probability": (probability, attrs)}, card["version"]


def heat_layers(config: CityConfig, frame: pd.DataFrame) -> tuple[Layers, str]:
    """tasmax quantiles (degC) per row from the latest heat models, and their version."""
    boosters, card = load_latest(config.city_store / "models", "heat", HEAT_FEATURES)
    quantiles = {float(name[1:]) / 100: b for name, b in boosters.items()}
    return {
        f"tasmax_q{round(q * 100):02d}": (
            values, {"units": "degC", "long_name": f"daily maximum air temperature, quantile {q:g}"})
        for q, values in predict_heat(quantiles, frame).items()
    }, card["version"]


@task
def predict_grid(config: CityConfig, static_path: Path, issue_date: dt.date) -> xr.Dataset:
    """Flood and heat layers per lead and cell for one issue date, dims (lead, y, x); sea is NaN."""
    static = xr.load_dataset(static_path)
    frame = _feature_frame(config, static, issue_date)
    flood, flood_version = flood_layers(config, frame)
    heat, heat_version = heat_layers(config, frame)
    drivers = {name: (frame[name].values, {"units": units, "long_name": long_name})
               for name, (units, long_name) in DRIVERS.items()}
    template = city_template(config)
    land = frame["cell"].values[frame["lead"].values == 0]
    data = {}
    for name, (values, attrs) in (flood | heat | drivers).items():
        full = np.full((config.lead_days, template.size), np.nan, "float32")
        full[:, land] = values.reshape(config.lead_days, -1)
        data[name] = (("lead", "y", "x"), full.reshape(config.lead_days, *template.shape), attrs)
    forecast = xr.Dataset(
        data, coords={"lead": np.arange(config.lead_days), "y": template.y, "x": template.x,
                      "forecast_reference_time": issue_time_utc([issue_date], config.city.timezone)[0]},
    )
    forecast["land"] = static["land"].astype(bool)
    forecast["hand_m"] = static["hand_m"]
    forecast = forecast.rio.write_crs(config.grid.crs)
    forecast.attrs = {"issue_date": issue_date.isoformat(), "city": config.city.slug,
                      "city_name": config.city.name, "timezone": config.city.timezone,
                      "flood_model_version": flood_version, "heat_model_version": heat_version}
    return forecast


@task
def issue_alerts(config: CityConfig, forecast: xr.Dataset, out: Path) -> tuple[pd.DataFrame, list[Path]]:
    """Per-asset risk against each asset's thresholds, and a CAP 1.2 message per alerting asset and hazard."""
    assets = bundle_io.read_vector(config.bundle_dir, "heritage_assets")
    reach = max(3, round(ASSET_REACH_M / config.grid.resolution_m))
    risk = asset_risk(forecast, assets, nearest_land_cells=reach)
    levels = asset_alert_levels(risk, assets, default_flood_threshold=config.flood.default_threshold,
                                default_heat_threshold_degC=config.heat.default_threshold_degC)
    messages = cap_messages(
        levels, assets, issue_time=pd.Timestamp(forecast.forecast_reference_time.values).to_pydatetime()
        .replace(tzinfo=dt.UTC), city_name=config.city.name, timezone=config.city.timezone,
        alert=config.alerts, model_versions={k: forecast.attrs[k] for k in
                                             ("flood_model_version", "heat_model_version")},
    )
    alerting = levels[levels["flood_alert"] | levels["heat_alert"]]
    if not alerting.empty:
        create_table_artifact(
            key=f"{config.city.slug}-alerts",
            table=alerting[["asset_id", "lead", "flood_probability_max", "tasmax_q50_max", "flood_alert",
                            "heat_alert"]].round(3).to_dict("records"),
            description=f"assets over their thresholds, issue date {forecast.attrs['issue_date']}",
        )
    return levels, write_cap_messages(messages, out / "alerts")


@task
def publish_grids(config: CityConfig, forecast: xr.Dataset, levels: pd.DataFrame,
                  out: Path) -> dict[str, list[Path]]:
    """Write forecast.nc, the COGs and a map per lead into the issue date's folder `out`."""
    assets = bundle_io.read_vector(config.bundle_dir, "heritage_assets")
    zone = bundle_io.read_vector(config.bundle_dir, "heritage_zone")
    return {
        "netcdf": [write_forecast_netcdf(forecast, out / "forecast.nc")],
        "cog": write_cogs(forecast, out),
        "map": [render_map(forecast, lead, zone=zone, assets=assets, levels=levels, path=out / f"map_d{lead}.png")
                for lead in range(config.lead_days)],
    }


@flow(name="daily_forecast", log_prints=True)
def daily_forecast(config_path: Path, issue_date: dt.date | None = None) -> dict[str, list[Path]]:
    """For one issue date (default: the bundle's last): forecast -> features -> predict -> publish -> alerts."""
    config = load_city_config(config_path)
    validate_bundle(config)
    available = bundle_io.forecast_dates(config.bundle_dir)
    issue_date = issue_date or available[-1]
    if issue_date not in available:
        raise ValueError(f"{config.bundle_dir / 'weather' / 'forecasts'}: no forecast issued on {issue_date}")
    static_path = build_static_features(config)
    forecast = predict_grid(config, static_path, issue_date)
    final = config.city_store / "forecasts" / issue_date.isoformat()
    version = new_version_folder(final)  # filled whole, then swapped in: readers never see half a day
    levels, messages = issue_alerts(config, forecast, version)
    written = publish_grids(config, forecast, levels, version) | {"cap": messages}
    publish_folder(version, final)
    written = {kind: [final / p.relative_to(version) for p in paths] for kind, paths in written.items()}
    flood_max = float(forecast["flood_probability"].max())
    lines = [f"# Forecast {config.city.name}, issued {issue_date}", "",
             (f"Highest flood probability: {flood_max:.2f}; hottest q50 tasmax: "
             f"{float(forecast['tasmax_q50'].max()):.1f} degC; CAP alerts: {len(written['cap'])}"), ""]
    lines += [f"- {kind}: " + ", ".join(f"`{p}`" for p in paths) for kind, paths in written.items()]
    create_markdown_artifact(key=f"{config.city.slug}-forecast", markdown="\n".join(lines),
                             description=f"daily forecast {issue_date}")
    return written
