"""Water at the door (models.warning.door) in the products: the sites' levels, CAP parameters, digests and page."""

import json
import re

import numpy as np
import pytest
from lxml import etree

from models.assets import asset_alert_levels, asset_risk
from models.warning.areas import forecast_areas
from models.warning.door import FORECAST_ATTR, fit_door_depth, forecast_door
from pipelines.alerts.digest import manager_digests
from pipelines.config import ManagerConfig
from pipelines.publish.page import write_page
from tests.pipelines.alerts_factory import FIRST_DAY, run_day, with_areas
from tests.pipelines.conftest_publish import HOTSPOT, small_assets, small_forecast, small_zone
from tests.pipelines.test_page import CHROMIUM, chromium, page_data

_CAP = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
HOT_CHANCE = [0.3, 0.5, 0.9]  # the hot site's neighbourhood, by lead
HOLLOW_CM, FLAT_CM = 2300 / 45, 1300 / 45  # expected depths of door_forecast's depth model


def door_forecast():
    """The small forecast with warning areas, a 1 m depression around the hot site (flat ground
    elsewhere) and a depth model: 25 reports of 20 cm on flat ground, 25 of 60 cm in depressions, each
    band shrunk by 20 reports' worth of all (half 20, half 60 cm): 2300/45 cm deep in the hollow,
    1300/45 cm on flat ground."""
    forecast = with_areas(small_forecast(), {"site-hot": HOT_CHANCE, "site-west": [0.9, 0.9, 0.9]})
    rows, cols = np.meshgrid(np.arange(forecast.sizes["y"]), np.arange(forecast.sizes["x"]), indexing="ij")
    hollow = (abs(rows - HOTSPOT[0]) <= 1) & (abs(cols - HOTSPOT[1]) <= 1)
    forecast["depression_depth_m"] = (("y", "x"), np.where(hollow, 1.0, 0.0), {"units": "m"})
    door = fit_door_depth(np.r_[np.full(25, 20.0), np.full(25, 60.0)], np.r_[np.zeros(25), np.ones(25)])
    forecast.attrs[FORECAST_ATTR] = json.dumps(door.to_dict())
    return forecast


@pytest.fixture(scope="module")
def levels():
    forecast = door_forecast()
    areas = forecast_areas(forecast)
    return asset_alert_levels(asset_risk(forecast, small_assets()), small_assets(), default_flood_threshold=0.3,
                              default_heat_threshold_degC=35.0, area_thresholds=areas.thresholds,
                              door=forecast_door(forecast.attrs)), areas


def site(levels, asset_id):
    return levels[levels["asset_id"] == asset_id].sort_values("lead")


def test_levels_carry_the_chance_of_water_above_the_floor_and_the_depth(levels):
    table, _ = levels
    hot, west = site(table, "hot"), site(table, "west")  # hot: floor 0 m in the hollow; west: 1 m on flat ground
    np.testing.assert_allclose(hot["flood_above_floor_probability"], HOT_CHANCE, rtol=1e-6)
    np.testing.assert_allclose(hot["flood_depth_expected_cm"], HOLLOW_CM)
    np.testing.assert_allclose(west["flood_above_floor_probability"], 0.0)  # 20 cm never tops a 1 m floor
    np.testing.assert_allclose(west["flood_depth_expected_cm"], FLAT_CM)
    assert site(table, "far")["flood_above_floor_probability"].isna().all()  # off the grid: unknown


def test_without_a_depth_model_the_columns_are_nan():
    forecast = with_areas(small_forecast(), {})
    table = asset_alert_levels(asset_risk(forecast, small_assets()), small_assets(), default_flood_threshold=0.3,
                               default_heat_threshold_degC=35.0, area_thresholds=forecast_areas(forecast).thresholds)
    assert table["flood_above_floor_probability"].isna().all() and table["flood_depth_expected_cm"].isna().all()


def _parameters(xml: bytes) -> dict[str, str]:
    info = etree.fromstring(xml).find("cap:info", _CAP)
    return {p.findtext("cap:valueName", None, _CAP): p.findtext("cap:value", None, _CAP)
            for p in info.iterfind("cap:parameter", _CAP)}


def test_flood_messages_carry_the_water_at_the_door_as_parameters(levels, tmp_path):
    table, areas = levels
    messages = run_day(tmp_path, FIRST_DAY, table, areas=areas).messages  # each checked against the CAP schema
    flood = {m.asset_id: _parameters(m.xml) for m in messages if m.hazard == "flood"}
    assert flood["hot"]["flood_above_floor_probability"] == "0.90"
    assert flood["hot"]["flood_depth_expected_cm"] == "51" and flood["hot"]["floor_height_m"] == "0.00"
    assert flood["west"]["flood_above_floor_probability"] == "0.00" and flood["west"]["floor_height_m"] == "1.00"
    others = [_parameters(m.xml) for m in messages if m.hazard != "flood" or m.asset_id not in ("hot", "west")]
    assert others and not any("flood_above_floor_probability" in p for p in others)  # heat and areas: none


def test_the_digest_gives_each_day_the_water_at_the_door(levels):
    table, _ = levels
    manager = ManagerConfig(id="keeper", name="Keeper", assets=("hot", "west"))
    text, html = manager_digests(table, small_assets(), [], (manager,), issue_day=FIRST_DAY,
                                 city_name="Test City")["keeper"]
    assert "at the door: water above the floor (0.0 m) 90%, about 51 cm deep if it floods" in text
    assert "water above the floor (1.0 m) 0%, about 29 cm deep if it floods" in text
    assert "<th>water at the door</th>" in html and "water above the floor (0.0 m) 90%" in html


def test_the_page_popup_shows_the_water_at_the_door(levels, tmp_path):
    table, _ = levels
    page = write_page(door_forecast(), tmp_path / "index.html", assets=small_assets(), zone=small_zone(),
                      levels=table)
    hot = next(f for f in page_data(page)["assets"]["features"] if f["properties"]["asset_id"] == "hot")
    assert hot["properties"]["leads"]["2"]["flood_above_floor_probability"] == pytest.approx(0.9)
    assert hot["properties"]["leads"]["2"]["flood_depth_expected_cm"] == pytest.approx(HOLLOW_CM)
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (.ci/run installs it with apt)")
    dom, _ = chromium(["--dump-dom"], tmp_path, page.as_uri() + "#popup=hot&lead=2")
    popup = re.search(r'<div class="leaflet-popup-content"[^>]*>(.*?)</div></div>', dom, re.DOTALL)[1]
    assert "Chance water rises above the floor (0.0 m)" in popup and "90 %" in popup
    assert "Expected depth if it floods</td><td>51 cm" in popup
