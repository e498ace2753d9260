import numpy as np
import pandas as pd
import pytest

from models.heat import predict_heat, regional_column, station_bias_forecast, train_heat_models
from models.split import station_holdout


def station_table(n_days=200, n_stations=16, seed=0, variable="tasmax", level=32.0):
    """Stations reading the regional forecast of `variable` plus their own urban offset (a feature) and noise."""
    rng = np.random.default_rng(seed)
    offset = rng.uniform(-1, 2, n_stations)
    regional = level + rng.normal(0, 1.2, (n_days, 1)) + np.zeros((1, n_stations))
    frame = pd.DataFrame({
        "day": np.repeat(np.arange(n_days), n_stations), "station_id": np.tile([f"S{i}" for i in range(n_stations)], n_days),
        "urban_offset": np.tile(offset, n_days), f"{variable}_regional_degC": regional.ravel(), "lead": 0,
    })
    frame[variable] = frame[f"{variable}_regional_degC"] + frame["urban_offset"] + rng.normal(0, 0.5, len(frame))
    split = np.where(frame["day"] < 0.6 * n_days, "train", np.where(frame["day"] < 0.8 * n_days, "valid", "test"))
    return frame, split


def test_heat_quantiles_never_cross_and_unseen_stations_beat_both_baselines():
    table, split = station_table()
    held = station_holdout(table["station_id"].to_numpy(), share=0.25, seed=0)
    boosters, scores = train_heat_models(table, ["tasmax_regional_degC", "urban_offset"], split,
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
    boosters, scores = train_heat_models(table, ["tasmin_regional_degC", "urban_offset"], split,
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
