import numpy as np
import pandas as pd
import pytest

from models.flood import predict_flood, train_flood_model
from models.heat import predict_heat, train_heat_models


def synthetic_table(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    rain = rng.gamma(0.5, 20, n)
    hand = rng.uniform(0, 10, n)
    tas = rng.normal(32, 1.5, n)
    risk = 1 / (1 + np.exp(-(rain / 10 - hand - 2)))
    return pd.DataFrame({
        "rain_24h_mm": rain, "hand_m": hand, "tasmax_regional_degC": tas, "lead": rng.integers(0, 3, n),
        "label": (rng.uniform(size=n) < risk).astype(int), "weight": 1.0,
        "tasmax": tas + 0.5 + rng.normal(0, 0.5, n),
    })


def split_for(n):
    return np.array(["train"] * (n * 6 // 10) + ["valid"] * (n * 2 // 10) + ["test"] * (n - n * 8 // 10))


def test_flood_model_learns_rain_on_low_ground_and_scores_the_test_rows():
    table = synthetic_table()
    booster, scores = train_flood_model(table, ["rain_24h_mm", "hand_m"], split_for(len(table)),
                                        num_boost_round=100, seed=0)
    assert scores["test"]["roc_auc"] > 0.85
    assert scores["test"]["brier_skill_vs_climatology"] > 0.2
    prob = predict_flood(booster, pd.DataFrame({"rain_24h_mm": [80.0, 0.0], "hand_m": [0.2, 9.0]}), 1.0)
    assert prob[0] > 0.5 > prob[1] and ((prob >= 0) & (prob <= 1)).all()
    assert set(scores["test_by_lead"]) == {0, 1, 2}


def test_heat_quantiles_never_cross_and_beat_the_raw_regional_forecast():
    table = synthetic_table()
    boosters, scores = train_heat_models(table, ["tasmax_regional_degC"], split_for(len(table)),
                                         quantiles=(0.1, 0.5, 0.9), num_boost_round=100, seed=0)
    q = predict_heat(boosters, table)
    assert (q[0.1] <= q[0.5]).all() and (q[0.5] <= q[0.9]).all()
    assert scores["test"]["mae_degC"] < scores["test"]["baseline_regional_mae_degC"]
    assert 0.6 < scores["test"]["interval_coverage"] < 0.95


def test_prior_correction_restores_the_population_rate():
    rng = np.random.default_rng(5)
    n = 40000
    rain = rng.gamma(0.5, 20, n)
    label = (rng.uniform(size=n) < 0.02 + 0.3 * (rain > 40)).astype(int)
    population = pd.DataFrame({"rain_24h_mm": rain, "label": label, "lead": 0})
    keep = (population["label"] == 1) | (rng.uniform(size=n) < 0.1)  # one non-flood in ten drawn
    table = population[keep].assign(weight=np.where(population["label"][keep] == 1, 1.0, 10.0))
    split = split_for(len(table))
    booster, scores = train_flood_model(table.reset_index(drop=True), ["rain_24h_mm"], split,
                                        num_boost_round=100, seed=0)
    prob = predict_flood(booster, population, scores["negative_weight"])
    assert prob.mean() == pytest.approx(population["label"].mean(), rel=0.15)


def test_unequal_negative_weights_are_refused():
    table = synthetic_table().assign(weight=lambda t: np.where(t["label"] == 0, np.arange(len(t)) + 1.0, 1.0))
    with pytest.raises(ValueError, match="`weight` of the non-flood rows must be one value"):
        train_flood_model(table, ["rain_24h_mm"], split_for(len(table)), num_boost_round=5, seed=0)


def test_training_is_bit_for_bit_reproducible():
    table = synthetic_table()
    first, _ = train_flood_model(table, ["rain_24h_mm", "hand_m"], split_for(len(table)),
                                 num_boost_round=50, seed=3)
    second, _ = train_flood_model(table, ["rain_24h_mm", "hand_m"], split_for(len(table)),
                                  num_boost_round=50, seed=3)
    assert first.model_to_string() == second.model_to_string()
