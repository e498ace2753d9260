"""The sites' hourly heat stress on disk (pipelines.publish.sites): readable, with its values, CF-clean."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from models.heat.hours import site_heat_hours
from pipelines.publish.sites import write_site_hours
from tests.pipelines.cf_checker import cf_findings, unexpected


@pytest.fixture(scope="module")
def site_hours_file(tmp_path_factory):
    time = pd.date_range("2024-12-25T16:00", periods=48, freq="h")  # two local days from midnight
    sites = {"site": ["GT-01", "GT-02"]}

    def hourly(values, units):
        return xr.DataArray(np.tile(np.asarray(values, float), (2, 1)), dims=("site", "time"),
                            coords={**sites, "time": time.values, "lead": ("time", np.arange(48) // 24)},
                            attrs={"units": units})

    def per_site(values, units):
        return xr.DataArray(np.asarray(values, float), dims="site", coords=sites, attrs={"units": units})

    sun = np.clip(np.sin((np.arange(48) % 24 - 7.3) / 12 * np.pi), 0, None)
    hours = site_heat_hours(
        hourly(29 + 3 * sun, "degC"), hourly(np.full(48, 75.0), "%"), hourly(np.full(48, 2.0), "m s-1"),
        hourly(850 * sun, "W m-2"),
        urban_offset=xr.DataArray(np.ones((2, 2)), dims=("site", "lead"), coords={**sites, "lead": [0, 1]},
                                  attrs={"units": "degC"}),
        lat=per_site([5.42, 5.41], "degrees_north"), lon=per_site([100.34, 100.33], "degrees_east"),
        sun_share=per_site([1.0, 0.3], "1"))
    hours = hours.assign_coords(lat=("site", [5.42, 5.41], {"standard_name": "latitude", "units": "degrees_north"}),
                                lon=("site", [100.34, 100.33], {"standard_name": "longitude", "units": "degrees_east"}),
                                site_name=("site", ["Fort Cornwallis", "Khoo Kongsi"]))
    path = tmp_path_factory.mktemp("site-hours") / "site_hours.nc"
    return write_site_hours(hours.assign_attrs(issue_date="2024-12-26", city="test-city",
                                               timezone="Asia/Kuala_Lumpur"), path), hours


def test_the_site_hours_table_reads_back_with_its_values_and_units(site_hours_file):
    path, hours = site_hours_file
    with xr.open_dataset(path) as stored:
        assert stored.sizes == {"site": 2, "time": 48}
        assert stored["site_id"].values.tolist() == ["GT-01", "GT-02"]
        assert stored["wbgt_degC"].attrs["units"] == "degC" and stored["hurs_pct"].attrs["units"] == "%"
        np.testing.assert_allclose(stored["wbgt_degC"].values, hours["wbgt_degC"].values, atol=1e-4)
        np.testing.assert_array_equal(stored["time"].values, hours["time"].values)


def test_the_site_hours_table_has_no_cf_finding(site_hours_file):
    path, _ = site_hours_file
    assert unexpected(cf_findings(path), allowed={}) == {}
