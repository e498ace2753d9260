import numpy as np
import pytest

from models.heat.scores import crps_from_quantiles, point_scores, quantile_ensemble, quantile_scores

OBS = np.array([30.0, 32.0, 34.0, 36.0])


def test_point_scores_on_a_hand_computed_series():
    s = point_scores(OBS + np.array([1.0, -1.0, 1.0, 3.0]), OBS)
    assert s["mae_degC"] == pytest.approx(1.5) and s["crps_degC"] == pytest.approx(1.5)
    assert s["rmse_degC"] == pytest.approx(np.sqrt(3.0))
    assert s["bias_degC"] == pytest.approx(1.0)
    assert s["rmse_hottest_10pct_degC"] == pytest.approx(3.0)  # only the 36 degC day is in the top 10 %


def test_the_quantile_ensemble_passes_through_the_quantiles():
    ensemble = quantile_ensemble({0.1: np.array([29.0]), 0.5: np.array([30.0]), 0.9: np.array([33.0])}, 9)
    assert ensemble[0, 4] == pytest.approx(30.0)  # level 0.5
    assert ensemble[0, 0] == pytest.approx(30.0 - 1.0 / 1.2816 * 1.5932, rel=1e-3)  # level 0.5/9, below
    assert np.all(np.diff(ensemble[0]) > 0)


def test_crps_of_a_sharp_forecast_is_its_absolute_error():
    sharp = {q: OBS + 0.5 for q in (0.1, 0.5, 0.9)}
    assert crps_from_quantiles(sharp, OBS) == pytest.approx(0.5)


def test_crps_of_a_calibrated_normal_is_about_its_known_value():
    rng = np.random.default_rng(0)
    observed = rng.normal(0, 1, 20000)
    normal = {0.1: np.full(20000, -1.2816), 0.5: np.zeros(20000), 0.9: np.full(20000, 1.2816)}
    # CRPS of N(0, 1) against its own draws: 1/sqrt(pi) = 0.564
    assert crps_from_quantiles(normal, observed) == pytest.approx(1 / np.sqrt(np.pi), abs=0.01)
    assert quantile_scores(normal, observed)["interval_coverage"] == pytest.approx(0.8, abs=0.01)


def test_the_quantile_ensemble_needs_a_median_and_both_sides():
    with pytest.raises(ValueError, match="`quantiles` must hold 0.5 and a level on each side"):
        quantile_ensemble({0.5: OBS, 0.9: OBS})
