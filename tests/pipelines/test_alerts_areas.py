"""Flood alerts by warning area: site levels from their neighbourhood, CAP messages for the city, zones
and districts with their outlines, hysteresis across runs, level 4 advice, areas in the digests."""

import datetime as dt

import capvalidator
import numpy as np
import pytest
import shapely
from lxml import etree

from models.assets import area_alert_levels
from pipelines.alerts.advice import load_advisories
from pipelines.alerts.cap import MAX_POLYGON_POINTS, cap_polygons
from pipelines.config import ManagerConfig
from tests.pipelines.alerts_factory import CONFIG, FIRST_DAY, area_day, run_day
from tests.pipelines.conftest_publish import HOSTILE, HOSTILE_ESCAPED, small_assets

NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
DAYS = [FIRST_DAY + dt.timedelta(days=n) for n in range(6)]
ALL = CONFIG.model_copy(update={"languages": ("en-GB", "ms-MY", "zh-CN")})
QUIET = {"site-hot": [0.05] * 3, "site-west": [0.05] * 3, "site-east": [0.05] * 3}
SITES = {"site-hot": [0.1, 0.45, 0.85], "site-west": [0.65] * 3, "site-block": [0.85] * 3, "site-east": [0.3] * 3}


def field(xml: bytes, path: str) -> list[str]:
    return [element.text for element in etree.fromstring(xml).findall(path, NS)]


def about(messages, key: str):
    return next(m for m in messages if m.asset_id == key)


def test_a_sites_flood_level_is_its_neighbourhoods_with_its_floor_and_own_threshold():
    levels, _ = area_day(SITES)
    by_asset = {a: rows for a, rows in levels.groupby("asset_id")}
    # thresholds 0.2/0.4/0.6/0.8: 0.1 none, 0.45 level 2, 0.85 level 4
    assert by_asset["hot"]["flood_level"].tolist() == [0, 2, 4]
    assert by_asset["hot"]["flood_chance"].round(2).tolist() == [0.1, 0.45, 0.85]
    # 'west' has a 1.0 m floor: two levels off 3, and its level 1 starts at level 3's 0.6
    assert by_asset["west"]["flood_level"].tolist() == [1, 1, 1]
    assert by_asset["west"]["flood_threshold"].iloc[0] == pytest.approx(0.6)
    # 'block' has its own threshold 0.9: 0.85 (level 4 for the area) stays below it
    assert by_asset["block"]["flood_level"].tolist() == [0, 0, 0]
    assert by_asset["east"]["flood_level"].tolist() == [1, 1, 1]
    # 'far' is off the grid: no neighbourhood, so the cells' path (no cells either: no alert)
    assert set(by_asset["far"]["flood_basis"]) == {"cells"} and not by_asset["far"]["flood_alert"].any()
    assert set(levels.loc[levels["asset_id"] != "far", "flood_basis"]) == {"area"}


def test_site_messages_carry_the_neighbourhood_outline_and_only_flood_parameters(tmp_path):
    levels, areas = area_day(SITES)
    messages = run_day(tmp_path, DAYS[0], levels, alert=ALL, areas=areas).messages
    hot = about(messages, "hot")
    assert field(hot.xml, "cap:info/cap:event") == ["Extreme flood warning", "Amaran banjir melampau", "极端洪水警告"]
    assert field(hot.xml, "cap:info/cap:severity")[0] == "Extreme"
    headline = field(hot.xml, "cap:info/cap:headline")[0]
    assert headline == "Extreme flood warning (level 4 of 4) for the neighbourhood of Hotspot Clan House from Fri 27 Dec 2024"
    area = etree.fromstring(hot.xml).find("cap:info/cap:area", NS)
    assert len(area.findall("cap:circle", NS)) == 1 and len(area.findall("cap:polygon", NS)) == 1
    names = field(hot.xml, "cap:info/cap:parameter/cap:valueName")
    assert "flood_basis" in names and not {"tasmax_q50", "heat_threshold", "heat_model_version"} & set(names)
    for message in messages:
        assert capvalidator.check_schema(message.xml).passed, message.identifier


def test_zones_and_districts_reaching_level_one_get_their_own_valid_messages(tmp_path):
    levels, areas = area_day(QUIET | {"zone-core": [0.3, 0.5, 0.7], "district-timur-laut": [0.1, 0.1, 0.25]})
    messages = run_day(tmp_path, DAYS[0], levels, alert=ALL, areas=areas).messages
    assert {m.asset_id for m in messages if m.hazard == "flood"} == {"zone-core", "district-timur-laut"}
    core, district = about(messages, "zone-core"), about(messages, "district-timur-laut")
    assert core.identifier == "warisan-test@example.org.test-city.zone-core.flood.2024-12-26" and core.level == 3
    assert field(core.xml, "cap:info/cap:event") == ["Severe flood warning", "Amaran banjir teruk", "严重洪水警告"]
    assert field(core.xml, "cap:info/cap:area/cap:areaDesc") == ["heritage core zone, Test City"] * 3
    assert field(core.xml, "cap:info/cap:area/cap:geocode/cap:valueName")[0] == "warisan_area"
    assert "equipment off the floor" in field(core.xml, "cap:info/cap:instruction")[0]
    assert district.level == 1 and district.onset == "2024-12-28"
    for message in messages:
        assert capvalidator.check_schema(message.xml).passed, message.identifier
        for ring in field(message.xml, "cap:info/cap:area/cap:polygon"):
            pairs = ring.split(" ")
            assert pairs[0] == pairs[-1] and 4 <= len(pairs) <= MAX_POLYGON_POINTS
            lat, lon = (float(v) for v in pairs[0].split(","))
            assert abs(lat) < 90 and abs(lat) < abs(lon)  # the grid lies in the tropics: lat first


def test_an_outline_is_simplified_below_the_point_limit_and_keeps_its_largest_parts():
    crs = "EPSG:32647"
    wiggly = shapely.Point(600_000, 600_000).buffer(2000, quad_segs=256)
    islands = shapely.MultiPolygon([wiggly, *(shapely.Point(610_000 + 50 * k, 600_000).buffer(5) for k in range(40))])
    rings = cap_polygons(islands, crs)
    assert sum(len(ring.split(" ")) for ring in rings) <= MAX_POLYGON_POINTS
    assert len(rings[0].split(" ")) >= 8  # the big circle stays a shape, the specks go
    with_hole = shapely.box(0, 0, 1000, 1000).difference(shapely.box(400, 400, 600, 600))
    assert [len(ring.split(" ")) for ring in cap_polygons(shapely.affinity.translate(with_hole, 600_000, 600_000),
                                                          crs)] == [5]


def test_an_open_level_is_held_across_runs_then_falls_and_is_cancelled(tmp_path):
    chances = [0.45, 0.3, 0.15, 0.05]  # thresholds 0.2/0.4: level 2, held (>= 0.2), 1 (held, >= 0.1), none
    seen = []
    for day, chance in zip(DAYS, chances, strict=False):
        levels, areas = area_day(QUIET | {"zone-core": [chance] * 3})
        seen.append([(m.msg_type, m.level) for m in run_day(tmp_path, day, levels, areas=areas).messages
                     if m.asset_id == "zone-core"])
    assert seen == [[("Alert", 2)], [], [("Update", 1)], [("Cancel", 0)]]
    # without hysteresis, 0.3 is level 1: the second run would have sent an Update
    _, areas = area_day(QUIET | {"zone-core": [0.3] * 3})
    assert area_alert_levels(areas).query("asset_id == 'zone-core'")["flood_level"].tolist() == [1, 1, 1]


def test_a_sites_level_is_held_with_its_floor_drop(tmp_path):
    # 'west' (1.0 m floor: levels 2 off) at 0.85 is level 2; at 0.5 it would be 0, but level 4 is held
    # (0.5 >= 0.5 x 0.8) and so stays 2
    first, areas = area_day(QUIET | {"site-west": [0.85] * 3})
    assert about(run_day(tmp_path, DAYS[0], first, areas=areas).messages, "west").level == 2
    second, areas = area_day(QUIET | {"site-west": [0.5] * 3})
    assert second.query("asset_id == 'west'")["flood_level"].tolist() == [0, 0, 0]
    assert [m for m in run_day(tmp_path, DAYS[1], second, areas=areas).messages if m.asset_id == "west"] == []


def test_level_four_has_advice_in_every_language_and_heat_has_no_level_four():
    table = load_advisories(None, ("en-GB", "ms-MY", "zh-CN"))
    texts = [table.text(None, "flood", 4, language) for language in ("en-GB", "ms-MY", "zh-CN")]
    assert "Close the site" in texts[0] and "Tutup tapak" in texts[1] and "暂停对游客开放" in texts[2]
    assert all(text != table.text(None, "flood", 3, language)
               for text, language in zip(texts, ("en-GB", "ms-MY", "zh-CN"), strict=True))
    assert "Close the jetty" in table.text("jetty", "flood", 4, "en-GB")


def test_a_heat_level_four_in_the_table_is_refused(tmp_path):
    from pipelines.config import ConfigError

    path = tmp_path / "advisories.yaml"
    path.write_text("default:\n  flood: {1: {en-GB: a, ms-MY: b}, 2: {en-GB: a, ms-MY: b}, 3: {en-GB: a, ms-MY: b},"
                    " 4: {en-GB: a, ms-MY: b}, after: {en-GB: a, ms-MY: b}}\n  heat: {1: {en-GB: a, ms-MY: b},"
                    " 2: {en-GB: a, ms-MY: b}, 3: {en-GB: a, ms-MY: b}, 4: {en-GB: a, ms-MY: b},"
                    " after: {en-GB: a, ms-MY: b}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"default\.heat\.4: heat has levels 1-3"):
        load_advisories(path, ("en-GB",))


def test_a_managers_digest_lists_the_zones_and_district_of_their_sites_with_actions(tmp_path):
    alert = CONFIG.model_copy(update={"managers": (ManagerConfig(id="keeper", name="Keeper", assets=("hot",)),)})
    levels, areas = area_day(QUIET | {"site-hot": [0.1, 0.45, 0.85], "zone-core": [0.3, 0.5, 0.7]},
                             names={"zone-core": HOSTILE})
    run_day(tmp_path, DAYS[0], levels, alert=alert, areas=areas)
    text = (tmp_path / "forecasts" / DAYS[0].isoformat() / "digests" / "keeper.txt").read_text()
    html = (tmp_path / "forecasts" / DAYS[0].isoformat() / "digests" / "keeper.html").read_text()
    assert "flood 85% (level 4); heat" in text
    assert ("\n    Extreme flood warning: level 4 of 4 from Fri 27 Dec 2024 (tomorrow), highest 85% on Sat 28 Dec 2024."
            "\n      Why: " in text and "\n      What to do: Close the site to visitors" in text)
    assert f"  {HOSTILE}\n" in text and "  Timur Laut\n" in text and "heritage buffer zone" not in text  # not hot's
    assert "flood 70% (level 3): Move collections" in text
    assert f"New alert (Flood): Severe flood warning (level 3 of 4) for {HOSTILE}" in text  # the zone's, for the keeper
    assert "<script>" not in html and HOSTILE_ESCAPED in html and "Close the site to visitors" in html


def test_area_ids_that_clash_with_asset_ids_are_refused(tmp_path):
    levels, areas = area_day({"zone-core": [0.5] * 3})
    clashing = small_assets().assign(asset_id=lambda a: np.where(a["asset_id"] == "far", "zone-core", a["asset_id"]))
    from pipelines.alerts.cap import cap_messages

    with pytest.raises(ValueError, match=r"warning areas and assets share ids: \['zone-core'\]"):
        cap_messages(levels.query("asset_id != 'far'"), clashing, issue_time=dt.datetime(2024, 12, 25, 16, tzinfo=dt.UTC),
                     city_slug="t", city_name="T", timezone="Asia/Kuala_Lumpur", alert=CONFIG,
                     advisories=load_advisories(None, CONFIG.languages), model_versions={},
                     area_levels=area_alert_levels(areas), areas=areas.table)
