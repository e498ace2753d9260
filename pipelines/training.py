"""The train flow: training tables, LightGBM fits, held-out scores, registered models with cards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from features.grid import cell_lonlat, project_points
from models.card import model_card
from models.flood import train_flood_model
from models.heat import train_heat_models
from models.split import time_split
from models.tables import (
    STATIC_FLOOD_FEATURES,
    STATIC_HEAT_FEATURES,
    attach_features,
    cells_near_reports,
    flood_rows,
    heat_rows,
    land_cells,
)
from pipelines import bundle as bundle_io
from pipelines.config import CityConfig, load_city_config
from pipelines.featurize import build_features
from pipelines.flow_common import FLOOD_FEATURES, HEAT_FEATURES, city_template, log
from pipelines.registry import register
from pipelines.storage import sha256_file


def _training_inputs(config: CityConfig, paths: dict[str, Path]):
    static = xr.load_dataset(paths["static"])
    drivers = xr.load_dataset(paths["drivers"])
    cells = land_cells(static)
    lon, lat = cell_lonlat(city_template(config))
    lonlat = (lon.values.ravel()[cells["cell"]], lat.values.ravel()[cells["cell"]])
    return static, drivers, cells, lonlat


def _with_xy(frame: pd.DataFrame, crs: str) -> pd.DataFrame:
    x, y = project_points(frame["lon"], frame["lat"], crs)
    return frame.assign(x_m=x, y_m=y)


@task
def train_flood(config: CityConfig, paths: dict[str, Path]) -> dict:
    """Fit, score and register the flood classifier; returns its card."""
    _, drivers, cells, lonlat = _training_inputs(config, paths)
    issue_dates = pd.DatetimeIndex(drivers.issue_date.values)
    reports = _with_xy(bundle_io.read_flood_events(config.bundle_dir), config.grid.crs)
    flooded = cells_near_reports(reports, cells, config.flood.label_radius_m)
    rng = np.random.default_rng(config.train.seed)
    rows = flood_rows(issue_dates, config.lead_days, cells, flooded,
                      negatives_per_positive=config.flood.negatives_per_positive, rng=rng)
    table = attach_features(rows, cells, drivers, lonlat, STATIC_FLOOD_FEATURES)
    split = time_split(issue_dates, rows["issue_index"].values, rows["lead"].values,
                       holdout_days=config.train.holdout_days, validation_days=config.train.validation_days)
    log(f"flood table: {len(table)} rows, {int(table['label'].sum())} flooded")
    booster, scores = train_flood_model(table, FLOOD_FEATURES, split,
                                        num_boost_round=config.train.num_boost_round, seed=config.train.seed)
    card = _card(config, "flood", FLOOD_FEATURES, booster.params, issue_dates, split, rows, scores, paths,
                 extra={"label_radius_m": config.flood.label_radius_m, "booster_files": ["classifier"]})
    register(config.city_store / "models", card, {"classifier": booster})
    return card


@task
def train_heat(config: CityConfig, paths: dict[str, Path]) -> dict:
    """Fit, score and register the tasmax quantile regressors; returns their card."""
    _, drivers, cells, lonlat = _training_inputs(config, paths)
    issue_dates = pd.DatetimeIndex(drivers.issue_date.values)
    obs = _with_xy(bundle_io.read_temperature_obs(config.bundle_dir), config.grid.crs)
    rows = heat_rows(obs, issue_dates, config.lead_days, cells)
    table = attach_features(rows, cells, drivers, lonlat, STATIC_HEAT_FEATURES)
    split = time_split(issue_dates, rows["issue_index"].values, rows["lead"].values,
                       holdout_days=config.train.holdout_days, validation_days=config.train.validation_days)
    log(f"heat table: {len(table)} rows from {rows['station_id'].nunique()} stations")
    boosters, scores = train_heat_models(table, HEAT_FEATURES, split, quantiles=config.heat.quantiles,
                                         num_boost_round=config.train.num_boost_round, seed=config.train.seed)
    names = {q: f"q{round(q * 100):02d}" for q in boosters}
    card = _card(config, "heat", HEAT_FEATURES, next(iter(boosters.values())).params, issue_dates, split,
                 rows, scores, paths,
                 extra={"quantiles": list(config.heat.quantiles), "booster_files": list(names.values())})
    register(config.city_store / "models", card, {names[q]: b for q, b in boosters.items()})
    return card


def _card(config, hazard, features, params, issue_dates, split, rows, scores, paths, extra) -> dict:
    issued = issue_dates[rows["issue_index"].values]
    period = {"train_start": issued[split == "train"].min().date().isoformat(),
              "train_end": issued[split == "train"].max().date().isoformat(),
              "valid_end": issued[split == "valid"].max().date().isoformat(),
              "test_start": issued[split == "test"].min().date().isoformat(),
              "test_end": issued[split == "test"].max().date().isoformat()}
    hashes = {"static_features": sha256_file(paths["static"]), "drivers": sha256_file(paths["drivers"]),
              "obs": {name: sha256_file(config.bundle_dir / "obs" / name)
                      for name in ("flood_events.csv", "temperature.csv")}}
    clean = {k: v for k, v in params.items() if k not in ("metric",)}
    return model_card(hazard=hazard, features=features, params=clean, period=period, data_hashes=hashes,
                      scores=scores, extra={"city": config.city.slug, "split": "time-ordered", **extra})


@flow(name="train", log_prints=True)
def train(config_path: Path) -> dict[str, dict]:
    """Training tables from features and observations; fit, score on held-out days, register."""
    config = load_city_config(config_path)
    paths = build_features(config_path)
    cards = {"flood": train_flood(config, paths), "heat": train_heat(config, paths)}
    flood, heat = cards["flood"]["scores"]["test"], cards["heat"]["scores"]["test"]
    create_markdown_artifact(
        key=f"{config.city.slug}-train",
        markdown=(
            f"# Models trained for {config.city.name}\n\n"
            f"| model | version | held-out scores |\n|---|---|---|\n"
            f"| flood | `{cards['flood']['version']}` | ROC AUC {flood['roc_auc']:.3f}, PR AUC "
            f"{flood['pr_auc']:.3f}, Brier {flood['brier']:.5f}, BSS {flood['brier_skill_vs_climatology']:.3f} |\n"
            f"| heat | `{cards['heat']['version']}` | MAE {heat['mae_degC']:.2f} degC (regional "
            f"{heat['baseline_regional_mae_degC']:.2f}), 10-90% coverage {heat['interval_coverage']:.2f} |\n"
        ),
        description="held-out scores",
    )
    return cards
