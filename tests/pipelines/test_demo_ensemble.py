"""The demo world's ensemble: the control is the single run, the spread matches the errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import xarray as xr

from pipelines.bundle.readers import read_provenance
from pipelines.bundle.validate import validate_bundle
from pipelines.config import load_city_config
from pipelines.demo_world.forecasts import ensemble_values, forecast_errors, forecast_values
from pipelines.demo_world.generate import generate_demo
from pipelines.demo_world.weather import bayan_lepas_climatology, simulate_regional_weather
from tests.pipelines.cf_checker import cf_findings, unexpected
from tests.pipelines.test_config import write_config
from tests.pipelines.test_demo_world import TIMEZONE, _generate

TINY = {"start": dt.date(2021, 1, 1), "end": dt.date(2021, 1, 8), "forecast_days": 7}
MEMBER_DATES = (dt.date(2021, 1, 6), dt.date(2021, 1, 7))


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    """The same tiny world (five 7-day forecasts) without members and with 4 on two issue dates."""
    root = tmp_path_factory.mktemp("ensemble")
    _generate(root / "single", 3, TINY)
    summary = _generate(root / "members", 3, TINY, ensemble_members=4, ensemble_issues=MEMBER_DATES)
    return root / "single/bundle/weather/forecasts", root / "members/bundle/weather/forecasts", summary


@pytest.fixture(scope="module")
def weather():
    """Fifty days of hourly regional weather on 3 x 2 points."""
    return simulate_regional_weather(np.array([5.45, 5.4, 5.35]), np.array([100.3, 100.35]), dt.date(2021, 1, 1),
                                     50, TIMEZONE, np.random.default_rng(1), bayan_lepas_climatology())


def _ensemble(weather, issues: int, members: int, n_leads: int = 168) -> tuple[dict, dict]:
    """Single-run and ensemble values of `issues` daily forecasts from day 3 of `weather`."""
    starts = 72 + 24 * np.arange(issues)
    single = forecast_values(weather, starts, n_leads, np.random.default_rng(5), np.random.default_rng(6))
    control = forecast_errors(issues, n_leads, 6, np.random.default_rng(5), np.random.default_rng(6))
    return single, ensemble_values(weather, starts, control, members, np.random.default_rng(7),
                                   np.random.default_rng(8))


def test_member_files_carry_the_single_runs_values_as_member_0_and_other_files_stay_byte_identical(worlds):
    single, members, summary = worlds
    assert summary["member_files"] == 2
    for path in sorted(single.glob("*.nc")):
        with xr.open_dataset(path) as alone, xr.open_dataset(members / path.name) as ensemble:
            if dt.date.fromisoformat(path.stem) in MEMBER_DATES:
                assert ensemble["member"].values.tolist() == [0, 1, 2, 3, 4]
                assert ensemble["member"].dtype == np.int32
                for name in ("pr", "tas", "hurs", "sfcWind", "rsds", "zos"):
                    control = ensemble[name].sel(member=0).values
                    assert control.tobytes() == alone[name].values.tobytes(), name
                    assert not np.array_equal(ensemble[name].sel(member=1).values, control), name
            else:
                assert "member" not in ensemble.dims
                assert path.read_bytes() == (members / path.name).read_bytes()


def test_member_files_pass_validate_beside_single_runs(worlds):
    bundle = worlds[1].parent.parent
    assert validate_bundle(bundle, timezone=TIMEZONE, lead_days=7, check_forecasts="all") == []


def test_a_member_file_has_no_cf_finding(worlds):
    assert unexpected(cf_findings(worlds[1] / f"{MEMBER_DATES[0]}.nc"), allowed={}) == {}


def test_the_ensemble_control_is_the_single_run_and_members_keep_their_first_three_days_at_any_length(weather):
    single, week = _ensemble(weather, issues=4, members=3)
    _, three_days = _ensemble(weather, issues=4, members=3, n_leads=72)
    for name in single:
        np.testing.assert_array_equal(week[name][:, 0], single[name])
        np.testing.assert_array_equal(week[name][:, :, :72], three_days[name])


def test_spread_grows_with_lead_and_matches_the_ensemble_mean_error(weather):
    issues, members = 40, 20
    single, ensemble = _ensemble(weather, issues, members)
    starts = 72 + 24 * np.arange(issues)
    truth = weather["tas"].values[starts[:, None] + np.arange(168)]  # (issues, leads, y, x)
    tas = ensemble["tas"]  # (issues, member, leads, y, x)
    by_day = {"axis": (0, 2, 3, 4)}  # over issues, hours of the day and points
    spread = np.sqrt(tas.var(axis=1, ddof=1).reshape(issues, 7, 24, 3, 2).mean(**by_day))
    mean_error = (tas.mean(axis=1) - truth).reshape(issues, 7, 24, 3, 2)
    rmse = np.sqrt((mean_error**2).mean(**by_day))
    ratio = spread / rmse * np.sqrt((members + 2) / (members + 1))  # sqrt((M + 1) / M), M = 21 runs
    assert spread[6] > 2 * spread[0]
    np.testing.assert_array_less(np.abs(ratio - 1), 0.25)
    control_rmse = np.sqrt(((single["tas"] - truth) ** 2).reshape(issues, 7, 24, 3, 2).mean(**by_day))
    np.testing.assert_array_less(rmse, control_rmse)  # the mean of 21 exchangeable runs beats one of them


def _tiny_city(raw: dict, members: int) -> None:
    """The demo config shrunk to 1.5 x 1.2 km at 60 m over 2021's first 75 days, with `members`."""
    raw["grid"] |= {"resolution_m": 60, "bounds": [646800, 598500, 648300, 599700]}
    raw["source"] |= {"start": "2021-01-01", "end": "2021-03-16", "ensemble_members": members}
    raw["paths"] = {"bundle": "data/bundle", "store": "store"}
    raw["evaluation"] = {"validation": ["2021-03-01", "2021-03-07"], "test": ["2021-03-08", "2021-03-16"]}


def test_the_demo_source_puts_members_on_the_validation_and_test_issues_and_rebuilds_only_when_they_change(tmp_path):
    config = load_city_config(write_config(tmp_path, lambda raw: _tiny_city(raw, members=2)))
    generate_demo.fn(config)
    made = read_provenance(config.bundle_dir)
    assert made["generator_arguments"]["ensemble_issues"] == ["2021-03-01", "2021-03-16"]
    with_members = []
    for path in sorted((config.bundle_dir / "weather/forecasts").glob("*.nc")):
        with xr.open_dataset(path) as forecast:
            if "member" in forecast.dims:
                with_members.append(path.stem)
    assert with_members[0] == "2021-03-01" and with_members[-1] == "2021-03-16" and len(with_members) == 16
    stamp = (config.bundle_dir / "provenance.json").stat().st_mtime_ns
    generate_demo.fn(config)  # the same world: nothing written
    assert (config.bundle_dir / "provenance.json").stat().st_mtime_ns == stamp
    generate_demo.fn(load_city_config(write_config(tmp_path, lambda raw: _tiny_city(raw, members=0))))
    assert "ensemble_members" not in read_provenance(config.bundle_dir)["generator_arguments"]
    with xr.open_dataset(config.bundle_dir / "weather/forecasts/2021-03-10.nc") as forecast:
        assert "member" not in forecast.dims
