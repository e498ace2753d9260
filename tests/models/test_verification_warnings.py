"""Scores of warning maps and warning sequences (models.verification): FSS and the flip-flop index."""

import numpy as np
import pytest
from scores.spatial import fss_2d_single_field

from models.verification import flip_flop_index, fractions_skill_score


def _event(shape, *cells) -> np.ndarray:
    field = np.zeros(shape)
    for cell in cells:
        field[cell] = 1.0
    return field


def test_identical_fields_score_one():
    field = _event((12, 12), (3, 4), (3, 5), (8, 8))
    assert fractions_skill_score(field, field, window_cells=3) == pytest.approx(1.0)
    assert fractions_skill_score(field * 1.0, field, window_cells=1) == pytest.approx(1.0)


def test_disjoint_far_apart_events_score_zero_at_window_one():
    forecast, observed = _event((12, 12), (1, 1)), _event((12, 12), (10, 10))
    assert fractions_skill_score(forecast, observed, window_cells=1) == pytest.approx(0.0)


def test_an_event_shifted_by_one_cell_gains_skill_in_a_wider_window():
    forecast, observed = _event((21, 21), (10, 11)), _event((21, 21), (10, 10))
    assert fractions_skill_score(forecast, observed, window_cells=1) == pytest.approx(0.0)
    # 5x5 squares of 1/25 overlapping on 5x4 cells: 1 - 10/50 = 1 - shift/window
    assert fractions_skill_score(forecast, observed, window_cells=5) == pytest.approx(0.8)


def test_binary_fields_away_from_the_edge_match_scores_fss():
    rng = np.random.default_rng(1)
    forecast, observed = np.zeros((30, 30)), np.zeros((30, 30))
    forecast[5:25, 5:25] = rng.random((20, 20)) < 0.2
    observed[5:25, 5:25] = rng.random((20, 20)) < 0.2
    expected = fss_2d_single_field(forecast, observed, event_threshold=0.5, window_size=(5, 5),
                                   zero_padding=True)
    assert fractions_skill_score(forecast, observed, window_cells=5) == pytest.approx(float(expected))


def test_hand_computed_case_with_a_nan_cell():
    # one row; window 3 sees the row only. Cell 3 is NaN in `observed`, so outside in both.
    forecast = np.array([[1.0, 0.0, 0.0, 1.0]])
    observed = np.array([[0.0, 1.0, 0.0, np.nan]])
    # fractions over valid cells: Pf = 1/2, 1/3, 0 ; Po = 1/2, 1/3, 1/2
    # sum (Pf - Po)^2 = 1/4 ; reference = (1/4 + 1/9) + (1/4 + 1/9 + 1/4) = 35/36
    assert fractions_skill_score(forecast, observed, window_cells=3) == pytest.approx(1 - 9 / 35)


def test_probabilities_score_against_binary_observations():
    forecast, observed = np.array([[0.5, 0.0]]), np.array([[1.0, 0.0]])
    # window 1: sum (Pf - Po)^2 = 1/4 ; reference = 1/4 + 1
    assert fractions_skill_score(forecast, observed, window_cells=1) == pytest.approx(1 - 0.25 / 1.25)


def test_leading_dims_pool_their_sums():
    hit = _event((5, 5), (2, 2))
    forecast = np.stack([hit, np.zeros((5, 5))])
    observed = np.stack([hit, hit])  # second field: a miss
    # window 1: sum (Pf - Po)^2 = 1 ; reference = 1 + 2
    assert fractions_skill_score(forecast, observed, window_cells=1) == pytest.approx(1 - 1 / 3)


def test_no_event_and_nothing_forecast_is_nan():
    zeros = np.zeros((4, 4))
    assert np.isnan(fractions_skill_score(zeros, zeros, window_cells=3))


def test_fss_leaves_inputs_unmodified():
    forecast, observed = np.array([[0.5, np.nan]]), np.array([[1.0, 0.0]])
    fractions_skill_score(forecast, observed, window_cells=1)
    np.testing.assert_array_equal(forecast, [[0.5, np.nan]])


@pytest.mark.parametrize("window_cells", [0, 2, -3, 1.0, True])
def test_window_must_be_a_positive_odd_integer(window_cells):
    with pytest.raises(ValueError, match="`window_cells` must be a positive odd integer"):
        fractions_skill_score(np.zeros((3, 3)), np.zeros((3, 3)), window_cells=window_cells)


@pytest.mark.parametrize(("forecast", "observed", "message"), [
    (np.zeros((3, 3)), np.zeros((3, 4)), "must have one shape"),
    (np.zeros(3), np.zeros(3), r"`forecast` must be \(\.\.\., y, x\)"),
    (np.full((3, 3), 1.5), np.zeros((3, 3)), "`forecast` has values outside"),
    (np.zeros((3, 3)), np.full((3, 3), 0.5), "`observed` must hold 0, 1 or NaN"),
])
def test_fss_rejects_bad_fields(forecast, observed, message):
    with pytest.raises(ValueError, match=message):
        fractions_skill_score(forecast, observed, window_cells=1)


# (target_day, issue): levels issued for each day at lead 2, lead 1, lead 0
STEADY = [[1, 1, 1], [2, 2, 2]]


def test_unchanged_levels_have_index_zero():
    assert flip_flop_index(np.array(STEADY)) == 0.0


def test_index_is_the_share_of_pairs_that_change():
    levels = np.array([[0, 1, 2], [1, 1, 1], [2, 1, 2]])  # changes: 2 + 0 + 2 of 6 pairs
    assert flip_flop_index(levels) == pytest.approx(4 / 6)


def test_reversals_count_only_changes_that_turn_back():
    levels = np.array([[0, 1, 2], [1, 1, 1], [2, 1, 2]])  # a trend, steady, a down-up flip-flop
    assert flip_flop_index(levels, reversals_only=True) == pytest.approx(1 / 6)


def test_a_reversal_looks_past_unchanged_issues():
    levels = np.array([[1, 2, 2, 1, 1, 3]])  # up, -, down (reversal), -, up (reversal)
    assert flip_flop_index(levels) == pytest.approx(3 / 5)
    assert flip_flop_index(levels, reversals_only=True) == pytest.approx(2 / 5)


def test_missing_issues_break_their_pairs():
    levels = np.array([[1, np.nan, 2, 1], [np.nan, np.nan, np.nan, np.nan]])  # one pair: 2 -> 1
    assert flip_flop_index(levels) == 1.0
    assert flip_flop_index(levels, reversals_only=True) == 0.0  # no change before it that day


def test_reversals_do_not_carry_across_target_days():
    levels = np.array([[0, 1], [1, 0]])  # up on one day, down on the next: no flip-flop
    assert flip_flop_index(levels, reversals_only=True) == 0.0


def test_no_pair_present_is_nan():
    assert np.isnan(flip_flop_index(np.array([[1.0, np.nan], [np.nan, 2.0]])))
    assert np.isnan(flip_flop_index(np.array([[1], [2]])))


def test_flip_flop_rejects_bad_levels():
    with pytest.raises(ValueError, match=r"`levels` must be \(target_day, issue\)"):
        flip_flop_index(np.array([1, 2, 1]))
    with pytest.raises(ValueError, match="`levels` must hold whole numbers"):
        flip_flop_index(np.array([[1, 1.5]]))
