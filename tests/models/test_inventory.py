"""report_rate_from_surveys: the share of surveyed flood cell-days that the inventory reports."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from models.inventory import report_rate_from_surveys

# ten land cells of 30 m in a row, centres at x = 15 .. 285 m, y = 15 m
CELLS = pd.DataFrame({"cell": np.arange(10), "x_m": 15.0 + 30 * np.arange(10), "y_m": 15.0})
# 2024-01-03: cell 2 floods (its neighbours 1 and 3 lie within 40 m); 2024-01-07: cells 7 and 8 (6..9 near)
EXTENTS = gpd.GeoDataFrame(
    {"event_date": ["2024-01-03", "2024-01-07", "2024-01-07"], "source": "test survey"},
    geometry=[box(62, 0, 88, 30), box(212, 0, 238, 30), box(238, 0, 262, 30)], crs="EPSG:32647")
# a report on cell 3 (labels 2, 3, 4) on the day; one on cell 7 a day early (labels nothing that flooded)
REPORTS = pd.DataFrame({"date": ["2024-01-03", "2024-01-06"], "x_m": [105.0, 225.0], "y_m": [15.0, 15.0]})


def test_the_rate_is_the_share_of_near_flood_cell_days_with_a_report_on_the_same_date():
    found = report_rate_from_surveys(EXTENTS, REPORTS, CELLS, label_radius_m=40)
    assert (found.events, found.cell_days, found.reported_cell_days) == (2, 7, 2)
    assert found.rate == pytest.approx(2 / 7)
    assert list(found.per_event["event_date"]) == [pd.Timestamp("2024-01-03"), pd.Timestamp("2024-01-07")]
    np.testing.assert_allclose(found.per_event["rate"], [2 / 3, 0.0])
    np.testing.assert_array_equal(found.per_event["cell_days"], [3, 4])


def test_a_fully_reported_event_has_rate_one():
    reports = pd.DataFrame({"date": ["2024-01-03"] * 3, "x_m": [45.0, 75.0, 105.0], "y_m": 15.0})
    found = report_rate_from_surveys(EXTENTS.iloc[:1], reports, CELLS, label_radius_m=40)
    assert (found.rate, found.cell_days, found.high) == (1.0, 3, 1.0) and 0 < found.low < 1


def test_the_interval_is_wilsons_on_cell_days_per_label_disk():
    # a 10 m radius: every cell is its own disk, so the trials are the cell-days (1 of 4 reported)
    reports = pd.DataFrame({"date": ["2024-01-07"], "x_m": [225.0], "y_m": [15.0]})
    extents = EXTENTS.assign(geometry=[box(62, 0, 88, 30), box(182, 0, 238, 30), box(238, 0, 262, 30)])
    found = report_rate_from_surveys(extents, reports, CELLS, label_radius_m=10)
    assert (found.cell_days, found.reported_cell_days, found.cells_per_disk) == (4, 1, 1.0)
    # Wilson, z = 1.6449: centre (0.25 + z^2/8) / (1 + z^2/4), half z/(1 + z^2/4) sqrt(3/64 + z^2/64)
    assert (found.low, found.high) == pytest.approx((0.05790, 0.64384), abs=1e-4)
    wider = report_rate_from_surveys(EXTENTS, REPORTS, CELLS, label_radius_m=40)
    assert wider.cells_per_disk == pytest.approx(2.8)  # two end cells reach 1 neighbour, the rest 2


def test_extents_of_one_date_are_joined_and_reports_on_other_dates_do_not_count():
    late = REPORTS.assign(date=["2024-01-04", "2024-01-06"])
    found = report_rate_from_surveys(EXTENTS, late, CELLS, label_radius_m=40)
    assert found.reported_cell_days == 0 and found.rate == 0.0 and found.low == 0.0


def test_inputs_are_left_unmodified():
    extents, reports, cells = EXTENTS.copy(), REPORTS.copy(), CELLS.copy()
    report_rate_from_surveys(extents, reports, cells, label_radius_m=40)
    pd.testing.assert_frame_equal(extents, EXTENTS)
    pd.testing.assert_frame_equal(reports, REPORTS)
    pd.testing.assert_frame_equal(cells, CELLS)


def test_no_surveys_is_an_error():
    with pytest.raises(ValueError, match="`extents` holds no surveyed flood extents"):
        report_rate_from_surveys(EXTENTS.iloc[:0], REPORTS, CELLS, label_radius_m=40)


def test_extents_without_a_land_cell_inside_are_an_error():
    away = EXTENTS.translate(xoff=10_000)
    with pytest.raises(ValueError, match="no land cell centre lies inside the 3 surveyed flood extents"):
        report_rate_from_surveys(EXTENTS.set_geometry(away), REPORTS, CELLS, label_radius_m=40)


def test_extents_without_dates_and_a_radius_of_zero_are_errors():
    with pytest.raises(ValueError, match="`extents` lacks column"):
        report_rate_from_surveys(EXTENTS.drop(columns="event_date"), REPORTS, CELLS, label_radius_m=40)
    with pytest.raises(ValueError, match="`label_radius_m` must be > 0"):
        report_rate_from_surveys(EXTENTS, REPORTS, CELLS, label_radius_m=0)


def test_an_empty_inventory_reports_nothing():
    found = report_rate_from_surveys(EXTENTS, REPORTS.iloc[:0], CELLS, label_radius_m=40)
    assert found.rate == 0.0 and found.cell_days == 7
