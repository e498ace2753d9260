"""Feeds that lie, on tiny forecasts: empty, incomplete, frozen, served again and old are named;
a normal forecast and a dry day are not."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pipelines.sources.feed_faults import forecast_faults

ISSUE = pd.Timestamp("2025-05-31 16:00")
HOURS = 24
FILE = "weather/forecasts/2025-06-01.nc"
SENT = ISSUE.floor("D")  # an answer begins at the start of the UTC day asked for


def forecast(issue=ISSUE, hours=HOURS, **overrides):
    """A (lead_time, y=1, x=2) forecast: tas and hurs with a daily cycle by valid hour, some rain.

    `overrides` replace a variable's values (broadcast to the grid)."""
    times = pd.date_range(issue, periods=hours, freq="h")
    cycle = np.sin(2 * np.pi * times.hour.to_numpy() / 24)[:, None, None] * np.ones((1, 1, 2))
    values = {"tas": 28 + 3 * cycle, "hurs": 80 - 10 * cycle, "pr": np.maximum(cycle, 0) * 2.0}
    values |= {name: np.broadcast_to(np.asarray(v, float), (hours, 1, 2)) for name, v in overrides.items()}
    units = {"tas": "degC", "hurs": "%", "pr": "mm h-1"}
    return xr.Dataset(
        {name: (("lead_time", "y", "x"), v.astype("float32"), {"units": units[name]}) for name, v in values.items()},
        coords={"lead_time": np.arange(hours) * np.timedelta64(1, "h"), "time": ("lead_time", times.to_numpy()),
                "y": [5.4], "x": [100.3, 100.4], "forecast_reference_time": issue.to_datetime64()},
    )


def faults(new, previous=None, run_time=None, first_hour_sent=SENT):
    return [str(f) for f in forecast_faults(new, previous, source="open-meteo", file=FILE, issue_time=ISSUE,
                                            run_time=run_time, first_hour_sent=first_hour_sent, max_age_h=30)]


def test_a_normal_forecast_has_no_fault():
    assert faults(forecast(), previous=forecast(ISSUE - pd.Timedelta(days=1)) + 0.5) == []


def test_a_dry_day_with_no_rain_anywhere_is_not_frozen():
    assert faults(forecast(pr=0.0)) == []


def test_a_forecast_without_time_steps_is_empty():
    assert faults(forecast(hours=0)) == [f"open-meteo: {FILE}: lead_time: empty: no time steps"]


def test_a_variable_missing_in_every_hour_is_empty_and_in_some_incomplete():
    hurs = np.full((HOURS, 1, 2), 80.0)
    hurs[5:7, 0, 1] = np.nan
    assert faults(forecast(tas=np.nan, hurs=hurs)) == [
        f"open-meteo: {FILE}: tas: empty: all 24 lead hours missing",
        f"open-meteo: {FILE}: hurs: incomplete: 2 of 24 lead hours missing, first at lead 5 h"]


def test_a_variable_held_at_one_value_through_every_lead_hour_is_frozen():
    tas = 28 + np.zeros((HOURS, 1, 2))
    tas[:, 0, 1] = np.linspace(27, 31, HOURS)  # one point still moves: the other is frozen
    assert faults(forecast(tas=tas, pr=0.4)) == [
        f"open-meteo: {FILE}: tas: frozen: 28 degC through all 24 lead hours at 1 of 2 points",
        f"open-meteo: {FILE}: pr: frozen: 0.4 mm h-1 through all 24 lead hours at 2 of 2 points"]


def test_saturated_air_all_day_is_not_frozen():
    assert faults(forecast(hurs=100.0)) == []


def test_a_variable_is_not_judged_frozen_over_less_than_a_day():
    assert faults(forecast(hours=12, tas=28.0)) == []


def test_the_previous_forecast_served_again_is_named():
    yesterday = forecast(ISSUE - pd.Timedelta(days=1), hours=48)
    again = forecast(hours=24) + 0.0004  # within the tolerance at each of the 24 shared valid hours
    (fault,) = faults(again, previous=yesterday)
    assert fault.startswith(f"open-meteo: {FILE}: tas, hurs, pr: same as before: every value of the 24 valid hours")
    assert "forecast issued 2025-05-30 16:00:00" in fault


def test_a_new_run_with_the_same_sea_level_is_not_the_same_as_before():
    tide = {"zos": np.cos(np.arange(48) / 2)[:, None, None]}
    yesterday = forecast(ISSUE - pd.Timedelta(days=1), hours=48).assign(zos=(("lead_time", "y", "x"),
                                                                            np.broadcast_to(tide["zos"], (48, 1, 2))))
    today = (forecast(hours=24) + 0.5).assign(zos=yesterday["zos"].isel(lead_time=slice(24, None)).variable)
    assert faults(today, previous=yesterday) == []
    served_again = forecast(hours=24).assign(zos=today["zos"].variable)
    (fault,) = faults(served_again, previous=yesterday)
    assert ": tas, hurs, pr: same as before:" in fault


def test_a_new_forecast_that_changes_one_variable_is_not_the_same_as_before():
    yesterday = forecast(ISSUE - pd.Timedelta(days=1), hours=48)
    assert faults(forecast(hours=24, pr=0.0), previous=yesterday) == []


def test_a_model_run_more_than_the_limit_before_the_issue_is_old():
    run = ISSUE - pd.Timedelta(hours=40)
    assert faults(forecast(), run_time=run) == [
        (f"open-meteo: {FILE}: forecast_reference_time: old: the model run, 2025-05-30 00:00:00, is 40 h before "
         "the issue time 2025-05-31 16:00:00 (more than 30 h)")]
    assert faults(forecast(), run_time=ISSUE - pd.Timedelta(hours=16)) == []


def test_without_a_run_time_the_first_hour_sent_dates_the_forecast():
    (fault,) = faults(forecast(), first_hour_sent=pd.Timestamp("2025-05-28"))
    assert "old: the first hour sent, 2025-05-28 00:00:00, is 88 h before" in fault


@pytest.mark.parametrize("shared_hours", [0, 11])
def test_too_few_shared_hours_say_nothing_about_being_served_again(shared_hours):
    yesterday = forecast(ISSUE - pd.Timedelta(hours=HOURS - shared_hours), hours=HOURS)
    assert faults(forecast(), previous=yesterday) == []


def test_the_forecasts_are_left_unmodified():
    new, old = forecast(), forecast(ISSUE - pd.Timedelta(days=1), hours=48)
    copies = new.copy(deep=True), old.copy(deep=True)
    faults(new, previous=old)
    xr.testing.assert_identical(new, copies[0])
    xr.testing.assert_identical(old, copies[1])
