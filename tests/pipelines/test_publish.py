import math

import numpy as np
import pytest
import rasterio
import xarray as xr
from rio_cogeo.cogeo import cog_validate

from pipelines.publish.grid import (
    COG_VARIABLES,
    LEVEL_NODATA,
    hazard_leads,
    level_from_bands,
    valid_day,
    with_levels,
    write_cogs,
    write_forecast_netcdf,
    write_forecast_zarr,
)
from tests.conftest import grid
from tests.pipelines.conftest_publish import NX, NY, small_forecast, with_heat_products

FLOOD_BANDS, HEAT_BANDS = (0.01, 0.05, 0.2), (35.0, 37.0, 40.0)


def leveled_forecast():
    """small_forecast with a driver, a static layer, the two heat products and the levels, as the flow
    publishes it."""
    forecast = with_heat_products(small_forecast())
    forecast["rain_24h_mm"] = forecast["tasmax_q50"].copy(data=forecast["tasmax_q50"].values * 2).assign_attrs(
        units="mm", long_name="rain over the local day")
    forecast["hand_m"] = forecast["land"].astype("float32").assign_attrs(
        units="m", long_name="height above nearest drainage")
    return with_levels(forecast, flood_bands=FLOOD_BANDS, heat_bands_degC=HEAT_BANDS)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """One forecast.nc and its COGs, written once for the module."""
    out = tmp_path_factory.mktemp("issue")
    forecast = leveled_forecast()
    return forecast, write_forecast_netcdf(forecast, out / "forecast.nc"), write_cogs(forecast, out)


def test_levels_count_the_bands_reached_and_keep_nan():
    probability = grid([[0.0, 0.01, 0.049, 0.05, 0.2, np.nan]], "flood_probability", "1")
    level = level_from_bands(probability, FLOOD_BANDS, "flood_level")
    np.testing.assert_array_equal(level.values, [[0, 1, 1, 2, 3, np.nan]])


def test_levels_refuse_bands_out_of_order():
    with pytest.raises(ValueError, match=r"`bands` must be strictly increasing, got \(0.05, 0.01, 0.2\)"):
        level_from_bands(grid([[0.1]], "p", "1"), (0.05, 0.01, 0.2), "flood_level")


def test_without_the_heat_model_s_level_the_heat_level_counts_one_day_and_says_so():
    forecast = with_levels(small_forecast(), flood_bands=FLOOD_BANDS, heat_bands_degC=HEAT_BANDS)
    q50, level = forecast["tasmax_q50"].values, forecast["heat_level"].values
    land = np.isfinite(q50)
    expected = (q50 >= 35).astype(int) + (q50 >= 37) + (q50 >= 40)
    np.testing.assert_array_equal(level[land], expected[land])
    assert np.isnan(level[~land]).all()
    assert forecast["heat_level"].attrs["flag_meanings"].split()[2] == "heatwave"
    assert "on the day alone, not held" in forecast["heat_level"].attrs["comment"]
    assert "wbgt_band" not in forecast


def test_a_heat_level_from_the_heat_model_is_kept():
    forecast = small_forecast()
    forecast["heat_level"] = xr.full_like(forecast["tasmax_q50"], 2.0).assign_attrs(long_name="from the model")
    out = with_levels(forecast, flood_bands=FLOOD_BANDS, heat_bands_degC=HEAT_BANDS)
    assert np.nanmax(out["heat_level"].values) == 2
    assert np.isnan(out["heat_level"].values[:, ~forecast["land"].values]).all()  # sea is NaN
    assert out["heat_level"].attrs["long_name"] == "from the model"


def test_met_level_and_wbgt_band_are_separate_layers_where_they_disagree(published):
    _, path, _ = published
    with xr.open_dataset(path) as opened:
        met, band = opened["heat_level"].sel(lead=0).values, opened["wbgt_band"].sel(lead=0).values
    # with_heat_products: the west column is MET level 1 in the south, where WBGT (30 degC) is low;
    # columns 1-7 (34.0-34.9 degC) are no MET level in the north, where WBGT (31-32 degC) is moderate
    assert met[NY - 1, 0] == 1 and band[NY - 1, 0] == 0
    assert (met[0, 1:8] == 0).all() and (band[0, 1:8] == 1).all()
    assert "heat_level_rule" not in opened.variables


def test_netcdf_heat_products_carry_their_own_flags_and_thresholds(published):
    _, path, _ = published
    with xr.open_dataset(path, mask_and_scale=False) as raw:
        met, band = raw["heat_level"], raw["wbgt_band"]
        assert met.dtype == band.dtype == np.int8 and met.attrs["_FillValue"] == band.attrs["_FillValue"] == -1
        assert met.attrs["flag_values"].dtype == band.attrs["flag_values"].dtype == np.int8
        assert met.attrs["flag_values"].tolist() == [0, 1, 2, 3]
        assert met.attrs["flag_meanings"] == "none heat_alert heatwave extreme_heatwave"
        assert met.attrs["long_name"] == "MET Malaysia heat level of the local day"
        assert met.attrs["level_starts"].tolist() == [35, 37, 40] and met.attrs["sustained_days"] == 3
        assert "reaches level_starts[k-1] degC (35, 37, 40) held for 3 days in a row" in met.attrs["comment"]
        assert band.attrs["flag_values"].tolist() == [0, 1, 2]
        assert band.attrs["flag_meanings"] == "low moderate high"
        assert band.attrs["level_starts"].tolist() == [31, 33] and "(31, 33)" in band.attrs["comment"]
        assert "[k-1] is reached" not in raw["flood_level"].attrs["comment"]


def test_netcdf_opens_in_xarray_with_the_values_written(published):
    forecast, path, _ = published
    with xr.open_dataset(path) as opened:
        assert set(opened.data_vars) >= set(forecast.data_vars)
        for name in forecast.data_vars:
            np.testing.assert_array_equal(opened[name].values, forecast[name].values)
            assert opened[name].dtype == forecast[name].dtype
            assert opened[name].attrs["units"] and opened[name].attrs["long_name"], name
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
        for name in ("flood_probability", "tasmax_q10", "tasmax_q50", "tasmax_q90", "flood_level", "heat_level",
                     "rain_24h_mm", "hand_m", "land"):
            assert opened[name].attrs["long_name"]
            assert opened[name].attrs["grid_mapping"] == "spatial_ref"


def test_netcdf_levels_are_int8_flags_with_sea_as_fill(published):
    _, path, _ = published
    with xr.open_dataset(path, mask_and_scale=False) as raw:
        level = raw["flood_level"]
        assert level.dtype == np.int8 and level.attrs["_FillValue"] == -1
        assert level.attrs["flag_values"].tolist() == [0, 1, 2, 3]
        assert level.attrs["flag_meanings"].startswith("flooding_unlikely ")
        assert (level.values[:, :, -1] == -1).all()  # sea


def test_netcdf_opens_in_gdal_with_its_crs_and_grid(published):
    forecast, path, _ = published
    with rasterio.open(f"NETCDF:{path}:flood_probability") as band:
        assert band.count == 3 and band.crs.to_epsg() == 32647
        assert band.transform == forecast.rio.transform()
        np.testing.assert_array_equal(band.read(2), forecast["flood_probability"].sel(lead=1).values)


def test_zarr_holds_the_same_cf_content_one_chunk_per_lead(published, tmp_path):
    forecast, path, _ = published
    store = write_forecast_zarr(forecast, tmp_path / "forecast.zarr")
    with xr.open_zarr(store) as zarr, xr.open_dataset(path) as netcdf:
        xr.testing.assert_identical(zarr.drop_vars("time_bnds").load(), netcdf.drop_vars("time_bnds").load())
        assert zarr["flood_probability"].encoding["chunks"] == (1, NY, NX)
        assert zarr.attrs["Conventions"] == "CF-1.8"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_variable_without_units_is_refused(tmp_path):
    forecast = small_forecast()
    forecast["mystery"] = forecast["tasmax_q50"].copy().assign_attrs(units=None)
    forecast["mystery"].attrs = {"long_name": "no units"}
    with pytest.raises(ValueError, match=r"forecast variable 'mystery' lacks \['units'\]"):
        write_forecast_netcdf(forecast, tmp_path / "forecast.nc")


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
    forecast = leveled_forecast()
    before = forecast.copy(deep=True)
    write_forecast_netcdf(forecast, tmp_path / "forecast.nc")
    write_cogs(forecast, tmp_path)
    xr.testing.assert_identical(forecast, before)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_one_valid_cog_per_variable_and_lead(published):
    _, _, paths = published
    assert sorted(p.name for p in paths) == sorted(f"{name}_d{lead}.tif" for name in COG_VARIABLES for lead in range(3))
    for path in paths:
        valid, errors, warnings = cog_validate(path, quiet=True)
        assert valid, (path.name, errors)
        assert not warnings, (path.name, warnings)


def test_a_hazard_past_its_leads_has_no_cogs_and_the_netcdf_says_why(tmp_path):
    forecast = leveled_forecast()
    beyond = "NaN at leads 2 and later: flood is forecast 2 days ahead"
    for name in ("flood_probability", "flood_level"):
        forecast[name] = forecast[name].where(forecast.lead < 2).assign_attrs(forecast[name].attrs, comment=beyond)
    assert hazard_leads(forecast, "flood") == [0, 1] and hazard_leads(forecast, "heat") == [0, 1, 2]
    names = {p.name for p in write_cogs(forecast, tmp_path)}
    assert {"flood_probability_d1.tif", "flood_level_d1.tif", "tasmax_q50_d2.tif", "heat_level_d2.tif"} <= names
    assert not {"flood_probability_d2.tif", "flood_level_d2.tif"} & names
    with xr.open_dataset(write_forecast_netcdf(forecast, tmp_path / "forecast.nc"), mask_and_scale=False) as written:
        raw = written["flood_probability"]
        assert raw.attrs["comment"] == beyond and np.isnan(raw.attrs["_FillValue"])
        assert (written["flood_level"].isel(lead=2).values == -1).all()  # int8 written as _FillValue


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


def test_level_cogs_carry_a_colour_table_and_words(published):
    forecast, _, paths = published
    path = next(p for p in paths if p.name == "heat_level_d2.tif")
    with rasterio.open(path) as cog:
        assert cog.dtypes[0] == "uint8" and cog.nodata == LEVEL_NODATA
        assert cog.colormap(1)[3][:3] == (0xBD, 0x00, 0x26) and cog.colormap(1)[LEVEL_NODATA][3] == 0
        assert cog.tags()["level_2"] == "Heatwave" and cog.overviews(1)
        data = cog.read(1)
    expected = forecast["heat_level"].sel(lead=2).values
    np.testing.assert_array_equal(data, np.where(np.isfinite(expected), expected, LEVEL_NODATA))
