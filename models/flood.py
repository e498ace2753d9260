"""LightGBM flood classifier on (cell, issue date, lead) rows: fit, calibrate, explain, baselines."""

from __future__ import annotations

from dataclasses import dataclass, replace

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.boosting import BoosterFit, feature_matrix, fit_booster, predict_trees
from models.calibration import Calibration, choose_calibration, day_folds, prior_correction
from models.verification import contingency_scores, flood_scores

# Slow and small: learning rate, leaves and rows per leaf chosen on the validation year only
# (benchmarks/choose_flood_settings.py, docs/evaluation.md); the rest as first set.
FLOOD_PARAMS = {
    "objective": "binary", "learning_rate": 0.03, "num_leaves": 7, "min_data_in_leaf": 100,
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
    report_rate: float = 1.0, trainer: BoosterFit = fit_booster, params: dict | None = None,
) -> tuple[FloodModel, dict]:
    """Fit on 'train' rows with early stopping on 'valid', calibrate on 'calib'; describe the fit.

    The booster learns on the subsample as drawn (all floods, few non-floods), unweighted:
    weighting each non-flood row by ~1/sampling-rate lets a handful of rows dominate every tree.
    Its output is then mapped to population probabilities: by isotonic or Platt calibration,
    whichever has the lower held-out Brier score (two folds of whole target days, the flood days
    dealt to them in turn: `day_folds`), fitted with the sampling weights on the 'calib' rows;
    without 'calib' rows (or floods in them), by the prior correction of King and Zeng (2001). Labels
    are reports, so that is the chance of a reported flood; `report_rate` (the share of floods
    reported, 0..1] turns it into the chance of a flood (see `Calibration`).

    `params` override FLOOD_PARAMS (a candidate compared on the validation period). `table` needs the feature columns, `label` (0/1), `weight` (negative sampling weights) and,
    for the calibration folds, `issue_index` and `lead`. Returns the model and a description of the
    fit (climatology, best iteration, calibration chosen, the Brier scores that chose it and the flood
    days in each calibration fold).
    """
    parts = {name: table[split == name] for name in ("train", "valid", "calib")}
    if parts["train"]["label"].sum() == 0:
        raise ValueError("no flooded rows in the training period: cannot fit the flood model")
    for name in ("train", "valid"):
        if parts[name].empty:
            raise ValueError(f"no rows in the {name} period: cannot fit the flood model")
    params = {**FLOOD_PARAMS, **(params or {}), "seed": seed}
    booster = trainer(params, parts["train"][features], parts["train"]["label"], num_boost_round=num_boost_round,
                      valid=(parts["valid"][features], parts["valid"]["label"]),
                      early_stopping_rounds=_EARLY_STOPPING_ROUNDS)
    negative_weight = _negative_weight(pd.concat(parts.values()))  # test rows may be drawn apart
    calib = parts["calib"]
    fit = {"climatology": float(np.average(parts["train"]["label"], weights=parts["train"]["weight"])),
           "best_iteration": int(booster.best_iteration), "negative_weight": negative_weight}
    if calib["label"].sum() > 0:
        day, label = calib["issue_index"].to_numpy() + calib["lead"].to_numpy(), calib["label"].to_numpy()
        fold = day_folds(day, label)
        calibration, heldout_brier = choose_calibration(raw_flood_score(booster, calib), label,
                                                        calib["weight"].to_numpy(), fold)
        fit["calibration_heldout_brier"] = heldout_brier
        fit["calibration_flood_days"] = [len(np.unique(day[(label == 1) & (fold == k)])) for k in (0, 1)]
    else:
        calibration = prior_correction(negative_weight)
    calibration = replace(calibration, report_rate=float(report_rate))
    fit["calibration"] = calibration.to_dict()
    return FloodModel(booster, calibration), fit


def raw_flood_score(booster: lgb.Booster, frame: pd.DataFrame) -> np.ndarray:
    """The booster's output (0..1, on the scale of the drawn sample) per row of `frame`."""
    return predict_trees(booster, feature_matrix(frame, booster.feature_name()))


def predict_flood(model: FloodModel, frame: pd.DataFrame) -> np.ndarray:
    """Flood probability (0..1) per row for the full population of cell-days."""
    return model.calibration(raw_flood_score(model.booster, frame))


def flood_drivers(booster: lgb.Booster, frame: pd.DataFrame, *, top: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The `top` features raising each row's flood score most: (feature index, log-odds contribution).

    Both arrays are (rows, top), largest contribution first (equal ones: lower index first), from
    LightGBM's own SHAP values (pred_contrib, computed as in _distinct_shap). The calibration is
    monotone, so the order holds for the probability too.
    """
    contrib, kind = _distinct_shap(booster, feature_matrix(frame, booster.feature_name()))
    n_features, n_kinds = contrib.shape
    kinds = np.arange(n_kinds)
    order = np.zeros((n_kinds, min(top, n_features)), np.intp)
    values = np.empty(order.shape)
    for k in range(order.shape[1]):  # the k-th largest: a pass over the features, not the rows
        largest = np.full(n_kinds, -np.inf)
        for feature in range(n_features):
            larger = contrib[feature] > largest  # strictly: of equal values the first feature stays
            order[larger, k] = feature
            largest[larger] = contrib[feature][larger]
        values[:, k] = largest
        contrib[order[:, k], kinds] = -np.inf
    return order[kind], values[kind]


_ZERO_CUTS = (np.nextafter(-1e-35, -np.inf), 1e-35)  # LightGBM's kZeroThreshold: |x| <= 1e-35 is zero


def _tree_splits(booster: lgb.Booster) -> list[dict[int, set[float]]]:
    """Per tree (to the best iteration), the thresholds of its splits by feature index."""
    splits = []
    for tree in booster.dump_model(num_iteration=booster.best_iteration or None)["tree_info"]:
        found, stack = {}, [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_index" in node:
                if node["decision_type"] != "<=":
                    raise ValueError(f"only numerical splits are supported, got {node['decision_type']!r}")
                found.setdefault(node["split_feature"], set()).add(float(node["threshold"]))
                stack += [node["left_child"], node["right_child"]]
        splits.append(found)
    return splits


def _interval(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Per value, the interval of the sorted `cuts` it falls in (so `x <= cut` is alike within
    one); NaN gets its own, len(cuts) + 1."""
    codes = np.searchsorted(cuts, values, side="left")
    codes[np.isnan(values)] = len(cuts) + 1
    return codes


def _patterns(codes: list[tuple[np.ndarray, int]], n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Number the distinct combinations of `codes` (each an array of values below its count) per row,
    in order of first appearance; return the numbers and the row where each first appears."""
    key, radix = np.zeros(n_rows, np.int64), 1
    for code, n_codes in codes:
        if radix * n_codes > 2**62:  # renumber the combinations so far before the key overflows
            key, seen = pd.factorize(key)
            radix = len(seen)
        key = key * n_codes + code
        radix *= n_codes
    pattern, _ = pd.factorize(key)
    return pattern, np.flatnonzero(np.diff(np.maximum.accumulate(pattern), prepend=-1) > 0)


def _distinct_shap(booster: lgb.Booster, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LightGBM's TreeSHAP values (pred_contrib without the expected value) of `matrix`'s distinct
    rows, dims (feature, kind), and the kind of each row.

    A tree's SHAP values depend on a row only through the side it takes at each of the tree's
    numerical splits. So rows alike at every split of the model are one kind, and each tree is
    evaluated by LightGBM once per distinct pattern of sides among the kinds (tens to hundreds,
    against a million rows on a city grid), its values spread back to the kinds. The sum over
    trees equals LightGBM's up to float rounding (terms are added tree by tree rather than path
    by path: relative differences of about 1e-11).
    """
    splits = _tree_splits(booster)
    cuts = {f: np.unique([*_ZERO_CUTS, *set().union(*(t.get(f, set()) for t in splits))])
            for f in sorted(set().union(*splits))}
    intervals = {f: _interval(matrix[:, f], c) for f, c in cuts.items()}  # model-wide, per feature
    kind, first = _patterns([(intervals[f], len(c) + 2) for f, c in cuts.items()], len(matrix))
    matrix, intervals = matrix[first], {f: codes[first] for f, codes in intervals.items()}
    contrib = np.zeros((matrix.shape[1], len(matrix)))
    for k, tree_splits in enumerate(splits):
        codes = []
        for f, thresholds in sorted(tree_splits.items()):
            tree_cuts = np.unique([*_ZERO_CUTS, *thresholds])
            lookup = np.append(  # model-wide interval -> this tree's interval; NaN keeps its own
                np.searchsorted(tree_cuts, np.append(-np.inf, cuts[f]), side="right"), len(tree_cuts) + 1)
            codes.append((lookup[intervals[f]], len(tree_cuts) + 2))
        pattern, rows = _patterns(codes, len(matrix))
        if not len(rows):
            continue
        values = booster.predict(matrix[rows], start_iteration=k, num_iteration=1, pred_contrib=True)
        for f in np.flatnonzero((values[:, :-1] != 0).any(axis=0)):  # the last column is the expected value
            contrib[f] += np.take(values[:, f], pattern)
    return contrib, kind


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


def fit_rain_rule(rain_24h_mm: np.ndarray, label: np.ndarray, weight: np.ndarray, *,
                  report_rate: float = 1.0) -> RainRule:
    """The 24 h rain threshold (from RAIN_RULE_CANDIDATES_MM) with the best weighted CSI, and its rates.

    `label` marks reported floods; the rates are divided by `report_rate` (capped at 1), as the
    model's are, so that both forecast floods.
    """
    def csi(threshold: float) -> float:
        value = contingency_scores(rain_24h_mm, label, weight, threshold)["csi"]
        return -1.0 if np.isnan(value) else value

    best = max(RAIN_RULE_CANDIDATES_MM, key=csi)
    warned = rain_24h_mm >= best
    rate = {flag: min(float(np.average(label[warned == flag], weights=weight[warned == flag])) / report_rate, 1.0)
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
