"""Scores for the held-out period: one small function per metric, weights where rows are sampled."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def brier_score(prob: np.ndarray, observed: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Mean squared difference between probability and 0/1 outcome (0 perfect), unitless."""
    return float(np.average((np.asarray(prob) - np.asarray(observed)) ** 2, weights=weight))


def brier_skill_score(prob, observed, reference: float, weight=None) -> float:
    """Skill of `prob` over a constant `reference` probability (1 perfect, 0 none), unitless."""
    reference_score = brier_score(np.full(len(observed), reference), observed, weight)
    return float("nan") if reference_score == 0 else 1 - brier_score(prob, observed, weight) / reference_score


def flood_scores(prob: np.ndarray, observed: np.ndarray, weight: np.ndarray, climatology: float) -> dict:
    """ROC AUC, PR AUC (average precision), Brier and Brier skill vs `climatology`, weighted."""
    both_classes = 0 < observed.sum() < len(observed)
    return {
        "n_rows": len(observed),
        "n_positive": int(observed.sum()),
        "roc_auc": float(roc_auc_score(observed, prob, sample_weight=weight)) if both_classes else float("nan"),
        "pr_auc": float(average_precision_score(observed, prob, sample_weight=weight)) if both_classes else float("nan"),
        "brier": brier_score(prob, observed, weight),
        "brier_skill_vs_climatology": brier_skill_score(prob, observed, climatology, weight),
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
