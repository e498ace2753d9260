"""Fitting and evaluating one LightGBM booster: the calls the flood and heat models share.

`fit_booster` fits in this process. A caller can hand the models another function of the same
signature (`BoosterFit`), such as pipelines.runner's fit on a Dask cluster with lightgbm.dask;
`early_stopping_iteration` gives such a fit the iteration LightGBM's own early stopping picks.
`predict_trees` is every model's prediction: by LightGBM, or by the booster's trees compiled to
native code (`CompiledBooster`, built by pipelines.forecast.compiled_trees) to the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd

BoosterFit = Callable[..., lgb.Booster]  # (params, X, y, *, num_boost_round, valid, early_stopping_rounds)
TreeEvaluator = Callable[[np.ndarray, bool], np.ndarray]  # (float32 matrix, raw_score) -> one value per row
_PROBABILITY_EPSILON = 1e-15  # LightGBM clips probabilities so for binary_logloss
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def fit_booster(
    params: dict, X: pd.DataFrame, y: pd.Series, *, num_boost_round: int,
    valid: tuple[pd.DataFrame, pd.Series] | None = None, early_stopping_rounds: int | None = None,
    callbacks: Sequence[Callable] = (),
) -> lgb.Booster:
    """A booster fitted on (X, y) for up to `num_boost_round` rounds.

    With `valid` (X, y) and `early_stopping_rounds`, training stops once the validation metric
    has not improved for that many rounds, and `best_iteration` is the best round (1-based).
    `callbacks` are LightGBM's (lightgbm.callback), called after each round, e.g. to show progress.
    """
    require_early_stopping_pair(valid, early_stopping_rounds)
    train = lgb.Dataset(X, y)
    if valid is None:
        return lgb.train(params, train, num_boost_round=num_boost_round, callbacks=list(callbacks))
    return lgb.train(
        params, train, num_boost_round=num_boost_round,
        valid_sets=[lgb.Dataset(*valid, reference=train)], valid_names=["valid"],
        callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False), *callbacks],
    )


def feature_matrix(frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """`frame[features]` as one C-ordered matrix in the columns' common type, as LightGBM reads a
    DataFrame: float32 when every column fits (the forecast's frame), which halves what predict reads."""
    columns = frame[features]
    return np.ascontiguousarray(columns.to_numpy(np.result_type(np.float32, *columns.dtypes)))


class CompiledBooster(lgb.Booster):
    """A booster whose trees (to its best iteration) also run as compiled native code, `evaluate`.

    `predict_trees` evaluates with it; LightGBM still does everything else (SHAP values, a range
    of trees, a single round), and whoever builds one checks that it gives LightGBM's numbers.
    """

    def __init__(self, booster: lgb.Booster, evaluate: TreeEvaluator):
        super().__init__(model_str=booster.model_to_string(num_iteration=booster.best_iteration or None))
        self.evaluate = evaluate


def predict_trees(booster: lgb.Booster, matrix: np.ndarray, *, raw_score: bool = False) -> np.ndarray:
    """The booster's prediction per row of `matrix` (`feature_matrix`) with its trees to the best
    iteration: the probability (binary) or value (regression, quantile); the trees' sum if `raw_score`.

    A CompiledBooster evaluates float32 rows with its compiled trees, LightGBM anything else.
    """
    if isinstance(booster, CompiledBooster) and matrix.dtype == np.float32:
        return booster.evaluate(matrix, raw_score)
    return booster.predict(matrix, num_iteration=booster.best_iteration or None, raw_score=raw_score)


def threshold_rows(booster: lgb.Booster, rows: int, *, seed: int) -> np.ndarray:
    """`rows` float32 rows (booster's features) whose values sit on its split thresholds: each
    threshold rounded to float32 and the float32 values either side of it, with 0 and NaN, drawn at
    random per feature. Where float32 and float64 comparisons disagree, these rows find it.
    """
    splits = booster.trees_to_dataframe().dropna(subset=["threshold"])
    features = booster.feature_name()
    rng = np.random.default_rng(seed)
    matrix = np.zeros((rows, len(features)), np.float32)
    for column, name in enumerate(features):  # a pass over the features, not the rows
        thresholds = splits.loc[splits["split_feature"] == name, "threshold"].to_numpy()
        thresholds = thresholds[np.abs(thresholds) <= _FLOAT32_MAX].astype(np.float32)  # not 1e300: NaN's own splits
        values = np.concatenate([thresholds, np.nextafter(thresholds, np.float32(-np.inf)),
                                 np.nextafter(thresholds, np.float32(np.inf)), np.float32([0, np.nan])])
        matrix[:, column] = rng.choice(values, rows)
    return matrix


def require_early_stopping_pair(valid: tuple | None, early_stopping_rounds: int | None) -> None:
    """Raise ValueError unless both or neither of `valid` and `early_stopping_rounds` are given."""
    if (valid is None) != (early_stopping_rounds is None):
        raise ValueError("`valid` and `early_stopping_rounds` go together: give both or neither")


def validation_loss(booster: lgb.Booster, X: pd.DataFrame, y: pd.Series) -> np.ndarray:
    """The booster's validation metric after each round (LightGBM's default metric of its
    objective: binary_logloss, quantile or l2), unweighted; one value per tree.
    """
    objective = booster.params.get("objective", "regression")
    matrix, observed = X[booster.feature_name()].to_numpy(np.float64), np.asarray(y, np.float64)
    raw = np.zeros(len(matrix))
    losses = np.empty(booster.num_trees())
    for k in range(booster.num_trees()):  # one tree a round: the running raw score, a round at a time
        raw += booster.predict(matrix, start_iteration=k, num_iteration=1, raw_score=True)
        if objective == "binary":
            p = np.clip(1 / (1 + np.exp(-raw)), _PROBABILITY_EPSILON, 1 - _PROBABILITY_EPSILON)
            losses[k] = -np.mean(observed * np.log(p) + (1 - observed) * np.log(1 - p))
        elif objective == "quantile":
            alpha, delta = float(booster.params["alpha"]), observed - raw
            losses[k] = np.mean(np.where(delta < 0, (alpha - 1) * delta, alpha * delta))
        elif objective in ("regression", "l2"):
            losses[k] = np.mean((observed - raw) ** 2)
        else:
            raise ValueError(f"no validation metric for objective {objective!r}")
    return losses


def early_stopping_iteration(losses: np.ndarray, rounds: int) -> int:
    """The round (1-based) lgb.early_stopping(`rounds`) keeps given the loss after each round:
    the best so far when `rounds` rounds in a row have not improved on it, or the best overall.
    """
    best = 0
    for k in range(1, len(losses)):
        if losses[k] < losses[best]:
            best = k
        elif k - best >= rounds:
            break
    return best + 1
