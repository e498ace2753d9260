"""The daily forecast of one issue date on the city grid: the shared forecast layers plus heat stress."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import xarray as xr
from prefect import task

from features.heat import observed_daily_max
from features.weather import DRIVERS, regional_weights, sample_bilinear
from models.tables import land_cells
from models.warning.areas import where_first
from models.warning.door import FORECAST_ATTR
from pipelines.bundle import readers
from pipelines.config import CityConfig, city_template
from pipelines.feature_cache.build import climate_before
from pipelines.feature_cache.drivers import drivers_for_dates
from pipelines.forecast.areas import AREA_ATTRS, area_coords
from pipelines.forecast.forecasters import load_forecasters
from pipelines.forecast.frame import feature_frame, land_lonlat
from pipelines.forecast.layers import (
    flood_probability_attrs,
    heat_stress_layers,
    model_layers,
    on_grid,
    past_leads_comment,
    past_leads_nan,
)
from pipelines.timezones import local_midnight_utc
from pipelines.training.areas import area_forecast


def _recent_tasmax(history: xr.Dataset, end: np.datetime64, n_days: int, lonlat: tuple[np.ndarray, np.ndarray],
                   offset: np.ndarray) -> np.ndarray:
    """tasmax (degC) of each land cell on the `n_days` days before `end` (issue time, UTC), (cells, days):
    the observed regional maximum at the cell plus the cell's urban `offset` (degC) today."""
    if n_days == 0:
        return np.full((len(offset), 0), np.nan)
    daily = observed_daily_max(history["tas"], end, n_days)
    lon, lat = lonlat
    regional = sample_bilinear(daily.transpose("day", "y", "x").values, regional_weights(daily, lon, lat))  # (days, cells)
    return (regional + offset).T


@task
def predict_grid(config: CityConfig, static_path: Path, issue_date: dt.date, origin: dt.date) -> xr.Dataset:
    """Flood and heat layers per lead and cell for one issue date, dims (lead, y, x); sea is NaN, from the
    production models refitted on everything before `origin`.

    The frame and model layers are the backtest's (pipelines.forecast.frame and .layers); the
    flood drivers (where the map's flood level 1 is reached) and heat stress are added here. The MET Malaysia level counts the days before
    issue from the observed regional maximum (history.nc) shifted by the cell's urban offset
    (its lead-0 q50 minus the regional forecast there). The production model's depth of water given
    a flood (models.warning.door) rides along as the attribute models.warning.door.FORECAST_ATTR.
    """
    static = xr.load_dataset(static_path)
    cells = land_cells(static)
    template = city_template(config)
    lonlat = land_lonlat(template, cells)
    with readers.read_history(config.bundle_dir) as stored:
        history = stored.load()
    drivers = drivers_for_dates(config.bundle_dir, history, [issue_date], lead_days=config.forecast_days,
                                timezone=config.city.timezone, climate_before=climate_before(config))
    frame = feature_frame(cells, lonlat, drivers)
    forecasters = load_forecasters(config.city_store / "models", origin, compiled_trees=True)
    layers = model_layers(forecasters, frame, explain_from=config.output.flood_level_bands[0],
                          flood_attrs=flood_probability_attrs(forecasters.flood.calibration.report_rate,
                                                              config.flood.label_radius_m),
                          flood_lead_days=config.flood.lead_days, heat_lead_days=config.heat.lead_days)
    q50 = layers["tasmax_q50"][0]
    lead0 = slice(0, len(cells))  # rows of lead 0: the frame is ordered (lead, cell)
    issued = local_midnight_utc(issue_date, config.city.timezone)
    offset = q50[lead0] - frame["tasmax_regional_degC"].to_numpy()[lead0]
    recent = _recent_tasmax(history, issued.to_datetime64(), config.heat.sustained_days - 1, lonlat, offset)
    layers |= heat_stress_layers(config.heat, frame, issue_date, q50, np.tile(lonlat[1], config.forecast_days), recent)
    layers |= {name: (frame[name].to_numpy(), {"units": units, "long_name": long_name})
               for name, (units, long_name) in DRIVERS.items()}
    land = cells["cell"].to_numpy()
    data = {name: (("lead", "y", "x"), on_grid(np.reshape(values, (config.forecast_days, -1)), land, template.shape),
                   attrs) for name, (values, attrs) in layers.items()}
    forecast = xr.Dataset(
        data, coords={"lead": np.arange(config.forecast_days), "y": template.y, "x": template.x,
                      "forecast_reference_time": issued},
    )
    forecast["land"] = static["land"].astype(bool)
    forecast["hand_m"] = static["hand_m"]
    forecast["depression_depth_m"] = static["depression_depth_m"]  # the ground a site's flood depth is read from
    forecast.rio.write_crs(config.grid.crs, inplace=True)
    forecast.attrs = {"issue_date": issue_date.isoformat(), "city": config.city.slug,
                      "city_name": config.city.name, "timezone": config.city.timezone,
                      "flood_model_version": forecasters.flood_version,
                      "heat_model_version": forecasters.heat_version,
                      "models_trained_before": origin.isoformat()}
    if forecasters.door is not None:  # the depth of water given a flood (models.warning.door), for the sites' alerts
        forecast.attrs[FORECAST_ATTR] = json.dumps(forecasters.door.to_dict())
    return forecast


@task
def with_warning_areas(config: CityConfig, static_path: Path, forecast: xr.Dataset, issue_date: dt.date,
                       origin: dt.date) -> xr.Dataset:
    """`forecast` (the whole grid, its tiles joined) with the warning areas' flood chance and level per
    lead (lead, area) and the cells' chance if the city floods (`flood_where_first`, lead, y, x).

    An area spans tiles, so it is forecast once for the whole grid, after the tiles: from its own
    model (the production flood model's `areas`) and the day's regional weather.
    """
    warning = load_forecasters(config.city_store / "models", origin).areas
    if warning is None:
        return forecast
    cells = land_cells(xr.load_dataset(static_path))
    with readers.read_history(config.bundle_dir) as stored:
        history = stored.load()
    drivers = drivers_for_dates(config.bundle_dir, history, [issue_date], lead_days=config.flood.lead_days,
                                timezone=config.city.timezone, climate_before=climate_before(config))
    chance, areas = area_forecast(config, warning, cells, drivers)
    chance = chance[0]
    flood_leads = chance.shape[0]
    cell_chance = forecast["flood_probability"].values
    flat = cell_chance.reshape(cell_chance.shape[0], -1)
    land = cells["cell"].to_numpy()
    first = np.full(flat.shape, np.nan, "float32")
    first[:flood_leads, land] = where_first(flat[:flood_leads, land], chance[:, areas.ids.index("city")])
    beyond = {"comment": past_leads_comment("flood", flood_leads)} if flood_leads < forecast.sizes["lead"] else {}
    layers = xr.Dataset({
        "area_flood_probability": (("lead", "area"), past_leads_nan(chance, forecast.sizes["lead"], axis=0),
                                   AREA_ATTRS["area_flood_probability"] | beyond | {
                                       "report_rate": warning.calibrations[0].report_rate}),
        "area_flood_level": (("lead", "area"), past_leads_nan(warning.levels(chance), forecast.sizes["lead"], axis=0),
                             AREA_ATTRS["area_flood_level"] | beyond | {
                                 "level_thresholds": [np.nan if t is None else t for t in warning.thresholds]}),
        "flood_where_first": (("lead", "y", "x"), first.reshape(cell_chance.shape),
                              AREA_ATTRS["flood_where_first"] | beyond),
    }, coords=area_coords(areas))
    return forecast.assign(layers.data_vars).assign_coords(layers.coords)
