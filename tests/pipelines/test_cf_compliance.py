"""The IOOS compliance-checker's CF suite on the netCDF files of the session city's run: the daily
forecast it publishes and the demo bundle's weather. (The backtest's files: tests/pipelines/test_backtest.py.)"""

import pytest

from tests.pipelines.cf_checker import cf_findings, unexpected

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_the_published_forecast_has_no_cf_finding(run):
    (forecast,) = run["written"]["netcdf"]
    assert unexpected(cf_findings(forecast), allowed={}) == {}


def test_the_published_site_hours_have_no_cf_finding(run):
    (hours,) = run["written"]["site_hours"]
    assert unexpected(cf_findings(hours), allowed={}) == {}


def test_the_demo_bundle_history_has_no_cf_finding(run):
    assert unexpected(cf_findings(run["bundle"] / "weather" / "history.nc"), allowed={}) == {}


def test_a_demo_bundle_forecast_has_no_cf_finding(run):
    last = max((run["bundle"] / "weather" / "forecasts").glob("*.nc"))
    assert unexpected(cf_findings(last), allowed={}) == {}
