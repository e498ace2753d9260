import numpy as np
import pytest

from models.heat.levels import band_level, met_level_attrs, sustained_level, wbgt_band_attrs

MET_MALAYSIA_TASMAX_DEGC = (35.0, 37.0, 40.0)  # levels 1, 2, 3 when held 3 days (HeatConfig's default)
NEA_WBGT_BANDS_DEGC = (31.0, 33.0)  # WBGT < 31 low, 31-33 moderate, >= 33 high


def test_two_hot_days_then_a_cool_one_is_not_a_level():
    level = sustained_level(np.array([35.5, 36.0, 34.0]), MET_MALAYSIA_TASMAX_DEGC, days=3)
    assert level.tolist() == [0, 0, 0]


def test_three_hot_days_in_a_row_are_a_level_on_the_third():
    level = sustained_level(np.array([35.5, 36.0, 35.1, 34.0]), MET_MALAYSIA_TASMAX_DEGC, days=3)
    assert level.tolist() == [0, 0, 1, 0]


def test_the_sustained_level_is_the_lowest_daily_level_of_the_window():
    tasmax = np.array([[40.5, 37.2, 41.0, 40.1, 40.0], [33.0, 41.0, 41.0, 41.0, np.nan]])
    level = sustained_level(tasmax, MET_MALAYSIA_TASMAX_DEGC, days=3)
    assert level.tolist() == [[0, 0, 2, 2, 3], [0, 0, 0, 3, 0]]  # a missing day confirms nothing


def test_band_levels_count_the_thresholds_reached():
    wbgt = np.array([30.9, 31.0, 32.9, 33.0, np.nan])
    assert band_level(wbgt, NEA_WBGT_BANDS_DEGC).tolist() == [0, 1, 1, 2, 0]


def test_each_product_names_its_own_levels_and_thresholds():
    met = met_level_attrs(MET_MALAYSIA_TASMAX_DEGC, sustained_days=3, observed_days=2)
    wbgt = wbgt_band_attrs(NEA_WBGT_BANDS_DEGC)
    assert met["flag_meanings"] == "none heat_alert heatwave extreme_heatwave"
    assert wbgt["flag_meanings"] == "low moderate high"
    assert met["flag_values"].dtype == wbgt["flag_values"].dtype == np.int8
    assert met["flag_values"].tolist() == [0, 1, 2, 3] and wbgt["flag_values"].tolist() == [0, 1, 2]
    assert "35, 37, 40" in met["comment"] and "3 days in a row" in met["comment"] and "2 observed" in met["comment"]
    assert "31, 33" in wbgt["comment"] and "WBGT" in wbgt["long_name"] and "MET Malaysia" in met["long_name"]


def test_a_level_of_one_day_says_it_is_not_held():
    assert "on the day alone, not held" in met_level_attrs((35.0, 37.0, 40.0), sustained_days=1, observed_days=0)[
        "comment"]


def test_levels_refuse_thresholds_out_of_order_and_empty_windows():
    with pytest.raises(ValueError, match="`thresholds` must be one or more strictly increasing values"):
        band_level(np.array([30.0]), (33.0, 31.0))
    with pytest.raises(ValueError, match="`days` must be >= 1, got 0"):
        sustained_level(np.array([30.0]), MET_MALAYSIA_TASMAX_DEGC, days=0)
