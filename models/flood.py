"""LightGBM flood classifier on (cell, issue date, lead) rows."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.verification import flood_scores

FLOOD_PARAMS = {
    "objective": "binary", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 40,
    "feature_fraction": 0.9, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
    "num_threads": 2, "deterministic": True, "force_row_wise": True, "verbose": -1,
}


def train_flood_model(
    table: pd.DataFrame, features: list[str], split: np.ndarray, *, num_boost_round: int, seed: int,
) -> tuple[lgb.Booster, dict]:
    """Fit on 'train' rows with early stopping on 'valid'; score the 'test' rows.

    `table` needs the feature columns, `label` (0/1) and `weight` (negative sampling weights).
    Scores are weighted, so they estimate the full population of cell-days.
    """
    parts = {name: table[split == name] for name in ("train", "valid", "test")}
    for name, part in parts.items():
        if part["label"].sum() == 0:
            raise ValueError(f"no flooded rows in the {name} period: cannot fit or score the flood model")
    params = {**FLOOD_PARAMS, "seed": seed}
    train = lgb.Dataset(parts["train"][features], parts["train"]["label"], weight=parts["train"]["weight"])
    valid = lgb.Dataset(parts["valid"][features], parts["valid"]["label"], weight=parts["valid"]["weight"],
                        reference=train)
    booster = lgb.train(
        params, train, num_boost_round=num_boost_round, valid_sets=[valid], valid_names=["valid"],
        callbacks=[lgb.early_stopping(30, verbose=False)],
    )
    climatology = float(np.average(parts["train"]["label"], weights=parts["train"]["weight"]))
    test = parts["test"]
    scores = {"test": flood_scores(predict_flood(booster, test[features]), test["label"].values,
                                   test["weight"].values, climatology),
              "climatology": climatology, "best_iteration": int(booster.best_iteration)}
    scores["test_by_lead"] = {
        int(lead): flood_scores(predict_flood(booster, rows[features]), rows["label"].values,
                                rows["weight"].values, climatology)
        for lead, rows in test.groupby("lead")
    }
    return booster, scores


def predict_flood(booster: lgb.Booster, frame: pd.DataFrame) -> np.ndarray:
    """Flood probability (0..1) per row, from the best iteration."""
    return booster.predict(frame[booster.feature_name()], num_iteration=booster.best_iteration or None)
