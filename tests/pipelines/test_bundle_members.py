"""Ensemble forecasts in a bundle: a `member` dim, checked by validate_bundle, naming file and field."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import xarray as xr

from pipelines.bundle.readers import read_history
from pipelines.bundle.validate import validate_bundle
from pipelines.feature_cache.drivers import drivers_for_dates
from tests.pipelines.bundle_factory import (
    FORECAST_DATES,
    LEAD_DAYS,
    TIMEZONE,
    VALIDATE_KWARGS,
    ensemble_forecast,
    history,
    write_bundle,
    write_provenance,
)

NEWEST, OLDEST = (f"weather/forecasts/{day}.nc" for day in (FORECAST_DATES[-1], FORECAST_DATES[0]))


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The factory bundle with every forecast an ensemble of members 0, 1 and 2."""
    root = write_bundle(tmp_path_factory.mktemp("template") / "bundle")
    for day in FORECAST_DATES:
        _write(root, f"weather/forecasts/{day}.nc", ensemble_forecast(day))
    return root


@pytest.fixture
def bundle(template, tmp_path):
    return shutil.copytree(template, tmp_path / "bundle")


def _write(root, file, ds) -> None:
    (root / file).unlink()
    ds.to_netcdf(root / file)
    write_provenance(root)


def problems_of(root, **kwargs) -> list:
    return validate_bundle(root, **{**VALIDATE_KWARGS, "check_forecasts": "all", **kwargs})


def only_problem(problems, file: str, field: str, text: str) -> None:
    assert [(p.file, p.field) for p in problems] == [(file, field)], "\n".join(map(str, problems))
    assert text in problems[0].message, problems[0].message


def test_a_bundle_of_ensemble_forecasts_is_valid(bundle):
    assert problems_of(bundle) == []


def test_a_single_run_beside_ensembles_is_the_one_member_case_and_valid(bundle):
    _write(bundle, OLDEST, ensemble_forecast(FORECAST_DATES[0]).isel(member=0, drop=True))
    assert problems_of(bundle) == []


def test_an_ensemble_with_other_members_than_the_newest_is_named_with_both(bundle):
    _write(bundle, OLDEST, ensemble_forecast(FORECAST_DATES[0], members=(0, 1, 2, 3, 4)))
    only_problem(problems_of(bundle), OLDEST, "member", f"has 5 members (0..4), {NEWEST} has 3 members (0..2)")


def test_an_ensemble_with_fewer_leads_than_the_newest_is_named_without_a_config(bundle):
    _write(bundle, OLDEST, ensemble_forecast(FORECAST_DATES[0]).isel(lead_time=slice(0, 24)))
    only_problem(problems_of(bundle, lead_days=None), OLDEST, "lead_time", f"has 24 steps, {NEWEST} has 48")


def test_an_ensemble_on_another_grid_is_named_without_a_history(bundle):
    (bundle / "weather/history.nc").unlink()
    shifted = ensemble_forecast(FORECAST_DATES[0])
    _write(bundle, OLDEST, shifted.assign_coords(x=shifted.x + 0.01))
    problems = [p for p in problems_of(bundle) if p.file != "weather/history.nc"]
    only_problem(problems, OLDEST, "y, x", f"grid differs from {NEWEST}'s")


def test_an_ensemble_with_a_variable_the_newest_lacks_is_named(bundle):
    extra = ensemble_forecast(FORECAST_DATES[0])
    _write(bundle, OLDEST, extra.assign(tasmax=extra.tas))
    only_problem(problems_of(bundle), OLDEST, "variables", f"differ from {NEWEST}'s: tasmax only here")


def test_an_empty_member_dim_is_refused(bundle):
    _write(bundle, NEWEST, ensemble_forecast(FORECAST_DATES[-1]).isel(member=slice(0, 0)))
    problems = problems_of(bundle, check_forecasts="last")
    assert any(p.file == NEWEST and p.field == "member" and "is empty: a member dim holds at least the control"
               in p.message for p in problems), "\n".join(map(str, problems))


def test_repeated_member_ids_are_refused(bundle):
    _write(bundle, NEWEST, ensemble_forecast(FORECAST_DATES[-1], members=(0, 1, 1)))
    only_problem(problems_of(bundle, check_forecasts="last"), NEWEST, "member", "1 ids repeat, first 1 (2 times)")


def test_an_ensemble_without_its_control_is_refused(bundle):
    _write(bundle, NEWEST, ensemble_forecast(FORECAST_DATES[-1], members=(1, 2, 3)))
    only_problem(problems_of(bundle, check_forecasts="last"), NEWEST, "member",
                 "no control among its 3 members (1..3): the control is member 0")


def test_a_member_that_holds_only_nan_is_named_with_its_variables(bundle):
    ds = ensemble_forecast(FORECAST_DATES[-1])
    for name in ("pr", "tas"):
        ds[name][2] = np.nan
    _write(bundle, NEWEST, ds)
    problems = problems_of(bundle, check_forecasts="last")
    assert any(p.file == NEWEST and p.field == "member" and p.message ==
               "1 members hold only NaN in a variable, first member 2 (pr, tas)" for p in problems), \
        "\n".join(map(str, problems))


def test_a_history_with_members_is_refused(bundle):
    _write(bundle, "weather/history.nc", history().expand_dims(member=2).assign_coords(member=[0, 1]))
    problems = problems_of(bundle)
    assert any(p.file == "weather/history.nc" and p.field == "pr" and "expected ('time', 'y', 'x')" in p.message
               for p in problems), "\n".join(map(str, problems))


def _drivers(root) -> xr.Dataset:
    with read_history(root) as history:
        return drivers_for_dates(root, history.load(), list(FORECAST_DATES), lead_days=LEAD_DAYS,
                                 timezone=TIMEZONE, climate_before=None)


def test_the_drivers_of_an_ensemble_are_those_of_its_control_said_once_in_the_log(tmp_path, caplog):
    single = write_bundle(tmp_path / "single")
    two = write_bundle(tmp_path / "two")
    for day in FORECAST_DATES:  # the control second: it is found by its id, not its place
        _write(two, f"weather/forecasts/{day}.nc", ensemble_forecast(day, members=(1, 0)))
    assert problems_of(two) == []
    caplog.clear()
    drivers = _drivers(two)
    _drivers(two)  # outside a flow run: once per process
    notes = [r.getMessage() for r in caplog.records if "control member" in r.getMessage()]
    assert notes == [(f"weather/forecasts/{FORECAST_DATES[0]}.nc and 2 more forecasts: 2 ensemble members; "
                      "the models read the control member (0) only, until they use the ensemble")]
    xr.testing.assert_identical(drivers, _drivers(single))
    first, control = ensemble_forecast(FORECAST_DATES[0], members=(1, 0))["tas"]
    assert (first > control).all()  # reading the first member instead would change the drivers
