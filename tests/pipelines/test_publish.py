import math

import numpy as np
import pytest
import rasterio
import xarray as xr
from rio_cogeo.cogeo import cog_validate

from pipelines.publish import LEAD_VARIABLES, valid_day, write_cogs, write_forecast_netcdf
from tests.pipelines.conftest_publish import NX, NY, small_forecast


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """One forecast.nc and its COGs, written once for the module."""
    out = tmp_path_factory.mktemp("issue")
    forecast = small_forecast()
    return forecast, write_forecast_netcdf(forecast, out / "forecast.nc"), write_cogs(forecast, out)


def test_netcdf_opens_in_xarray_with_the_values_written(published):
    forecast, path, _ = published
    with xr.open_dataset(path) as opened:
        for name in (*LEAD_VARIABLES, "land"):
            np.testing.assert_array_equal(opened[name].values, forecast[name].values)
            assert opened[name].dtype == forecast[name].dtype
        assert opened["lead"].values.tolist() == [0, 1, 2]
        assert opened["forecast_reference_time"].values == forecast["forecast_reference_time"].values


def test_netcdf_is_cf_with_units_and_standard_names(published):
    _, path, _ = published
    with xr.open_dataset(path) as opened:
        assert opened.attrs["Conventions"] == "CF-1.8"
        for key in ("title", "institution", "source", "history", "references"):
            assert opened.attrs[key]
        assert opened["flood_probability"].attrs["units"] == "1"
        for name in ("tasmax_q10", "tasmax_q50", "tasmax_q90"):
            attrs = opened[name].attrs
            assert attrs["standard_name"] == "air_temperature" and attrs["units"] == "degC"
            assert attrs["cell_methods"] == "time: maximum" and "percentile" in attrs["long_name"]
        assert opened["tasmax_q90"].attrs["quantile"] == pytest.approx(0.9)
        assert opened["land"].attrs["standard_name"] == "land_binary_mask"
        for name in (*LEAD_VARIABLES, "land"):
            assert opened[name].attrs["long_name"]
            assert opened[name].attrs["grid_mapping"] == "spatial_ref"


def test_netcdf_has_the_forecast_time_coordinates(published):
    _, path, _ = published
    with xr.open_dataset(path) as opened:
        assert opened["forecast_reference_time"].attrs["standard_name"] == "forecast_reference_time"
        period = opened["forecast_period"]
        assert period.attrs == {**period.attrs, "standard_name": "forecast_period", "units": "days"}
        assert period.values.tolist() == [0, 1, 2]
        assert opened["time"].values[1] == np.datetime64("2024-12-26T16:00:00")  # local midnight of 27 Dec
        assert opened["time"].attrs["standard_name"] == "time"


def test_netcdf_has_crs_and_lat_lon(published):
    _, path, _ = published
    with xr.open_dataset(path) as opened:
        assert opened.rio.crs.to_epsg() == 32647
        assert opened["lat"].attrs["units"] == "degrees_north" and opened["lon"].attrs["standard_name"] == "longitude"
        assert 0 < float(opened["lat"].mean()) < 10  # UTM 47N near the equator
        assert "lat" in opened["flood_probability"].coords


def test_netcdf_is_compressed_in_one_chunk_per_lead(published):
    _, path, _ = published
    with xr.open_dataset(path) as opened:
        encoding = opened["flood_probability"].encoding
        assert encoding["zlib"] and encoding["chunksizes"] == (1, NY, NX)


def test_writing_leaves_the_forecast_unmodified_and_no_temp_files(tmp_path):
    forecast = small_forecast()
    before = forecast.copy(deep=True)
    write_forecast_netcdf(forecast, tmp_path / "forecast.nc")
    write_cogs(forecast, tmp_path)
    xr.testing.assert_identical(forecast, before)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_one_valid_cog_per_variable_and_lead(published):
    _, _, paths = published
    assert sorted(p.name for p in paths) == sorted(f"{name}_d{lead}.tif" for name in LEAD_VARIABLES for lead in range(3))
    for path in paths:
        valid, errors, warnings = cog_validate(path, quiet=True)
        assert valid, (path.name, errors)
        assert not warnings, (path.name, warnings)


def test_cogs_have_nodata_overviews_description_and_tags(published):
    forecast, _, paths = published
    path = next(p for p in paths if p.name == "tasmax_q50_d1.tif")
    with rasterio.open(path) as cog:
        assert math.isnan(cog.nodata)
        assert cog.overviews(1)
        assert cog.descriptions[0].startswith("tasmax_q50 (degC), lead 1 d, valid 2024-12-27")
        assert cog.tags()["valid_date"] == "2024-12-27" and cog.tags(1)["units"] == "degC"
        assert cog.crs.to_epsg() == 32647 and cog.profile["compress"] == "deflate"
        data = cog.read(1)
    np.testing.assert_array_equal(data, forecast["tasmax_q50"].sel(lead=1).values)


def test_valid_day_is_the_issue_date_plus_the_lead():
    assert valid_day(small_forecast(), 2).isoformat() == "2024-12-28"
