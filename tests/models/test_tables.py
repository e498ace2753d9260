import itertools

import numpy as np
import pandas as pd
import pytest

from models.split import blocked_split, held_out_blocks, spatial_blocks, time_split
from models.tables import (
    cells_near_reports,
    evaluation_rows,
    events_within_radius,
    flood_rows,
    heat_rows,
    with_flood_interactions,
)

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


def test_heat_rows_of_tasmin_read_the_tasmin_column_and_skip_its_gaps():
    obs = pd.DataFrame({"station_id": ["A", "A"], "date": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                        "tasmax": [32.0, 33.0], "tasmin": [np.nan, 25.5], "x_m": [74.0, 74.0], "y_m": [16.0, 16.0]})
    rows = heat_rows(obs, DAYS, 3, CELLS, variable="tasmin")
    assert "tasmax" not in rows
    assert rows[["issue_index", "lead", "tasmin"]].values.tolist() == [[0, 1, 25.5], [1, 0, 25.5]]


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


def test_calibration_period_sits_between_validation_and_test_without_shared_targets():
    days = pd.date_range("2024-01-01", periods=60, freq="D")
    issue = np.repeat(np.arange(60), 3)
    lead = np.tile([0, 1, 2], 60)
    split = time_split(days, issue, lead, holdout_days=10, validation_days=10, calibration_days=15)
    target = days[issue] + pd.to_timedelta(lead, unit="D")
    order = ["train", "valid", "calib", "test"]
    for earlier, later in itertools.pairwise(order):
        assert target[split == earlier].max() < days[issue[split == later]].min()
    assert (split == "calib").sum() > 0


def test_blocked_split_leaks_no_day_and_no_block():
    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", periods=80, freq="D")
    n = 6000
    issue, lead = rng.integers(0, 80, n), rng.integers(0, 3, n)
    x, y = rng.uniform(0, 5000, n), rng.uniform(0, 4000, n)
    blocks = spatial_blocks(x, y, block_m=1000)
    held = held_out_blocks(blocks, share=0.3, seed=1)
    split = blocked_split(time_split(days, issue, lead, holdout_days=15, validation_days=10,
                                     calibration_days=15), np.isin(blocks, held))
    target = days[issue] + pd.to_timedelta(lead, unit="D")
    train = split == "train"
    for scored in ("valid", "test"):
        rows = split == scored
        assert not set(blocks[train]) & set(blocks[rows])  # no block shared
        assert not set(target[train]) & set(target[rows])  # no target day shared
        assert not set(target[train]) & set(days[issue[rows]])  # nor an issue day
    assert set(blocks[split == "test"]) <= set(held)
    assert 0 < len(held) < len(np.unique(blocks))


def test_spatial_blocks_are_squares_of_the_given_size():
    blocks = spatial_blocks(np.array([10.0, 990.0, 1010.0, 10.0]), np.array([5.0, 5.0, 5.0, 1500.0]), block_m=1000)
    assert blocks[0] == blocks[1] != blocks[2] and blocks[3] not in blocks[:3]


def test_held_out_blocks_refuse_a_single_block():
    with pytest.raises(ValueError, match="at least 2 are needed"):
        held_out_blocks(np.zeros(5, int), share=0.3, seed=0)


def test_a_gridded_event_marks_the_cells_within_the_radius():
    flooded = np.zeros((1, 5, 5), bool)
    flooded[0, 2, 2] = True
    near = events_within_radius(flooded, 1.0)
    assert near[0].sum() == 5 and near[0, 2, 3] and not near[0, 3, 3]


def test_evaluation_rows_keep_every_wet_cell_day_and_weight_the_dry_sample():
    wet = np.array([[True, False], [False, False]])
    rows = evaluation_rows(np.array([7, 8]), 2, np.arange(1000), wet, dry_share=0.1,
                           rng=np.random.default_rng(0))
    assert (rows["wet_day"] == ((rows["issue_index"] == 7) & (rows["lead"] == 0))).all()
    assert rows["wet_day"].sum() == 1000
    dry = rows[~rows["wet_day"]]
    assert dry["weight"].sum() == pytest.approx(3000, rel=0.1) and (dry["weight"] == 10).all()


def test_flood_interactions_block_only_cells_the_sea_reaches():
    frame = pd.DataFrame({"rain_max_3h_mm": [60.0, 60.0, 10.0], "drainage_capacity_mm": [40.0, 40.0, 40.0],
                          "sea_level_at_peak_rain_m": [1.2, 1.2, 1.2], "tide_block_level_m": [1.0, np.nan, 0.5]})
    out = with_flood_interactions(frame)
    np.testing.assert_allclose(out["rain_excess_3h_mm"], [20.0, 20.0, 0.0])
    np.testing.assert_allclose(out["sea_over_block_level_m"], [0.2, np.nan, 0.7])
    np.testing.assert_allclose(out["rain_excess_tide_blocked_mm"], [20.0, 0.0, 0.0])
    assert "rain_excess_3h_mm" not in frame
