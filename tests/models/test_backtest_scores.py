"""Backtest scores by lead, model, zone, period and days, with block-bootstrap intervals, on tiny tables."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scores.processing import block_bootstrap as scores_block_bootstrap

from models.backtest_scores import block_bootstrap, events_metric, flood_backtest_scores, heat_backtest_scores

SEASONS = {"DJFM": (12, 1, 2, 3), "AM": (4, 5), "JJAS": (6, 7, 8, 9), "ON": (10, 11)}
BANDS = (0.01, 0.05, 0.2)
OPTIONS = {"seasons": SEASONS, "n_boot": 10, "block_days": 7, "seed": 0}
ALL = {"zone": "all", "period": "all", "days": "all"}


def _flood_rows() -> pd.DataFrame:
    observed = np.array([1, 0, 0, 0] * 10, float)
    return pd.DataFrame({
        "issue_date": pd.date_range("2023-01-01", periods=40), "lead": np.repeat([0, 1], 20),
        "observed": observed, "weight": 1.0, "perfect": observed, "flat": 0.25,
    })


def _flood(rows: pd.DataFrame, models=("perfect", "flat"), **extra) -> xr.Dataset:
    return flood_backtest_scores(rows, list(models), reference="flat", threshold=0.5, level_bands=BANDS,
                                 **OPTIONS | extra)


def test_a_perfect_flood_forecast_scores_perfectly_against_climatology():
    rows = _flood_rows()
    before = rows.copy()
    scores = _flood(rows)
    perfect = scores["score"].sel(model="perfect", **ALL)
    np.testing.assert_allclose(perfect.sel(metric=["brier", "brier_skill_score", "roc_auc", "pr_auc", "pod", "far",
                                                   "frequency_bias", "csi_level_3"]),
                               [[0, 0], [1, 1], [1, 1], [1, 1], [1, 1], [0, 0], [1, 1], [1, 1]])
    # climatology 0.25 of a 1-in-4 event: Brier 0.25 * 0.75**2 + 0.75 * 0.25**2
    np.testing.assert_allclose(scores["score"].sel(model="flat", metric="brier", **ALL), 0.1875)
    assert scores["ci_low"].sel(model="flat", metric="brier", **ALL).notnull().all()
    pd.testing.assert_frame_equal(rows, before)


def test_flood_levels_are_scored_at_each_band():
    # probabilities reach levels 1, 2, 3 and 0; the first three flood
    rows = pd.DataFrame({"issue_date": pd.date_range("2023-01-01", periods=4), "lead": 0,
                         "observed": [1.0, 1, 1, 0], "weight": 1.0, "p": [0.02, 0.1, 0.3, 0.0], "flat": 0.5})
    at = _flood(rows, models=("p",))["score"].sel(model="p", lead=0, **ALL)
    np.testing.assert_allclose(at.sel(metric=["pod_level_1", "pod_level_2", "pod_level_3"]), [1, 2 / 3, 1 / 3])
    np.testing.assert_allclose(at.sel(metric=["far_level_1", "frequency_bias_level_3"]), [0, 1 / 3])
    # three flooded rows, none alerted at 0.5; the levels alert on 3, 2 and 1 of them
    counts = ["n_rows", "n_positive", "n_alerts", "n_events_level_1", "n_alerts_level_1", "n_events_level_2",
              "n_alerts_level_2", "n_events_level_3", "n_alerts_level_3"]
    np.testing.assert_array_equal(at.sel(metric=counts), [4, 3, 0, 3, 3, 3, 2, 3, 1])


def test_each_score_names_the_count_of_the_events_it_rests_on():
    assert [events_metric(m) for m in ("brier", "pod", "far", "csi_level_2", "far_level_2", "hot_day_pod",
                                       "hot_day_far", "mae_degC", "n_positive", "n_alerts_level_1")] == [
        "n_positive", "n_positive", "n_alerts", "n_events_level_2", "n_alerts_level_2", "n_hot_days",
        "n_hot_day_alerts", None, None, None]


def test_the_rain_rule_alerts_at_its_own_threshold_per_row():
    rows = _flood_rows().assign(rule=0.3, warned=0.3)
    at = _flood(rows, models=("rule",), row_thresholds={"rule": "warned"})["score"].sel(model="rule", **ALL)
    np.testing.assert_allclose(at.sel(metric="far"), 0.75)  # warns everywhere: 3 false alarms per hit
    np.testing.assert_allclose(at.sel(metric="pod_level_3"), 1.0)


def test_scores_split_by_zone_with_intervals_in_zone_all_only():
    rows = _flood_rows().assign(zone=np.tile(["core", "rest"], 20))
    scores = _flood(rows, models=("perfect",))
    assert list(scores.zone.values) == ["all", "core", "rest"]
    assert scores["ci_low"].sel(zone="core").isnull().all()
    assert float(scores["score"].sel(zone="core", period="all", days="all", metric="n_rows", lead=0,
                                     model="perfect")) == 10


def test_periods_are_the_seasons_and_months_of_the_day_forecast():
    # issued 26 Mar .. 4 Apr at lead 0 and 1: valid 26 Mar .. 5 Apr
    rows = pd.DataFrame({"issue_date": np.tile(pd.date_range("2023-03-26", periods=10), 2),
                         "lead": np.repeat([0, 1], 10), "observed": np.tile([1.0, 0], 10), "weight": 1.0,
                         "perfect": np.tile([1.0, 0], 10), "flat": 0.5})
    scores = _flood(rows, models=("perfect",))
    assert list(scores.period.values) == ["all", "DJFM", "AM", "Mar", "Apr"]
    n_rows = scores["score"].sel(model="perfect", metric="n_rows", zone="all", days="all")
    assert list(n_rows.sel(lead=0).values) == [10, 6, 4, 6, 4]
    assert list(n_rows.sel(lead=1).values) == [10, 5, 5, 5, 5]  # 31 Mar + 1 is April


def test_wet_days_are_a_subset_with_their_own_intervals():
    rows = _flood_rows().assign(wet_day=np.arange(40) % 2 == 0)
    scores = _flood(rows, models=("flat",))
    at = {"model": "flat", "zone": "all", "period": "all", "lead": 0}
    assert list(scores.days.values) == ["all", "wet"]
    assert float(scores["score"].sel(metric="n_rows", days="wet", **at)) == 10
    assert np.isfinite(scores["ci_low"].sel(metric="brier", days="wet", **at))
    assert scores["reliability_forecast"].sel(days="wet", model="flat", lead=0).notnull().any()


def test_rerun_with_the_same_seed_gives_identical_scores_and_another_seed_other_intervals():
    rows = _flood_rows().assign(space_block=np.arange(40) % 3, wet_day=True)
    first, second = _flood(rows), _flood(rows)
    xr.testing.assert_identical(first, second)
    other = _flood(rows, seed=1)
    xr.testing.assert_identical(first["score"], other["score"])
    assert not first["ci_low"].equals(other["ci_low"])


def test_block_bootstrap_draws_time_and_space_blocks_independently():
    dates = pd.date_range("2023-01-01", periods=21).repeat(2)
    space = np.tile([5, 9], 21)
    draws = block_bootstrap(dates, space, block_days=7, n_boot=50, seed=0)
    assert list(np.unique(draws.time_block)) == [0, 1, 2] and (draws.time_block[:14] == 0).all()
    assert list(np.unique(draws.space_block)) == [0, 1]
    assert draws.time_counts.shape == (50, 3) and (draws.time_counts.sum(axis=1) == 3).all()
    assert draws.space_counts.shape == (50, 2) and (draws.space_counts.sum(axis=1) == 2).all()
    weights = draws.weights(np.ones(42, bool))
    np.testing.assert_array_equal(weights[:, 0], draws.time_counts[:, 0] * draws.space_counts[:, 0])
    again = block_bootstrap(dates, space, block_days=7, n_boot=50, seed=0)
    np.testing.assert_array_equal(weights, again.weights(np.ones(42, bool)))


def test_block_bootstrap_rejects_space_blocks_of_another_length():
    with pytest.raises(ValueError, match="`space_block` has 3 rows, `issue_dates` 2"):
        block_bootstrap(pd.date_range("2023-01-01", periods=2), np.zeros(3), block_days=7, n_boot=1, seed=0)


def _replicate_means(values: np.ndarray, block_days: int, n_boot: int, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Means of `values` (one a day) under our one-way block bootstrap (one space block) and
    under scores' (`scores.processing.block_bootstrap` over the day dim), `n_boot` of each."""
    dates = pd.date_range("2023-01-01", periods=len(values))
    weights = block_bootstrap(dates, np.zeros(len(values)), block_days=block_days, n_boot=n_boot,
                              seed=seed).weights(np.arange(len(values)))
    state = np.random.get_state()
    np.random.seed(seed)  # scores draws from numpy's global generator: seed it, then put it back
    try:
        resampled = scores_block_bootstrap(xr.DataArray(values, dims="day"), blocks={"day": block_days},
                                           n_iteration=n_boot)
    finally:
        np.random.set_state(state)
    return weights @ values / weights.sum(axis=1), resampled.mean("day").values


def test_one_way_day_blocks_agree_with_scores_block_bootstrap():
    """The two draw from different generators, so they agree in distribution, not draw by draw:
    compare the standard error of the bootstrapped mean over 4000 replicates. Its sampling error
    is about 1 / sqrt(2 x 4000) = 1.1 %, so 5 % holds with room and would catch a wrong block."""
    values = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 8.0])
    ours, theirs = _replicate_means(values, block_days=1, n_boot=4000, seed=1)
    exact = values.std() / np.sqrt(values.size)  # blocks of one day: the plain bootstrap
    assert ours.std() == pytest.approx(exact, rel=0.05) and theirs.std() == pytest.approx(exact, rel=0.05)
    for means in (ours, theirs):
        assert means.mean() == pytest.approx(values.mean(), abs=0.05)  # both unbiased

    # A 3-day cycle in 3-day blocks: every block holds one whole cycle, so no replicate moves the mean.
    cycle = np.tile([0.0, 1.0, 5.0], 4)
    for block_days, spread in ((3, 0.0), (1, cycle.std() / np.sqrt(cycle.size))):
        ours, theirs = _replicate_means(cycle, block_days=block_days, n_boot=4000, seed=2)
        assert ours.std() == pytest.approx(spread, rel=0.05, abs=1e-12)
        assert theirs.std() == pytest.approx(spread, rel=0.05, abs=1e-12)

    # Where they differ: ours draws the 4 fixed blocks of a trend, scores any 3 days in a row (circular).
    trend = np.arange(12.0)
    ours, theirs = _replicate_means(trend, block_days=3, n_boot=4000, seed=3)
    fixed = trend.reshape(4, 3).mean(axis=1)
    moving = np.array([np.take(trend, range(s, s + 3), mode="wrap").mean() for s in range(12)])
    assert ours.std() == pytest.approx(fixed.std() / 2, rel=0.05)  # 4 blocks a replicate: sd / sqrt(4)
    assert theirs.std() == pytest.approx(moving.std() / 2, rel=0.05)


def test_seasons_must_name_months_and_not_clash_with_period_labels():
    with pytest.raises(ValueError, match="`seasons` must list months 1..12"):
        _flood(_flood_rows(), seasons={"wet": (0, 13)})
    with pytest.raises(ValueError, match=r"clash with the period labels 'all' and Jan..Dec: \['Jan'\]"):
        _flood(_flood_rows(), seasons={"Jan": (1,)})


def test_heat_scores_give_point_errors_quantile_coverage_and_level_hit_rates():
    observed = np.array([34.0, 36, 38, 41])
    q50 = np.array([35.0, 35, 38, 39])
    rows = pd.DataFrame({"issue_date": pd.date_range("2023-01-01", periods=4), "lead": 0, "observed": observed,
                         "warm": observed + 1, "q10": q50 - 2, "q50": q50, "q90": q50 + 2})
    scores = heat_backtest_scores(rows, ["warm"], {0.1: "q10", 0.5: "q50", 0.9: "q90"}, hot_threshold_degC=35,
                                  levels_degC=(35, 37, 40), **OPTIONS)
    at = scores["score"].sel(lead=0, **ALL)
    np.testing.assert_allclose(at.sel(model="warm", metric=["mae_degC", "bias_degC", "crps_degC"]), [1, 1, 1])
    # model: errors 1, -1, 0, -2; every observation lies inside its q10 .. q90
    np.testing.assert_allclose(at.sel(model="model", metric=["mae_degC", "bias_degC", "interval_coverage"]),
                               [1.0, -0.5, 1.0])
    # level 1 (35): alerts all four, events the last three; level 2 (37): both the last two; level 3 (40): missed
    np.testing.assert_allclose(at.sel(model="model", metric=["pod_level_1", "far_level_1", "pod_level_2",
                                                             "csi_level_2", "pod_level_3", "frequency_bias_level_3"]),
                               [1, 0.25, 1, 1, 0, 0])
    assert np.isnan(float(at.sel(model="warm", metric="interval_coverage")))
    # hot days (>= 35): observed 3, the median forecasts 4; observed at levels 3, 2, 1, forecast at 4, 2, 0
    counts = ["n_rows", "n_hot_days", "n_hot_day_alerts", "n_events_level_1", "n_alerts_level_1",
              "n_events_level_2", "n_alerts_level_2", "n_events_level_3", "n_alerts_level_3"]
    np.testing.assert_array_equal(at.sel(model="model", metric=counts), [4, 3, 4, 3, 4, 2, 2, 1, 0])
    assert scores["ci_low"].sel(metric=counts).isnull().all()  # counts have no interval
