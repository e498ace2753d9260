"""The backtest's fits and hindcasts: inputs loaded once, models refitted at an origin, hindcasts as issued.

For each origin the flood and heat models are refitted on what was known before it (issue
dates whose every lead ends before the origin, reports and station records dated before it),
then every issue date up to the next origin is hindcast from its drivers alone: the forecasts
issued that day and the observed hours before it. The flow is pipelines.flows.backtest.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from prefect import task
from prefect.cache_policies import NO_CACHE

from features.urban import cover_fraction
from models.backtest import flood_climatology, flood_persistence, origin_split
from models.flood import FloodModel, RainRule, predict_flood
from models.heat.qc import station_quality
from models.heat.regression import REGIONAL, fit_conformal_quantiles, quantile_name
from models.split import held_out_blocks, spatial_blocks
from models.tables import (
    HEAT_FEATURES,
    STATIC_HEAT_FEATURES,
    attach_features,
    cells_near_reports,
    heat_rows,
)
from pipelines.bundle import readers
from pipelines.config import CityConfig, city_template
from pipelines.forecast.forecasters import Forecasters
from pipelines.forecast.frame import feature_frame
from pipelines.forecast.layers import flood_probability_attrs, model_layers, on_grid
from pipelines.storage import write_atomic
from pipelines.training.flood import fit_flood_forecasters, flood_split, flood_table
from pipelines.training.inputs import training_inputs, with_xy

_NETCDF_LOCK = threading.Lock()
HINDCAST_BATCH_ROWS = 2_000_000  # frame rows predicted at once: about 0.3 GB of features
_FLOOD_GRIDS = {  # hindcast variable: (units, long_name)
    "flood_probability": ("1", "flood model: chance of a flood near the cell that day, as published"),
    "flood_climatology": ("1", "baseline: the cell's rate of reported floods in the month / flood.report_rate"),
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


@dataclass(frozen=True)
class BacktestInputs:
    """What a backtest reads, loaded once: static cells, daily drivers, observations, zones, blocks."""

    drivers: xr.Dataset  # (issue_date, lead, y, x) on the regional grid
    cells: pd.DataFrame  # land cells with static features
    lonlat: tuple[np.ndarray, np.ndarray]
    flooded: pd.DataFrame  # (date, cell) within the label radius of a flood report
    temperature: pd.DataFrame  # station records with x_m, y_m, before quality control
    zone: np.ndarray  # 'core', 'buffer' or 'rest' per land cell
    space_block: np.ndarray  # spatial block (flood.block_size_m squares) per land cell

    @property
    def issue_dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.drivers.issue_date.values)


@dataclass(frozen=True)
class Fitted:
    """The models and baselines refitted at one origin on what was known before it."""

    origin: dt.date
    forecasters: Forecasters  # what the daily forecast would run, refitted (tasmax only)
    static: FloodModel
    rule: RainRule
    climatology: np.ndarray  # (12, land cells) chance of a flood
    heat_obs: pd.DataFrame  # station records before the origin that passed quality control


def _zones(config: CityConfig, cells: pd.DataFrame) -> np.ndarray:
    """'core', 'buffer' or 'rest' per land cell: the heritage zone covering most of the cell."""
    zone = np.full(len(cells), "rest", dtype=object)
    polygons = readers.read_vector(config.bundle_dir, "heritage_zone")
    template = city_template(config)
    for name in ("buffer", "core"):  # core wins where both cover a cell
        shapes = polygons.geometry[polygons["zone"] == name]
        if len(shapes):
            covered = cover_fraction(shapes, template).values.ravel()[cells["cell"].to_numpy()] >= 0.5
            zone[covered] = name
    return zone.astype(str)


@task(cache_policy=NO_CACHE)
def load_inputs(config: CityConfig, paths: dict[str, Path]) -> BacktestInputs:
    """Cells, drivers, flood labels, station records, heritage zones and spatial blocks, as the train flow reads them."""
    _, drivers, cells, lonlat = training_inputs(config, paths)
    reports = with_xy(readers.read_flood_events(config.bundle_dir), config.grid.crs)
    flooded = cells_near_reports(reports, cells, config.flood.label_radius_m)
    temperature = with_xy(readers.read_temperature_obs(config.bundle_dir), config.grid.crs)
    blocks = spatial_blocks(cells["x_m"].to_numpy(), cells["y_m"].to_numpy(), block_m=config.flood.block_size_m)
    return BacktestInputs(drivers, cells, lonlat, flooded, temperature, _zones(config, cells), blocks)


def _known_before(inputs: BacktestInputs, origin: dt.date, lead_days: int) -> int:
    """How many leading issue dates have every lead's day before `origin`."""
    last = pd.Timestamp(origin) - pd.Timedelta(days=lead_days)
    return int((inputs.issue_dates <= last).sum())


@task(cache_policy=NO_CACHE, task_run_name="retrain-{origin}")
def retrain(config: CityConfig, inputs: BacktestInputs, origin: dt.date) -> Fitted:
    """Flood classifier, static-susceptibility model, rain rule, climatology and heat quantile
    regressors, fitted as the train flow fits them on the issue dates and observations before `origin`.

    The last `flood.calibration_days` calibrate the flood model and `train.validation_days` before
    them stop early (the heat models stop early on the last `train.validation_days`; their
    interval is widened as the train flow's, by cross-conformal scores). Like the
    model, the rain rule and the climatology of reports are divided by `flood.report_rate`: every
    flood forecast is a chance of a flood.
    """
    n = _known_before(inputs, origin, config.lead_days)
    if n == 0:
        raise ValueError(f"backtest origin {origin}: no issue date before it to train on")
    issue_dates, drivers = inputs.issue_dates[:n], inputs.drivers.isel(issue_date=slice(0, n))
    cells, seed, rounds = inputs.cells, config.train.seed, config.train.num_boost_round
    before = pd.Timestamp(origin)
    flooded = inputs.flooded[pd.DatetimeIndex(inputs.flooded["date"]) < before]
    table = flood_table(config, issue_dates, drivers, cells, inputs.lonlat, flooded, np.random.default_rng(seed))
    periods = origin_split(issue_dates, table["issue_index"].to_numpy(), table["lead"].to_numpy(),
                           validation_days=config.train.validation_days,
                           calibration_days=config.flood.calibration_days)
    held = held_out_blocks(inputs.space_block, share=config.flood.holdout_block_share, seed=seed)
    flood = fit_flood_forecasters(config, table, flood_split(table, cells, inputs.space_block, held, periods))
    reported = config.flood.report_rate
    days = pd.date_range(issue_dates[0], before - pd.Timedelta(days=1))
    climatology = np.minimum(flood_climatology(flooded, days, cells["cell"].to_numpy()) / reported, 1.0)

    heat_obs, _ = station_quality(inputs.temperature[pd.DatetimeIndex(inputs.temperature["date"]) < before])
    heat = heat_rows(heat_obs, issue_dates, config.lead_days, cells)
    heat_table = attach_features(heat, cells, drivers, inputs.lonlat, STATIC_HEAT_FEATURES)
    part = origin_split(issue_dates, heat["issue_index"].to_numpy(), heat["lead"].to_numpy(),
                        validation_days=config.train.validation_days)
    boosters, widening = fit_conformal_quantiles(heat_table, part, HEAT_FEATURES, quantiles=config.heat.quantiles,
                                                 num_boost_round=rounds, seed=seed)
    forecasters = Forecasters(flood.model, {"tasmax": boosters}, {"tasmax": widening},
                              flood_version=f"backtest-{origin}", heat_version=f"backtest-{origin}")
    return Fitted(origin, forecasters, flood.static, flood.rule, climatology, heat_obs)


def gridded(config: CityConfig) -> dict[str, tuple[str, str]]:
    """Every hindcast variable: the flood grids and one tasmax grid per quantile of the heat model."""
    heat = {quantile_name("tasmax", q): ("degC", f"heat model: daily maximum air temperature, quantile {q:g}")
            for q in config.heat.quantiles}
    return _FLOOD_GRIDS | heat


def _batches(n_dates: int, n_rows: int) -> list[slice]:
    """Consecutive issue dates forecast together, about HINDCAST_BATCH_ROWS frame rows at a time."""
    step = max(1, HINDCAST_BATCH_ROWS // max(n_rows, 1))
    return [slice(start, min(start + step, n_dates)) for start in range(0, n_dates, step)]


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
    cells, lead_days, names = inputs.cells, config.lead_days, gridded(config)
    land = cells["cell"].to_numpy()
    positions = inputs.issue_dates.get_indexer(issue_dates)
    values = {name: np.empty((len(issue_dates), lead_days, len(land)), "float32") for name in names}
    values["flood_persistence"][:] = flood_persistence(inputs.flooded, issue_dates, land)[:, None, :]
    values["flood_static_susceptibility"][:] = predict_flood(fitted.static, cells)[None, None, :]
    month = (issue_dates.to_numpy()[:, None] + np.arange(lead_days).astype("timedelta64[D]")).astype("datetime64[M]")
    values["flood_climatology"][:] = fitted.climatology[month.astype(int) % 12]
    flood_attrs = flood_probability_attrs(config.flood.report_rate, config.flood.label_radius_m)
    for batch in _batches(len(issue_dates), lead_days * len(land)):
        frame = feature_frame(cells, inputs.lonlat, inputs.drivers.isel(issue_date=positions[batch]))
        layers = model_layers(fitted.forecasters, frame, flood_attrs=flood_attrs, explain=False)
        flat = {name: layer for name, (layer, _) in layers.items() if name in names}
        flat |= {"flood_rain_rule": fitted.rule(frame["rain_24h_mm"].to_numpy()),
                 "tasmax_regional": frame[REGIONAL].to_numpy()}
        for name, value in flat.items():
            values[name][batch] = np.asarray(value).reshape(-1, lead_days, len(land))
    template = city_template(config)
    data = {name: (("issue_date", "lead", "y", "x"), on_grid(values[name], land, template.shape),
                   {"units": units, "long_name": long_name}) for name, (units, long_name) in names.items()}
    grid = xr.Dataset(data, coords={"issue_date": issue_dates, "lead": np.arange(lead_days),
                                    "y": template.y, "x": template.x})
    grid.attrs = {"Conventions": "CF-1.8", "city": config.city.slug, "origin": fitted.origin.isoformat(),
                  "rain_rule_threshold_mm": fitted.rule.threshold_mm,
                  "rain_rule_prob_warned": fitted.rule.prob_warned}
    encoding = {name: {"zlib": True, "complevel": 1} for name in names}
    with netcdf_lock():
        return write_atomic(path, lambda tmp: grid.to_netcdf(tmp, encoding=encoding), suffix=".nc")
