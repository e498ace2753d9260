"""The backtest's hindcasts: every issue date up to the next origin forecast as issued.

Each origin's models are refitted on what was known before it by the production refit
(pipelines.training.refit.retrain); every issue date up to the next origin is then hindcast from
its drivers alone: the forecasts issued that day and the observed hours before it. The flow is
pipelines.flows.backtest.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from prefect import task
from prefect.cache_policies import NO_CACHE

from models.backtest import flood_persistence
from models.flood import predict_flood
from models.heat.regression import REGIONAL, quantile_name
from pipelines.config import CityConfig, city_template
from pipelines.forecast.areas import AREA_ATTRS, area_coords
from pipelines.forecast.frame import feature_frame
from pipelines.forecast.layers import (
    flood_probability_attrs,
    model_layers,
    on_grid,
    past_leads_comment,
    past_leads_nan,
)
from pipelines.publish.grid import INSTITUTION
from pipelines.storage import write_atomic
from pipelines.training.areas import area_table
from pipelines.training.refit import BacktestInputs, Fitted

_NETCDF_LOCK = threading.Lock()
HINDCAST_BATCH_ROWS = 2_000_000  # frame rows predicted at once: about 0.3 GB of features
_FLOOD_GRIDS = {  # hindcast variable: (units, long_name)
    "flood_probability": ("1", "flood model: chance of a flood near the cell that day, as published"),
    "flood_climatology": ("1", "baseline: the cell's rate of reported floods in the month / the report rate"),
    "flood_persistence": ("1", "baseline: 1 where a flood was reported near the cell the day before issue"),
    "flood_rain_rule": ("1", "baseline: the rain-threshold warning rule as a probability"),
    "flood_static_susceptibility": ("1", "baseline: flood model on static features only"),
    "tasmax_regional": ("degC", "baseline: the raw regional forecast of daily maximum air temperature"),
}


def netcdf_lock() -> threading.Lock:
    """The lock around every NetCDF read and write of the backtest's tasks: the netCDF C library is not
    thread-safe, and a thread pool may run two tasks at once. (A function, so that task functions
    pickled for worker processes refer to it by name rather than carry a lock.)"""
    return _NETCDF_LOCK


def gridded(config: CityConfig) -> dict[str, tuple[str, str]]:
    """Every hindcast variable: the flood grids and one tasmax grid per quantile of the heat model."""
    heat = {quantile_name("tasmax", q): ("degC", f"heat model: daily maximum air temperature, quantile {q:g}")
            for q in config.heat.quantiles}
    return _FLOOD_GRIDS | heat


def _batches(n_dates: int, n_rows: int) -> list[slice]:
    """Consecutive issue dates forecast together, about HINDCAST_BATCH_ROWS frame rows at a time."""
    step = max(1, HINDCAST_BATCH_ROWS // max(n_rows, 1))
    return [slice(start, min(start + step, n_dates)) for start in range(0, n_dates, step)]


def _area_hindcasts(config: CityConfig, inputs: BacktestInputs, fitted: Fitted, issue_dates: pd.DatetimeIndex,
                    positions: np.ndarray) -> dict:
    """The warning areas' chance and level of the area model and each area baseline, (issue_date, lead,
    area) variables, and the areas (key 'areas')."""
    warning = fitted.forecasters.areas
    rows, _, areas = area_table(config, inputs.cells, inputs.drivers.isel(issue_date=positions))
    shape = (len(issue_dates), config.flood.lead_days, len(areas.ids))
    chance = warning.chance(rows).reshape(shape)
    beyond = ({"comment": past_leads_comment("flood", config.flood.lead_days)}
              if config.forecast_days > config.flood.lead_days else {})  # the areas are NaN past the flood's leads

    def padded(values: np.ndarray) -> np.ndarray:
        return past_leads_nan(values, config.forecast_days, axis=1)

    month = (issue_dates[rows["issue_index"].to_numpy()] + pd.to_timedelta(rows["lead"].to_numpy(), unit="D")).month
    baselines = fitted.area_baselines.chances(rows["area_index"].to_numpy(), month.to_numpy(),
                                              rows["rain_24h_mm"].to_numpy())
    dims = ("issue_date", "lead", "area")
    out = {"area_flood_probability": (dims, padded(chance), AREA_ATTRS["area_flood_probability"] | beyond | {
               "report_rate": warning.calibrations[0].report_rate}),
           "area_flood_level": (dims, padded(warning.levels(chance)), AREA_ATTRS["area_flood_level"] | beyond | {
               "level_thresholds": [np.nan if t is None else t for t in warning.thresholds]})}
    for name, values in baselines.items():
        out[f"area_flood_{name}"] = (dims, padded(values.reshape(shape)), {
            "units": "1", "long_name": f"baseline {name.replace('_', ' ')}: chance of a flood in the area"} | beyond)
    return out | {"areas": areas}


@task(cache_policy=NO_CACHE, task_run_name="hindcast-{fitted.origin}")
def hindcast(config: CityConfig, inputs: BacktestInputs, fitted: Fitted, issue_dates: pd.DatetimeIndex,
             path: Path) -> Path:
    """Write every gridded forecast of `issue_dates` from `fitted` (gridded), dims (issue_date, lead, y, x).

    The model's layers are the daily forecast's own code (pipelines.forecast.frame and .layers),
    run on batches of issue dates. Each issue date reads only its own drivers (the forecast
    issued that day and the observed hours before it) and, for persistence, the reports of the
    day before. Static susceptibility reads static features only, so it is predicted once per
    cell. Returns `path`.
    """
    cells, lead_days, names = inputs.cells, config.forecast_days, gridded(config)
    flood_leads = np.arange(lead_days) < config.flood.lead_days  # the flood baselines: NaN past the flood leads
    land = cells["cell"].to_numpy()
    positions = inputs.issue_dates.get_indexer(issue_dates)
    values = {name: np.empty((len(issue_dates), lead_days, len(land)), "float32") for name in names}
    values["flood_persistence"][:] = flood_persistence(inputs.flooded, issue_dates, land)[:, None, :]
    values["flood_static_susceptibility"][:] = predict_flood(fitted.static, cells)[None, None, :]
    month = (issue_dates.to_numpy()[:, None] + np.arange(lead_days).astype("timedelta64[D]")).astype("datetime64[M]")
    values["flood_climatology"][:] = fitted.climatology[month.astype(int) % 12]
    for name in ("flood_persistence", "flood_static_susceptibility", "flood_climatology"):
        values[name][:, ~flood_leads] = np.nan
    flood_attrs = flood_probability_attrs(inputs.report_rate, config.flood.label_radius_m)
    for batch in _batches(len(issue_dates), lead_days * len(land)):
        frame = feature_frame(cells, inputs.lonlat, inputs.drivers.isel(issue_date=positions[batch]))
        layers = model_layers(fitted.forecasters, frame, flood_attrs=flood_attrs, explain_from=None,
                              flood_lead_days=config.flood.lead_days, heat_lead_days=config.heat.lead_days)
        flat = {name: layer for name, (layer, _) in layers.items() if name in names}
        within = frame["lead"].to_numpy() < config.flood.lead_days
        flat |= {"flood_rain_rule": np.where(within, fitted.rule(frame["rain_24h_mm"].to_numpy()), np.nan),
                 "tasmax_regional": frame[REGIONAL].to_numpy()}
        for name, value in flat.items():
            values[name][batch] = np.asarray(value).reshape(-1, lead_days, len(land))
    template = city_template(config)
    grid_mapping = template.rio.grid_mapping
    data = {name: (("issue_date", "lead", "y", "x"), on_grid(values[name], land, template.shape),
                   {"units": units, "long_name": long_name, "grid_mapping": grid_mapping})
            for name, (units, long_name) in names.items()}
    data |= _area_hindcasts(config, inputs, fitted, issue_dates, positions)
    areas = data.pop("areas")
    grid = xr.Dataset(data, coords={**area_coords(areas),
        "issue_date": ("issue_date", issue_dates, {
            "standard_name": "forecast_reference_time", "long_name": "issue date: local midnight"}),
        "lead": ("lead", np.arange(lead_days, dtype="int32"), {"long_name": "lead day (0 = the issue date)",
                                                               "units": "1"}),
        "y": template.y, "x": template.x,
        grid_mapping: template[grid_mapping].assign_attrs(long_name="coordinate reference system of the grid")})
    grid.attrs = {"Conventions": "CF-1.8",
                  "title": f"Warisan backtest hindcasts of {config.city.slug} from the origin {fitted.origin}",
                  "institution": INSTITUTION,
                  "source": "models refitted on what was known before the origin (pipelines.training.refit)",
                  "history": "written by pipelines.evaluation.fit.hindcast",
                  "city": config.city.slug, "origin": fitted.origin.isoformat(),
                  "rain_rule_threshold_mm": fitted.rule.threshold_mm,
                  "rain_rule_prob_warned": fitted.rule.prob_warned}
    # int32 coordinates without _FillValue (CF checkers reject int64, and a coordinate has no missing values)
    encoding = {name: {"zlib": True, "complevel": 1} for name in names} | {
        "area_flood_level": {"dtype": "int8", "_FillValue": np.int8(-1)},  # NaN past the flood's leads: -1, as forecast.nc
        "issue_date": {"units": "days since 1970-01-01", "calendar": "proleptic_gregorian", "dtype": "int32"},
        "lead": {"dtype": "int32"}, "y": {"_FillValue": None}, "x": {"_FillValue": None},
        grid_mapping: {"dtype": "int32"}}
    with netcdf_lock():
        return write_atomic(path, lambda tmp: grid.to_netcdf(tmp, encoding=encoding), suffix=".nc")
