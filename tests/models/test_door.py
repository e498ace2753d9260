"""The depth of water given a flood (models.warning.door), on constructed reports with known answers."""

import json

import numpy as np
import pytest

from models.warning.door import DoorDepth, fit_door_depth, forecast_door, water_at_door


def _two_grounds(n: int = 25) -> DoorDepth:
    """n reports of 20 cm on flat ground (depression 0 m), n of 60 cm in 1 m depressions."""
    depth = np.r_[np.full(n, 20.0), np.full(n, 60.0)]
    ground = np.r_[np.zeros(n), np.ones(n)]
    return fit_door_depth(depth, ground, edges=(0.1, 0.5), min_reports=20)


def test_exceedance_by_band_is_the_share_of_reported_depths_above_the_floor():
    door = _two_grounds()
    assert door.n_reports == (25, 0, 25) and door.pooled == (False, True, False)
    # each band's 25 reports plus 20 reports' worth of all depths (half 20 cm, half 60 cm)
    np.testing.assert_allclose(door.exceedance([0.0, 1.0], 30.0), [10 / 45, 35 / 45])
    np.testing.assert_allclose(door.exceedance([0.3], 30.0), [0.5])  # the empty middle band is pooled
    np.testing.assert_allclose(door.expected_cm([0.0, 0.3, 1.0]), [20 + 40 * 10 / 45, 40.0, 20 + 40 * 35 / 45])


def test_a_raised_floor_lowers_the_chance_of_water_above_it():
    depth = np.arange(5.0, 105.0, 5.0).repeat(2)  # 40 reports, 5..100 cm, all on flat ground
    door = fit_door_depth(depth, np.zeros(depth.size), edges=(0.5,), min_reports=20)
    out = water_at_door(0.5, 0.0, [np.nan, 0.0, 0.3, 0.6, 1.5], door)
    chance = out["flood_above_floor_probability"]
    np.testing.assert_allclose(chance, 0.5 * np.array([1.0, 1.0, 14 / 20, 8 / 20, 0.0]))
    assert (np.diff(chance) <= 0).all()
    np.testing.assert_allclose(out["flood_depth_expected_cm"], 52.5)


def test_thin_bands_pool_and_missing_values_are_left_out():
    depth = np.array([10.0, 10.0, 50.0, np.nan, 30.0])
    ground = np.array([0.0, 0.0, 1.0, 1.0, np.nan])
    door = fit_door_depth(depth, ground, edges=(0.5,), min_reports=3)
    assert door.n_reports == (2, 1) and door.pooled == (True, True)
    np.testing.assert_allclose(door.expected_cm([0.0, 1.0]), [70 / 3, 70 / 3])
    assert np.isnan(door.exceedance([np.nan], 0.0)).all() and np.isnan(door.expected_cm([np.nan])).all()


def test_no_reports_give_nan():
    door = fit_door_depth(np.array([]), np.array([]))
    assert np.isnan(door.exceedance([0.0, 2.0], 10.0)).all() and np.isnan(door.expected_cm([0.0])).all()


def test_card_round_trip_is_plain_json():
    door = _two_grounds()
    text = json.dumps(door.to_dict())
    assert DoorDepth.from_dict(json.loads(text)) == door
    assert forecast_door({"flood_depth_model": text}) == door and forecast_door({}) is None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"edges": (0.5, 0.1)}, "`edges` must increase"),
    ({"min_reports": 0}, "`min_reports` must be >= 1"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_door_depth(np.array([10.0]), np.array([0.0]), **kwargs)


def test_shapes_must_match():
    with pytest.raises(ValueError, match="differ in shape"):
        fit_door_depth(np.array([10.0, 20.0]), np.array([0.0]))
