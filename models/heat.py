"""LightGBM quantile regressors for daily maximum air temperature per cell."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.verification import heat_scores

HEAT_PARAMS = {
    "objective": "quantile", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 30,
    "feature_fraction": 0.9, "lambda_l2": 1.0,
    "num_threads": 2, "deterministic": True, "force_row_wise": True, "verbose": -1,
}


def train_heat_models(
    table: pd.DataFrame, features: list[str], split: np.ndarray, *, quantiles: tuple[float, ...],
    num_boost_round: int, seed: int,
) -> tuple[dict[float, lgb.Booster], dict]:
    """One quantile regressor of `tasmax` (degC) per quantile; early stopping on 'valid', scores on 'test'.

    Scores compare with the raw regional forecast (`tasmax_regional_degC`) as the baseline.
    """
    parts = {name: table[split == name] for name in ("train", "valid", "test")}
    for name, part in parts.items():
        if part.empty:
            raise ValueError(f"no temperature observations in the {name} period: cannot fit the heat model")
    boosters = {}
    for q in quantiles:
        params = {**HEAT_PARAMS, "alpha": q, "seed": seed}
        train = lgb.Dataset(parts["train"][features], parts["train"]["tasmax"])
        valid = lgb.Dataset(parts["valid"][features], parts["valid"]["tasmax"], reference=train)
        boosters[q] = lgb.train(params, train, num_boost_round=num_boost_round, valid_sets=[valid],
                                callbacks=[lgb.early_stopping(30, verbose=False)])
    test = parts["test"]
    scores = {"test": heat_scores(predict_heat(boosters, test), test["tasmax"].values,
                                  test["tasmax_regional_degC"].values),
              "best_iterations": {str(q): int(b.best_iteration) for q, b in boosters.items()}}
    scores["test_by_lead"] = {
        int(lead): heat_scores(predict_heat(boosters, rows), rows["tasmax"].values,
                               rows["tasmax_regional_degC"].values)
        for lead, rows in test.groupby("lead")
    }
    return boosters, scores


def predict_heat(boosters: dict[float, lgb.Booster], frame: pd.DataFrame) -> dict[float, np.ndarray]:
    """tasmax quantiles in degC per row; sorted across quantiles so they never cross."""
    qs = sorted(boosters)
    raw = np.stack([
        boosters[q].predict(frame[boosters[q].feature_name()], num_iteration=boosters[q].best_iteration or None)
        for q in qs
    ])
    ordered = np.sort(raw, axis=0)
    return {q: ordered[i] for i, q in enumerate(qs)}
