"""Digests and Atom feeds in every configured language; each site line gives level, when, why and what to do."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree
from pydantic import ValidationError

from pipelines.alerts.advice import load_advisories
from pipelines.alerts.delivery import FEED_FILE, feed_file
from pipelines.alerts.run import deliver_run, outgoing
from pipelines.alerts.text import (
    day_label,
    driver_words,
    drivers,
    kind_words,
    peak_row,
    site_alert_lines,
    words,
)
from pipelines.config import ChannelConfig, ManagerConfig
from tests.pipelines.alerts_factory import CONFIG, FIRST_DAY, day_levels, run_day
from tests.pipelines.test_alerts import heat_products_levels

LANGUAGES = ("en-GB", "ms-MY", "zh-CN", "ta-MY")
KEEPER = ManagerConfig(id="keeper", name="Keeper", assets=("hot",), language="ta-MY")
ALERT = CONFIG.model_copy(update={"languages": LANGUAGES, "managers": (KEEPER,)})
LEVELS = day_levels([0.1, 0.35, 0.8], heat=[30.0, 30.0, 30.0])  # flood from lead 1, peak at lead 2
NS = {"atom": "http://www.w3.org/2005/Atom", "cap": "urn:oasis:names:tc:emergency:cap:1.2"}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    store = tmp_path_factory.mktemp("languages")
    run = run_day(store, FIRST_DAY, LEVELS, alert=ALERT)
    deliver_run(store, ALERT, city_slug="test-city", city_name="Test City")
    return store, run


def digest(store, language: str, suffix: str = "txt") -> str:
    name = "keeper" if language == LANGUAGES[0] else f"keeper.{language}"
    return (store / "forecasts" / FIRST_DAY.isoformat() / "digests" / f"{name}.{suffix}").read_text(encoding="utf-8")


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_has_a_digest_whose_site_line_gives_level_when_why_and_what_to_do(issued, language):
    store, _ = issued
    text, html = digest(store, language), digest(store, language, "html")
    lead_1, peak = (day_label(FIRST_DAY + dt.timedelta(days=n), language) for n in (1, 2))
    peak_drivers = driver_words(drivers("flood", peak_row(LEVELS, "flood")), language)
    advice = load_advisories(None, LANGUAGES).text("temple", "flood", int(LEVELS["flood_level"].max()), language)
    site_line = next(line for line in text.splitlines() if lead_1 in line and peak in line)  # level and when
    assert "80%" in site_line and str(LEVELS["flood_level"].max()) in site_line.replace(lead_1, "").replace(peak, "")
    assert peak_drivers in text and advice in text  # why and what to do, in the reader's language
    assert words(language)["digest"]["site_label"].format(name="Hotspot Clan House", kind=kind_words("temple", language)) in text
    assert f'<html lang="{language}">' in html and advice in html


def test_the_kinds_and_words_differ_between_languages(issued):
    store, _ = issued
    english, tamil = digest(store, "en-GB"), digest(store, "ta-MY")
    assert "Why: " in english and "Why: " not in tamil and "காரணம்: " in tamil
    assert "(temple)" in english and "(temple)" not in tamil


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_has_a_feed_with_the_cap_words_of_that_language(issued, language):
    store, run = issued
    feed = etree.parse(str(store / feed_file(language, LANGUAGES))).getroot()
    assert feed.get(XML_LANG) == language
    (message,) = run.messages
    info = next(i for i in etree.fromstring(message.xml).findall("cap:info", NS)
                if i.findtext("cap:language", namespaces=NS) == language)
    assert feed.findtext("atom:entry/atom:title", namespaces=NS) == info.findtext("cap:headline", namespaces=NS)
    assert feed.findtext("atom:entry/atom:summary", namespaces=NS) == info.findtext("cap:description", namespaces=NS)


def test_feeds_and_their_entries_have_an_id_per_language(issued):
    store, _ = issued
    feeds = [etree.parse(str(store / feed_file(language, LANGUAGES))).getroot() for language in LANGUAGES]
    assert feed_file("en-GB", LANGUAGES) == FEED_FILE
    assert len({feed.findtext("atom:id", namespaces=NS) for feed in feeds}) == len(LANGUAGES)
    assert len({feed.findtext("atom:entry/atom:id", namespaces=NS) for feed in feeds}) == len(LANGUAGES)


def test_a_manager_is_sent_the_digest_in_their_language(issued):
    store, run = issued
    digests = {"keeper": (digest(store, "en-GB"), ""), "keeper.ta-MY": (digest(store, "ta-MY"), "")}
    mailed = ALERT.model_copy(update={"channels": {"mail": ChannelConfig(url="mailto://keeper@example.org")},
                                      "managers": (KEEPER.model_copy(update={"channels": ("mail",)}),)})
    (item,) = [item for item in outgoing(run.messages, digests, mailed, FIRST_DAY) if item.key.startswith("digest.")]
    assert item.body == digests["keeper.ta-MY"][0]


def test_a_manager_language_outside_the_alert_languages_is_refused():
    with pytest.raises(ValidationError, match="manager 'keeper': language 'ta-MY' is not in alerts.languages"):
        CONFIG.model_validate(CONFIG.model_dump() | {"languages": ("en-GB",), "managers": (KEEPER.model_dump(),)})


def test_a_site_line_of_a_heat_alert_set_by_a_wbgt_band_gives_the_peak_wbgt():
    rows = heat_products_levels().query("asset_id == 'hot'").sort_values("lead")
    peak = rows.loc[rows["wbgt_max"].idxmax()]
    lines = site_alert_lines("en-GB", rows, issue_day=FIRST_DAY, advice=lambda hazard, level: f"{hazard} {level}")
    ((when, why, what),) = [line for line in lines if line[2].startswith("What to do: heat")]
    assert when.startswith("WBGT heat-stress advisory: level ")
    assert f"highest WBGT {peak['wbgt_max']:.1f} °C on {day_label(FIRST_DAY + dt.timedelta(days=int(peak['lead'])), 'en-GB')}" in when
    assert why == f"Why: {driver_words(drivers('heat', peak), 'en-GB')}."
    assert what == f"What to do: heat {rows['heat_level'].max()}"
