"""Scores for the held-out period: one small function per metric, weights where rows are sampled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scores.probability import brier_score as _scores_brier
from scores.probability import roc_auc as _scores_roc_auc
from sklearn.metrics import average_precision_score

# Reliability bins for rare-event probabilities: finer where nearly all forecasts lie.
RELIABILITY_EDGES = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
_MIN_ROWS_PER_BIN = 50  # a bin with fewer drawn rows merges into its lower neighbour


def _rows(values: np.ndarray) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, float), dims="row")


def brier_score(prob: np.ndarray, observed: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Mean squared difference between probability and 0/1 outcome (0 perfect), unitless.

    `weight` (one per row, e.g. inverse sampling rates) makes it a weighted mean (scores).
    """
    weights = None if weight is None else _rows(weight)
    return float(_scores_brier(_rows(prob), _rows(observed), weights=weights))


def brier_skill_score(prob, observed, reference, weight=None) -> float:
    """Skill of `prob` over `reference` probabilities (or one constant) (1 perfect, 0 none), unitless.

    NaN where the reference is itself perfect. Murphy (1973), J. Appl. Meteor. 12, 595-600.
    """
    reference = np.broadcast_to(np.asarray(reference, float), np.shape(observed))
    reference_score = brier_score(reference, observed, weight)
    return float("nan") if reference_score == 0 else 1 - brier_score(prob, observed, weight) / reference_score


def contingency_scores(prob: np.ndarray, observed: np.ndarray, weight: np.ndarray, threshold: float) -> dict:
    """POD, FAR and CSI of the alert `prob` >= `threshold` against 0/1 `observed`, weighted.

    Written here because scores' contingency tables take no weights. NaN where undefined
    (no event for POD, no alert for FAR).
    """
    alert, event = np.asarray(prob) >= threshold, np.asarray(observed) == 1
    hits, misses, false_alarms = (float(np.sum(weight[m])) for m in (alert & event, ~alert & event, alert & ~event))

    def ratio(num: float, den: float) -> float:
        return num / den if den > 0 else float("nan")

    return {"pod": ratio(hits, hits + misses), "far": ratio(false_alarms, hits + false_alarms),
            "csi": ratio(hits, hits + misses + false_alarms)}


def reliability_table(prob: np.ndarray, observed: np.ndarray, weight: np.ndarray) -> pd.DataFrame:
    """Per probability bin: drawn rows, weighted count, mean forecast and observed frequency.

    Bins are RELIABILITY_EDGES; a bin with fewer than 50 drawn rows merges into its lower
    neighbour (the lowest into its upper one), a guard rail as in IMPROVER, so every row of the
    table rests on enough rows.
    """
    prob, observed, weight = (np.asarray(a, float) for a in (prob, observed, weight))
    edges = list(RELIABILITY_EDGES)
    index = np.clip(np.searchsorted(edges, prob, side="right") - 1, 0, len(edges) - 2)
    counts = np.bincount(index, minlength=len(edges) - 1)
    low = edges[:-1]
    for b in range(len(edges) - 2, 0, -1):  # merge sparse bins downwards
        if counts[b] < _MIN_ROWS_PER_BIN:
            index[index == b] = b - 1
            counts[b - 1] += counts[b]
            counts[b] = 0
    above = np.flatnonzero(counts[1:]) + 1
    if counts[0] < _MIN_ROWS_PER_BIN and above.size:  # the lowest bin has none below: merge upwards
        index[index == 0] = above[0]
        counts[above[0]] += counts[0]
        counts[0] = 0
        low[above[0]] = edges[0]
    rows = []
    for b in np.flatnonzero(counts):
        upper = edges[next((c for c in range(b + 1, len(counts)) if counts[c]), len(counts))]
        sel = index == b
        rows.append({"bin_low": low[b], "bin_high": upper, "n_rows": int(sel.sum()),
                     "weight": float(weight[sel].sum()),
                     "forecast_mean": float(np.average(prob[sel], weights=weight[sel])),
                     "observed_frequency": float(np.average(observed[sel], weights=weight[sel]))})
    return pd.DataFrame(rows)


def flood_scores(prob: np.ndarray, observed: np.ndarray, weight: np.ndarray, climatology, *,
                 threshold: float) -> dict:
    """ROC AUC, PR AUC, Brier, Brier skill vs `climatology`, POD/FAR/CSI at `threshold`, reliability.

    All weighted by `weight`, so they estimate the full population of cell-days. ROC AUC and
    Brier come from `scores`, PR AUC (average precision) from scikit-learn. Without both classes
    the ranking scores are NaN. `reliability_error` is the mean |forecast - observed| over the
    reliability bins (each bin counts once), `reliability_error_weighted` weighs bins by rows.
    """
    prob, observed, weight = (np.asarray(a, float) for a in (prob, observed, weight))
    both_classes = 0 < observed.sum() < len(observed)
    table = reliability_table(prob, observed, weight)
    gap = (table["forecast_mean"] - table["observed_frequency"]).abs()
    return {
        "n_rows": len(observed),
        "n_positive": int(observed.sum()),
        "roc_auc": float(_scores_roc_auc(_rows(prob), _rows(observed), weights=_rows(weight)))
        if both_classes else float("nan"),
        "pr_auc": float(average_precision_score(observed, prob, sample_weight=weight))
        if both_classes else float("nan"),
        "brier": brier_score(prob, observed, weight),
        "brier_skill_vs_climatology": brier_skill_score(prob, observed, climatology, weight),
        **contingency_scores(prob, observed, weight, threshold),
        "reliability_error": float(gap.mean()),
        "reliability_error_weighted": float(np.average(gap, weights=table["weight"])),
        "reliability": table.to_dict("list"),
    }


def pinball_loss(predicted: np.ndarray, observed: np.ndarray, quantile: float) -> float:
    """Mean quantile (pinball) loss of `predicted` as the `quantile` of `observed`, in their unit."""
    diff = np.asarray(observed) - np.asarray(predicted)
    return float(np.mean(np.maximum(quantile * diff, (quantile - 1) * diff)))


def heat_scores(quantiles: dict[float, np.ndarray], observed: np.ndarray, baseline: np.ndarray) -> dict:
    """MAE/RMSE/bias of the median, interval coverage, pinball losses and the baseline's MAE, degC."""
    low, mid, high = (quantiles[q] for q in sorted(quantiles))
    error = mid - observed
    scores = {
        "n_rows": len(observed),
        "mae_degC": float(np.mean(np.abs(error))),
        "rmse_degC": float(np.sqrt(np.mean(error**2))),
        "bias_degC": float(np.mean(error)),
        "interval_coverage": float(np.mean((observed >= low) & (observed <= high))),
        "baseline_regional_mae_degC": float(np.mean(np.abs(baseline - observed))),
    }
    for q, values in quantiles.items():
        scores[f"pinball_q{round(q * 100):02d}_degC"] = pinball_loss(values, observed, q)
    return scores
