"""LightGBM quantile regressors for daily maximum and minimum air temperature per cell, and their validation.

One set of quantile models per variable (`tasmax`, `tasmin`), fitted and scored by the same
functions. Validation holds out days (the test period) and stations (never seen in training):
the models scored are fitted without the held-out stations; the models returned are then
refitted on every station. Scores compare with two baselines: the raw regional forecast of the
variable (e.g. `tasmin_regional_degC`) and the regional forecast plus each station's mean error
over the training period (a station never seen gets the mean of the training stations' errors).
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.boosting import BoosterFit, fit_booster
from models.heat_scores import point_scores, quantile_scores

HEAT_PARAMS = {
    "objective": "quantile", "learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 30,
    "feature_fraction": 0.9, "lambda_l2": 1.0,
    "num_threads": 2, "deterministic": True, "force_row_wise": True, "verbose": -1,
}
VARIABLES = {"tasmax": "maximum", "tasmin": "minimum"}  # daily air temperature (degC) the models forecast


def _require_variable(variable: str) -> None:
    if variable not in VARIABLES:
        raise ValueError(f"`variable` must be one of {sorted(VARIABLES)}, got {variable!r}")


def regional_column(variable: str) -> str:
    """The driver holding the raw regional forecast of `variable`, e.g. 'tasmin_regional_degC'."""
    _require_variable(variable)
    return f"{variable}_regional_degC"


def quantile_name(variable: str, q: float) -> str:
    """Name of the model and forecast layer of `variable` at quantile `q`, e.g. 'tasmin_q10'."""
    return f"{variable}_q{round(q * 100):02d}"


REGIONAL = regional_column("tasmax")  # the headline baseline column, as backtests read it


def fit_heat_quantiles(
    train: pd.DataFrame, valid: pd.DataFrame | None, features: list[str], *, quantiles: tuple[float, ...],
    num_boost_round: int | dict[float, int], seed: int, variable: str = "tasmax", trainer: BoosterFit = fit_booster,
) -> dict[float, lgb.Booster]:
    """One quantile regressor of the column `variable` (degC) per quantile; early stopping on `valid` if given.

    `num_boost_round` may differ per quantile (a dict), e.g. the best iterations of an earlier fit.
    """
    _require_variable(variable)
    for name, part in (("train", train), ("valid", valid)):
        if part is not None and part.empty:
            raise ValueError(f"no {variable} observations in the {name} period: cannot fit the {variable} model")
    rounds = num_boost_round if isinstance(num_boost_round, dict) else dict.fromkeys(quantiles, num_boost_round)
    boosters = {}
    for q in quantiles:
        params = {**HEAT_PARAMS, "alpha": q, "seed": seed}
        stopping = {} if valid is None else {"valid": (valid[features], valid[variable]), "early_stopping_rounds": 30}
        boosters[q] = trainer(params, train[features], train[variable], num_boost_round=max(1, rounds[q]), **stopping)
    return boosters


def predict_heat(boosters: dict[float, lgb.Booster], frame: pd.DataFrame) -> dict[float, np.ndarray]:
    """Quantiles in degC per row of the variable `boosters` forecast; sorted across quantiles so they never cross."""
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


def station_bias_forecast(table: pd.DataFrame, fitted: np.ndarray, *, variable: str = "tasmax") -> np.ndarray:
    """Regional `variable` plus each station's mean error over the `fitted` rows, per row, degC.

    A station without fitted rows gets the mean of the fitted stations' errors.
    """
    regional = table[regional_column(variable)]
    error = (table[variable] - regional)[fitted]
    per_station = error.groupby(table["station_id"][fitted]).mean()
    bias = table["station_id"].map(per_station).fillna(per_station.mean())
    return (regional + bias).to_numpy()


def heat_validation(
    boosters: dict[float, lgb.Booster], table: pd.DataFrame, split: np.ndarray, held_out: np.ndarray, *,
    variable: str = "tasmax",
) -> dict:
    """Scores by holdout ('unseen_days', 'unseen_stations'), lead and forecast, from test rows.

    `held_out` marks rows of stations left out of fitting `boosters`. Forecasts: 'model' (the
    quantiles), 'regional' and 'regional_station_bias' (the baselines, their biases fitted on
    the training rows of the stations in training). A holdout without test rows has no leads.
    """
    regional = table[regional_column(variable)].to_numpy()
    with_bias = station_bias_forecast(table, (split == "train") & ~held_out, variable=variable)
    observed = table[variable].to_numpy()
    out = {}
    for holdout, rows in (("unseen_days", (split == "test") & ~held_out),
                          ("unseen_stations", (split == "test") & held_out)):
        out[holdout] = {}
        for lead in np.unique(table["lead"][rows]):
            at = rows & (table["lead"].to_numpy() == lead)
            out[holdout][int(lead)] = {
                "model": quantile_scores(predict_heat(boosters, table[at]), observed[at]),
                "regional": point_scores(regional[at], observed[at]),
                "regional_station_bias": point_scores(with_bias[at], observed[at]),
            }
    return out


def _test_scores(boosters: dict[float, lgb.Booster], rows: pd.DataFrame, variable: str) -> dict:
    observed = rows[variable].to_numpy()
    return quantile_scores(predict_heat(boosters, rows), observed) | {
        "baseline_regional_mae_degC": float(np.mean(np.abs(rows[regional_column(variable)].to_numpy() - observed)))}


def train_heat_models(
    table: pd.DataFrame, features: list[str], split: np.ndarray, *, quantiles: tuple[float, ...],
    num_boost_round: int, seed: int, held_out: np.ndarray | None = None, variable: str = "tasmax",
    trainer: BoosterFit = fit_booster,
) -> tuple[dict[float, lgb.Booster], dict]:
    """Quantile regressors of the column `variable` (degC) on every station, and their scores.

    `split` gives 'train', 'valid' (early stopping) or 'test' per row. With `held_out` (rows
    of stations to leave out), `scores['validation']` holds heat_validation's scores of models
    fitted without them; the returned models are refitted on all stations' training rows with
    the iterations early stopping chose. `scores['test']`
    and `['test_by_lead']` score the returned models on the test rows (unseen days).
    """
    held_out = np.zeros(len(table), bool) if held_out is None else np.asarray(held_out, bool)
    fit = {"features": features, "quantiles": quantiles, "seed": seed, "variable": variable, "trainer": trainer}
    boosters = fit_heat_quantiles(table[(split == "train") & ~held_out], table[(split == "valid") & ~held_out],
                                  num_boost_round=num_boost_round, **fit)
    scores = {}
    if held_out.any():
        scores["validation"] = heat_validation(boosters, table, split, held_out, variable=variable)
        best = {q: b.best_iteration or num_boost_round for q, b in boosters.items()}
        boosters = fit_heat_quantiles(table[split == "train"], None, num_boost_round=best, **fit)
    test = table[split == "test"]
    if test.empty:
        raise ValueError(f"no {variable} observations in the test period: cannot score the {variable} model")
    scores["test"] = _test_scores(boosters, test, variable)
    scores["test_by_lead"] = {int(lead): _test_scores(boosters, rows, variable) for lead, rows in test.groupby("lead")}
    scores["best_iterations"] = {str(q): int(b.best_iteration or b.current_iteration()) for q, b in boosters.items()}
    return boosters, scores
