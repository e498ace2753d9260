import numpy as np
import pandas as pd
import pytest

from models.split import time_split
from models.tables import cells_near_reports, flood_rows, heat_rows

CELLS = pd.DataFrame({"cell": [0, 1, 2, 5], "x_m": [15.0, 45.0, 75.0, 45.0], "y_m": [15.0, 15.0, 15.0, 45.0]})
DAYS = pd.date_range("2024-01-01", periods=10, freq="D")


def test_a_report_labels_the_cells_within_the_radius_once():
    reports = pd.DataFrame({"date": ["2024-01-03", "2024-01-03"], "x_m": [44.0, 46.0], "y_m": [16.0, 14.0]})
    pairs = cells_near_reports(reports, CELLS, radius_m=31.0)
    assert sorted(pairs["cell"]) == [0, 1, 2, 5]  # 29-31 m away; duplicates from the 2nd report dropped
    assert (pairs["date"] == pd.Timestamp("2024-01-03")).all()


def test_a_report_far_from_land_labels_nothing():
    reports = pd.DataFrame({"date": ["2024-01-03"], "x_m": [5000.0], "y_m": [5000.0]})
    assert cells_near_reports(reports, CELLS, radius_m=90.0).empty


def test_each_flooded_cell_day_is_positive_at_every_lead_that_reaches_it():
    flooded = pd.DataFrame({"date": pd.to_datetime(["2024-01-05"]), "cell": [2]})
    rows = flood_rows(DAYS, 3, CELLS, flooded, negatives_per_positive=2, rng=np.random.default_rng(0))
    positives = rows[rows["label"] == 1]
    assert sorted(zip(positives["issue_index"], positives["lead"], strict=True)) == [(2, 2), (3, 1), (4, 0)]


def test_negative_weights_restore_the_population_count():
    flooded = pd.DataFrame({"date": pd.to_datetime(["2024-01-05", "2024-01-06"]), "cell": [2, 5]})
    rows = flood_rows(DAYS, 3, CELLS, flooded, negatives_per_positive=3, rng=np.random.default_rng(1))
    negatives = rows[rows["label"] == 0]
    population = len(DAYS) * 3 * len(CELLS) - (rows["label"] == 1).sum()
    assert negatives["weight"].sum() == pytest.approx(population)
    key = ["issue_index", "lead", "cell"]
    assert not rows.duplicated(key).any() or rows[rows.duplicated(key, keep=False)]["label"].eq(0).all()


def test_heat_rows_read_the_nearest_cell_for_each_lead():
    obs = pd.DataFrame({"station_id": ["A", "A"], "date": pd.to_datetime(["2024-01-01", "2024-01-04"]),
                        "tasmax": [32.0, np.nan], "x_m": [74.0, 74.0], "y_m": [16.0, 16.0]})
    rows = heat_rows(obs, DAYS, 3, CELLS)
    assert len(rows) == 1  # the first day has only lead 0 inside the issue dates; NaN dropped
    assert rows.iloc[0][["issue_index", "lead", "cell", "tasmax"]].tolist() == [0, 0, 2, 32.0]


def test_time_split_is_ordered_and_no_target_crosses_a_boundary():
    days = pd.date_range("2024-01-01", periods=40, freq="D")
    issue = np.repeat(np.arange(40), 3)
    lead = np.tile([0, 1, 2], 40)
    split = time_split(days, issue, lead, holdout_days=10, validation_days=10)
    target = days[issue] + pd.to_timedelta(lead, unit="D")
    assert target[split == "train"].max() < days[issue[split == "valid"]].min()
    assert target[split == "valid"].max() < days[issue[split == "test"]].min()
    assert set(split[issue >= 30]) == {"test"}


def test_time_split_refuses_a_period_too_short():
    days = pd.date_range("2024-01-01", periods=15, freq="D")
    with pytest.raises(ValueError, match="cannot hold 10 validation and 10 held-out days"):
        time_split(days, np.arange(15), np.zeros(15, int), holdout_days=10, validation_days=10)
