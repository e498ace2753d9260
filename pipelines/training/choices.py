"""Choices made on the validation period: the flood booster's settings, compared there and nowhere else.

Each candidate is fitted as the evaluation fit is (training years outside the held-out blocks,
early stopping on the days before the validation period) and scored on the validation period's
held-out blocks against the flood reports. Nothing dated in the sealed test period is read: the
table is the evaluation fit's own pre-test part (pipelines.training.flood.sealed_flood_rows;
tests/pipelines/test_sealed_test_period.py).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import task

from models.flood import predict_flood, train_flood_model
from models.split import held_out_blocks, protocol_split, spatial_blocks
from models.tables import FLOOD_FEATURES, cells_near_reports
from models.verification import flood_scores
from pipelines.bundle import readers
from pipelines.config import CityConfig
from pipelines.progress import log
from pipelines.runner import booster_fit
from pipelines.training.flood import flood_split, sealed_flood_rows
from pipelines.training.inputs import training_inputs, with_xy

FLOOD_SETTINGS = {"learning_rate": (0.03, 0.1), "num_leaves": (7, 15), "min_data_in_leaf": (100, 500)}


def settings_grid(grid: dict[str, tuple] = FLOOD_SETTINGS) -> list[dict]:
    """Every combination of the values in `grid` (setting name -> candidate values)."""
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


def _validation_rows(config: CityConfig, paths: dict[str, Path]) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """The evaluation fit's pre-test flood table, its split, and the rows a choice is scored on: the
    validation period's (calibration) rows in the held-out blocks."""
    _, drivers, cells, lonlat = training_inputs(config, paths)
    issue_dates = pd.DatetimeIndex(drivers.issue_date.values)
    reports = with_xy(readers.read_flood_events(config.bundle_dir), config.grid.crs)
    flooded = cells_near_reports(reports, cells, config.flood.label_radius_m)
    table = sealed_flood_rows(config, issue_dates, drivers, cells, lonlat, flooded, with_test=False)
    blocks = spatial_blocks(cells["x_m"].to_numpy(), cells["y_m"].to_numpy(), block_m=config.flood.block_size_m)
    held = held_out_blocks(blocks, share=config.flood.holdout_block_share, seed=config.train.seed)
    periods = protocol_split(issue_dates, table["issue_index"].to_numpy(), table["lead"].to_numpy(),
                             validation=config.protocol.validation, test=config.protocol.test,
                             early_stopping_days=config.train.early_stopping_days, calibrate=True)
    split = flood_split(table, cells, blocks, held, periods)
    row_block = pd.Series(blocks, index=cells["cell"].to_numpy())[table["cell"].to_numpy()].to_numpy()
    return table, split, table[(split == "calib") & np.isin(row_block, held)]


def _validation_scores(config: CityConfig, table: pd.DataFrame, split: np.ndarray, scored: pd.DataFrame,
                       features: list[str], settings: dict | None = None) -> tuple[dict, dict]:
    """Fit on `features` (and LightGBM `settings`) as the evaluation fit does; the fit's description and its
    scores on `scored` (models.verification.flood_scores), overall and per lead (`by_lead`)."""
    model, fit = train_flood_model(table, features, split, num_boost_round=config.train.num_boost_round,
                                   seed=config.train.seed, trainer=booster_fit(config.runner), params=settings)
    prob = predict_flood(model, scored)

    def scores(rows: np.ndarray) -> dict:
        return flood_scores(prob[rows], scored["label"].to_numpy(float)[rows], scored["weight"].to_numpy()[rows],
                            fit["climatology"], threshold=config.flood.default_threshold)

    lead = scored["lead"].to_numpy()
    return fit, {**scores(np.ones(len(scored), bool)),
                 "by_lead": {int(k): scores(lead == k) for k in np.unique(lead)}}


@task
def score_flood_settings(config: CityConfig, paths: dict[str, Path], candidates: list[dict]) -> pd.DataFrame:
    """One row per candidate (LightGBM settings over FLOOD_PARAMS): its best iteration and its scores on
    the validation period's held-out blocks against the reports (ROC AUC, PR AUC, Brier, flooded rows)."""
    table, split, scored = _validation_rows(config, paths)
    results = []
    for k, settings in enumerate(candidates, 1):
        fit, s = _validation_scores(config, table, split, scored, FLOOD_FEATURES, settings)
        results.append({**settings, "best_iteration": fit["best_iteration"], "roc_auc": s["roc_auc"],
                        "pr_auc": s["pr_auc"], "brier": s["brier"], "n_rows": s["n_rows"],
                        "n_flooded_rows": s["n_positive"]})
        log(f"flood settings {k}/{len(candidates)} {settings}: validation ROC AUC {s['roc_auc']:.3f}, "
            f"PR AUC {s['pr_auc']:.3f} ({s['n_positive']} flooded rows)")
    return pd.DataFrame(results)


@task
def score_flood_features(config: CityConfig, paths: dict[str, Path], feature_sets: dict[str, list[str]]) -> pd.DataFrame:
    """One row per feature set (name -> flood features) and lead ('all' for every lead), each fitted with
    FLOOD_PARAMS: best iteration, ROC AUC, PR AUC, Brier and Brier skill against the training climatology
    on the validation period's held-out blocks, against the reports."""
    table, split, scored = _validation_rows(config, paths)
    results = []
    for name, features in feature_sets.items():
        fit, s = _validation_scores(config, table, split, scored, features)
        for lead, at in [("all", s), *s["by_lead"].items()]:
            results.append({"features": name, "n_features": len(features), "lead": lead,
                            "best_iteration": fit["best_iteration"], "roc_auc": at["roc_auc"], "pr_auc": at["pr_auc"],
                            "brier": at["brier"], "brier_skill": at["brier_skill_vs_climatology"],
                            "n_rows": at["n_rows"], "n_flooded_rows": at["n_positive"]})
        log(f"flood features {name!r}: validation ROC AUC {s['roc_auc']:.4f}, Brier skill "
            f"{s['brier_skill_vs_climatology']:.4f} ({s['n_positive']} flooded rows)")
    return pd.DataFrame(results)


def chosen(results: pd.DataFrame) -> dict:
    """The candidate with the highest validation ROC AUC (ties: the first, i.e. the smaller model)."""
    best = int(np.argmax(results["roc_auc"].to_numpy()))
    return {name: results[name].iloc[best].item() for name in FLOOD_SETTINGS}

