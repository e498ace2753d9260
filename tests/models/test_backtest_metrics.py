"""Scores under many weightings at once (models.verification), against hand sums, `scores` and scikit-learn."""

import numpy as np
import pytest
import xarray as xr
from scores.probability import brier_score as scores_brier
from scores.probability import roc_auc as scores_roc_auc
from sklearn.metrics import average_precision_score

from models.verification import (
    contingency_table,
    flood_scores,
    reliability_table,
    weighted_average_precision,
    weighted_brier,
    weighted_contingency_counts,
    weighted_reliability_error,
    weighted_roc_auc,
)

PROB = np.array([0.1, 0.4, 0.35, 0.8])
OBS = np.array([0, 0, 1, 1])
TWO = np.array([[1.0, 1, 1, 1], [0, 1, 1, 1]])  # all rows; the first row left out


def _random(n: int = 300, replicates: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    prob = np.round(rng.random(n), 2)  # ties on purpose
    observed = (rng.random(n) < prob * 0.6).astype(float)
    weights = rng.poisson(1.0, (replicates, n)) * rng.uniform(1, 20, n)
    return prob, observed, weights


def test_roc_auc_is_hand_computed_for_each_weighting():
    # all rows: pairs (0.35 vs 0.1, 0.4), (0.8 vs 0.1, 0.4) win 3 of 4; without 0.1: 1 of 2
    np.testing.assert_allclose(weighted_roc_auc(PROB, OBS, TWO), [0.75, 0.5])


def test_average_precision_is_hand_computed_for_each_weighting():
    # all rows, from the top: 0.8 hit (P 1, R 1/2), 0.4 miss, 0.35 hit (P 2/3, R 1): 1/2 + 1/3
    np.testing.assert_allclose(weighted_average_precision(PROB, OBS, TWO), [5 / 6, 5 / 6])


def test_brier_is_the_weighted_mean_squared_error_of_each_weighting():
    np.testing.assert_allclose(weighted_brier(PROB, OBS, TWO),
                               [(0.01 + 0.16 + 0.4225 + 0.04) / 4, (0.16 + 0.4225 + 0.04) / 3])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_weighting_matches_scores_and_scikit_learn_with_ties(seed):
    prob, observed, weights = _random(seed=seed)
    auc, ap = weighted_roc_auc(prob, observed, weights), weighted_average_precision(prob, observed, weights)
    brier = weighted_brier(prob, observed, weights)
    row = {"dims": "row"}
    for k, w in enumerate(weights):
        expected_auc = scores_roc_auc(xr.DataArray(prob, **row), xr.DataArray(observed, **row),
                                      weights=xr.DataArray(w, **row))
        assert auc[k] == pytest.approx(float(expected_auc), abs=1e-12)
        assert ap[k] == pytest.approx(average_precision_score(observed, prob, sample_weight=w), abs=1e-12)
        expected_brier = scores_brier(xr.DataArray(prob, **row), xr.DataArray(observed, **row),
                                      weights=xr.DataArray(w, **row))
        assert brier[k] == pytest.approx(float(expected_brier), abs=1e-12)


def test_reliability_error_with_the_tables_bins_is_flood_scores_value():
    prob, observed, weights = _random(n=2000)
    table = reliability_table(prob, observed, weights[0])
    error = weighted_reliability_error(prob, observed, weights, table["bin_low"].to_numpy())
    assert error[0] == pytest.approx(flood_scores(prob, observed, weights[0], 0.1, threshold=0.5)["reliability_error"])
    assert np.isfinite(error).all()


def test_ranking_scores_are_nan_for_a_weighting_without_events():
    weights = np.array([[1.0, 1, 0, 0]])  # only the non-events
    assert np.isnan(weighted_roc_auc(PROB, OBS, weights)).all()
    assert np.isnan(weighted_average_precision(PROB, OBS, weights)).all()


def test_contingency_scores_at_two_thresholds_are_hand_computed():
    alert = np.stack([PROB >= 0.3, PROB >= 0.5])  # 0.3: 2 hits, 1 false alarm; 0.5: 1 hit, 1 miss
    counts = weighted_contingency_counts(alert, OBS == 1, TWO)
    np.testing.assert_allclose(counts["tp_count"], [[2, 1], [2, 1]])
    np.testing.assert_allclose(counts["total_count"], [[4, 4], [3, 3]])
    table = contingency_table(counts, ("replicate", "threshold"))
    np.testing.assert_allclose(table.probability_of_detection().values[0], [1.0, 0.5])
    np.testing.assert_allclose(table.false_alarm_ratio().values[0], [1 / 3, 0.0])
    np.testing.assert_allclose(table.critical_success_index().values[0], [2 / 3, 0.5])
    np.testing.assert_allclose(table.frequency_bias().values[0], [1.5, 0.5])


def test_weights_must_have_a_column_per_row():
    with pytest.raises(ValueError, match=r"`weights` must be \(replicates, 4 rows\), got shape \(1, 3\)"):
        weighted_brier(PROB, OBS, np.ones(3))


def test_inputs_are_left_unmodified():
    prob, observed, weights = _random()
    before = [a.copy() for a in (prob, observed, weights)]
    weighted_roc_auc(prob, observed, weights)
    weighted_average_precision(prob, observed, weights)
    for a, b in zip((prob, observed, weights), before, strict=True):
        np.testing.assert_array_equal(a, b)
