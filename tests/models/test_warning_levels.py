"""Warning levels from chance (models.warning.levels), on hand-made sequences of issues."""

import numpy as np
import pytest

from models.warning.levels import hysteresis_levels, levels_from_chance

THRESHOLDS = (0.2, 0.5)
# One target, consecutive issues: the chance hovers around the level-1 threshold.
HOVER = np.array([0.22, 0.18, 0.21, 0.19, 0.2, 0.17])


def test_levels_count_the_thresholds_reached():
    chance = np.array([0.0, 0.19, 0.2, 0.49, 0.5, 1.0])
    np.testing.assert_array_equal(levels_from_chance(chance, THRESHOLDS), [0, 0, 1, 1, 2, 2])


def test_levels_are_int8_and_keep_the_shape():
    levels = levels_from_chance(np.full((3, 4), 0.3), THRESHOLDS)
    assert levels.dtype == np.int8 and levels.shape == (3, 4)


def test_nan_chance_is_level_zero():
    np.testing.assert_array_equal(levels_from_chance(np.array([np.nan, 0.6]), THRESHOLDS), [0, 2])


def test_plain_levels_flip_where_hysteresis_keeps_level_one():
    np.testing.assert_array_equal(levels_from_chance(HOVER, THRESHOLDS), [1, 0, 1, 0, 1, 0])
    # hold down to 0.8 x 0.2 = 0.16: every later issue stays >= 0.16
    np.testing.assert_array_equal(hysteresis_levels(HOVER, THRESHOLDS, hold_share=0.8), [1] * 6)


def test_hysteresis_does_not_enter_a_level_below_its_threshold():
    chance = np.array([0.1, 0.18, 0.45, 0.49, 0.5])  # 0.18 is holdable, not enterable; 0.45 likewise for 2
    np.testing.assert_array_equal(hysteresis_levels(chance, THRESHOLDS, hold_share=0.8), [0, 0, 1, 1, 2])


def test_level_two_is_held_then_falls_to_the_level_still_held():
    chance = np.array([0.5, 0.41, 0.39, 0.17, 0.15])
    # 2 entered; 0.41 >= 0.4 holds 2; 0.39 holds only 1 (>= 0.16); 0.17 holds 1; 0.15 holds nothing
    np.testing.assert_array_equal(hysteresis_levels(chance, THRESHOLDS, hold_share=0.8), [2, 2, 1, 1, 0])


def test_falling_far_below_drops_straight_to_zero():
    chance = np.array([0.9, 0.01, 0.3])
    np.testing.assert_array_equal(hysteresis_levels(chance, THRESHOLDS, hold_share=0.8), [2, 0, 1])


def test_hold_share_one_is_no_hysteresis():
    np.testing.assert_array_equal(hysteresis_levels(HOVER, THRESHOLDS, hold_share=1.0),
                                  levels_from_chance(HOVER, THRESHOLDS))


def test_hysteresis_runs_along_the_first_axis_for_every_target():
    chance = np.stack([HOVER, HOVER[::-1]], axis=1)  # (issue, target)
    levels = hysteresis_levels(chance, THRESHOLDS, hold_share=0.8)
    np.testing.assert_array_equal(levels[:, 0], hysteresis_levels(HOVER, THRESHOLDS, hold_share=0.8))
    np.testing.assert_array_equal(levels[:, 1], hysteresis_levels(HOVER[::-1], THRESHOLDS, hold_share=0.8))
    np.testing.assert_array_equal(levels[:, 1], [0, 1, 1, 1, 1, 1])  # 0.17 first: nothing to hold


def test_nan_chance_clears_a_held_level():
    chance = np.array([0.3, np.nan, 0.18])
    np.testing.assert_array_equal(hysteresis_levels(chance, THRESHOLDS, hold_share=0.8), [1, 0, 0])


def test_inputs_are_left_unmodified():
    chance = HOVER.copy()
    hysteresis_levels(chance, THRESHOLDS, hold_share=0.8)
    levels_from_chance(chance, THRESHOLDS)
    np.testing.assert_array_equal(chance, HOVER)


@pytest.mark.parametrize("thresholds", [(0.5, 0.2), (0.2, 0.2), (0.0, 0.5), (0.5, 1.1), ()])
def test_thresholds_must_increase_strictly_within_zero_one(thresholds):
    with pytest.raises(ValueError, match="`thresholds`"):
        levels_from_chance(HOVER, thresholds)
    with pytest.raises(ValueError, match="`thresholds`"):
        hysteresis_levels(HOVER, thresholds, hold_share=0.8)


@pytest.mark.parametrize("hold_share", [0.0, 1.5, -0.1])
def test_hold_share_must_lie_in_zero_one(hold_share):
    with pytest.raises(ValueError, match="`hold_share` must be in"):
        hysteresis_levels(HOVER, THRESHOLDS, hold_share=hold_share)


def test_chance_outside_zero_one_is_rejected():
    with pytest.raises(ValueError, match="`chance` has values outside"):
        levels_from_chance(np.array([0.1, 1.2]), THRESHOLDS)


def test_a_scalar_chance_has_no_issue_axis():
    with pytest.raises(ValueError, match="`chance` must have an issue axis"):
        hysteresis_levels(np.float64(0.3), THRESHOLDS, hold_share=0.8)
