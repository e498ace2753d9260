"""LightGBM flood classifier on (cell, issue date, lead) rows."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.verification import flood_scores

FLOOD_PARAMS = {
    "objective": "binary", "learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 200,
    "feature_fraction": 0.9, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 10.0,
    "num_threads": 2, "deterministic": True, "force_row_wise": True, "verbose": -1,
}


def train_flood_model(
    table: pd.DataFrame, features: list[str], split: np.ndarray, *, num_boost_round: int, seed: int,
) -> tuple[lgb.Booster, dict]:
    """Fit on 'train' rows with early stopping on 'valid'; score the 'test' rows.

    The booster learns on the subsample as drawn (all floods, few non-floods): weighting each
    non-flood row by ~1/sampling-rate in the loss lets a handful of rows dominate every tree.
    Its odds are then divided by the negatives' `weight` (the prior correction of King and
    Zeng, 2001), which makes the probabilities unbiased for the full population. Scores use
    the weights. Without floods in 'test' the ranking scores are NaN (Brier is still defined).

    `table` needs the feature columns, `label` (0/1) and `weight` (negative sampling weights).
    Scores are weighted, so they estimate the full population of cell-days.
    """
    parts = {name: table[split == name] for name in ("train", "valid", "test")}
    if parts["train"]["label"].sum() == 0:
        raise ValueError("no flooded rows in the training period: cannot fit the flood model")
    for name, part in parts.items():
        if part.empty:
            raise ValueError(f"no rows in the {name} period: cannot fit or score the flood model")
    negative_weight = _negative_weight(table)
    params = {**FLOOD_PARAMS, "seed": seed}
    train = lgb.Dataset(parts["train"][features], parts["train"]["label"])
    valid = lgb.Dataset(parts["valid"][features], parts["valid"]["label"], reference=train)
    booster = lgb.train(
        params, train, num_boost_round=num_boost_round, valid_sets=[valid], valid_names=["valid"],
        callbacks=[lgb.early_stopping(30, verbose=False)],
    )
    climatology = float(np.average(parts["train"]["label"], weights=parts["train"]["weight"]))
    test = parts["test"]
    scores = {"test": flood_scores(predict_flood(booster, test, negative_weight), test["label"].values,
                                   test["weight"].values, climatology),
              "climatology": climatology, "best_iteration": int(booster.best_iteration),
              "negative_weight": negative_weight}
    scores["test_by_lead"] = {
        int(lead): flood_scores(predict_flood(booster, rows, negative_weight), rows["label"].values,
                                rows["weight"].values, climatology)
        for lead, rows in test.groupby("lead")
    }
    return booster, scores


def _negative_weight(table: pd.DataFrame) -> float:
    weights = table.loc[table["label"] == 0, "weight"].unique()
    if len(weights) != 1 or weights[0] < 1:
        raise ValueError(f"`weight` of the non-flood rows must be one value >= 1, got {weights[:5]}")
    return float(weights[0])


def predict_flood(booster: lgb.Booster, frame: pd.DataFrame, negative_weight: float) -> np.ndarray:
    """Flood probability (0..1) per row for the full population of cell-days.

    `negative_weight` is the weight the non-flood rows carried in training (population / drawn).
    """
    sampled = booster.predict(frame[booster.feature_name()], num_iteration=booster.best_iteration or None)
    odds = sampled / np.maximum(1 - sampled, 1e-12) / negative_weight
    return odds / (1 + odds)
