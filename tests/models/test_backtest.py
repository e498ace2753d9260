"""Backtest pieces on arrays small enough to check by hand."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from models.backtest import (
    block_counts,
    flood_backtest_scores,
    flood_climatology,
    flood_persistence,
    heat_backtest_scores,
    heat_climatology,
    heat_persistence,
    origin_split,
    rolling_origins,
)


def test_monthly_origins_start_at_the_start_and_windows_end_before_the_next():
    assert rolling_origins(dt.date(2023, 1, 15), dt.date(2023, 3, 10), every="MS") == [
        (dt.date(2023, 1, 15), dt.date(2023, 1, 31)),
        (dt.date(2023, 2, 1), dt.date(2023, 2, 28)),
        (dt.date(2023, 3, 1), dt.date(2023, 3, 10)),
    ]


def test_origins_follow_any_pandas_frequency():
    windows = rolling_origins(dt.date(2023, 1, 1), dt.date(2023, 1, 20), every="7D")
    assert [o.day for o, _ in windows] == [1, 8, 15] and windows[-1][1] == dt.date(2023, 1, 20)


def test_origins_reject_an_end_before_the_start():
    with pytest.raises(ValueError, match="`end` \\(2023-01-01\\) is before `start`"):
        rolling_origins(dt.date(2023, 2, 1), dt.date(2023, 1, 1), every="MS")


def test_origin_split_calibrates_on_the_last_days_and_validates_before_them():
    dates = pd.date_range("2023-01-01", periods=30)
    index = np.arange(30)
    split = origin_split(dates, index, np.zeros(30, int), validation_days=10, calibration_days=5)
    assert list(split[:15]) == ["train"] * 15
    assert list(split[15:25]) == ["valid"] * 10 and list(split[25:]) == ["calib"] * 5


def test_flood_climatology_shrinks_each_cell_towards_the_month_rate():
    days = pd.date_range("2023-01-01", periods=10)
    flooded = pd.DataFrame({"date": pd.to_datetime(["2023-01-02", "2023-01-05", "2023-02-01"]), "cell": [7, 7, 9]})
    rates = flood_climatology(flooded, days, np.array([7, 9]), prior_days=10)
    # January: 2 flooded cell-days of 20, 0.1; cell 7: (2 + 10 * 0.1) / (10 + 10), cell 9: 1 / 20
    np.testing.assert_allclose(rates[0], [0.15, 0.05])
    np.testing.assert_array_equal(rates[1:], 0)  # no February day is in `days`


def test_flood_persistence_is_the_day_before_issue():
    flooded = pd.DataFrame({"date": pd.to_datetime(["2023-01-04", "2023-01-05"]), "cell": [7, 9]})
    out = flood_persistence(flooded, pd.DatetimeIndex(["2023-01-05", "2023-01-07"]), np.array([7, 9]))
    np.testing.assert_array_equal(out, [[1, 0], [0, 0]])


OBS = pd.DataFrame({"station_id": ["a", "a", "b"], "date": pd.to_datetime(["2023-01-01", "2023-01-02", "2023-01-01"]),
                    "tasmax": [30.0, 32.0, 34.0]})


def test_heat_climatology_falls_back_to_the_month_then_all_records():
    out = heat_climatology(OBS, np.array(["a", "c", "c"]), np.array([1, 1, 6]))
    np.testing.assert_allclose(out, [31.0, 32.0, 32.0])


def test_heat_persistence_reads_the_day_before_issue_or_the_fallback():
    out = heat_persistence(OBS, np.array(["a", "b"]), pd.DatetimeIndex(["2023-01-03", "2023-01-03"]),
                           fallback=np.array([0.0, 1.0]))
    np.testing.assert_allclose(out, [32.0, 1.0])


def test_block_bootstrap_draws_as_many_blocks_as_there_are():
    block, counts = block_counts(pd.date_range("2023-01-01", periods=21), block_days=7, n_boot=5, seed=0)
    assert list(np.unique(block)) == [0, 1, 2] and (block[:7] == 0).all()
    assert counts.shape == (5, 3) and (counts.sum(axis=1) == 3).all()


def _flood_rows() -> pd.DataFrame:
    observed = np.array([1, 0, 0, 0] * 10, float)
    return pd.DataFrame({
        "issue_date": pd.date_range("2023-01-01", periods=40), "lead": np.repeat([0, 1], 20),
        "observed": observed, "weight": 1.0, "perfect": observed, "flat": 0.25,
    })


def test_a_perfect_flood_forecast_scores_perfectly_against_climatology():
    rows = _flood_rows()
    before = rows.copy()
    scores = flood_backtest_scores(rows, ["perfect", "flat"], reference="flat", threshold=0.5, n_boot=10,
                                   block_days=7, seed=0)
    perfect = scores["score"].sel(model="perfect", zone="all")
    np.testing.assert_allclose(perfect.sel(metric=["brier", "brier_skill_score", "roc_auc", "pod", "far"]),
                               [[0, 0], [1, 1], [1, 1], [1, 1], [0, 0]])
    # climatology 0.25 of a 1-in-4 event: Brier 0.25 * 0.75**2 + 0.75 * 0.25**2
    np.testing.assert_allclose(scores["score"].sel(model="flat", metric="brier", zone="all"), 0.1875)
    assert scores["ci_low"].sel(model="flat", metric="brier", zone="all").notnull().all()
    pd.testing.assert_frame_equal(rows, before)


def test_flood_scores_split_by_zone_without_intervals_outside_all():
    rows = _flood_rows().assign(zone=np.tile(["core", "rest"], 20))
    scores = flood_backtest_scores(rows, ["perfect"], reference="flat", threshold=0.5, n_boot=5,
                                   block_days=7, seed=0)
    assert list(scores.zone.values) == ["all", "core", "rest"]
    assert scores["ci_low"].sel(zone="core").isnull().all()
    assert float(scores["score"].sel(zone="core", metric="n_rows", lead=0, model="perfect")) == 10


def test_heat_scores_give_point_errors_and_quantile_coverage():
    observed = np.arange(20, 40, dtype=float)
    rows = pd.DataFrame({"issue_date": pd.date_range("2023-01-01", periods=20), "lead": 0, "observed": observed,
                         "warm": observed + 1, "q10": observed - 2, "q50": observed, "q90": observed + 2})
    scores = heat_backtest_scores(rows, ["warm"], {0.1: "q10", 0.5: "q50", 0.9: "q90"}, hot_threshold_degC=35,
                                  n_boot=10, block_days=5, seed=0)
    at = scores["score"].sel(lead=0, zone="all")
    np.testing.assert_allclose(at.sel(model="warm", metric=["mae_degC", "bias_degC", "crps_degC"]), [1, 1, 1])
    np.testing.assert_allclose(at.sel(model="model", metric=["mae_degC", "interval_coverage", "hot_day_csi"]),
                               [0, 1, 1])
    assert np.isnan(float(at.sel(model="warm", metric="interval_coverage")))
