"""The conservation climate in the products: each site's mould risk and drying, read from the bundle's
hourly air (pipelines.forecast.conservation), in the digest and the page popup."""

import re

import numpy as np
import pytest
import xarray as xr

from pipelines.alerts.digest import manager_digests
from pipelines.config import ManagerConfig
from pipelines.forecast.conservation import SPIN_UP_DAYS, site_conservation
from pipelines.publish.page import write_page
from tests.pipelines.alerts_factory import FIRST_DAY, day_levels
from tests.pipelines.bundle_factory import FORECAST_DATES, LEAD_DAYS, TIMEZONE, write_bundle
from tests.pipelines.conftest_publish import small_assets, small_forecast, small_zone
from tests.pipelines.test_page import CHROMIUM, chromium, page_data

HUMID_PCT = 99.0


def _humid(path):
    with xr.open_dataset(path) as stored:
        weather = stored.load()
    weather["hurs"][:] = HUMID_PCT
    weather.to_netcdf(path)


@pytest.fixture(scope="module")
def conservation(tmp_path_factory):
    """site_conservation of the small assets on the tiny bundle with saturated air: ten days of history
    (the first of the SPIN_UP_DAYS days are missing), then the forecast of its first issue date."""
    root = write_bundle(tmp_path_factory.mktemp("humid-bundle"))
    for path in [root / "weather/history.nc", *(root / "weather/forecasts").glob("*.nc")]:
        _humid(path)
    return site_conservation(root, FORECAST_DATES[0], small_assets(), lead_days=LEAD_DAYS, timezone=TIMEZONE)


@pytest.fixture(scope="module")
def levels(conservation):
    return day_levels([0.1] * LEAD_DAYS).merge(conservation, on=["asset_id", "lead"], how="left",
                                               validate="one_to_one")


def test_each_site_gets_a_row_per_lead_with_the_forecast_summary(conservation):
    assert len(conservation) == len(small_assets()) * LEAD_DAYS
    assert set(conservation["lead"]) == set(range(LEAD_DAYS))
    assert (conservation["forecast_hours"] == 24 * LEAD_DAYS).all()
    assert (conservation["spin_up_days"] == SPIN_UP_DAYS).all()
    np.testing.assert_array_equal(conservation["hours_above_rh_crit"], 24 * LEAD_DAYS)  # saturated air all along
    assert (conservation["mould_index_max"] > conservation["mould_index_at_issue"]).all()  # still growing
    assert (conservation["mould_risk"] >= 1).all() and (conservation["drying"] == 0).all()


def test_hours_before_the_history_hold_the_mould_index_at_zero(conservation):
    # 10 days of history spin the index up less than 30 would: below M = 3 at 99 % and about 26 degC
    assert (conservation["mould_index_at_issue"] < 3).all() and (conservation["mould_index_at_issue"] > 0.5).all()


def test_the_digest_of_a_humid_day_carries_the_line_with_the_method_in_each_language(levels):
    manager = ManagerConfig(id="keeper", name="Keeper", assets=("hot",))
    digests = manager_digests(levels, small_assets(), [], (manager,), issue_day=FIRST_DAY, city_name="Test City",
                              languages=("en-GB", "ms-MY", "zh-CN"))
    text, html = digests["keeper"]
    risk = ("low", "moderate", "high")[int(levels["mould_risk"].iloc[0])]
    expected = (f"Mould risk for timber and paper: {risk} (VTT model; relative humidity at or above 80 % for 48 of "
                "the next 48 h; mould index")
    assert "Conservation climate of your sites" in text and expected in text
    vpd_hpa = levels["vpd_mean_hpa"].iloc[0]  # about 0.3 hPa: air at 99 % takes up little more water
    assert f"After a flood, drying is slow (mean vapour pressure deficit {vpd_hpa:.1f} hPa)" in text
    assert "Indoor air taken as outdoor: open, naturally ventilated buildings." in text
    assert "Risiko kulat bagi kayu dan kertas" in digests["keeper.ms-MY"][0] and "model VTT" in digests["keeper.ms-MY"][0]
    assert "VTT霉菌生长模型" in digests["keeper.zh-CN"][0] and "Risiko kulat" not in text  # one language a digest
    assert "<h2>Conservation climate of your sites</h2>" in html and expected in html


def test_a_digest_without_the_conservation_climate_leaves_the_section_out():
    manager = ManagerConfig(id="keeper", name="Keeper", assets=("hot",))
    text, html = manager_digests(day_levels([0.1, 0.1]), small_assets(), [], (manager,), issue_day=FIRST_DAY,
                                 city_name="Test City")["keeper"]
    assert "Conservation climate" not in text and "Conservation climate" not in html


def test_the_page_popup_carries_the_line_in_three_languages(levels, tmp_path):
    page = write_page(small_forecast(n_lead=LEAD_DAYS), tmp_path / "index.html", assets=small_assets(),
                      zone=small_zone(), levels=levels)
    sites = {f["properties"]["asset_id"]: f["properties"] for f in page_data(page)["assets"]["features"]}
    lines = sites["hot"]["conservation"]
    assert list(lines) == ["en-GB", "ms-MY", "zh-CN"]
    assert "(VTT model;" in lines["en-GB"] and "model VTT" in lines["ms-MY"] and "VTT" in lines["zh-CN"]
    assert sites["west"]["conservation"] == {}  # not in the levels: no line
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (.ci/run installs it with apt)")
    dom, _ = chromium(["--dump-dom"], tmp_path, page.as_uri() + "#popup=hot&lead=0")
    popup = re.search(r'<div class="leaflet-popup-content"[^>]*>(.*?)</div></div>', dom, re.DOTALL)[1]
    assert '<div class="conservation"><p lang="en-GB">Mould risk for timber and paper:' in popup
    assert "<summary>ms-MY · zh-CN</summary>" in popup and "Risiko kulat" in popup
