"""LightGBM quantile regressors for daily maximum and minimum air temperature per cell, and their validation.

One set of quantile models per variable (`tasmax`, `tasmin`), fitted and scored by the same
functions. Validation holds out days (the test period) and stations (never seen in training):
the models scored are fitted without the held-out stations; the models returned are then
refitted on every station. Scores compare with two baselines: the raw regional forecast of the
variable (e.g. `tasmin_regional_degC`) and the regional forecast plus each station's mean error
over the training period (a station never seen gets the mean of the training stations' errors).

The outer quantiles are conformalized (CQR, Romano, Patterson & Candes 2019): the score
max(q_low - y, y - q_high) of rows the models did not fit gives per lead the widening (degC;
negative narrows) that makes [q_low, q_high] cover its nominal share. The rows are out of fold
(cross-conformal, Vovk 2015): the training and validation days cut into consecutive blocks, each
block forecast by models fitted on the others, so that every season weighs as it does in a year
(a single half-year validation period widened too much or too little, by its season). Held-out
stations are never fitted, so their rows stand for the places no station watches. Forward folds,
station-and-day folds and held-out-station rows alone were measured against these folds on both
demo cities and not taken (benchmarks/heat_coverage.py, docs/evaluation.md).
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.boosting import BoosterFit, feature_matrix, fit_booster, predict_trees
from models.heat.scores import point_scores, quantile_scores

# Linear trees (a ridge fit in each leaf) carry what a station's surroundings do to its temperature to
# places no station stands: on the demo, lead-1 tasmax RMSE at unseen stations 0.86 degC with piecewise
# constant leaves, 0.80 with linear ones. LightGBM fits linear trees with its serial learner only, so
# the heat models always fit in this process (station tables hold thousands of rows, not millions).
# Seven leaves at rate 0.2 score as fifteen at 0.1 (within 0.01 degC) with half the trees to predict.
HEAT_PARAMS = {
    "objective": "quantile", "learning_rate": 0.2, "num_leaves": 7, "min_data_in_leaf": 30,
    "feature_fraction": 0.9, "lambda_l2": 1.0, "linear_tree": True, "linear_lambda": 1.0,
    "num_threads": 2, "deterministic": True, "force_row_wise": True, "verbose": -1,
}
VARIABLES = {"tasmax": "maximum", "tasmin": "minimum"}  # daily air temperature (degC) the models forecast
MEDIAN = 0.5  # the quantile every heat model has; the others are fitted as offsets from it
CONFORMAL_FOLDS = 3  # consecutive blocks of days out of which the interval widening is measured


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
    """The median regressor of the column `variable` (degC), then one regressor per other quantile of
    what the median leaves (observed minus the median's fit); early stopping on `valid` if given.

    Started from the median, the outer quantiles learn only how the spread varies, in tens of rounds
    instead of hundreds. `num_boost_round` may differ per quantile (a dict), e.g. the best
    iterations of an earlier fit. `trainer` fits each booster (models.boosting.BoosterFit).
    """
    _require_variable(variable)
    if MEDIAN not in quantiles:
        raise ValueError(f"`quantiles` must hold the median {MEDIAN}, got {quantiles}")
    for name, part in (("train", train), ("valid", valid)):
        if part is not None and part.empty:
            raise ValueError(f"no {variable} observations in the {name} period: cannot fit the {variable} model")
    rounds = num_boost_round if isinstance(num_boost_round, dict) else dict.fromkeys(quantiles, num_boost_round)

    def fit(q: float, target: pd.Series, valid_target: pd.Series | None) -> lgb.Booster:
        stopping = {} if valid is None else {"valid": (valid[features], valid_target), "early_stopping_rounds": 30}
        return trainer({**HEAT_PARAMS, "alpha": q, "seed": seed}, train[features], target,
                           num_boost_round=max(1, rounds[q]), **stopping)

    median = fit(MEDIAN, train[variable], None if valid is None else valid[variable])
    left = {name: part[variable] - predict_trees(median, part[features].to_numpy(np.float64))
            for name, part in (("train", train), ("valid", valid)) if part is not None}
    outer = {q: fit(q, left["train"], left.get("valid")) for q in quantiles if q != MEDIAN}
    return dict(sorted({MEDIAN: median, **outer}.items()))


def predict_heat(boosters: dict[float, lgb.Booster], frame: pd.DataFrame,
                 widening: dict[int, float] | None = None) -> dict[float, np.ndarray]:
    """Quantiles in degC per row of the variable `boosters` forecast (fit_heat_quantiles': the median, and
    the others' offsets from it); sorted across quantiles so they never cross.

    `widening` (degC per lead, from conformal_widening) moves the lowest quantile down and the
    highest up on rows of that lead; `frame` then needs a `lead` column.
    """
    qs = sorted(boosters)
    matrix = feature_matrix(frame, boosters[MEDIAN].feature_name())
    median = predict_trees(boosters[MEDIAN], matrix)
    raw = np.stack([median if q == MEDIAN else median + predict_trees(boosters[q], matrix) for q in qs])
    if widening:
        lead = frame["lead"].to_numpy()
        missing = set(np.unique(lead).tolist()) - set(widening)
        if missing:
            raise ValueError(f"no interval widening for lead(s) {sorted(missing)}: the models were calibrated on "
                             f"leads {sorted(widening)}")
        by_row = pd.Series(widening, dtype=float).reindex(lead).to_numpy()
        raw[0] -= by_row
        raw[-1] += by_row
    ordered = np.sort(raw, axis=0)
    return {q: ordered[i] for i, q in enumerate(qs)}


def conformal_widening(quantiles: dict[float, np.ndarray], observed: np.ndarray, lead: np.ndarray) -> dict[int, float]:
    """Per lead, the CQR widening (degC) of the outer interval that covers its nominal share of `observed`.

    The score of a row is max(q_low - y, y - q_high); the widening is its ceil((n + 1)(1 - a)) / n
    empirical quantile, with 1 - a = q_high - q_low the interval's nominal coverage.
    """
    levels = sorted(quantiles)
    nominal = levels[-1] - levels[0]
    score = np.maximum(quantiles[levels[0]] - observed, observed - quantiles[levels[-1]])
    out = {}
    for value in np.unique(lead):
        at = score[lead == value]
        level = min(1.0, np.ceil((len(at) + 1) * nominal) / len(at))
        out[int(value)] = float(np.quantile(at, level, method="higher"))
    return out


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
    variable: str = "tasmax", widening: dict[int, float] | None = None,
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
                "model": quantile_scores(predict_heat(boosters, table[at], widening), observed[at]),
                "regional": point_scores(regional[at], observed[at]),
                "regional_station_bias": point_scores(with_bias[at], observed[at]),
            }
    return out


def _test_scores(boosters: dict[float, lgb.Booster], widening: dict[int, float], rows: pd.DataFrame,
                 variable: str) -> dict:
    observed = rows[variable].to_numpy()
    return quantile_scores(predict_heat(boosters, rows, widening), observed) | {
        "baseline_regional_mae_degC": float(np.mean(np.abs(rows[regional_column(variable)].to_numpy() - observed)))}


def out_of_fold_quantiles(
    table: pd.DataFrame, known: np.ndarray, fittable: np.ndarray, features: list[str], *,
    quantiles: tuple[float, ...], num_boost_round: dict[float, int], seed: int, variable: str = "tasmax",
    folds: int = CONFORMAL_FOLDS, forward: bool = False, by_station: bool = False, trainer: BoosterFit = fit_booster,
) -> dict[float, np.ndarray]:
    """Quantiles (degC) of the `known` rows, each forecast by models not fitted on its block; NaN elsewhere.

    The issue days of the `known` rows are cut into `folds` consecutive blocks of equal rows; each
    block is forecast by quantile models fitted, at `num_boost_round` per quantile, on the `known`
    and `fittable` rows of the other blocks, or with `forward` of the earlier blocks only (the first
    block is then NaN). With `by_station` the stations are also dealt into `folds` groups (by sorted
    `station_id`) and a row's models are fitted on neither its block of days nor its group.
    """
    issue = table["issue_index"].to_numpy()
    edges = np.quantile(issue[known], np.linspace(0, 1, folds + 1)[1:-1])
    fold = np.searchsorted(edges, issue, side="right")
    group = pd.factorize(table["station_id"], sort=True)[0] % folds if by_station else np.zeros(len(table), int)
    out_of_fold = {q: np.full(len(table), np.nan) for q in quantiles}
    for k in range(1 if forward else 0, folds):
        days = (fold < k) if forward else (fold != k)
        for g in np.unique(group):
            stations = (group != g) if by_station else True
            fitted = fit_heat_quantiles(table[known & fittable & days & stations], None, features,
                                        quantiles=quantiles, num_boost_round=num_boost_round, seed=seed,
                                        variable=variable, trainer=trainer)
            at = known & (fold == k) & (group == g)
            for q, values in predict_heat(fitted, table[at]).items():
                out_of_fold[q][at] = values
    return out_of_fold


def cross_conformal_widening(
    table: pd.DataFrame, known: np.ndarray, fittable: np.ndarray, features: list[str], *,
    quantiles: tuple[float, ...], num_boost_round: dict[float, int], seed: int, variable: str = "tasmax",
    folds: int = CONFORMAL_FOLDS, trainer: BoosterFit = fit_booster,
) -> dict[int, float]:
    """Per lead, conformal_widening (degC) of out_of_fold_quantiles on the `known` rows."""
    out_of_fold = out_of_fold_quantiles(table, known, fittable, features, quantiles=quantiles,
                                        num_boost_round=num_boost_round, seed=seed, variable=variable, folds=folds,
                                        trainer=trainer)
    return conformal_widening({q: v[known] for q, v in out_of_fold.items()}, table[variable].to_numpy()[known],
                              table["lead"].to_numpy()[known])


def fit_conformal_quantiles(
    table: pd.DataFrame, split: np.ndarray, features: list[str], *, quantiles: tuple[float, ...],
    num_boost_round: int, seed: int, variable: str = "tasmax", fittable: np.ndarray | None = None,
    trainer: BoosterFit = fit_booster,
) -> tuple[dict[float, lgb.Booster], dict[int, float]]:
    """Quantile models of `variable` fitted on the 'train' rows of `split` with early stopping on its
    'valid' rows, and their cross-conformal widening per lead (degC) on both; rows not `fittable`
    (e.g. held-out stations) are never fitted, only scored."""
    fittable = np.ones(len(table), bool) if fittable is None else fittable
    fit = {"features": features, "quantiles": quantiles, "seed": seed, "variable": variable, "trainer": trainer}
    boosters = fit_heat_quantiles(table[(split == "train") & fittable], table[(split == "valid") & fittable],
                                  num_boost_round=num_boost_round, **fit)
    best = {q: b.best_iteration or num_boost_round for q, b in boosters.items()}
    return boosters, cross_conformal_widening(table, np.isin(split, ["train", "valid"]), fittable,
                                              num_boost_round=best, **fit)


def train_heat_models(
    table: pd.DataFrame, features: list[str], split: np.ndarray, *, quantiles: tuple[float, ...],
    num_boost_round: int, seed: int, held_out: np.ndarray | None = None, variable: str = "tasmax",
    trainer: BoosterFit = fit_booster,
) -> tuple[dict[float, lgb.Booster], dict[int, float], dict]:
    """Quantile regressors of the column `variable` (degC) on every station, their widening per lead, their scores.

    `split` gives 'train', 'valid' (early stopping) or 'test' per row; the widening is
    cross_conformal_widening's on the training and validation rows. With `held_out` (rows of
    stations to leave out), no model of the widening or of `scores['validation']` (heat_validation's
    scores) is fitted on them; the returned models are refitted on all stations' training rows
    with the iterations early stopping chose. `scores['test']` and `['test_by_lead']` score the
    returned models on the test rows (unseen days).
    """
    held_out = np.zeros(len(table), bool) if held_out is None else np.asarray(held_out, bool)
    fit = {"features": features, "quantiles": quantiles, "seed": seed, "variable": variable, "trainer": trainer}
    boosters, widening = fit_conformal_quantiles(table, split, num_boost_round=num_boost_round, fittable=~held_out,
                                                 **fit)
    scores = {}
    if held_out.any():
        scores["validation"] = heat_validation(boosters, table, split, held_out, variable=variable, widening=widening)
        best = {q: b.best_iteration or num_boost_round for q, b in boosters.items()}
        boosters = fit_heat_quantiles(table[split == "train"], None, num_boost_round=best, **fit)
    test = table[split == "test"]
    if test.empty:
        raise ValueError(f"no {variable} observations in the test period: cannot score the {variable} model")
    scores["test"] = _test_scores(boosters, widening, test, variable)
    scores["test_by_lead"] = {int(lead): _test_scores(boosters, widening, rows, variable)
                              for lead, rows in test.groupby("lead")}
    scores["best_iterations"] = {str(q): int(b.best_iteration or b.current_iteration()) for q, b in boosters.items()}
    return boosters, widening, scores
