"""Backtest pieces on arrays small enough to check by hand."""

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from shapely.geometry import Point

from models.backtest import (
    OUTCOMES,
    alert_outcomes,
    asset_alert_outcomes,
    asset_heat_levels,
    flood_climatology,
    flood_persistence,
    flooded_grid,
    grid_sums,
    heat_climatology,
    heat_level_counts,
    heat_persistence,
    level_flip_flop_sums,
    origin_split,
    outcome_calendar,
    rolling_origins,
    row_sums,
)
from tests.conftest import CRS, ORIGIN, template


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


def test_flooded_grid_marks_each_cell_on_issue_date_plus_lead():
    flooded = pd.DataFrame({"date": pd.to_datetime(["2023-01-02", "2023-01-03", "2023-01-09"]), "cell": [7, 9, 7]})
    grid = flooded_grid(flooded, pd.DatetimeIndex(["2023-01-01", "2023-01-02"]), 2, np.array([7, 9]))
    assert grid.shape == (2, 2, 2)
    np.testing.assert_array_equal(grid[0], [[False, False], [True, False]])  # 1 Jan: lead 1 is 2 Jan, cell 7
    np.testing.assert_array_equal(grid[1], [[True, False], [False, True]])  # 2 Jan: lead 0 cell 7, lead 1 cell 9


def test_grid_and_row_sums_pool_finite_values_per_cell():
    total, count = grid_sums(np.array([[[1.0, np.nan]], [[3.0, 2.0]]]))
    np.testing.assert_array_equal(total, [4.0, 2.0])
    np.testing.assert_array_equal(count, [2, 1])
    total, count = row_sums(np.array([0, 2, 2, 2]), np.array([1.0, 2.0, np.nan, 4.0]), 3)
    np.testing.assert_array_equal(total, [1.0, 0.0, 6.0])
    np.testing.assert_array_equal(count, [1, 0, 2])


def test_alert_outcomes_are_hits_misses_false_alarms_and_correct_negatives():
    codes = alert_outcomes(np.array([True, False, True, False, True]), np.array([1, 1, 0, 0, np.nan]))
    np.testing.assert_array_equal(codes[:4], [OUTCOMES[k] for k in ("hit", "miss", "false_alarm",
                                                                    "correct_negative")])
    assert np.isnan(codes[4])


def _grid(values: np.ndarray, name: str, units: str) -> xr.DataArray:
    """(issue_date, lead, y, x) values on a 2x2 grid of 30 m cells."""
    cells = template(2, 2)
    return xr.DataArray(values, dims=("issue_date", "lead", "y", "x"), name=name, attrs={"units": units},
                        coords={"issue_date": pd.date_range("2023-01-01", periods=2), "lead": [0],
                                "y": cells.y, "x": cells.x})


def test_asset_alert_outcomes_compare_each_assets_alert_with_its_cells_event():
    # one point asset in the north-west cell; two issue dates, one lead
    flood = np.zeros((2, 1, 2, 2))
    flood[:, 0, 0, 0] = [0.5, 0.01]  # alert on day 1 only (default threshold 0.05)
    tasmax = np.full((2, 1, 2, 2), 36.0)
    land = xr.DataArray(np.ones((2, 2), bool), dims=("y", "x"), coords={"y": template(2, 2).y,
                                                                         "x": template(2, 2).x})
    forecast = xr.Dataset({"flood_probability": _grid(flood, "flood_probability", "1"),
                           "tasmax_q50": _grid(tasmax, "tasmax_q50", "degC"),
                           "tasmax_q90": _grid(tasmax + 2, "tasmax_q90", "degC"), "land": land}).rio.write_crs(CRS)
    seen_flood = np.zeros((2, 1, 2, 2))
    seen_flood[1, 0, 0, 0] = 1  # flooded on day 2 only
    seen_heat = np.stack([np.full((1, 2, 2), 34.0), np.full((1, 2, 2), np.nan)])  # cool, then not observed
    observed = xr.Dataset({"flood": _grid(seen_flood, "flood", "1"), "tasmax": _grid(seen_heat, "tasmax", "degC"),
                           "land": land}).rio.write_crs(CRS)
    assets = gpd.GeoDataFrame({"asset_id": ["a0"]}, geometry=[Point(ORIGIN[0] + 15, ORIGIN[1] - 15)], crs=CRS)
    out = asset_alert_outcomes(forecast, observed, assets, default_flood_threshold=0.05,
                               default_heat_threshold_degC=35.0, nearest_land_cells=3)
    flood_rows = out[out["hazard"] == "flood"]
    assert list(flood_rows["outcome"]) == [OUTCOMES["false_alarm"], OUTCOMES["miss"]]
    heat_rows = out[out["hazard"] == "heat"]
    assert heat_rows["outcome"].iloc[0] == OUTCOMES["false_alarm"] and np.isnan(heat_rows["outcome"].iloc[1])
    assert list(out["issue_date"][:2]) == list(pd.date_range("2023-01-01", periods=2))


def test_a_sites_flood_outcome_is_its_neighbourhoods_alert_against_a_flood_in_the_neighbourhood():
    # the same site, now with its 250 m neighbourhood as a warning area: the cells never reach the
    # alert, the neighbourhood's chance does on day 1; the neighbourhood floods on day 2, not the site's cell
    cells = template(2, 2)
    land = xr.DataArray(np.ones((2, 2), bool), dims=("y", "x"), coords={"y": cells.y, "x": cells.x})
    quiet = np.full((2, 1, 2, 2), 0.001)
    site = Point(ORIGIN[0] + 15, ORIGIN[1] - 15)
    area = {"area_id": ("area", ["site-a0"]), "area_name": ("area", ["around a0"]), "area_kind": ("area", ["site"]),
            "area_geometry": ("area", [site.buffer(250).wkt])}
    chance = xr.DataArray([[[0.7]], [[0.01]]], dims=("issue_date", "lead", "area"))
    forecast = xr.Dataset({"flood_probability": _grid(quiet, "flood_probability", "1"),
                           "tasmax_q50": _grid(quiet + 30, "tasmax_q50", "degC"),
                           "tasmax_q90": _grid(quiet + 31, "tasmax_q90", "degC"), "land": land,
                           "area_flood_probability": chance,
                           "area_flood_level": chance.copy(data=[[[2]], [[0]]]).assign_attrs(
                               level_thresholds=[0.05, 0.3, 0.8, np.nan])}).assign_coords(area).rio.write_crs(CRS)
    observed = xr.Dataset({"flood": _grid(np.zeros((2, 1, 2, 2)), "flood", "1"),
                           "tasmax": _grid(np.full((2, 1, 2, 2), 30.0), "tasmax", "degC"), "land": land}
                          ).rio.write_crs(CRS)
    assets = gpd.GeoDataFrame({"asset_id": ["a0"]}, geometry=[site], crs=CRS)
    options = {"default_flood_threshold": 0.05, "default_heat_threshold_degC": 35.0, "nearest_land_cells": 3}
    out = asset_alert_outcomes(forecast, observed, assets, observed_areas=np.array([[[0]], [[1]]]), **options)
    flood_rows = out[out["hazard"] == "flood"]
    assert list(flood_rows["alert"]) == [True, False]
    assert list(flood_rows["outcome"]) == [OUTCOMES["false_alarm"], OUTCOMES["miss"]]
    with pytest.raises(ValueError, match="observed_areas"):
        asset_alert_outcomes(forecast, observed, assets, **options)


def test_outcome_calendar_puts_each_outcome_on_the_day_forecast():
    outcomes = pd.DataFrame({"hazard": "flood", "asset_id": "a0",
                             "issue_date": pd.to_datetime(["2023-01-01", "2023-01-01", "2023-01-02"]),
                             "lead": [0, 1, 0], "outcome": np.array([1, 3, 2], "float32")})
    calendar = outcome_calendar(outcomes, {"a0": "Clock Tower"})
    assert calendar.dims == ("hazard", "asset", "lead", "date")
    assert str(calendar.asset_name.values[0]) == "Clock Tower"
    np.testing.assert_array_equal(calendar.sel(hazard="flood", asset="a0", lead=0).values, [1, 2])
    assert float(calendar.sel(hazard="flood", asset="a0", lead=1, date="2023-01-02")) == 3
    assert calendar.attrs["flag_meanings"] == "correct_negative hit miss false_alarm"


def _heat_grid(values: list[list[float]]) -> xr.DataArray:
    """(issue_date, lead, y, x) of one value per issue and lead on every cell of a 2x2 grid of 30 m."""
    cells = template(2, 2)
    array = np.broadcast_to(np.asarray(values, float)[:, :, None, None], (len(values), len(values[0]), 2, 2))
    return xr.DataArray(array, dims=("issue_date", "lead", "y", "x"), attrs={"units": "degC"},
                        coords={"issue_date": pd.date_range("2023-01-01", periods=array.shape[0]),
                                "lead": np.arange(array.shape[1]), "y": cells.y, "x": cells.x})


def test_asset_heat_levels_hold_three_days_from_the_earlier_issues_lead_0_and_the_observed_days():
    # four consecutive issues, three leads; the site sits in the north-west cell
    q50 = [[36, 36, 38], [36, 38, 38], [36, 38, 38], [38, 38, 38]]
    seen = [[36, 36, 34], [36, 34, 38], [34, 38, 38], [38, 38, 38]]  # day d is issue i + lead l, consistent
    land = xr.DataArray(np.ones((2, 2), bool), dims=("y", "x"), coords={"y": template(2, 2).y, "x": template(2, 2).x})
    forecast = xr.Dataset({"tasmax_q50": _heat_grid(q50), "land": land}).rio.write_crs(CRS)
    observed = xr.Dataset({"tasmax": _heat_grid(seen), "land": land}).rio.write_crs(CRS)
    assets = gpd.GeoDataFrame({"asset_id": ["a0"]}, geometry=[Point(ORIGIN[0] + 15, ORIGIN[1] - 15)], crs=CRS)
    issued, observed_level = asset_heat_levels(forecast, observed, assets, thresholds_degC=(35.0, 37.0, 40.0),
                                               sustained_days=3, nearest_land_cells=3)
    # issue 3 (lead 0 = day 3): days 1 and 2 from issues 1 and 2's lead 0 (36, 36), then 38, 38, 38
    np.testing.assert_array_equal(issued[3, :, 0], [1, 1, 2])
    # issue 0 knows no day before it: not hot, so its leads 0-1 have no full hot window
    np.testing.assert_array_equal(issued[0, :, 0], [0, 0, 1])
    # observed days 0..5: 36, 36, 34, 38, 38, 38 -> levels 0, 0, 0, 0, 0, 2
    np.testing.assert_array_equal(observed_level[3, :, 0], [0, 0, 2])
    np.testing.assert_array_equal(observed_level[0, :, 0], [0, 0, 0])


def test_heat_level_counts_give_events_alerts_and_hits_per_asset_and_level():
    forecast = np.array([[[1.0, 0.0], [2.0, np.nan]]])  # (issue, lead, asset)
    observed = np.array([[[1.0, 1.0], [1.0, 2.0]]])
    counts = heat_level_counts(forecast, observed, levels=3)
    np.testing.assert_array_equal(counts["events"], [[2, 0, 0], [1, 0, 0]])  # asset 1's NaN lead counts nowhere
    np.testing.assert_array_equal(counts["alerts"], [[2, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(counts["hits"], [[2, 0, 0], [0, 0, 0]])


def test_level_flip_flop_sums_count_changed_pairs_per_asset_for_each_target_day():
    levels = np.array([[[0, 1], [1, 1]], [[1, 1], [2, np.nan]], [[1, 0], [1, 0]]], float)  # (issue, lead, asset)
    changed, pairs = level_flip_flop_sums(levels)
    # target day 1: issue 0 lead 1 then issue 1 lead 0; target day 2: issue 1 lead 1 then issue 2 lead 0
    np.testing.assert_array_equal(pairs, [2, 1])  # asset 1's pair for day 2 has a missing issue
    np.testing.assert_array_equal(changed, [1, 0])  # asset 0: 1 -> 1 on day 1, 2 -> 1 on day 2
