import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from models.flood import fit_rain_rule, flood_drivers, predict_flood, train_flood_model
from models.heat.regression import predict_heat, train_heat_models


def synthetic_table(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    rain = rng.gamma(0.5, 20, n)
    hand = rng.uniform(0, 10, n)
    tas = rng.normal(32, 1.5, n)
    risk = 1 / (1 + np.exp(-(rain / 10 - hand - 2)))
    return pd.DataFrame({
        "rain_24h_mm": rain, "hand_m": hand, "tasmax_regional_degC": tas, "lead": rng.integers(0, 3, n),
        "label": (rng.uniform(size=n) < risk).astype(int), "weight": 1.0,
        "tasmax": tas + 0.5 + rng.normal(0, 0.5, n), "issue_index": np.arange(n) // 10,
    })


def split_for(n):
    return np.array(["train"] * (n * 6 // 10) + ["valid"] * (n * 2 // 10) + ["test"] * (n - n * 8 // 10))


def calibrated_split_for(n):
    return np.array(["train"] * (n * 5 // 10) + ["valid"] * (n * 2 // 10) + ["calib"] * (n * 2 // 10)
                    + ["test"] * (n - n * 9 // 10))


def test_flood_model_learns_rain_on_low_ground_and_calibrates_on_its_own_period():
    table = synthetic_table(n=12000).assign(issue_index=lambda t: np.arange(len(t)))
    split = calibrated_split_for(len(table))
    model, fit = train_flood_model(table, ["rain_24h_mm", "hand_m"], split, num_boost_round=100, seed=0)
    assert fit["calibration"]["method"] in ("isotonic", "platt")
    assert set(fit["calibration_heldout_brier"]) == {"isotonic", "platt"}
    calib = table[split == "calib"]
    flood_days = np.unique((calib["issue_index"] + calib["lead"])[calib["label"] == 1])
    assert sum(fit["calibration_flood_days"]) == len(flood_days)
    assert abs(fit["calibration_flood_days"][0] - fit["calibration_flood_days"][1]) <= 1
    test = table[split == "test"]
    prob = predict_flood(model, test)
    assert ((prob >= 0) & (prob <= 1)).all()
    assert roc_auc_score(test["label"], prob) > 0.85
    edge = predict_flood(model, pd.DataFrame({"rain_24h_mm": [80.0, 0.0], "hand_m": [0.2, 9.0]}))
    assert edge[0] > 0.5 > edge[1]


def test_probabilities_rise_with_the_model_score():
    table = synthetic_table(n=12000).assign(issue_index=lambda t: np.arange(len(t)))
    model, _ = train_flood_model(table, ["rain_24h_mm", "hand_m"], calibrated_split_for(len(table)),
                                 num_boost_round=60, seed=0)
    frame = pd.DataFrame({"rain_24h_mm": np.linspace(0, 120, 200), "hand_m": 1.0})
    raw = model.booster.predict(frame[["rain_24h_mm", "hand_m"]])
    prob = predict_flood(model, frame)
    order = np.argsort(raw, kind="stable")
    assert (np.diff(prob[order]) >= -1e-12).all()


def test_top_drivers_are_the_largest_contributions_first():
    table = synthetic_table()
    model, _ = train_flood_model(table, ["rain_24h_mm", "hand_m", "tasmax_regional_degC"],
                                 split_for(len(table)), num_boost_round=60, seed=0)
    frame = pd.DataFrame({"rain_24h_mm": [90.0], "hand_m": [0.1], "tasmax_regional_degC": [32.0]})
    index, contribution = flood_drivers(model.booster, frame, top=3)
    assert index.shape == (1, 3) and (np.diff(contribution[0]) <= 0).all()
    assert set(index[0][:2]) == {0, 1}  # much rain on low ground: rain and HAND lead


def test_rain_rule_picks_the_threshold_with_the_best_csi():
    rain = np.array([5.0, 30.0, 60.0, 80.0, 90.0, 10.0])
    label = np.array([0, 0, 1, 1, 1, 0])
    rule = fit_rain_rule(rain, label, np.ones(6))
    assert 30 < rule.threshold_mm <= 60
    np.testing.assert_allclose(rule(np.array([100.0, 0.0])), [1.0, 0.0])


def test_the_rain_rule_forecasts_floods_when_reports_are_a_share_of_them():
    rain = np.array([5.0, 30.0, 60.0, 80.0, 90.0, 10.0, 70.0, 75.0])
    label = np.array([0, 0, 1, 1, 0, 0, 0, 0])
    reported = fit_rain_rule(rain, label, np.ones(8))
    flood = fit_rain_rule(rain, label, np.ones(8), report_rate=0.25)
    assert flood.threshold_mm == reported.threshold_mm
    assert flood.prob_warned == pytest.approx(min(reported.prob_warned / 0.25, 1.0))
    assert 0 < reported.prob_warned < flood.prob_warned <= 1


def test_heat_quantiles_never_cross_and_beat_the_raw_regional_forecast():
    table = synthetic_table()
    boosters, _, scores = train_heat_models(table, ["tasmax_regional_degC"], split_for(len(table)),
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
    model, _ = train_flood_model(table.reset_index(drop=True), ["rain_24h_mm"], split,
                                 num_boost_round=100, seed=0)
    prob = predict_flood(model, population)  # no calibration period: the prior correction
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
    assert first.booster.model_to_string() == second.booster.model_to_string()
