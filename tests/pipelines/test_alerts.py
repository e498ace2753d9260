import datetime as dt

import capvalidator
import pytest
from lxml import etree

from models.assets import asset_alert_levels, asset_risk
from pipelines.alerts.advice import load_advisories
from pipelines.alerts.cap import CAP_NAMESPACE, cap_identifier, cap_messages, write_cap_messages
from pipelines.config import AlertConfig
from tests.pipelines.conftest_publish import small_assets, small_forecast, with_heat_products

NS = {"cap": CAP_NAMESPACE}
ISSUE_TIME = dt.datetime(2024, 12, 25, 16, tzinfo=dt.UTC)  # local midnight of 2024-12-26 in Penang
CONFIG = AlertConfig(sender="warisan-test@example.org", sender_name="Warisan test", status="Test",
                     languages=("en-GB", "ms-MY", "zh-CN"))
VERSIONS = {"flood_model_version": "flood-test-1", "heat_model_version": "heat-test-1"}
ADVICE = load_advisories(None, CONFIG.languages)


def levels():
    assets = small_assets()
    risk = asset_risk(small_forecast(), assets)
    return asset_alert_levels(risk, assets, default_flood_threshold=0.3, default_heat_threshold_degC=35.0)


def cap(alert=CONFIG, table=None):
    return cap_messages(levels() if table is None else table, small_assets(), issue_time=ISSUE_TIME,
                        city_slug="test-city", city_name="Test City", timezone="Asia/Kuala_Lumpur", alert=alert,
                        advisories=ADVICE, model_versions=VERSIONS)


def messages(alert=CONFIG, table=None):
    return [(message.identifier, message.xml) for message in cap(alert, table)]


def message_about(table, part: str) -> bytes:
    return next(xml for identifier, xml in messages(table=table) if part in identifier)


def parsed(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def text(root, path: str) -> list[str]:
    return [element.text for element in root.findall(path, NS)]


def test_one_message_per_asset_and_hazard_that_crosses():
    # from the factory: 'hot' floods from lead 0 and is hot at lead 2; 'west' is hot from lead 0
    assert [identifier for identifier, _ in messages()] == [
        "warisan-test@example.org.test-city.hot.flood.2024-12-26",
        "warisan-test@example.org.test-city.hot.heat.2024-12-26",
        "warisan-test@example.org.test-city.west.heat.2024-12-26",
    ]


def test_every_message_passes_the_oasis_cap_schema():
    for identifier, xml in messages():
        result = capvalidator.check_schema(xml)
        assert result.passed, (identifier, result.message)


def test_identifiers_are_stable_across_runs_and_unique():
    first, second = messages(), messages()
    assert first == second
    ids = [identifier for identifier, _ in first]
    assert len(set(ids)) == len(ids)


def test_identifier_drops_characters_cap_forbids():
    identifier = cap_identifier("a@b.org", "george-town", "khoo <kongsi> & co", "flood", dt.date(2024, 1, 2))
    assert identifier == "a@b.org.george-town.khoo-kongsi-co.flood.2024-01-02"


def test_header_carries_sender_issue_time_and_status():
    root = parsed(messages()[0][1])
    assert text(root, "cap:sender") == ["warisan-test@example.org"]
    assert text(root, "cap:sent") == ["2024-12-26T00:00:00+08:00"]
    assert text(root, "cap:status") == ["Test"]
    assert text(root, "cap:msgType") == ["Alert"] and text(root, "cap:scope") == ["Public"]


def test_one_info_per_configured_language():
    root = parsed(messages()[0][1])
    assert text(root, "cap:info/cap:language") == ["en-GB", "ms-MY", "zh-CN"]
    assert text(root, "cap:info/cap:category") == ["Met"] * 3


def test_flood_info_says_why_and_when():
    info = parsed(messages()[0][1]).find("cap:info", NS)
    # 'hot' floods at lead 0 (33%) and peaks at 90% on lead 2; the window ends with lead 2's day
    assert text(info, "cap:onset") == ["2024-12-26T00:00:00+08:00"]
    assert text(info, "cap:expires") == ["2024-12-29T00:00:00+08:00"]
    assert text(info, "cap:urgency") == ["Immediate"] and text(info, "cap:responseType") == ["Prepare"]
    # 90% is 21 times the odds of the 30% threshold: level 3
    assert text(info, "cap:severity") == ["Extreme"] and text(info, "cap:certainty") == ["Likely"]
    description = text(info, "cap:description")[0]
    assert "90% on Sat 28 Dec 2024" in description and "alert level of 30%" in description
    assert "upper floor" in text(info, "cap:instruction")[0]
    parameters = dict(zip(text(info, "cap:parameter/cap:valueName"), text(info, "cap:parameter/cap:value"),
                          strict=True))
    assert parameters["flood_probability"] == "0.90" and parameters["alert_level"] == "3"
    assert parameters["flood_model_version"] == "flood-test-1"
    assert not {"tasmax_q50", "heat_threshold", "heat_model_version", "wbgt_band"} & set(parameters)


def test_area_names_the_asset_and_district_with_a_circle_and_geocode():
    area = parsed(messages()[0][1]).find("cap:info/cap:area", NS)
    assert text(area, "cap:areaDesc") == ["Hotspot Clan House, Timur Laut, Test City"]
    lat_lon, radius = text(area, "cap:circle")[0].split(" ")
    assert radius == "0.05" and len(lat_lon.split(",")) == 2
    assert text(area, "cap:geocode/cap:valueName") == ["asset_id"]
    assert text(area, "cap:geocode/cap:value") == ["hot"]


def test_polygon_assets_get_a_closed_polygon():
    table = levels()
    table.loc[table["asset_id"] == "block", "flood_alert"] = True
    block = message_about(table, ".block.")
    polygon = text(parsed(block), "cap:info/cap:area/cap:polygon")[0].split(" ")
    assert len(polygon) == 5 and polygon[0] == polygon[-1]


def test_urgency_follows_the_onset_lead():
    table = levels()
    table.loc[table["asset_id"] == "hot", "flood_alert"] = table["lead"] == 2
    hot = message_about(table, ".hot.flood.")
    info = parsed(hot).find("cap:info", NS)
    assert text(info, "cap:urgency") == ["Future"] and text(info, "cap:responseType") == ["Monitor"]
    assert text(info, "cap:onset") == ["2024-12-28T00:00:00+08:00"]


def test_jetty_alert_says_its_figures_come_from_the_nearest_land():
    table = levels()
    table.loc[table["asset_id"] == "jetty", "flood_alert"] = True
    jetty = message_about(table, ".jetty.")
    assert "nearest land" in text(parsed(jetty), "cap:info/cap:description")[0]


def test_no_crossing_means_no_messages():
    table = levels().assign(flood_alert=False, heat_alert=False)
    assert messages(table=table) == []


def test_sender_with_a_space_is_rejected_naming_the_message():
    broken = AlertConfig.model_construct(**{**CONFIG.model_dump(), "sender": "warisan test"})
    with pytest.raises(ValueError, match=r"CAP message 'warisan-test\.test-city\.hot\.flood\.2024-12-26'.*"
                                         r"`sender` 'warisan test'.*space"):
        messages(alert=broken)


def test_schema_violation_is_rejected_naming_the_message():
    broken = AlertConfig.model_construct(**{**CONFIG.model_dump(), "status": "Rehearsal"})
    with pytest.raises(ValueError, match=r"CAP message 'warisan-test@example\.org\.test-city\.hot\.flood.*"
                                         r"does not follow the CAP v1\.2 schema.*status"):
        messages(alert=broken)


def test_naive_issue_time_is_rejected():
    with pytest.raises(ValueError, match="`issue_time` must be timezone-aware"):
        cap_messages(levels(), small_assets(), issue_time=ISSUE_TIME.replace(tzinfo=None), city_slug="test-city",
                     city_name="Test City", timezone="Asia/Kuala_Lumpur", alert=CONFIG, advisories=ADVICE,
                     model_versions=VERSIONS)


def test_messages_are_written_one_file_each_and_rewritten_on_rerun(tmp_path):
    paths = write_cap_messages(cap(), tmp_path / "alerts")
    assert [p.name for p in paths] == [f"{identifier}.cap.xml" for identifier, _ in messages()]
    write_cap_messages(cap(), tmp_path / "alerts")
    assert sorted(p.name for p in (tmp_path / "alerts").iterdir()) == sorted(p.name for p in paths)
    assert all(capvalidator.check_schema(p.read_bytes()).passed for p in paths)


def test_a_demo_style_run_publishes_valid_cap_files_with_drivers_and_advice(run):
    cap_files = run["written"]["cap"]
    assert cap_files, "the test city's forecast should alert at least one site"
    for path in cap_files:
        xml = path.read_bytes()
        assert capvalidator.check_schema(xml).passed, path.name
        root = parsed(xml)
        hazard = text(root, "cap:info/cap:eventCode/cap:value")[0]
        assert text(root, "cap:info/cap:instruction")[0], path.name
        names = text(root, "cap:info/cap:parameter/cap:valueName")
        if text(root, "cap:info/cap:area/cap:geocode/cap:valueName")[0] == "warisan_area":  # a zone, district, city
            assert hazard == "flood" and text(root, "cap:info/cap:area/cap:polygon"), path.name
        elif text(root, "cap:msgType") != ["Cancel"]:
            assert f"{hazard}_drivers" in names and "Why: " in text(root, "cap:info/cap:description")[0]
    assert (run["store"] / "alerts.sqlite").exists() and (run["store"] / "alerts.atom").exists()


def heat_products_levels():
    """levels() on a forecast whose MET level and WBGT band disagree (conftest_publish.with_heat_products):
    'west' holds 35-37 degC for 3 days (MET level 1) under WBGT 32-34 degC (band 2 by lead 1); 'hot'
    reaches 35.8 degC on lead 2 only (no MET level) under WBGT 31.8-32.8 degC (band 1 from lead 1)."""
    assets = small_assets()
    risk = asset_risk(with_heat_products(small_forecast()), assets)
    return asset_alert_levels(risk, assets, default_flood_threshold=0.3, default_heat_threshold_degC=35.0)


def heat_info(part: str):
    root = parsed(message_about(heat_products_levels(), part))
    return root.findall("cap:info", NS)


def test_a_met_level_sets_the_heat_alert_even_where_the_wbgt_band_is_higher():
    table = heat_products_levels().query("asset_id == 'west'")
    assert table["heat_rule"].tolist() == ["met_level"] * 3
    assert table["heat_met_level"].tolist() == [1, 1, 1] and table["heat_wbgt_band"].tolist() == [1, 2, 2]
    assert table["heat_level"].tolist() == [1, 1, 1]
    english, malay, chinese = heat_info(".west.heat.")
    assert text(english, "cap:event") == ["Heat alert"] and text(english, "cap:severity") == ["Moderate"]
    assert text(english, "cap:headline") == ["Heat alert (MET Malaysia level 1 of 3) at West Temple from Thu 26 Dec 2024"]
    assert text(english, "cap:description")[0].startswith(
        "Set by MET Malaysia's heat level 1 of 3 (Heat alert): expected maximum 37.0 °C.")
    assert text(malay, "cap:event") == ["Amaran haba Waspada"] and text(chinese, "cap:event") == ["高温警示"]


def test_a_wbgt_band_alone_is_a_wbgt_advisory_with_its_value():
    table = heat_products_levels().query("asset_id == 'hot'")
    assert table["heat_rule"].tolist() == ["wbgt_band"] * 3 and table["heat_met_level"].tolist() == [0, 0, 0]
    assert table["heat_alert"].tolist() == [False, True, True]
    english = heat_info(".hot.heat.")[0]
    assert text(english, "cap:event") == ["WBGT heat-stress advisory"]
    assert text(english, "cap:severity") == ["Minor"] and text(english, "cap:urgency") == ["Expected"]
    assert text(english, "cap:headline")[0].startswith("WBGT heat-stress advisory (moderate heat stress) at Hotspot")
    assert ("Set by Singapore NEA's WBGT band 'moderate' (no MET Malaysia heat level is reached): WBGT 32.8 °C"
            in text(english, "cap:description")[0])


def test_heat_messages_carry_only_heat_parameters():
    english = heat_info(".hot.heat.")[0]
    parameters = dict(zip(text(english, "cap:parameter/cap:valueName"), text(english, "cap:parameter/cap:value"),
                          strict=True))
    assert parameters["heat_rule"] == "wbgt_band" and parameters["wbgt_band"] == "1"
    assert parameters["met_heat_level"] == "0" and parameters["wbgt_max"] == "32.76"
    assert parameters["heat_model_version"] == "heat-test-1"
    assert not {"flood_probability", "flood_threshold", "flood_model_version"} & set(parameters)


@pytest.mark.parametrize("level, event, severity", [(2, "Heatwave", "Severe"), (3, "Extreme heatwave", "Extreme")])
def test_higher_met_levels_name_the_heatwave(level, event, severity):
    table = heat_products_levels()
    table.loc[table["asset_id"] == "west", "heat_level"] = level
    english = parsed(message_about(table, ".west.heat.")).find("cap:info", NS)
    assert text(english, "cap:event") == [event] and text(english, "cap:severity") == [severity]
    assert text(english, "cap:headline")[0].startswith(f"{event} (MET Malaysia level {level} of 3)")


def test_heat_messages_with_both_rules_pass_the_oasis_cap_schema():
    for identifier, xml in messages(table=heat_products_levels()):
        assert capvalidator.check_schema(xml).passed, identifier
