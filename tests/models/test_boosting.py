"""fit_booster, the validation loss after each round, and the round early stopping keeps."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from models.boosting import early_stopping_iteration, feature_matrix, fit_booster, validation_loss

FEATURES = ["rain_mm", "hand_m", "noise"]
PARAMS = {"objective": "binary", "learning_rate": 0.3, "num_leaves": 31, "min_data_in_leaf": 5,
          "num_threads": 1, "deterministic": True, "force_row_wise": True, "verbose": -1, "seed": 3}


def table(rows: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Rows of FEATURES and a 0/1 label that floods with rain over low ground, plus noise."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.standard_normal((rows, len(FEATURES))), columns=FEATURES)
    y = pd.Series((X["rain_mm"] - X["hand_m"] + rng.standard_normal(rows) > 1).astype(float))
    return X, y


def test_fit_booster_fits_what_lgb_train_with_early_stopping_fits():
    X, y = table(500, seed=9)
    valid = table(200, seed=10)
    train = lgb.Dataset(X, y)
    expected = lgb.train(PARAMS, train, num_boost_round=30, valid_sets=[lgb.Dataset(*valid, reference=train)],
                         callbacks=[lgb.early_stopping(4, verbose=False)])
    fitted = fit_booster(PARAMS, X, y, num_boost_round=30, valid=valid, early_stopping_rounds=4)
    assert fitted.model_to_string() == expected.model_to_string()
    assert fitted.best_iteration == expected.best_iteration


@pytest.mark.parametrize("params", [PARAMS, {**PARAMS, "objective": "quantile", "alpha": 0.9}],
                         ids=["binary", "quantile"])
def test_validation_loss_is_lightgbms_own_metric_after_each_round(params):
    X, y = table(500, seed=5)
    valid = table(300, seed=6)
    if params["objective"] == "quantile":
        y, valid = X["rain_mm"] + y, (valid[0], valid[0]["rain_mm"] + valid[1])
    recorded = {}
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=30,
                        valid_sets=[lgb.Dataset(*valid)], valid_names=["valid"],
                        callbacks=[lgb.record_evaluation(recorded)])
    (metric,) = recorded["valid"].values()
    np.testing.assert_allclose(validation_loss(booster, *valid), metric, rtol=1e-6)


def test_validation_loss_refuses_an_objective_without_a_known_metric():
    X, y = table(100, seed=1)
    booster = lgb.train({**PARAMS, "objective": "poisson"}, lgb.Dataset(X, y), num_boost_round=2)
    with pytest.raises(ValueError, match="no validation metric for objective 'poisson'"):
        validation_loss(booster, X, y)


def test_early_stopping_iteration_is_the_round_lightgbm_keeps():
    X, y = table(300, seed=7)  # few rows, deep trees, fast learning: the validation loss turns up
    valid = table(300, seed=8)
    stopped = fit_booster(PARAMS, X, y, num_boost_round=60, valid=valid, early_stopping_rounds=4)
    full = fit_booster(PARAMS, X, y, num_boost_round=60)
    assert stopped.current_iteration() < 60  # it did stop early
    assert early_stopping_iteration(validation_loss(full, *valid), 4) == stopped.best_iteration


def test_early_stopping_iteration_waits_the_given_rounds_for_a_better_loss():
    losses = np.array([5.0, 4.0, 4.5, 4.2, 3.0, 3.5, 3.6, 3.7, 2.0])
    assert early_stopping_iteration(losses, 3) == 5  # 3.0 at round 5; 2.0 comes after 3 worse rounds
    assert early_stopping_iteration(losses, 4) == 9
    assert early_stopping_iteration(losses[:2], 3) == 2


def test_a_fit_needs_both_or_neither_of_valid_and_early_stopping_rounds():
    with pytest.raises(ValueError, match="`valid` and `early_stopping_rounds` go together"):
        fit_booster(PARAMS, *table(50, seed=1), num_boost_round=2, valid=table(50, seed=2))


def test_feature_matrix_keeps_float32_only_when_every_column_fits():
    frame = pd.DataFrame({"a": np.float32([0.1, 0.2]), "lead": np.int8([0, 1]), "b": np.float32([3, 4])})
    matrix = feature_matrix(frame, ["b", "lead"])
    assert matrix.dtype == np.float32 and matrix.flags.c_contiguous
    np.testing.assert_array_equal(matrix, [[3, 0], [4, 1]])
    assert feature_matrix(frame.assign(lead=np.int64([0, 1])), ["a", "lead"]).dtype == np.float64
    assert feature_matrix(frame.assign(b=np.float64([0.1, 0.2])), ["b"]).dtype == np.float64


def test_fit_booster_calls_its_callbacks_after_every_round():
    X, y = table(200, seed=4)
    rounds = []
    fit_booster(PARAMS, X, y, num_boost_round=7, callbacks=[lambda env: rounds.append(env.iteration)])
    assert rounds == list(range(7))
