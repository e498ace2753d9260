"""LightGBM flood classifier on (cell, issue date, lead) rows: fit, calibrate, explain, baselines."""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.calibration import Calibration, choose_calibration, prior_correction
from models.verification import contingency_scores, flood_scores

FLOOD_PARAMS = {
    "objective": "binary", "learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 500,
    "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 10.0,
    "num_threads": 2, "deterministic": True, "force_row_wise": True, "verbose": -1,
}
_EARLY_STOPPING_ROUNDS = 40
RAIN_RULE_CANDIDATES_MM = tuple(range(10, 205, 5))  # 24 h rain thresholds the rain rule may pick


@dataclass(frozen=True)
class FloodModel:
    """A booster trained on the drawn sample and the map of its output to population probabilities."""

    booster: lgb.Booster
    calibration: Calibration


def _negative_weight(table: pd.DataFrame) -> float:
    weights = table.loc[table["label"] == 0, "weight"].unique()
    if len(weights) != 1 or weights[0] < 1:
        raise ValueError(f"`weight` of the non-flood rows must be one value >= 1, got {weights[:5]}")
    return float(weights[0])


def train_flood_model(
    table: pd.DataFrame, features: list[str], split: np.ndarray, *, num_boost_round: int, seed: int,
) -> tuple[FloodModel, dict]:
    """Fit on 'train' rows with early stopping on 'valid', calibrate on 'calib'; describe the fit.

    The booster learns on the subsample as drawn (all floods, few non-floods), unweighted:
    weighting each non-flood row by ~1/sampling-rate lets a handful of rows dominate every tree.
    Its output is then mapped to population probabilities: by isotonic or Platt calibration,
    whichever has the lower held-out Brier score (two folds: the calibration period's first and
    second half by issue date), fitted with the sampling weights on the 'calib' rows; without
    'calib' rows (or floods in them), by the prior correction of King and Zeng (2001).

    `table` needs the feature columns, `label` (0/1), `weight` (negative sampling weights) and,
    for the calibration folds, `issue_index`. Returns the model and a description of the fit
    (climatology, best iteration, calibration chosen and the Brier scores that chose it).
    """
    parts = {name: table[split == name] for name in ("train", "valid", "calib")}
    if parts["train"]["label"].sum() == 0:
        raise ValueError("no flooded rows in the training period: cannot fit the flood model")
    for name in ("train", "valid"):
        if parts[name].empty:
            raise ValueError(f"no rows in the {name} period: cannot fit the flood model")
    params = {**FLOOD_PARAMS, "seed": seed}
    train = lgb.Dataset(parts["train"][features], parts["train"]["label"])
    valid = lgb.Dataset(parts["valid"][features], parts["valid"]["label"], reference=train)
    booster = lgb.train(
        params, train, num_boost_round=num_boost_round, valid_sets=[valid], valid_names=["valid"],
        callbacks=[lgb.early_stopping(_EARLY_STOPPING_ROUNDS, verbose=False)],
    )
    negative_weight = _negative_weight(table)
    calib = parts["calib"]
    fit = {"climatology": float(np.average(parts["train"]["label"], weights=parts["train"]["weight"])),
           "best_iteration": int(booster.best_iteration), "negative_weight": negative_weight}
    if calib["label"].sum() > 0:
        issue = calib["issue_index"].to_numpy()
        fold = (issue >= np.median(issue)).astype(int)
        calibration, heldout_brier = choose_calibration(raw_flood_score(booster, calib), calib["label"].to_numpy(),
                                                        calib["weight"].to_numpy(), fold)
        fit["calibration_heldout_brier"] = heldout_brier
    else:
        calibration = prior_correction(negative_weight)
    fit["calibration"] = calibration.to_dict()
    return FloodModel(booster, calibration), fit


def raw_flood_score(booster: lgb.Booster, frame: pd.DataFrame) -> np.ndarray:
    """The booster's output (0..1, on the scale of the drawn sample) per row of `frame`."""
    return booster.predict(frame[booster.feature_name()], num_iteration=booster.best_iteration or None)


def predict_flood(model: FloodModel, frame: pd.DataFrame) -> np.ndarray:
    """Flood probability (0..1) per row for the full population of cell-days."""
    return model.calibration(raw_flood_score(model.booster, frame))


def flood_drivers(booster: lgb.Booster, frame: pd.DataFrame, *, top: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The `top` features raising each row's flood score most: (feature index, log-odds contribution).

    Both arrays are (rows, top), largest contribution first, from LightGBM's own SHAP values
    (pred_contrib). The calibration is monotone, so the order holds for the probability too.
    """
    contrib = booster.predict(frame[booster.feature_name()], num_iteration=booster.best_iteration or None,
                              pred_contrib=True)[:, :-1]  # the last column is the expected value
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :top]
    return order, np.take_along_axis(contrib, order, axis=1)


@dataclass(frozen=True)
class RainRule:
    """The met-service baseline: warn everywhere when 24 h rain reaches `threshold_mm`.

    As a probability it says the training period's flood rate on warned and unwarned cell-days.
    """

    threshold_mm: float
    prob_warned: float
    prob_calm: float

    def __call__(self, rain_24h_mm: np.ndarray) -> np.ndarray:
        return np.where(np.asarray(rain_24h_mm) >= self.threshold_mm, self.prob_warned, self.prob_calm)


def fit_rain_rule(rain_24h_mm: np.ndarray, label: np.ndarray, weight: np.ndarray) -> RainRule:
    """The 24 h rain threshold (from RAIN_RULE_CANDIDATES_MM) with the best weighted CSI, and its rates."""
    def csi(threshold: float) -> float:
        value = contingency_scores(rain_24h_mm, label, weight, threshold)["csi"]
        return -1.0 if np.isnan(value) else value

    best = max(RAIN_RULE_CANDIDATES_MM, key=csi)
    warned = rain_24h_mm >= best
    rate = {flag: float(np.average(label[warned == flag], weights=weight[warned == flag]))
            if (warned == flag).any() else 0.0 for flag in (True, False)}
    return RainRule(float(best), rate[True], rate[False])


def score_by_lead(prob: np.ndarray, rows: pd.DataFrame, observed: np.ndarray, climatology: float, *,
                  threshold: float) -> dict:
    """`flood_scores` over all leads ('all') and per lead ('0', '1', ...) of `rows` (`lead`, `weight`)."""
    weight, lead = rows["weight"].to_numpy(), rows["lead"].to_numpy()
    out = {"all": flood_scores(prob, observed, weight, climatology, threshold=threshold)}
    for value in np.unique(lead):
        at = lead == value
        out[str(int(value))] = flood_scores(prob[at], observed[at], weight[at], climatology, threshold=threshold)
    return out


def evaluate_flood(
    forecasts: dict[str, np.ndarray], rows: pd.DataFrame, observed: np.ndarray, climatology: dict[str, float],
    *, threshold: float, thresholds: dict[str, float] | None = None,
) -> dict:
    """Scores of each named forecast (probabilities per row of `rows`) on all rows and on wet days.

    `rows` needs `lead`, `weight` and `wet_day` (bool). Layout: {subset: {forecast: {lead: scores}}}
    with subset 'all' and 'wet'; `climatology` gives the reference rate of each subset (the Brier
    skill is against it). `thresholds` overrides the alert threshold per forecast (the rain rule
    alerts where it warns).
    """
    thresholds = thresholds or {}
    subsets = {"all": np.ones(len(rows), bool), "wet": rows["wet_day"].to_numpy(bool)}
    return {
        subset: {name: score_by_lead(prob[mask], rows[mask], observed[mask], climatology[subset],
                                     threshold=thresholds.get(name, threshold))
                 for name, prob in forecasts.items()}
        for subset, mask in subsets.items() if mask.any()
    }
