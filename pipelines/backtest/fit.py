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
from models.heat import REGIONAL, fit_conformal_quantiles, predict_heat
from models.heat_qc import station_quality
from models.split import held_out_blocks, spatial_blocks
from models.tables import (
    HEAT_FEATURES,
    STATIC_FLOOD_FEATURES,
    STATIC_HEAT_FEATURES,
    attach_features,
    cells_near_reports,
    heat_rows,
    with_flood_interactions,
)
from pipelines.bundle import readers
from pipelines.config import CityConfig, city_template
from pipelines.storage import write_atomic
from pipelines.training.flood import fit_flood_forecasters, flood_split, flood_table
from pipelines.training.inputs import training_inputs, with_xy

_NETCDF_LOCK = threading.Lock()
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
    flood: FloodModel
    static: FloodModel
    rule: RainRule
    climatology: np.ndarray  # (12, land cells) chance of a flood
    heat: dict
    heat_widening: dict[int, float]  # degC per lead, the conformal widening of the heat interval
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
    return Fitted(origin, flood.model, flood.static, flood.rule, climatology, boosters, widening, heat_obs)


def gridded(config: CityConfig) -> dict[str, tuple[str, str]]:
    """Every hindcast variable: the flood grids and one tasmax grid per quantile of the heat model."""
    return _FLOOD_GRIDS | {quantile_name(q): ("degC", f"heat model: daily maximum air temperature, quantile {q:g}")
                           for q in config.heat.quantiles}


def quantile_name(q: float) -> str:
    """The hindcast variable of the tasmax quantile `q`, e.g. 'tasmax_q50'."""
    return f"tasmax_q{round(q * 100):02d}"


@task(cache_policy=NO_CACHE, task_run_name="hindcast-{fitted.origin}")
def hindcast(config: CityConfig, inputs: BacktestInputs, fitted: Fitted, issue_dates: pd.DatetimeIndex,
             path: Path) -> Path:
    """Write every gridded forecast of `issue_dates` from `fitted` (gridded), dims (issue_date, lead, y, x).

    Each issue date reads only its own drivers (the forecast issued that day and the observed
    hours before it) and, for persistence, the reports of the day before. Static
    susceptibility reads static features only, so it is predicted once per cell. Returns `path`.
    """
    cells, lead_days, names = inputs.cells, config.lead_days, gridded(config)
    land = cells["cell"].to_numpy()
    positions = inputs.issue_dates.get_indexer(issue_dates)
    static_names = tuple(dict.fromkeys((*STATIC_FLOOD_FEATURES, *STATIC_HEAT_FEATURES)))
    values = {name: np.empty((len(issue_dates), lead_days, len(land)), "float32") for name in names}
    values["flood_persistence"][:] = flood_persistence(inputs.flooded, issue_dates, land)[:, None, :]
    values["flood_static_susceptibility"][:] = predict_flood(fitted.static, cells)[None, None, :]
    lead = np.repeat(np.arange(lead_days), len(land))
    for i, position in enumerate(positions):
        rows = pd.DataFrame({"issue_index": position, "lead": lead, "cell": np.tile(land, lead_days)})
        frame = with_flood_interactions(attach_features(rows, cells, inputs.drivers, inputs.lonlat, static_names))
        month = (issue_dates[i] + pd.to_timedelta(np.arange(lead_days), unit="D")).month.to_numpy()
        flat = {"flood_probability": predict_flood(fitted.flood, frame),
                "flood_rain_rule": fitted.rule(frame["rain_24h_mm"].to_numpy()),
                "tasmax_regional": frame[REGIONAL].to_numpy(),
                **{quantile_name(q): v for q, v in predict_heat(fitted.heat, frame, fitted.heat_widening).items()}}
        for name, value in flat.items():
            values[name][i] = np.asarray(value).reshape(lead_days, -1)
        values["flood_climatology"][i] = fitted.climatology[month - 1]
    template = city_template(config)
    data = {}
    for name, (units, long_name) in names.items():
        full = np.full((len(issue_dates), lead_days, template.size), np.nan, "float32")
        full[:, :, land] = values[name]
        data[name] = (("issue_date", "lead", "y", "x"), full.reshape(*full.shape[:2], *template.shape),
                      {"units": units, "long_name": long_name})
    grid = xr.Dataset(data, coords={"issue_date": issue_dates, "lead": np.arange(lead_days),
                                    "y": template.y, "x": template.x})
    grid.attrs = {"Conventions": "CF-1.8", "city": config.city.slug, "origin": fitted.origin.isoformat(),
                  "rain_rule_threshold_mm": fitted.rule.threshold_mm,
                  "rain_rule_prob_warned": fitted.rule.prob_warned}
    encoding = {name: {"zlib": True, "complevel": 1} for name in names}
    with netcdf_lock():
        return write_atomic(path, lambda tmp: grid.to_netcdf(tmp, encoding=encoding), suffix=".nc")
