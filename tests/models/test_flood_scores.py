import numpy as np
import pandas as pd
import pytest

from models.flood import evaluate_flood
from models.verification import (
    brier_score,
    brier_skill_score,
    contingency_scores,
    flood_scores,
    reliability_table,
)

PROB = np.array([0.9, 0.6, 0.2, 0.1])
OBS = np.array([1, 0, 1, 0])


def test_weighted_brier_counts_a_weight_as_repeated_rows():
    assert brier_score(PROB, OBS, np.array([1, 1, 1, 2.0])) == pytest.approx(
        (0.01 + 0.36 + 0.64 + 2 * 0.01) / 5)


def test_perfect_forecast_has_skill_one_and_climatology_zero():
    assert brier_skill_score(OBS.astype(float), OBS, 0.5) == pytest.approx(1.0)
    assert brier_skill_score(np.full(4, 0.5), OBS, 0.5) == pytest.approx(0.0)


def test_contingency_at_the_threshold_is_hand_computed():
    scores = contingency_scores(PROB, OBS, np.ones(4), 0.5)  # 1 hit, 1 miss, 1 false alarm
    assert scores == pytest.approx({"pod": 0.5, "far": 0.5, "csi": 1 / 3})


def test_no_alert_leaves_far_undefined():
    assert np.isnan(contingency_scores(PROB, OBS, np.ones(4), 0.95)["far"])


def test_sparse_reliability_bins_merge_so_every_bin_has_enough_rows():
    rng = np.random.default_rng(0)
    prob = np.concatenate([rng.uniform(0, 0.001, 500), [0.5] * 10])
    table = reliability_table(prob, (rng.uniform(size=prob.size) < prob).astype(int), np.ones(prob.size))
    assert (table["n_rows"] >= 50).all() and table["n_rows"].sum() == prob.size


def test_flood_scores_hold_every_headline_metric():
    scores = flood_scores(PROB, OBS, np.ones(4), 0.5, threshold=0.5)
    for key in ("roc_auc", "pr_auc", "brier", "brier_skill_vs_climatology", "pod", "far", "csi",
                "reliability_error", "reliability"):
        assert key in scores
    assert scores["roc_auc"] == pytest.approx(0.75)


def test_evaluation_splits_wet_days_and_leads():
    rows = pd.DataFrame({"lead": [0, 0, 1, 1], "weight": 1.0, "wet_day": [True, False, True, False]})
    result = evaluate_flood({"model": PROB}, rows, OBS.astype(float), {"all": 0.5, "wet": 0.5}, threshold=0.5)
    assert set(result) == {"all", "wet"} and set(result["all"]["model"]) == {"all", "0", "1"}
    assert result["wet"]["model"]["all"]["n_rows"] == 2


def _scores_on(n_events: int) -> dict:
    """flood_scores of a flat 0.1 forecast on 40 rows of which the first `n_events` flooded."""
    observed = (np.arange(40) < n_events).astype(float)
    return flood_scores(np.full(40, 0.1), observed, np.ones(40), 0.1, threshold=0.5)


def test_a_score_on_three_events_is_flagged_and_on_twelve_is_not():
    few, enough = _scores_on(3), _scores_on(12)
    assert (few["n_rows"], few["n_positive"], few["too_few_events"]) == (40, 3, True)
    assert (enough["n_rows"], enough["n_positive"], enough["too_few_events"]) == (40, 12, False)

