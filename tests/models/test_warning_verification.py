"""How past warnings fared (models.warning.verification): outcomes per area and day, counts per window."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from models.warning.verification import outcome_counts, reports_in_areas, warning_outcomes

DAYS = pd.date_range("2024-12-01", periods=4)
# Area "a": levels 2, 0, 1, 0 on 1-4 Dec; area "b": never warned.
WARNED = pd.DataFrame({"area_id": ["a"] * 4 + ["b"] * 4, "date": list(DAYS) * 2, "level": [2, 0, 1, 0, 0, 0, 0, 0]})
# Reports: "a" on 1 and 2 Dec, "b" on 4 Dec.
REPORTED = pd.DataFrame({"area_id": ["a", "a", "b"], "date": [DAYS[0], DAYS[1], DAYS[3]]})


def test_each_area_day_is_a_hit_miss_false_alarm_or_correct_negative():
    outcomes = warning_outcomes(WARNED, REPORTED, observed_until=DAYS[-1])
    assert outcomes["outcome"].tolist() == ["hit", "miss", "false_alarm", "correct_negative",
                                            "correct_negative", "correct_negative", "correct_negative", "miss"]


def test_days_after_the_observations_end_are_not_verified():
    outcomes = warning_outcomes(WARNED, REPORTED, observed_until=DAYS[1])
    assert len(outcomes) == 4 and pd.DatetimeIndex(outcomes["date"]).max() == DAYS[1]


def test_a_higher_minimum_level_turns_level_1_into_no_warning():
    outcomes = warning_outcomes(WARNED, REPORTED, observed_until=DAYS[-1], min_level=2)
    assert outcomes["outcome"].tolist()[:4] == ["hit", "miss", "correct_negative", "correct_negative"]


def test_counts_per_window_give_pod_and_far_nan_where_undefined():
    outcomes = warning_outcomes(WARNED, REPORTED, observed_until=DAYS[-1])
    counts = outcome_counts(outcomes, end=DAYS[-1], windows_days=(2, 30)).set_index(["window_days", "area_id"])
    a30, b30, a2 = counts.loc[(30, "a")], counts.loc[(30, "b")], counts.loc[(2, "a")]
    assert (a30["hit"], a30["miss"], a30["false_alarm"], a30["correct_negative"], a30["days"]) == (1, 1, 1, 1, 4)
    assert a30["pod"] == pytest.approx(0.5) and a30["far"] == pytest.approx(0.5)
    assert (b30["miss"], b30["pod"], np.isnan(b30["far"])) == (1, 0.0, True)  # never warned: no FAR
    assert (a2["false_alarm"], a2["correct_negative"], a2["days"]) == (1, 1, 2)  # 3 and 4 Dec only
    assert np.isnan(a2["pod"]) and a2["far"] == 1.0  # no event in the window


def test_an_area_with_no_day_in_a_window_is_listed_with_zero_days():
    outcomes = warning_outcomes(WARNED, REPORTED, observed_until=DAYS[-1])
    counts = outcome_counts(outcomes, end=DAYS[-1] + pd.Timedelta(days=10), windows_days=(5,))
    assert counts["area_id"].tolist() == ["a", "b"] and counts["days"].tolist() == [0, 0]


def test_reports_are_placed_in_every_area_that_holds_them_once_a_day():
    areas = gpd.GeoDataFrame({"area_id": ["city", "core"]},
                             geometry=[box(100.0, 5.0, 100.5, 5.5), box(100.3, 5.4, 100.4, 5.5)], crs="EPSG:4326")
    reports = pd.DataFrame({"date": ["2024-12-01", "2024-12-01", "2024-12-02"], "lon": [100.35, 100.36, 100.1],
                            "lat": [5.45, 5.41, 5.2]})
    found = reports_in_areas(reports, areas.to_crs("EPSG:32647"))
    assert list(found.itertuples(index=False, name=None)) == [
        ("city", pd.Timestamp("2024-12-01")), ("city", pd.Timestamp("2024-12-02")), ("core", pd.Timestamp("2024-12-01"))]


@pytest.mark.parametrize(("warned", "message"), [
    (WARNED.drop(columns="level"), r"`warned` lacks the columns \['level'\]"),
    (pd.concat([WARNED, WARNED.head(1)]), "`warned` holds an area twice on one day"),
])
def test_bad_warning_tables_are_refused_with_a_clear_message(warned, message):
    with pytest.raises(ValueError, match=message):
        warning_outcomes(warned, REPORTED, observed_until=DAYS[-1])


def test_inputs_are_left_unmodified():
    warned, reported = WARNED.copy(), REPORTED.copy()
    warning_outcomes(warned, reported, observed_until=DAYS[-1])
    pd.testing.assert_frame_equal(warned, WARNED)
    pd.testing.assert_frame_equal(reported, REPORTED)
