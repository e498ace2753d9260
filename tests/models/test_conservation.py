"""The conservation climate (models.conservation): the VTT mould index, risk classes and drying, on hand-made hours."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from features.heat import vapour_pressure_deficit
from models.conservation import (
    MOULD_RISK_INDEX,
    conservation_climate,
    critical_humidity,
    drying_rate,
    mould_index,
    mould_risk,
)


def hourly(values, units: str) -> xr.DataArray:
    """(time, site) hourly values from a (hours, sites) array, or (time,) from a list."""
    values = np.asarray(values, float)
    dims = ("time", "site")[:values.ndim]
    time = pd.date_range("2024-01-01", periods=values.shape[0], freq="h")
    return xr.DataArray(values, dims=dims, coords={"time": time}, attrs={"units": units})


def constant(hours: int, tas_degC: float, hurs_pct: float) -> tuple[xr.DataArray, xr.DataArray]:
    return hourly([tas_degC] * hours, "degC"), hourly([hurs_pct] * hours, "%")


def first_hour_growth(tas_degC: float, hurs_pct: float) -> float:
    """dM in the first hour from M = 0 (k1 = 1, k2 = 1 - exp(-2.3 M_max)), Hukka and Viitanen (1999)."""
    crit = max(-0.00267 * tas_degC**3 + 0.160 * tas_degC**2 - 3.13 * tas_degC + 100, 80.0)
    x = (crit - hurs_pct) / (crit - 100)
    m_max = 1 + 7 * x - 2 * x**2
    weeks = np.exp(-0.68 * np.log(tas_degC) - 13.9 * np.log(hurs_pct) + 66.02)
    return (1 - np.exp(-2.3 * m_max)) / (7 * weeks) / 24


def test_critical_humidity_is_80_percent_in_warm_air_and_higher_in_cool_air():
    crit = critical_humidity(hourly([30.0, 25.0, 10.0], "degC"))
    np.testing.assert_allclose(crit, [80.0, 80.03125, -2.67 + 16 - 31.3 + 100])


def test_humid_warm_air_grows_mould_at_the_published_rate():
    tas, hurs = constant(24 * 20, 25.0, 97.0)
    index = mould_index(tas, hurs)
    assert index.attrs["units"] == "1"
    np.testing.assert_allclose(index[0], first_hour_growth(25.0, 97.0))  # 0.0047 an hour
    assert (index.diff("time") > 0).all()
    assert 0.7 < float(index[24 * 7 - 1]) < 1.0  # about 9 days to M = 1 at 97 %, 25 degC (1.3 weeks)
    assert float(index[-1]) > 3  # growth speeds up once M >= 1 (k12 = 2): visible mould within 20 days


def test_dry_air_grows_no_mould():
    tas, hurs = constant(24 * 30, 25.0, 60.0)
    np.testing.assert_array_equal(mould_index(tas, hurs), 0.0)


def test_mould_declines_by_the_published_steps_when_the_air_turns_dry():
    wet, dry = 24 * 10, 48
    tas = hourly([25.0] * (wet + dry), "degC")
    hurs = hourly([97.0] * wet + [60.0] * dry, "%")
    index = mould_index(tas, hurs).values
    peak = index[wet - 1]
    np.testing.assert_allclose(index[wet + 5], peak - 6 * 0.032 / 24)  # first 6 dry hours: -0.032 a day
    np.testing.assert_allclose(index[wet + 23], index[wet + 5])  # 6 to 24 h: no change
    np.testing.assert_allclose(index[wet + 47], index[wet + 23] - 24 * 0.016 / 24)  # after 24 h: -0.016 a day


def test_more_humid_air_never_grows_less_mould():
    humidity = [70.0, 79.9, 80.1, 85.0, 90.0, 95.0, 100.0]
    tas = hourly(np.full((24 * 15, len(humidity)), 27.0), "degC")
    hurs = hourly(np.tile(humidity, (24 * 15, 1)), "%")
    last = mould_index(tas, hurs).isel(time=-1).values
    assert (np.diff(last) >= 0).all() and last[0] == 0 and last[-1] > 1


def test_sites_computed_together_equal_each_site_alone():
    rng = np.random.default_rng(3)
    tas = hourly(rng.uniform(24, 33, (24 * 12, 4)), "degC")
    hurs = hourly(rng.uniform(70, 100, (24 * 12, 4)), "%")
    together = mould_index(tas, hurs)
    for site in range(4):
        alone = mould_index(tas.isel(site=site), hurs.isel(site=site))
        np.testing.assert_allclose(together.isel(site=site), alone)


def test_a_missing_hour_holds_the_mould_index():
    tas, hurs = constant(48, 25.0, 97.0)
    gap = hurs.copy()
    gap[10] = np.nan
    np.testing.assert_allclose(mould_index(tas, gap)[10], mould_index(tas, gap)[9])
    np.testing.assert_allclose(mould_index(tas, gap)[-1], mould_index(tas, hurs)[-2])


def test_mould_index_leaves_its_inputs_unmodified_and_sets_its_own_attributes():
    tas, hurs = constant(24, 25.0, 97.0)
    tas.attrs["standard_name"] = "air_temperature"
    before = tas.copy(deep=True), hurs.copy(deep=True)
    index = mould_index(tas, hurs)
    xr.testing.assert_identical(tas, before[0])
    xr.testing.assert_identical(hurs, before[1])
    assert index.attrs == {"units": "1", "long_name": "VTT mould index (very sensitive material)"}


def test_mould_index_rejects_wrong_units_gaps_and_unknown_classes():
    tas, hurs = constant(24, 25.0, 97.0)
    with pytest.raises(ValueError, match="`hurs` must be in '%', got units='1'"):
        mould_index(tas, hurs.assign_attrs(units="1"))
    with pytest.raises(ValueError, match="`tas` must be hourly without gaps in `time`"):
        mould_index(tas.isel(time=[0, 2, 3]), hurs.isel(time=[0, 2, 3]))
    with pytest.raises(ValueError, match="`sensitivity` must be one of"):
        mould_index(tas, hurs, sensitivity="pine")


def test_a_less_sensitive_material_grows_less_mould():
    tas, hurs = constant(24 * 20, 25.0, 95.0)
    assert float(mould_index(tas, hurs, sensitivity="sensitive")[-1]) < float(mould_index(tas, hurs)[-1])


def test_mould_risk_is_moderate_from_index_1_and_high_from_index_3():
    assert MOULD_RISK_INDEX == (1.0, 3.0)
    index = xr.DataArray([0.0, 0.99, 1.0, 2.99, 3.0, 6.0, np.nan], dims="site", attrs={"units": "1"})
    np.testing.assert_array_equal(mould_risk(index), [0, 0, 1, 1, 2, 2, np.nan])


def test_drying_is_slow_below_5_hpa_and_fast_from_10_hpa():
    vpd = xr.DataArray([0.0, 4.99, 5.0, 9.99, 10.0, np.nan], dims="site", attrs={"units": "hPa"})
    np.testing.assert_array_equal(drying_rate(vpd), [0, 0, 1, 1, 2, np.nan])


def test_vapour_pressure_deficit_is_the_unfilled_share_of_saturation():
    vpd = vapour_pressure_deficit(hourly([25.0, 25.0, 30.0], "degC"), hourly([100.0, 50.0, 80.0], "%"))
    assert vpd.attrs["units"] == "hPa"
    np.testing.assert_allclose(vpd, [0.0, 31.67 / 2, 42.46 * 0.2], rtol=2e-3)  # e_s 31.67 hPa at 25, 42.46 at 30 degC


def test_conservation_climate_summarises_the_forecast_after_the_observed_hours():
    observed, lead_days = 24 * 5, 2
    tas = hourly(np.full((observed + 24 * lead_days, 2), 25.0), "degC")
    hurs = hourly(np.r_[np.full((observed, 2), 97.0), np.tile([[97.0, 60.0]], (24 * lead_days, 1))], "%")
    climate = conservation_climate(tas, hurs, observed_hours=observed, lead_days=lead_days)
    index = mould_index(tas, hurs)
    np.testing.assert_allclose(climate["mould_index_at_issue"], index.isel(time=observed - 1))
    np.testing.assert_allclose(climate["mould_index"].sel(site=0), index.isel(time=[observed + 23, -1], site=0))
    np.testing.assert_array_equal(climate["hours_above_rh_crit"], [48, 0])
    np.testing.assert_array_equal(climate["mould_index_max_lead"], [1, 0])  # still growing / declining from issue
    np.testing.assert_array_equal(climate["mould_risk"], [0, 0])
    np.testing.assert_array_equal(climate["drying"], [0, 2])  # 0.95 hPa at 97 %, 12.7 hPa at 60 %


def test_conservation_climate_needs_every_forecast_hour():
    tas, hurs = constant(24 * 3 - 1, 25.0, 97.0)
    with pytest.raises(ValueError, match="`tas` has 71 hours, 72 needed"):
        conservation_climate(tas, hurs, observed_hours=24, lead_days=2)
