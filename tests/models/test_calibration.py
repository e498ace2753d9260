import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.calibration import (
    Calibration,
    choose_calibration,
    day_folds,
    fit_isotonic,
    fit_platt,
    prior_correction,
)


def sample(n=20000, seed=0, shape="logistic"):
    """Raw scores and outcomes whose true probability is a known function of the score."""
    rng = np.random.default_rng(seed)
    raw = rng.uniform(0.01, 0.99, n)
    truth = 1 / (1 + np.exp(-(2 * np.log(raw / (1 - raw)) - 3))) if shape == "logistic" else (raw > 0.7) * 0.6
    return raw, (rng.uniform(size=n) < truth).astype(int), np.ones(n), truth


def test_platt_recovers_a_logistic_relation():
    raw, observed, weight, _ = sample()
    calibration = fit_platt(raw, observed, weight)
    assert calibration.slope == pytest.approx(2, rel=0.1)
    assert calibration.intercept == pytest.approx(-3, rel=0.1)


def test_isotonic_is_chosen_for_a_step_and_platt_for_a_logistic_relation():
    raw, observed, weight, _ = sample(shape="step")
    fold = (np.arange(raw.size) >= raw.size // 2).astype(int)
    chosen, brier = choose_calibration(raw, observed, weight, fold)
    assert chosen.method == "isotonic" and brier["isotonic"] < brier["platt"]
    raw, observed, weight, _ = sample(seed=1)
    chosen, brier = choose_calibration(raw, observed, weight, fold)
    assert chosen.method == "platt"


def test_prior_correction_divides_the_odds_by_the_negative_weight():
    calibration = prior_correction(10.0)
    np.testing.assert_allclose(calibration(np.array([0.5])), [1 / 11])


def test_weights_count_as_repeated_rows():
    raw = np.array([0.2, 0.2, 0.8, 0.8])
    observed = np.array([0, 1, 0, 1])
    weighted = fit_isotonic(raw, observed, np.array([3.0, 1.0, 1.0, 1.0]))
    np.testing.assert_allclose(weighted(np.array([0.2, 0.8])), [0.25, 0.5])


@given(knots=st.lists(st.floats(0, 1), min_size=2, max_size=8), raw=st.lists(st.floats(0, 1), min_size=2))
def test_every_calibration_stays_in_unit_interval_and_monotone(knots, raw):
    raw = np.sort(np.array(raw))
    y = np.sort(np.array(knots))
    maps = [Calibration("isotonic", knots_raw=tuple(np.linspace(0, 1, y.size)), knots_prob=tuple(y)),
            Calibration("platt", slope=0.7, intercept=-4.0), prior_correction(500.0),
            Calibration("isotonic", knots_raw=tuple(np.linspace(0, 1, y.size)), knots_prob=tuple(y),
                        report_rate=0.1)]
    for calibration in maps:
        prob = calibration(raw)
        assert ((prob >= 0) & (prob <= 1)).all()
        assert (np.diff(prob) >= -1e-12).all()


def test_fitted_maps_are_monotone_even_on_noisy_data():
    rng = np.random.default_rng(3)
    raw, observed = rng.uniform(size=500), rng.integers(0, 2, 500)
    grid = np.linspace(0, 1, 101)
    for fit in (fit_isotonic, fit_platt):
        prob = fit(raw, observed, np.ones(500))(grid)
        assert (np.diff(prob) >= 0).all() and prob.min() >= 0 and prob.max() <= 1


def test_a_calibration_round_trips_through_a_card():
    calibration = fit_isotonic(*sample(n=500)[:3])
    again = Calibration.from_dict(calibration.to_dict())
    assert again == calibration


def test_day_folds_keep_days_whole_and_share_the_flood_days_even_when_floods_cluster():
    rng = np.random.default_rng(0)
    day = np.repeat(np.arange(100), 30)
    observed = ((day >= 80) & (rng.uniform(size=day.size) < 0.2)).astype(int)  # all floods in the last fifth
    fold = day_folds(day, observed)
    for d in range(100):
        assert len(set(fold[day == d])) == 1  # no day in both folds
    flood_days = np.unique(day[observed == 1])
    per_fold = [len(np.unique(day[(observed == 1) & (fold == k)])) for k in (0, 1)]
    assert abs(per_fold[0] - per_fold[1]) <= 1 and sum(per_fold) == len(flood_days)
    assert abs(int((fold == 0).sum()) - int((fold == 1).sum())) <= 2 * 30
    halves = (day >= 50).astype(int)  # the old split: the first fold holds no flood
    assert observed[halves == 0].sum() == 0 and min(observed[fold == k].sum() for k in (0, 1)) > 0
    raw = np.clip(0.3 * observed + rng.uniform(0, 0.7, day.size), 0, 1)
    _, brier = choose_calibration(raw, observed, np.ones(day.size), fold)
    assert np.isfinite(list(brier.values())).all()


def test_calibration_without_floods_is_refused():
    with pytest.raises(ValueError, match="no flooded rows in the calibration period"):
        choose_calibration(np.full(4, 0.1), np.zeros(4), np.ones(4), np.array([0, 0, 1, 1]))


def test_the_report_rate_turns_a_reported_flood_chance_into_a_flood_chance_capped_at_one():
    reported = Calibration("isotonic", knots_raw=(0.0, 1.0), knots_prob=(0.0, 0.5))
    flood = Calibration("isotonic", knots_raw=(0.0, 1.0), knots_prob=(0.0, 0.5), report_rate=0.25)
    raw = np.array([0.0, 0.1, 0.4, 0.5, 1.0])
    np.testing.assert_allclose(flood(raw), np.minimum(reported(raw) / 0.25, 1.0))
    np.testing.assert_allclose(flood(raw), [0.0, 0.2, 0.8, 1.0, 1.0])
    assert Calibration.from_dict(flood.to_dict()) == flood
