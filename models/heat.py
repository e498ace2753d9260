"""LightGBM quantile regressors for daily maximum air temperature per cell, and their validation.

Validation holds out days (the test period) and stations (never seen in training): the models
scored are fitted without the held-out stations; the models returned are then refitted on every
station. Scores compare with two baselines: the raw regional forecast (`tasmax_regional_degC`)
and the regional forecast plus each station's mean error over the training period (a station
never seen gets the mean of the training stations' errors).
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.heat_scores import point_scores, quantile_scores

HEAT_PARAMS = {
    "objective": "quantile", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 30,
    "feature_fraction": 0.9, "lambda_l2": 1.0,
    "num_threads": 2, "deterministic": True, "force_row_wise": True, "verbose": -1,
}
REGIONAL = "tasmax_regional_degC"


def fit_heat_quantiles(
    train: pd.DataFrame, valid: pd.DataFrame | None, features: list[str], *, quantiles: tuple[float, ...],
    num_boost_round: int | dict[float, int], seed: int,
) -> dict[float, lgb.Booster]:
    """One quantile regressor of `tasmax` (degC) per quantile; early stopping on `valid` if given.

    `num_boost_round` may differ per quantile (a dict), e.g. the best iterations of an earlier fit.
    """
    for name, part in (("train", train), ("valid", valid)):
        if part is not None and part.empty:
            raise ValueError(f"no temperature observations in the {name} period: cannot fit the heat model")
    rounds = num_boost_round if isinstance(num_boost_round, dict) else dict.fromkeys(quantiles, num_boost_round)
    boosters = {}
    for q in quantiles:
        params = {**HEAT_PARAMS, "alpha": q, "seed": seed}
        data = lgb.Dataset(train[features], train["tasmax"])
        stopping = {} if valid is None else {
            "valid_sets": [lgb.Dataset(valid[features], valid["tasmax"], reference=data)],
            "callbacks": [lgb.early_stopping(30, verbose=False)]}
        boosters[q] = lgb.train(params, data, num_boost_round=max(1, rounds[q]), **stopping)
    return boosters


def predict_heat(boosters: dict[float, lgb.Booster], frame: pd.DataFrame) -> dict[float, np.ndarray]:
    """tasmax quantiles in degC per row; sorted across quantiles so they never cross."""
    qs = sorted(boosters)
    matrices = {}  # one float64 matrix per feature list (the quantiles share one): as LightGBM reads pandas
    for q in qs:
        names = tuple(boosters[q].feature_name())
        if names not in matrices:
            matrices[names] = frame[list(names)].to_numpy(np.float64)
    raw = np.stack([
        boosters[q].predict(matrices[tuple(boosters[q].feature_name())],
                            num_iteration=boosters[q].best_iteration or None)
        for q in qs
    ])
    ordered = np.sort(raw, axis=0)
    return {q: ordered[i] for i, q in enumerate(qs)}


def station_bias_forecast(table: pd.DataFrame, fitted: np.ndarray) -> np.ndarray:
    """Regional tasmax plus each station's mean error over the `fitted` rows, per row, degC.

    A station without fitted rows gets the mean of the fitted stations' errors.
    """
    error = (table["tasmax"] - table[REGIONAL])[fitted]
    per_station = error.groupby(table["station_id"][fitted]).mean()
    bias = table["station_id"].map(per_station).fillna(per_station.mean())
    return (table[REGIONAL] + bias).to_numpy()


def heat_validation(
    boosters: dict[float, lgb.Booster], table: pd.DataFrame, split: np.ndarray, held_out: np.ndarray,
) -> dict:
    """Scores by holdout ('unseen_days', 'unseen_stations'), lead and forecast, from test rows.

    `held_out` marks rows of stations left out of fitting `boosters`. Forecasts: 'model' (the
    quantiles), 'regional' and 'regional_station_bias' (the baselines, their biases fitted on
    the training rows of the stations in training).
    """
    with_bias = station_bias_forecast(table, (split == "train") & ~held_out)
    out = {}
    for holdout, rows in (("unseen_days", (split == "test") & ~held_out),
                          ("unseen_stations", (split == "test") & held_out)):
        out[holdout] = {}
        for lead in np.unique(table["lead"][rows]):
            at = rows & (table["lead"].to_numpy() == lead)
            part, observed = table[at], table["tasmax"].to_numpy()[at]
            out[holdout][int(lead)] = {
                "model": quantile_scores(predict_heat(boosters, part), observed),
                "regional": point_scores(part[REGIONAL].to_numpy(), observed),
                "regional_station_bias": point_scores(with_bias[at], observed),
            }
    return out


def _test_scores(boosters: dict[float, lgb.Booster], rows: pd.DataFrame) -> dict:
    observed = rows["tasmax"].to_numpy()
    return quantile_scores(predict_heat(boosters, rows), observed) | {
        "baseline_regional_mae_degC": float(np.mean(np.abs(rows[REGIONAL].to_numpy() - observed)))}


def train_heat_models(
    table: pd.DataFrame, features: list[str], split: np.ndarray, *, quantiles: tuple[float, ...],
    num_boost_round: int, seed: int, held_out: np.ndarray | None = None,
) -> tuple[dict[float, lgb.Booster], dict]:
    """Quantile regressors of `tasmax` (degC) on every station, and their scores.

    `split` gives 'train', 'valid' (early stopping) or 'test' per row. With `held_out` (rows
    of stations to leave out), `scores['validation']` holds heat_validation's scores of models
    fitted without them; the returned models are refitted on all stations' training rows with
    the iterations early stopping chose. `scores['test']`
    and `['test_by_lead']` score the returned models on the test rows (unseen days).
    """
    held_out = np.zeros(len(table), bool) if held_out is None else np.asarray(held_out, bool)
    fit = {"features": features, "quantiles": quantiles, "seed": seed}
    boosters = fit_heat_quantiles(table[(split == "train") & ~held_out], table[(split == "valid") & ~held_out],
                                  num_boost_round=num_boost_round, **fit)
    scores = {}
    if held_out.any():
        scores["validation"] = heat_validation(boosters, table, split, held_out)
        best = {q: b.best_iteration or num_boost_round for q, b in boosters.items()}
        boosters = fit_heat_quantiles(table[split == "train"], None, num_boost_round=best, **fit)
    test = table[split == "test"]
    if test.empty:
        raise ValueError("no temperature observations in the test period: cannot score the heat model")
    scores["test"] = _test_scores(boosters, test)
    scores["test_by_lead"] = {int(lead): _test_scores(boosters, rows) for lead, rows in test.groupby("lead")}
    scores["best_iterations"] = {str(q): int(b.best_iteration or b.current_iteration()) for q, b in boosters.items()}
    return boosters, scores
