import numpy as np
import pandas as pd
import pytest

from models.heat.regression import (
    conformal_widening,
    cross_conformal_widening,
    out_of_fold_quantiles,
    predict_heat,
    regional_column,
    station_bias_forecast,
    train_heat_models,
)
from models.split import station_holdout
from tests.reliability.test_properties import ConstantBooster


def station_table(n_days=200, n_stations=16, seed=0, variable="tasmax", level=32.0):
    """Stations reading the regional forecast of `variable` plus their own urban offset (a feature) and noise."""
    rng = np.random.default_rng(seed)
    offset = rng.uniform(-1, 2, n_stations)
    regional = level + rng.normal(0, 1.2, (n_days, 1)) + np.zeros((1, n_stations))
    frame = pd.DataFrame({
        "issue_index": np.repeat(np.arange(n_days), n_stations), "station_id": np.tile([f"S{i}" for i in range(n_stations)], n_days),
        "urban_offset": np.tile(offset, n_days), f"{variable}_regional_degC": regional.ravel(), "lead": 0,
    })
    frame[variable] = frame[f"{variable}_regional_degC"] + frame["urban_offset"] + rng.normal(0, 0.5, len(frame))
    day = frame["issue_index"]
    split = np.where(day < 0.6 * n_days, "train", np.where(day < 0.8 * n_days, "valid", "test"))
    return frame, split


def test_heat_quantiles_never_cross_and_unseen_stations_beat_both_baselines():
    table, split = station_table()
    held = station_holdout(table["station_id"].to_numpy(), share=0.25, seed=0)
    boosters, _, scores = train_heat_models(table, ["tasmax_regional_degC", "urban_offset"], split,
                                            quantiles=(0.1, 0.5, 0.9), num_boost_round=100, seed=0, held_out=held)
    q = predict_heat(boosters, table)
    assert (q[0.1] <= q[0.5]).all() and (q[0.5] <= q[0.9]).all()
    unseen = scores["validation"]["unseen_stations"][0]
    assert unseen["model"]["rmse_degC"] < unseen["regional_station_bias"]["rmse_degC"] < unseen["regional"]["rmse_degC"]
    assert 0.6 < unseen["model"]["interval_coverage"] < 0.95
    assert set(scores["validation"]) == {"unseen_days", "unseen_stations"}


def test_the_station_bias_baseline_adds_each_station_mean_error_and_the_mean_for_new_ones():
    table = pd.DataFrame({"station_id": ["A", "A", "B", "C"], "tasmax": [31.0, 33.0, 30.0, 40.0],
                          "tasmax_regional_degC": [30.0, 30.0, 30.0, 30.0]})
    fitted = np.array([True, True, True, False])
    np.testing.assert_allclose(station_bias_forecast(table, fitted), [32.0, 32.0, 30.0, 31.0])


def test_tasmin_models_are_fitted_and_scored_on_tasmin_against_its_own_baselines():
    table, split = station_table(variable="tasmin", level=25.0)
    held = station_holdout(table["station_id"].to_numpy(), share=0.25, seed=0)
    boosters, _, scores = train_heat_models(table, ["tasmin_regional_degC", "urban_offset"], split,
                                            quantiles=(0.1, 0.5, 0.9), num_boost_round=100, seed=0, held_out=held,
                                            variable="tasmin")
    q = predict_heat(boosters, table)
    assert (q[0.1] <= q[0.5]).all() and (q[0.5] <= q[0.9]).all()
    assert 23 < np.median(q[0.5]) < 27  # nights, not afternoons
    unseen = scores["validation"]["unseen_stations"][0]
    rows = (split == "test") & held
    by_hand = np.sqrt(np.mean((table["tasmin_regional_degC"][rows] - table["tasmin"][rows]) ** 2))
    assert unseen["regional"]["rmse_degC"] == pytest.approx(by_hand)
    assert unseen["model"]["rmse_degC"] < unseen["regional_station_bias"]["rmse_degC"] < by_hand
    assert scores["test"]["baseline_regional_mae_degC"] == pytest.approx(
        np.mean(np.abs(table["tasmin_regional_degC"] - table["tasmin"])[split == "test"]))


def test_the_station_bias_baseline_of_tasmin_reads_the_tasmin_columns():
    table = pd.DataFrame({"station_id": ["A", "A", "B"], "tasmin": [25.0, 27.0, 24.0],
                          "tasmin_regional_degC": [24.0, 24.0, 24.0], "tasmax": [0.0, 0.0, 0.0],
                          "tasmax_regional_degC": [0.0, 0.0, 0.0]})
    fitted = np.array([True, True, False])
    np.testing.assert_allclose(station_bias_forecast(table, fitted, variable="tasmin"), [26.0, 26.0, 26.0])


def test_an_unknown_variable_is_refused_by_name():
    table, split = station_table()
    with pytest.raises(ValueError, match="`variable` must be one of \\['tasmax', 'tasmin'\\], got 'tas'"):
        train_heat_models(table, ["tasmax_regional_degC"], split, quantiles=(0.1, 0.5, 0.9),
                          num_boost_round=10, seed=0, variable="tas")
    assert regional_column("tasmin") == "tasmin_regional_degC"


def test_station_holdout_keeps_whole_stations_out_and_is_seeded():
    ids = np.repeat(["A", "B", "C", "D", "E", "F", "G", "H"], 3)
    held = station_holdout(ids, share=0.25, seed=4)
    assert len(set(ids[held])) == 2 and not set(ids[held]) & set(ids[~held])
    np.testing.assert_array_equal(held, station_holdout(ids, share=0.25, seed=4))


def test_station_holdout_needs_two_stations():
    with pytest.raises(ValueError, match="1 station\\(s\\): at least 2 are needed"):
        station_holdout(np.array(["A", "A"]), share=0.5, seed=0)


def test_conformal_widening_makes_a_too_narrow_interval_cover_its_nominal_share_on_new_draws():
    rng = np.random.default_rng(3)
    lead = np.repeat([0, 1], 4000)
    spread = np.where(lead == 0, 1.0, 2.0)  # lead 1 errs twice as much; the interval claims 0.1-0.9 of N(0, 0.5)
    narrow = {0.1: np.full(lead.size, -0.64), 0.5: np.zeros(lead.size), 0.9: np.full(lead.size, 0.64)}
    widening = conformal_widening(narrow, rng.normal(0, spread), lead)
    assert widening[0] == pytest.approx(1.28 - 0.64, abs=0.1) and widening[1] == pytest.approx(2.56 - 0.64, abs=0.15)
    fresh = rng.normal(0, spread)
    for value in (0, 1):
        at = lead == value
        covered = (fresh[at] >= narrow[0.1][at] - widening[value]) & (fresh[at] <= narrow[0.9][at] + widening[value])
        assert covered.mean() == pytest.approx(0.8, abs=0.03)


def test_a_too_wide_interval_is_narrowed():
    observed = np.random.default_rng(4).normal(0, 0.5, 2000)
    wide = {0.1: np.full(2000, -3.0), 0.5: np.zeros(2000), 0.9: np.full(2000, 3.0)}
    assert conformal_widening(wide, observed, np.zeros(2000, int))[0] < -2


def test_predict_heat_widens_the_outer_quantiles_by_lead_and_keeps_the_median():
    boosters = {q: ConstantBooster(np.full(4, v)) for q, v in ((0.1, -1.0), (0.5, 31.0), (0.9, 1.0))}  # offsets, median
    frame = pd.DataFrame({"x": np.zeros(4), "lead": [0, 1, 1, 2]})
    q = predict_heat(boosters, frame, {0: 0.5, 1: -0.2, 2: 1.5})
    np.testing.assert_allclose(q[0.1], [29.5, 30.2, 30.2, 28.5])
    np.testing.assert_allclose(q[0.9], [32.5, 31.8, 31.8, 33.5])
    np.testing.assert_allclose(q[0.5], 31.0)
    with pytest.raises(ValueError, match="no interval widening for lead\\(s\\) \\[2\\]"):
        predict_heat(boosters, frame, {0: 0.5, 1: 0.1})


def test_cross_conformal_widening_reads_no_test_day_and_fits_no_held_out_station():
    table, split = station_table(n_days=120)
    held = station_holdout(table["station_id"].to_numpy(), share=0.25, seed=0)
    known = np.isin(split, ["train", "valid"])
    fit = {"quantiles": (0.1, 0.5, 0.9), "num_boost_round": dict.fromkeys((0.1, 0.5, 0.9), 40), "seed": 0}
    features = ["tasmax_regional_degC", "urban_offset"]
    widening = cross_conformal_widening(table, known, ~held, features, **fit)
    assert set(widening) == {0} and np.isfinite(widening[0])
    poisoned = table.assign(tasmax=np.where(known, table["tasmax"], 99.0))  # the test days
    assert cross_conformal_widening(poisoned, known, ~held, features, **fit) == widening
    # held-out stations' rows are scored (shifting them by 5 degC widens the interval) but fitted only when
    # `fittable` allows it (then the fold models learn the shift and the widening differs)
    shifted = table.assign(tasmax=table["tasmax"] + np.where(held, 5.0, 0.0))
    scored_only = cross_conformal_widening(shifted, known, ~held, features, **fit)
    assert scored_only[0] > widening[0] + 1
    assert cross_conformal_widening(shifted, known, np.ones(len(table), bool), features, **fit) != scored_only


def _out_of_fold_median(table, **options):
    known = np.ones(len(table), bool)
    fit = {"quantiles": (0.1, 0.5, 0.9), "num_boost_round": dict.fromkeys((0.1, 0.5, 0.9), 40), "seed": 0}
    return out_of_fold_quantiles(table, known, known, ["tasmax_regional_degC", "urban_offset"], **fit, **options)[0.5]


def test_forward_folds_forecast_each_block_from_earlier_days_only():
    table, _ = station_table(n_days=90)
    median = _out_of_fold_median(table, forward=True)
    first, last = table["issue_index"] < 30, table["issue_index"] >= 60
    assert np.isnan(median[first]).all() and np.isfinite(median[~first]).all()
    later = table.assign(tasmax=table["tasmax"] + np.where(last, 5.0, 0.0))  # the last block's days
    np.testing.assert_array_equal(_out_of_fold_median(later, forward=True)[~last], median[~last])
    assert not np.array_equal(_out_of_fold_median(later)[~last], _out_of_fold_median(table)[~last])


def test_station_and_day_folds_never_forecast_a_station_with_models_fitted_on_it():
    table, _ = station_table(n_days=90, n_stations=6)
    median = _out_of_fold_median(table, by_station=True)
    own = (table["station_id"] == "S0").to_numpy()
    moved = table.assign(tasmax=table["tasmax"] + np.where(own, 5.0, 0.0))  # S0 on every day
    np.testing.assert_array_equal(_out_of_fold_median(moved, by_station=True)[own], median[own])
    assert not np.array_equal(_out_of_fold_median(moved)[own], _out_of_fold_median(table)[own])
