"""The heat models' training: tasmax and tasmin quantile regressors per variable, scored and registered."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from prefect import task

from models.heat.qc import station_quality
from models.heat.regression import VARIABLES, quantile_name, train_heat_models
from models.split import protocol_split, station_holdout
from models.tables import (
    HEAT_FEATURES,
    STATIC_HEAT_FEATURES,
    attach_features,
    heat_rows,
)
from pipelines.bundle import readers
from pipelines.config import CityConfig
from pipelines.progress import log
from pipelines.registry import register
from pipelines.runner import LOCAL_FIT
from pipelines.training.card import training_card
from pipelines.training.inputs import sealed_periods, training_inputs, with_xy


def heat_table(config: CityConfig, variable: str, obs: tuple[pd.DataFrame, pd.DataFrame], drivers: xr.Dataset,
               cells: pd.DataFrame, lonlat: tuple, issue_dates: pd.DatetimeIndex,
               held_ids: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The evaluation fit's rows of one variable with their features, protocol split and held-out mask.

    `obs` are the station-days that passed quality control before the sealed test period (what the
    fit learns from) and in it (what the test scores): their rows are built apart, so that nothing
    dated in the test period changes the fit. Rows of stations in `held_ids` are marked held out.
    """
    known, test = sealed_periods(config, issue_dates, config.heat.lead_days)
    before, during = obs
    parts = [heat_rows(before, issue_dates[known], config.heat.lead_days, cells, variable=variable)]
    tested = heat_rows(during, issue_dates[test], config.heat.lead_days, cells, variable=variable)
    parts.append(tested.assign(issue_index=tested["issue_index"] + test.start))
    rows = pd.concat(parts, ignore_index=True)
    table = attach_features(rows, cells, drivers, lonlat, STATIC_HEAT_FEATURES)
    split = protocol_split(issue_dates, rows["issue_index"].values, rows["lead"].values,
                           validation=config.protocol.validation, test=config.protocol.test,
                           early_stopping_days=config.train.early_stopping_days, calibrate=False)
    held_out = rows["station_id"].isin(held_ids).to_numpy()
    log(f"heat table {variable}: {len(table)} rows from {rows['station_id'].nunique()} stations, "
        f"{rows['station_id'][held_out].nunique()} held out for validation")
    return table, split, held_out


def checked_station_records(
    config: CityConfig,
) -> tuple[dict[str, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]], np.ndarray]:
    """Per variable the station records hold (tasmax always, tasmin where the bundle has it): its station-days
    before the test period that pass quality control, their QC table and the test period's station-days
    (QC on the whole record); and the stations held out to score unseen places (drawn from tasmax's)."""
    raw = with_xy(readers.read_temperature_obs(config.bundle_dir), config.grid.crs)
    variables = [v for v in VARIABLES if v == "tasmax" or (v in raw and raw[v].notna().any())]
    sealed = pd.DatetimeIndex(raw["date"]) >= pd.Timestamp(config.protocol.test[0])
    checked = {v: station_quality(raw[~sealed], variable=v) for v in variables}  # what the fit may learn from
    scored = {v: station_quality(raw, variable=v)[0] for v in variables}
    scored = {v: obs[pd.DatetimeIndex(obs["date"]) >= pd.Timestamp(config.protocol.test[0])]
              for v, obs in scored.items()}
    for v, (obs, qc) in checked.items():
        for station in qc[qc["rejected"]].itertuples():
            log(f"heat QC {v}: station {station.station_id} rejected: {station.reason}")
        log(f"heat QC {v}: kept {len(obs)} of {raw[v].notna().sum()} station-days")
    stations = np.unique(checked["tasmax"][0]["station_id"])
    held_ids = stations[station_holdout(stations, share=config.heat.holdout_station_share, seed=config.train.seed)]
    return {v: (checked[v][0], checked[v][1], scored[v]) for v in variables}, held_ids


def _fit_heat_variable(config: CityConfig, variable: str, obs: tuple[pd.DataFrame, pd.DataFrame],
                       drivers: xr.Dataset, cells: pd.DataFrame, lonlat: tuple, issue_dates: pd.DatetimeIndex,
                       held_ids: np.ndarray) -> tuple[dict, dict, dict, pd.DataFrame, np.ndarray]:
    """Quantile models of one variable, their table and split: (boosters, widening, scores, rows, split).

    Stations in `held_ids` are left out of the models that score unseen stations (heat_table).
    """
    table, split, held_out = heat_table(config, variable, obs, drivers, cells, lonlat, issue_dates, held_ids)
    boosters, widening, scores = train_heat_models(
        table, HEAT_FEATURES, split, quantiles=config.heat.quantiles, num_boost_round=config.train.num_boost_round,
        seed=config.train.seed, held_out=held_out, variable=variable, trainer=LOCAL_FIT)
    log(f"heat {variable}: 0.1-0.9 interval widened by " + ", ".join(
        f"{w:+.2f} degC at lead {lead}" for lead, w in widening.items()) + " (cross-conformal, on the training and validation days)")
    for holdout, leads in scores.get("validation", {}).items():
        for lead, s in leads.items():
            log(f"heat {variable} {holdout} lead {lead}: RMSE model {s['model']['rmse_degC']:.2f}, regional "
                f"{s['regional']['rmse_degC']:.2f}, regional+station bias {s['regional_station_bias']['rmse_degC']:.2f}"
                f" degC; coverage {s['model']['interval_coverage']:.2f} (n={s['model']['n_rows']})")
    return boosters, widening, scores, table, split


@task
def train_heat(config: CityConfig, paths: dict[str, Path]) -> dict:
    """Fit, score and register the daily tasmax and tasmin quantile regressors; returns their card.

    Each variable the station records hold (tasmax always, tasmin where the bundle has it) gets
    its own quality control (rejected stations logged with the reason) and its own models,
    split and scored alike. The stations held out to score unseen places are drawn from those
    whose tasmax passes, and are held out of every variable. The card's `scores` are tasmax's,
    the variable the heat levels read; `scores['tasmin']` holds tasmin's. Boosters are named
    `<variable>_q<NN>`, as the forecast layers they make.
    """
    _, drivers, cells, lonlat = training_inputs(config, paths)
    issue_dates = pd.DatetimeIndex(drivers.issue_date.values)
    records, held_ids = checked_station_records(config)
    variables = list(records)
    fitted = {v: _fit_heat_variable(config, v, (obs, scored), drivers, cells, lonlat, issue_dates, held_ids)
              for v, (obs, _, scored) in records.items()}
    per_variable = {v: fitted[v][2] | {"qc": records[v][1].to_dict("records")} for v in variables}
    scores = per_variable.pop("tasmax") | per_variable
    boosters, _, _, rows, split = fitted["tasmax"]
    files = {quantile_name(v, q): b for v in variables for q, b in fitted[v][0].items()}
    card = training_card(config, "heat", HEAT_FEATURES, next(iter(boosters.values())).params, issue_dates, split,
                 rows, scores, paths,
                 extra={"variables": variables, "quantiles": list(config.heat.quantiles),
                        "booster_files": list(files), "held_out_stations": held_ids.tolist(),
                        "interval_widening_degC": {v: {str(lead): w for lead, w in fitted[v][1].items()}
                                                   for v in variables}})
    register(config.city_store / "models", card, files)
    return card
