"""The flood card scored against the demo truth: the registered model and its baselines on the card's
held-out blocks and test period, added to the card as `scores.evaluation.truth`.

Evaluation code: it reads the demo truth (pipelines.evaluation.truth), which training and
forecasting never import. A city without a truth (every real one) has nothing to score here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from prefect import task

from models.calibration import Calibration
from models.flood import FloodModel, RainRule, evaluate_flood, predict_flood
from models.split import spatial_blocks
from models.tables import (
    FLOOD_FEATURES,
    STATIC_FLOOD_FEATURES,
    attach_features,
    evaluation_rows,
    with_flood_interactions,
)
from pipelines.config import CityConfig
from pipelines.evaluation.truth import truth_flood_near
from pipelines.progress import log
from pipelines.registry import RegistryError, load_latest, update_card
from pipelines.training.figures import flood_reliability_png
from pipelines.training.flood import score_lines
from pipelines.training.inputs import training_inputs, wet_days

TRUTH_DRY_SHARE = 0.02  # dry target days: this share of the held-out cells, weighted back


def _forecasters(models_dir: Path) -> tuple[dict, dict, dict]:
    """The latest flood card's forecasters (model, rain rule, static susceptibility) as functions of a
    frame, their alert thresholds, and the card."""
    boosters, card = load_latest(models_dir, "flood", FLOOD_FEATURES)
    if "static_susceptibility" not in boosters:
        raise RegistryError(f"flood model {card['version']}: no static_susceptibility booster (registered before "
                            "the truth scores moved to evaluation); retrain with `warisan train`")
    model = FloodModel(boosters["classifier"], Calibration.from_dict(card["calibration"]))
    static = FloodModel(boosters["static_susceptibility"], Calibration.from_dict(card["static_calibration"]))
    rule = RainRule(**card["scores"]["rain_rule"])
    forecasters = {"model": lambda f: predict_flood(model, f), "rain_rule": lambda f: rule(f["rain_24h_mm"]),
                   "static_susceptibility": lambda f: predict_flood(static, f)}
    return forecasters, {"rain_rule": rule.prob_warned}, card  # the rule alerts where it warns


@task
def score_flood_card_against_truth(config: CityConfig, paths: dict[str, Path]) -> dict | None:
    """Score the latest flood model and baselines against the truth on the card's held-out cells and
    test issue dates; write them into its card (and its reliability diagram). None without a truth.

    The event is the forecast's own: a truly flooded cell within `label_radius_m`, on the target
    day. Wet target days keep every held-out cell, dry ones a seeded TRUTH_DRY_SHARE. The
    reference climatology is the truth's rate over the training period's days (all, wet).
    """
    found = truth_flood_near(config)
    if found is None:
        return None
    days, near = found
    models_dir = config.city_store / "models"
    forecasters, thresholds, card = _forecasters(models_dir)
    _, drivers, cells, lonlat = training_inputs(config, paths)
    issue_dates = pd.DatetimeIndex(drivers.issue_date.values)
    period = card["period"]

    def between(start: str, end: str) -> np.ndarray:
        return np.flatnonzero((issue_dates >= pd.Timestamp(start)) & (issue_dates <= pd.Timestamp(end)))

    test_issues = between(period["test_start"], period["test_end"])
    train_days = issue_dates[between(period["train_start"], period["train_end"])]
    blocks = spatial_blocks(cells["x_m"].to_numpy(), cells["y_m"].to_numpy(), block_m=card["block_size_m"])
    held_cells = cells["cell"].to_numpy()[np.isin(blocks, card["held_out_blocks"])]
    target = issue_dates[test_issues].to_numpy()[:, None] + np.arange(config.flood.lead_days).astype("timedelta64[D]")
    wet = wet_days(config, pd.DatetimeIndex(target.ravel())).reshape(target.shape)

    land = near[:, cells["cell"].to_numpy()]
    in_train = days.isin(train_days)
    day_wet = wet_days(config, days)
    climatology = {"all": float(land[in_train].mean()), "wet": float(land[in_train & day_wet].mean())}
    rng = np.random.default_rng(config.train.seed)
    rows = evaluation_rows(test_issues, config.flood.lead_days, held_cells, wet, dry_share=TRUTH_DRY_SHARE, rng=rng)
    row_target = issue_dates[rows["issue_index"].to_numpy()] + pd.to_timedelta(rows["lead"].to_numpy(), unit="D")
    rows = rows[row_target.isin(days)].reset_index(drop=True)
    row_target = row_target[row_target.isin(days)]
    observed = near[days.get_indexer(row_target), rows["cell"].to_numpy()].astype(float)
    frame = with_flood_interactions(attach_features(rows, cells, drivers, lonlat, STATIC_FLOOD_FEATURES))
    truth = evaluate_flood({name: forecast(frame) for name, forecast in forecasters.items()}, frame, observed,
                           climatology, threshold=config.flood.default_threshold, thresholds=thresholds)
    for line in score_lines({"truth": truth}):
        log(line)
    evaluation = card["scores"]["evaluation"] | {"truth": truth}
    card["scores"]["evaluation"] = evaluation
    folder = update_card(models_dir, card, figures={"reliability.png": flood_reliability_png(evaluation)})
    log(f"flood card scored against the demo truth: {folder / 'card.json'}")
    return truth
