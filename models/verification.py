"""Scores for the held-out period: one small function per metric, weights where rows are sampled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy.ndimage import uniform_filter
from scores.categorical import BasicContingencyManager
from scores.probability import brier_score as _scores_brier
from scores.probability import roc_auc as _scores_roc_auc
from sklearn.metrics import average_precision_score

# Reliability bins for rare-event probabilities: finer where nearly all forecasts lie.
RELIABILITY_EDGES = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
_MIN_ROWS_PER_BIN = 50  # a bin with fewer drawn rows merges into its lower neighbour
# A score resting on fewer events than this means nothing: one event more or less moves a POD
# by 0.1 or more, and its binomial standard error is still about 0.16 at POD 0.5. The card and
# the backtest report flag such scores ("too few events") rather than hide them. A constant, not
# a config field: the training card and the backtest report must use the same one, and cards of
# two cities must flag alike.
MIN_EVENTS = 10


def too_few_events(n_events):
    """True where a score rests on fewer than MIN_EVENTS events (an int, array or DataArray of counts;
    a NaN count is not flagged)."""
    return n_events < MIN_EVENTS


def ratio_or_nan(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """`num / den` elementwise, NaN where `den` is not > 0 (an undefined score, not an error)."""
    return np.divide(num, den, out=np.full(np.shape(num), np.nan), where=np.asarray(den) > 0)


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
    return {"pod": float(ratio_or_nan(hits, hits + misses)),
            "far": float(ratio_or_nan(false_alarms, hits + false_alarms)),
            "csi": float(ratio_or_nan(hits, hits + misses + false_alarms))}


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
    `n_rows` and `n_positive` (flooded rows) count the rows drawn, unweighted; `too_few_events`
    says every score but the counts rests on fewer than MIN_EVENTS flooded rows.
    """
    prob, observed, weight = (np.asarray(a, float) for a in (prob, observed, weight))
    both_classes = 0 < observed.sum() < len(observed)
    table = reliability_table(prob, observed, weight)
    gap = (table["forecast_mean"] - table["observed_frequency"]).abs()
    return {
        "n_rows": len(observed),
        "n_positive": int(observed.sum()),
        "too_few_events": too_few_events(int(observed.sum())),
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


# Scores for many weightings of the same rows at once, e.g. the replicates of a bootstrap: `weights`
# is (replicates, rows), and each score comes back as (replicates,). The forecasts and outcomes are
# shared, so each is one matrix product or one sort for all replicates, where calling `scores` once
# per replicate would redo the sort (ROC AUC) or the xarray plumbing (Brier) every time; the tests
# check each row against `scores` (or scikit-learn for average precision).


def _replicate_weights(weights: np.ndarray, n_rows: int) -> np.ndarray:
    weights = np.atleast_2d(np.asarray(weights, float))
    if weights.shape[1] != n_rows:
        raise ValueError(f"`weights` must be (replicates, {n_rows} rows), got shape {weights.shape}")
    return weights


def weighted_brier(prob: np.ndarray, observed: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Brier score (0 perfect) under each row of `weights` (replicates, rows), unitless; (replicates,).

    Row k is scores' `brier_score(prob, observed, weights=weights[k])`; NaN where a row weighs nothing.
    """
    prob, observed = np.asarray(prob, float), np.asarray(observed, float)
    weights = _replicate_weights(weights, len(prob))
    return ratio_or_nan(weights @ (prob - observed) ** 2, weights.sum(axis=1))


def _tie_groups(values: np.ndarray) -> np.ndarray:
    """Start of each run of equal values in sorted `values`."""
    return np.flatnonzero(np.r_[True, np.diff(values) != 0])


def weighted_roc_auc(prob: np.ndarray, observed: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Area under the ROC curve under each row of `weights` (replicates, rows), unitless; (replicates,).

    The weighted Mann-Whitney statistic, ties counting one half, as scores' `roc_auc` computes it
    (Hanley and McNeil 1982), sorted once for all rows. NaN where a row weighs no event or no non-event.
    """
    prob, event = np.asarray(prob, float), np.asarray(observed) == 1
    weights = _replicate_weights(weights, len(prob))
    order = np.argsort(prob, kind="stable")
    starts = _tie_groups(prob[order])
    positive = np.add.reduceat(weights[:, order] * event[order], starts, axis=1)
    negative = np.add.reduceat(weights[:, order] * ~event[order], starts, axis=1)
    below = np.cumsum(negative, axis=1) - negative  # non-event weight under each tie group
    pairs = positive.sum(axis=1) * negative.sum(axis=1)
    return ratio_or_nan((positive * (below + 0.5 * negative)).sum(axis=1), pairs)


def weighted_average_precision(prob: np.ndarray, observed: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Area under the precision-recall curve (average precision) under each row of `weights`
    (replicates, rows), unitless; (replicates,).

    scikit-learn's `average_precision_score` with `sample_weight=weights[k]` for row k: precision
    at each distinct probability, from the highest down, times the recall it adds. NaN where a
    row weighs no event.
    """
    prob, event = np.asarray(prob, float), np.asarray(observed) == 1
    weights = _replicate_weights(weights, len(prob))
    order = np.argsort(-prob, kind="stable")
    starts = _tie_groups(prob[order])
    hits = np.cumsum(np.add.reduceat(weights[:, order] * event[order], starts, axis=1), axis=1)
    alerts = np.cumsum(np.add.reduceat(weights[:, order], starts, axis=1), axis=1)
    added = np.diff(hits, axis=1, prepend=0.0)
    precision = ratio_or_nan(hits, alerts)
    return ratio_or_nan(np.where(added > 0, added * precision, 0.0).sum(axis=1), hits[:, -1])


def weighted_reliability_error(prob: np.ndarray, observed: np.ndarray, weights: np.ndarray,
                               bin_low: np.ndarray) -> np.ndarray:
    """Mean |forecast - observed frequency| over probability bins (each bin counts once) under each
    row of `weights` (replicates, rows), unitless; (replicates,).

    Bins start at the increasing `bin_low` (from `reliability_table`, so its merged bins), the
    last runs to 1. A bin a row weighs nothing is left out; with the table's own weights this is
    `flood_scores`' `reliability_error`.
    """
    prob, observed = np.asarray(prob, float), np.asarray(observed, float)
    weights = _replicate_weights(weights, len(prob))
    member = np.clip(np.searchsorted(np.asarray(bin_low, float), prob, side="right") - 1, 0, None)
    inside = np.eye(len(bin_low))[member]  # (rows, bins)
    weight = weights @ inside
    gap = np.abs(ratio_or_nan(weights @ (inside * prob[:, None]), weight)
                 - ratio_or_nan(weights @ (inside * observed[:, None]), weight))
    counted = np.isfinite(gap).sum(axis=1)
    return ratio_or_nan(np.nansum(gap, axis=1), counted.astype(float))


def weighted_contingency_counts(alert: np.ndarray, event: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Weighted contingency counts of `alert` against `event`, both (thresholds, rows) bool, under each
    row of `weights` (replicates, rows): scores' keys (tp_count, fp_count, fn_count, tn_count,
    total_count), each (replicates, thresholds), for `contingency_table`."""
    alert, event = np.broadcast_arrays(np.atleast_2d(alert).astype(bool), np.atleast_2d(event).astype(bool))
    weights = _replicate_weights(weights, alert.shape[1])
    counts = {name: weights @ mask.T.astype(float) for name, mask in (
        ("tp_count", alert & event), ("fp_count", alert & ~event), ("fn_count", ~alert & event),
        ("tn_count", ~alert & ~event))}
    counts["total_count"] = sum(counts.values())
    return counts


def contingency_table(counts: dict[str, np.ndarray], dims: tuple[str, ...]) -> BasicContingencyManager:
    """scores' contingency table of `counts` (weighted_contingency_counts, any shape, named by `dims`).

    Ask it for `probability_of_detection()`, `false_alarm_ratio()`, `critical_success_index()`,
    `frequency_bias()`: 0/0 is NaN, and a frequency bias without events is inf. Stacking many
    tables into one call saves scores' xarray work per table.
    """
    return BasicContingencyManager({name: xr.DataArray(values, dims=dims) for name, values in counts.items()})


def _neighbourhood_fractions(values: np.ndarray, valid: np.ndarray, window_cells: int) -> np.ndarray:
    """Mean of `values` over the valid cells of each `window_cells` square window on the last two axes."""
    size = (1,) * (values.ndim - 2) + (window_cells, window_cells)
    total = uniform_filter(np.where(valid, values, 0.0), size=size, mode="constant", cval=0.0)
    count = uniform_filter(valid.astype(float), size=size, mode="constant", cval=0.0)
    return ratio_or_nan(total, np.where(valid, count, 0.0))  # counts are the share of valid cells


def fractions_skill_score(forecast: np.ndarray, observed: np.ndarray, *, window_cells: int) -> float:
    """Fractions skill score (1 perfect, 0 no skill) of `forecast` against `observed` over square
    windows of `window_cells` x `window_cells` cells, unitless; pooled over all leading dims.

    Roberts and Lean (2008), Mon. Wea. Rev. 136, 78-97: FSS = 1 - sum (Pf - Po)^2 /
    (sum Pf^2 + sum Po^2), with Pf, Po the forecast and observed fractions around each cell.
    Arrays are (..., y, x); `forecast` holds probabilities (or 0/1) in [0, 1], `observed` 0/1.
    A cell NaN in either array is outside: fractions are means over the valid cells of each
    window (edges included, no zero padding) and the sums run over valid cells, each leading
    index weighing by its cells. NaN where the reference is 0 (no event, nothing forecast).
    Written here because scores' `fss_2d` thresholds a continuous forecast and takes no mask.
    """
    forecast, observed = np.asarray(forecast, float), np.asarray(observed, float)
    if forecast.shape != observed.shape:
        raise ValueError(f"`forecast` {forecast.shape} and `observed` {observed.shape} must have one shape")
    if forecast.ndim < 2:
        raise ValueError(f"`forecast` must be (..., y, x), got shape {forecast.shape}")
    if isinstance(window_cells, bool) or not isinstance(window_cells, int | np.integer) \
            or window_cells < 1 or window_cells % 2 == 0:
        raise ValueError(f"`window_cells` must be a positive odd integer, got {window_cells!r}")
    if np.any((forecast < 0) | (forecast > 1)):
        raise ValueError("`forecast` has values outside [0, 1]")
    if np.any((observed != 0) & (observed != 1) & ~np.isnan(observed)):
        raise ValueError("`observed` must hold 0, 1 or NaN")
    squared, reference = fractions_skill_sums(forecast, observed, window_cells=window_cells)
    return float("nan") if reference == 0 else 1 - squared / reference


def fractions_skill_sums(forecast: np.ndarray, observed: np.ndarray, *, window_cells: int) -> tuple[float, float]:
    """The two sums of `fractions_skill_score`: sum (Pf - Po)^2 and sum Pf^2 + sum Po^2, so that scores of
    several parts (a backtest's origins) pool as 1 - sum of the first / sum of the second."""
    valid = ~np.isnan(forecast) & ~np.isnan(observed)
    pf = _neighbourhood_fractions(forecast, valid, window_cells)[valid]
    po = _neighbourhood_fractions(observed, valid, window_cells)[valid]
    return float(np.sum((pf - po) ** 2)), float(np.sum(pf**2) + np.sum(po**2))


def flip_flop_index(levels: np.ndarray, *, reversals_only: bool = False) -> float:
    """Share of consecutive issues whose warning level for the same target day changed (0 never), unitless.

    `levels` is (target_day, issue): row d holds the levels issued for day d by consecutive issues,
    oldest first (lead 2, lead 1, lead 0), NaN where an issue is missing. Pairs are adjacent issues
    both present (a missing issue breaks its two pairs); all pairs of all days pool into one share.
    With `reversals_only`, a change counts only when it goes the other way from the day's previous
    change (up then down, or down then up; unchanged and missing issues in between are skipped):
    the "flip-flop" of Zsoter, Buizza and Richardson (2009), Mon. Wea. Rev. 137, 3823-3836, here
    counted on levels. Not Griffiths et al. (2019)'s Flip-Flop Index, an amount in the forecast's
    units (scores' `flip_flop_index`). NaN where no pair is present.
    """
    levels = np.asarray(levels, float)
    if levels.ndim != 2:
        raise ValueError(f"`levels` must be (target_day, issue), got shape {levels.shape}")
    present = ~np.isnan(levels)
    if np.any(levels[present] != np.round(levels[present])):
        raise ValueError("`levels` must hold whole numbers or NaN")
    step = np.diff(levels, axis=1)  # NaN where either issue is missing
    pairs = np.isfinite(step)
    direction = np.sign(np.where(pairs, step, 0.0))
    counted = direction != 0
    if reversals_only:
        # index of the day's latest change strictly before each pair (-1: none yet)
        latest = np.maximum.accumulate(np.where(counted, np.arange(step.shape[1]), -1), axis=1)
        before = np.concatenate([np.full((len(latest), 1), -1), latest], axis=1)[:, :-1]
        previous = np.where(before >= 0, np.take_along_axis(direction, np.maximum(before, 0), axis=1), 0)
        counted &= previous == -direction
    return float(ratio_or_nan(np.sum(counted), np.sum(pairs)))
