"""Refits on everything known before an origin: the production models and each backtest origin's models.

The same function fits both, so the backtest scores the models that forecast: the flood and heat
models refitted on the issue dates whose every lead ends before the origin, with the reports and
station records dated before it (pipelines.training.production registers them for the daily
forecast; pipelines.evaluation.fit hindcasts with them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from prefect import task
from prefect.cache_policies import NO_CACHE

from features.urban import cover_fraction
from models.backtest import flood_climatology, origin_split
from models.flood import FloodModel, RainRule
from models.heat.qc import station_quality
from models.heat.regression import fit_conformal_quantiles
from models.split import held_out_blocks, spatial_blocks
from models.tables import HEAT_FEATURES, STATIC_HEAT_FEATURES, attach_features, cells_near_reports, heat_rows
from models.warning.areas import AreaBaselines, fit_area_baselines
from pipelines.bundle import readers
from pipelines.config import CityConfig, city_template
from pipelines.forecast.forecasters import Forecasters
from pipelines.runner import LOCAL_FIT
from pipelines.training.areas import fit_area_model, labelled_area_table
from pipelines.training.door import fit_door
from pipelines.training.flood import fit_flood_forecasters, flood_split, flood_table
from pipelines.training.inputs import inventory_report_rate, training_inputs, with_xy


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
    report_rate: float  # flood.report_rate, or its estimate from the surveys (inventory_report_rate)
    reports: pd.DataFrame  # flood reports with x_m, y_m (and depth_cm where the bundle has depths)

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
    area_baselines: AreaBaselines  # the warning areas' climatology, rate and rain rule


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
    return BacktestInputs(drivers, cells, lonlat, flooded, temperature, _zones(config, cells), blocks,
                          inventory_report_rate(config, cells)["rate"], reports)


def _known_before(inputs: BacktestInputs, origin: dt.date, lead_days: int) -> int:
    """How many leading issue dates have every lead's day before `origin`."""
    last = pd.Timestamp(origin) - pd.Timedelta(days=lead_days)
    return int((inputs.issue_dates <= last).sum())


@task(cache_policy=NO_CACHE, task_run_name="retrain-{origin}")
def retrain(config: CityConfig, inputs: BacktestInputs, origin: dt.date,
            heat_variables: tuple[str, ...] = ("tasmax",)) -> Fitted:
    """Flood classifier, static-susceptibility model, rain rule, climatology and heat quantile
    regressors of `heat_variables` (tasmax first: the backtest scores tasmax, production refits every
    variable the stations record), fitted on the issue dates and observations before `origin`.

    The last `flood.calibration_days` calibrate the flood model and `train.early_stopping_days` before
    them stop early (the heat models stop early on the last `train.early_stopping_days`; their
    interval is widened as the train flow's, by cross-conformal scores). Like the
    model, the rain rule and the climatology of reports are divided by the report rate (`inputs.report_rate`): every
    flood forecast is a chance of a flood. The depth of water given a flood (models.warning.door) is fitted
    on the reports dated before `origin`.
    """
    n, n_heat = (_known_before(inputs, origin, days) for days in (config.flood.lead_days, config.heat.lead_days))
    if min(n, n_heat) == 0:
        raise ValueError(f"backtest origin {origin}: no issue date before it to train on")
    issue_dates, drivers = inputs.issue_dates[:n], inputs.drivers.isel(issue_date=slice(0, n))
    cells, seed, rounds = inputs.cells, config.train.seed, config.train.num_boost_round
    before = pd.Timestamp(origin)
    flooded = inputs.flooded[pd.DatetimeIndex(inputs.flooded["date"]) < before]
    table = flood_table(config, issue_dates, drivers, cells, inputs.lonlat, flooded, np.random.default_rng(seed))
    periods = origin_split(issue_dates, table["issue_index"].to_numpy(), table["lead"].to_numpy(),
                           validation_days=config.train.early_stopping_days,
                           calibration_days=config.flood.calibration_days)
    held = held_out_blocks(inputs.space_block, share=config.flood.holdout_block_share, seed=seed)
    flood = fit_flood_forecasters(config, table, flood_split(table, cells, inputs.space_block, held, periods),
                                  inputs.report_rate)
    reported = inputs.report_rate
    days = pd.date_range(issue_dates[0], before - pd.Timedelta(days=1))
    climatology = np.minimum(flood_climatology(flooded, days, cells["cell"].to_numpy()) / reported, 1.0)

    before_origin = inputs.temperature[pd.DatetimeIndex(inputs.temperature["date"]) < before]
    boosters, widening = {}, {}
    for variable in heat_variables:
        obs, _ = station_quality(before_origin, variable=variable)
        if variable == "tasmax":
            heat_obs = obs
        heat = heat_rows(obs, inputs.issue_dates[:n_heat], config.heat.lead_days, cells, variable=variable)
        heat_table = attach_features(heat, cells, inputs.drivers.isel(issue_date=slice(0, n_heat)), inputs.lonlat,
                                     STATIC_HEAT_FEATURES)
        part = origin_split(inputs.issue_dates[:n_heat], heat["issue_index"].to_numpy(), heat["lead"].to_numpy(),
                            validation_days=config.train.early_stopping_days)
        boosters[variable], widening[variable] = fit_conformal_quantiles(
            heat_table, part, HEAT_FEATURES, quantiles=config.heat.quantiles, num_boost_round=rounds, seed=seed,
            variable=variable, trainer=LOCAL_FIT)
    rows, features, city = labelled_area_table(config, cells, drivers, flooded)
    split = origin_split(issue_dates, rows["issue_index"].to_numpy(), rows["lead"].to_numpy(),
                         validation_days=config.train.early_stopping_days,
                         calibration_days=config.flood.calibration_days)
    areas, area_rate = fit_area_model(config, rows, features, split, city, cells)
    month = (issue_dates[rows["issue_index"].to_numpy()] + pd.to_timedelta(rows["lead"].to_numpy(), unit="D")).month
    area_baselines = fit_area_baselines(rows["label"].to_numpy(), rows["area_index"].to_numpy(), month.to_numpy(),
                                        rows["rain_24h_mm"].to_numpy(), len(city.ids),
                                        rain_rule_mm=flood.rule.threshold_mm, report_rate=area_rate["rate"])
    forecasters = Forecasters(flood.model, boosters, widening, flood_version=f"backtest-{origin}",
                              heat_version=f"backtest-{origin}", areas=areas,
                              door=fit_door(config, cells, inputs.reports, before))
    return Fitted(origin, forecasters, flood.static, flood.rule, climatology, heat_obs, area_baselines)


