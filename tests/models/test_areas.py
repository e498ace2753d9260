"""Warning areas: membership, the area score, guarded calibration, level thresholds, hysteresis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from models.calibration import Calibration, fit_guarded_isotonic
from models.warning.areas import (
    AREA_STATIC,
    AreaWarning,
    area_events,
    area_features,
    area_membership,
    area_rows,
    area_static_features,
    choose_level_thresholds,
    fit_area_baselines,
    fit_area_warning,
    where_first,
)

X, Y = np.arange(5) * 10.0 + 5, np.arange(4)[::-1] * 10.0 + 5  # 4 x 5 cells of 10 m, y descending


def test_membership_takes_the_land_cells_whose_centre_lies_inside():
    land = np.ones((4, 5), bool)
    land[0, 0] = False
    left = shapely.box(0, 20, 20, 40)  # the top-left 2 x 2 cells; (0, 0) is sea
    tiny = shapely.box(41, 1, 44, 4)  # covers no centre: the cell under it
    membership = area_membership([left, tiny], X, Y, land).toarray()
    assert membership[0].reshape(4, 5)[:2, :2].tolist() == [[0, 1], [1, 1]]
    assert membership[0].sum() == 3
    assert np.flatnonzero(membership[1]).tolist() == [3 * 5 + 4]


def test_area_events_are_any_cell_flooded():
    membership = area_membership([shapely.box(0, 20, 20, 40), shapely.box(0, 0, 50, 40)], X, Y, np.ones((4, 5), bool))
    flooded = np.zeros((2, 20))
    flooded[0, 1] = 1  # a cell of both areas
    flooded[1, 19] = 1  # a cell of the second area only
    assert area_events(flooded, membership).tolist() == [[True, True], [False, True]]


def test_guarded_isotonic_steps_rest_on_enough_events_and_stay_in_the_data():
    rng = np.random.default_rng(0)
    raw = rng.uniform(size=4000)
    observed = (rng.uniform(size=raw.size) < raw**4).astype(float)  # rare at the bottom, common at the top
    fitted = fit_guarded_isotonic(raw, observed, min_events=20)
    assert np.all(np.diff(fitted.knots_prob) > 0)
    assert fitted.knots_prob[-1] > 0.7  # reaches high values where the top bin's events say so
    grid = np.linspace(-1, 2, 301)
    values = fitted(grid)
    assert np.all(np.diff(values) >= 0) and values.min() >= 0 and values.max() <= 1
    assert values[0] == fitted.knots_prob[0] and values[-1] == fitted.knots_prob[-1]  # flat beyond the data
    bins = np.digitize(raw, (np.array(fitted.knots_raw[1:]) + np.array(fitted.knots_raw[:-1])) / 2)
    assert np.bincount(bins, observed).min() >= 10  # every step is backed by events, not by one lucky row


def test_guarded_isotonic_with_few_events_is_one_rate():
    fitted = fit_guarded_isotonic(np.array([0.1, 0.5, 0.9, 0.95]), np.array([0, 0, 1, 0.0]), min_events=5)
    assert fitted.knots_prob == (0.25,)
    with pytest.raises(ValueError, match="min_events"):
        fit_guarded_isotonic(np.array([0.1]), np.array([1.0]), min_events=0)


def test_level_thresholds_follow_their_rules():
    chance = np.array([0.01] * 80 + [0.1] * 10 + [0.3] * 6 + [0.6] * 4)
    observed = np.array([0] * 79 + [1] + [0] * 6 + [1] * 4 + [0] * 2 + [1] * 4 + [0] + [1] * 3, bool)
    thresholds, choice = choose_level_thresholds(chance, observed)
    # 12 events. From 0.1: hit rate 11/12; above it, the best CSI is 0.3's 7/15; above that, 0.6's
    # false-alarm ratio 1/4 meets <= 0.5; nothing lies above 0.6 for level 4
    assert thresholds == (0.1, 0.3, 0.6, None)
    assert choice["1"]["hit_rate"] == pytest.approx(11 / 12)
    assert choice["2"]["csi"] == pytest.approx(7 / 15)
    assert choice["3"]["false_alarm_ratio"] == pytest.approx(0.25)
    assert not choice["4"]["issued"]


def test_levels_hold_with_hysteresis_and_fall_without_cause_gone():
    warning = AreaWarning(None, (Calibration("isotonic", knots_raw=(0.0, 1.0), knots_prob=(0.0, 1.0)),), (0.1, 0.3, 0.6, None), {})
    chance = np.array([0.35, 0.2, 0.08, 0.04, np.nan])
    assert warning.levels(chance).tolist() == [2, 1, 0, 0, 0]
    held = warning.levels(chance, previous=np.array([2, 2, 1, 1, 3]))
    assert held.tolist() == [2, 2, 1, 0, 0]  # 0.2 >= 0.5 x 0.3 keeps 2; 0.08 >= 0.05 keeps 1; 0.04 drops
    assert warning.issued == (0.1, 0.3, 0.6)


def test_where_first_is_the_conditional_chance():
    out = where_first(np.array([[0.1, 0.4], [0.0, 0.1]]), np.array([0.5, 0.0]))
    np.testing.assert_allclose(out[0], [0.2, 0.8])
    assert np.isnan(out[1]).all()


def test_area_rows_join_weather_and_static_per_issue_lead_area():
    membership = area_membership([shapely.box(0, 20, 20, 40), shapely.box(0, 0, 50, 40)], X, Y, np.ones((4, 5), bool))
    cells = pd.DataFrame({name: np.arange(20, dtype=float) for name in AREA_STATIC})
    static = area_static_features(cells, membership)
    assert static["log10_cells"].tolist() == pytest.approx([np.log10(4), np.log10(20)])
    assert static["hand_m_q50"].tolist() == pytest.approx([np.median([0, 1, 5, 6]), 9.5])
    weather = {"rain_24h_mm": np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)}
    rows = area_rows(static, weather)
    assert len(rows) == 12 and rows[["issue_index", "lead", "area_index"]].iloc[5].tolist() == [0, 2, 1]
    assert rows["rain_24h_mm"].iloc[5] == 5 and rows["log10_cells"].iloc[5] == pytest.approx(np.log10(20))
    assert area_features(static, ["rain_24h_mm"])[-1] == "lead_days"


def test_fit_area_warning_learns_calibrates_and_chooses_levels_on_held_out_days():
    rng = np.random.default_rng(3)
    n_days, n_areas = 900, 4
    rain = rng.gamma(0.5, 20, size=(n_days, 1, n_areas))
    static = pd.DataFrame({"log10_cells": np.log10([10, 100, 1000, 10000])})
    rows = area_rows(static, {"rain_24h_mm": rain})
    chance = 1 / (1 + np.exp(-(rows["rain_24h_mm"] / 15 - 4 + rows["log10_cells"])))
    rows = rows.assign(label=(rng.uniform(size=len(rows)) < chance).astype(int), day=rows["issue_index"])
    split = np.where(rows["issue_index"] < 500, "train", np.where(rows["issue_index"] < 650, "valid", "calib"))
    warning = fit_area_warning(rows, ["rain_24h_mm", "log10_cells", "lead_days"], split, report_rate=0.8, min_events=10,
                               num_boost_round=200, seed=0, params={"objective": "binary", "verbose": -1,
                                                                    "num_leaves": 7, "learning_rate": 0.1})
    assert warning.choice["calibration"] in ("pooled", "by_lead")
    assert all(c.report_rate == 0.8 for c in warning.calibrations)
    calib = rows[split == "calib"]
    got = warning.chance(calib)
    assert got.min() >= 0 and got.max() <= 1
    assert np.corrcoef(got, chance[split == "calib"])[0, 1] > 0.8  # it learnt the rain and the area's size
    issued = warning.issued
    assert issued and list(issued) == sorted(issued)
    again = AreaWarning.from_dict(warning.booster, warning.to_dict())
    np.testing.assert_array_equal(again.chance(calib), got)


def test_area_baselines_are_rates_over_the_report_rate():
    label = np.array([1, 0, 0, 0, 1, 1, 0, 0])
    area = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    month = np.array([1, 1, 2, 2, 1, 1, 1, 1])
    rain = np.array([50, 0, 0, 0, 60, 40, 0, 0.0])
    base = fit_area_baselines(label, area, month, rain, 2, rain_rule_mm=30, report_rate=0.5)
    assert base.static.tolist() == [0.5, 1.0]  # 1/4 and 2/4, over 0.5
    assert base.climatology[0, :2].tolist() == [1.0, 0.0] and base.climatology[0, 5] == 0.5  # unseen month: static
    got = base.chances(np.array([0, 1]), np.array([2, 1]), np.array([10.0, 45.0]))
    assert got["rain_rule"].tolist() == [0.0, 1.0] and got["climatology"].tolist() == [0.0, 1.0]


def test_area_levels_hold_a_level_above_half_its_threshold_and_skip_levels_never_issued():
    from models.warning.areas import area_levels

    thresholds = (0.2, 0.4, None, None)  # levels 3 and 4 never issued
    chance = np.array([0.1, 0.25, 0.45, 0.9])
    assert area_levels(chance, thresholds).tolist() == [0, 1, 2, 2]
    # held at 2: 0.25 >= 0.5 x 0.4 keeps 2; 0.1 < 0.2 falls to 1 (>= 0.5 x 0.2 holds 1)
    assert area_levels(chance, thresholds, previous=2).tolist() == [1, 2, 2, 2]
    assert area_levels(np.array([0.05]), thresholds, previous=2).tolist() == [0]
