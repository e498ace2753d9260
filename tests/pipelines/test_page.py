"""The interactive page: offline HTML with every lead and layer, opened in headless Chromium."""

import base64
import hashlib
import io
import json
import os
import re
import select
import shutil
import subprocess
from xml.sax.saxutils import escape

import numpy as np
import pytest
from PIL import Image

from models.assets import asset_alert_levels, asset_risk
from pipelines.publish.grid import with_levels
from pipelines.publish.maps import TASMAX_SCALE_DEGC
from pipelines.publish.page import BUILDING_PIXEL_M, read_cap_alerts, write_page
from tests.pipelines.conftest_publish import (
    AREA_CHANCES,
    HOSTILE,
    HOSTILE_ESCAPED,
    NX,
    NY,
    QUOTED,
    RES_M,
    river_and_block,
    small_assets,
    small_forecast,
    small_zone,
    with_heat_products,
    with_warning_areas,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (.ci/run installs it with apt)")

CAP = """<?xml version='1.0' encoding='UTF-8'?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x.hot.flood</identifier><msgType>Alert</msgType>
<info><language>ms-MY</language><headline>Risiko banjir</headline></info>
<info><language>en-GB</language><event>Flooding at a heritage site</event><severity>Severe</severity>
<eventCode><valueName>warisan_hazard</valueName><value>flood</value></eventCode>
<headline>Flood risk at Hotspot Clan House</headline><description>62 % chance</description>
<instruction>Move collections off the floor.</instruction>
<area><areaDesc>Hotspot Clan House</areaDesc><geocode><valueName>asset_id</valueName><value>hot</value></geocode></area>
</info></alert>"""




def leveled_cap(asset_id: str, hazard: str, level: int, lead: int, geocode: str = "asset_id") -> str:
    """A CAP alert of `hazard` at `asset_id` (an area's id with `geocode` 'warisan_area') from lead `lead`
    at `level` (its parameters, as pipelines.alerts.cap writes them); the headline says all four."""
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x.{asset_id}.{hazard}</identifier>
<msgType>Alert</msgType><info><language>en-GB</language><severity>Minor</severity>
<eventCode><valueName>warisan_hazard</valueName><value>{hazard}</value></eventCode>
<headline>{hazard} level {level} at {asset_id} from lead {lead}</headline><instruction>Act on {hazard}.</instruction>
<parameter><valueName>alert_level</valueName><value>{level}</value></parameter>
<parameter><valueName>onset_lead_days</valueName><value>{lead}</value></parameter>
<area><areaDesc>{asset_id}</areaDesc><geocode><valueName>{geocode}</valueName><value>{asset_id}</value></geocode></area>
</info></alert>"""


LEVELED = (("east", "heat", 1, 0), ("west", "heat", 2, 2), ("block", "flood", 2, 1), ("hot", "heat", 1, 1),
           ("block", "heat", 2, 1))


def forecast_with_levels():
    return with_levels(with_heat_products(small_forecast()), flood_bands=(0.01, 0.05, 0.2), heat_bands_degC=(35, 37, 40))


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The page of the small forecast with its basemap (river_and_block), the hot site's flood CAP and LEVELED."""
    out = tmp_path_factory.mktemp("page")
    (out / "alerts").mkdir()
    (out / "alerts" / "x.hot.flood.cap.xml").write_text(CAP)
    for asset_id, hazard, level, lead in LEVELED:
        (out / "alerts" / f"x.{asset_id}.{hazard}.cap.xml").write_text(leveled_cap(asset_id, hazard, level, lead))
    forecast = forecast_with_levels()
    assets = small_assets()
    levels = asset_alert_levels(asset_risk(forecast, assets), assets, default_flood_threshold=0.3,
                                default_heat_threshold_degC=35.0)
    return write_page(forecast, out / "index.html", assets=assets, zone=small_zone(), levels=levels,
                      alerts_dir=out / "alerts", **river_and_block())


def page_data(path):
    text = path.read_text()
    return json.loads(re.search(r'<script id="warisan-data" type="application/json">(.*?)</script>', text, re.DOTALL)[1])


def chromium(args, tmp_path, url):
    """Run headless Chromium once with no network at all; its stdout and its console (stderr)."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
               f"--user-data-dir={tmp_path / 'profile'}", "--proxy-server=127.0.0.1:9",  # any request fails
               "--window-size=1280,860", "--virtual-time-budget=5000", "--enable-logging=stderr", "--v=0",
               *args, url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=True)
    return done.stdout, done.stderr


def csp_violations(console: str) -> list[str]:
    """The console lines in which Chromium refused something under the page's Content-Security-Policy."""
    return [line for line in console.splitlines() if "Content Security Policy" in line]


def hostile_page(tmp_path):
    """The page with HOSTILE as the city's name, the hot site's name and its CAP advice, and QUOTED as its kind."""
    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / "x.hot.flood.cap.xml").write_text(CAP.replace("Move collections off the floor.",
                                                                          escape(HOSTILE)))
    assets = small_assets()
    assets.loc[assets["asset_id"] == "hot", ["name", "kind"]] = HOSTILE, QUOTED
    return write_page(small_forecast().assign_attrs(city_name=HOSTILE), tmp_path / "index.html", assets=assets,
                      zone=small_zone(), levels=None, alerts_dir=tmp_path / "alerts")


def sha256_b64(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def test_alerts_are_read_from_cap_in_english(tmp_path):
    (tmp_path / "a.cap.xml").write_text(CAP)
    (alert,) = read_cap_alerts(tmp_path)
    assert alert["headline"] == "Flood risk at Hotspot Clan House" and alert["file"] == "alerts/a.cap.xml"
    assert (alert["asset_id"], alert["hazard"], alert["severity"]) == ("hot", "flood", "Severe")


def test_page_is_self_contained(page):
    text = page.read_text()
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?:", text)  # no library from the network
    assert "Leaflet 1.9.4" in text and "L.imageOverlay" in text


def test_page_holds_every_lead_and_layer_and_the_assets(page):
    data = page_data(page)
    assert [layer["key"] for layer in data["layers"]] == ["flood_probability", "flood_level", "tasmax_q50",
                                                          "heat_level", "wbgt_band"]
    assert all(sorted(layer["images"]) == ["0", "1", "2"] for layer in data["layers"])
    (south, west), (north, east) = data["bounds"]
    assert 0 < south < north < 10 and 90 < west < east < 110  # EPSG:4326 around UTM 47N
    hot = next(f for f in data["assets"]["features"] if f["properties"]["asset_id"] == "hot")
    assert hot["properties"]["leads"]["2"]["flood_alert"] is True
    assert hot["properties"]["advisories"]["flood"]["instruction"] == "Move collections off the floor."
    assert {z["properties"]["zone"] for z in data["zone"]["features"]} == {"core", "buffer"}


def test_flood_layers_have_no_image_past_the_flood_leads_and_the_page_names_them(tmp_path):
    forecast = forecast_with_levels()
    for name in ("flood_probability", "flood_level"):
        forecast[name] = forecast[name].where(forecast.lead < 2).assign_attrs(forecast[name].attrs)
    data = page_data(write_page(forecast, tmp_path / "index.html", assets=small_assets(), zone=small_zone(),
                                levels=None))
    images = {layer["key"]: sorted(layer["images"]) for layer in data["layers"]}
    assert images["flood_probability"] == images["flood_level"] == ["0", "1"]
    assert images["tasmax_q50"] == images["heat_level"] == ["0", "1", "2"]
    assert data["flood_leads"] == [0, 1] and [lead["lead"] for lead in data["leads"]] == [0, 1, 2]


@needs_chromium
def test_a_lead_past_the_flood_shows_a_heat_layer_and_disables_the_flood_ones(tmp_path):
    forecast = forecast_with_levels()
    for name in ("flood_probability", "flood_level"):
        forecast[name] = forecast[name].where(forecast.lead < 2).assign_attrs(forecast[name].attrs)
    page = write_page(forecast, tmp_path / "index.html", assets=small_assets(), zone=small_zone(), levels=None)
    dom, console = chromium(["--dump-dom"], tmp_path, page.as_uri() + "#lead=2&layer=flood_probability")
    assert csp_violations(console) == [] and 'data-ready="true"' in re.search(r"<body([^>]*)>", dom)[1]
    buttons = dict(re.findall(r'<button[^>]*data-layer="([a-z_0-9]+)"([^>]*)>', dom))
    assert "disabled" in buttons["flood_probability"] and "disabled" in buttons["flood_level"]
    assert 'aria-checked="true"' in buttons["tasmax_q50"] and "disabled" not in buttons["tasmax_q50"]


def test_page_escapes_markup_in_city_site_names_and_advice(tmp_path):
    page = hostile_page(tmp_path)
    text = page.read_text()
    assert "<img src=x" not in text and "<script>alert" not in text
    assert f"<title>{HOSTILE_ESCAPED}: flood and heat outlook" in text and f"<h1>{HOSTILE_ESCAPED}:" in text
    assert r"\u003cscript\u003ealert(1)\u003c/script\u003e" in text  # in the JSON, "<" and ">" as escapes
    data = page_data(page)
    hot = next(f for f in data["assets"]["features"] if f["properties"]["asset_id"] == "hot")
    assert data["title"].startswith(HOSTILE) and hot["properties"]["name"] == HOSTILE
    assert hot["properties"]["advisories"]["flood"]["instruction"] == HOSTILE
    assert hot["properties"]["kind"] == QUOTED and r"O\u0027Reilly \u0026 Sons \"Godown\"" in text


def test_page_policy_allows_only_the_scripts_and_styles_it_inlines(page):
    text = page.read_text()
    policy = dict(part.strip().split(" ", 1) for part in
                  re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', text)[1].split(";"))
    scripts = re.findall(r"<script>(.*?)</script>", text, re.DOTALL)  # the JSON data is not run: not listed
    styles = re.findall(r"<style>(.*?)</style>", text, re.DOTALL)
    assert len(scripts) == 2 and len(styles) == 2
    assert policy["default-src"] == "'none'" and policy["base-uri"] == "'none'"
    assert policy["script-src"].split() == [f"'sha256-{sha256_b64(s)}'" for s in scripts]
    assert policy["style-src"].split() == [f"'sha256-{sha256_b64(s)}'" for s in styles]
    assert policy["img-src"] == "data: https://tile.openstreetmap.org"
    assert "unsafe" not in text.split("</head>")[0].split("Content-Security-Policy")[1].split(">")[0]


@needs_chromium
def test_page_renders_offline_with_layers_and_popups(page, tmp_path):
    url = page.as_uri() + "#popup=hot&lead=2"
    dom, console = chromium(["--dump-dom"], tmp_path, url)
    assert csp_violations(console) == []  # the policy refuses nothing the page does
    body = re.search(r"<body([^>]*)>", dom)[1]
    assert 'data-ready="true"' in body
    # 5 layers (flood chance and level, max temperature, MET heat level, WBGT band) x 3 leads
    assert 'data-overlays="15"' in body and 'data-assets="6"' in body and 'data-popups="6"' in body
    assert 'data-alerts="6"' in body and 'data-zone="2"' in body
    assert len(re.findall(r'class="leaflet-image-layer[^"]* grid', dom)) == 1  # one layer shown at a time
    popup = re.search(r'<div class="leaflet-popup-content"[^>]*>(.*?)</div></div>', dom, re.DOTALL)[1]
    assert "Hotspot Clan House" in popup and "Move collections off the floor." in popup
    assert "lead 2" in popup
    shot = tmp_path / "shot.png"
    chromium([f"--screenshot={shot}"], tmp_path, url)
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    colours = np.unique(pixels.astype(np.int64) @ np.array([1 << 16, 1 << 8, 1]))
    assert len(colours) > 30, "blank screenshot"
    blues = (pixels[:, 2] > 120) & (pixels[:, 0] < 100)
    assert blues.sum() > 5000  # the flood layer is drawn


@needs_chromium
def test_hostile_names_and_advice_render_as_text_in_the_browser(tmp_path):
    dom, console = chromium(["--dump-dom"], tmp_path, hostile_page(tmp_path).as_uri() + "#popup=hot&lead=0")
    assert 'data-ready="true"' in re.search(r"<body([^>]*)>", dom)[1]
    assert csp_violations(console) == []  # an injected handler or script would be refused, and logged
    assert "<img src=" not in dom and "<script>alert" not in dom
    popup = re.search(r'<div class="leaflet-popup-content"[^>]*>(.*?)</div></div>', dom, re.DOTALL)[1]
    assert popup.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2  # the name and the advice, as text
    assert "O'Reilly &amp; Sons \"Godown\"" in popup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;: flood and heat outlook issued" in dom  # the <h1>


def test_heat_level_and_wbgt_band_have_their_own_legends_saying_where_levels_start(page):
    layers = {layer["key"]: layer for layer in page_data(page)["layers"]}
    met, wbgt = layers["heat_level"], layers["wbgt_band"]
    assert "MET Malaysia" in met["legend"] and "WBGT" in wbgt["legend"] and "NEA" in wbgt["legend"]
    assert [words for _, words in met["entries"]] == [
        "No heat alert", "Heat alert (Waspada): median max from 35 °C, 3 days running",
        "Heatwave: median max from 37 °C, 3 days running", "Extreme heatwave: median max from 40 °C, 3 days running"]
    assert [words for _, words in wbgt["entries"]] == [
        "Low heat stress", "Moderate heat stress: WBGT from 31 °C", "High heat stress: WBGT from 33 °C"]


ACTIONS = ("Clear the drains.", "Put flood boards up.", "Move collections off the floor now.", "Close the site.")


def area_page(path, **names):
    """The page of a forecast with warning areas (AREA_CHANCES), the level actions ACTIONS, `names` by area id."""
    forecast = with_levels(with_warning_areas(with_heat_products(small_forecast()), names), flood_bands=(0.01, 0.05, 0.2),
                           heat_bands_degC=(35, 37, 40))
    return write_page(forecast, path / "index.html", assets=small_assets(), zone=small_zone(), levels=None,
                      area_actions=ACTIONS, alerts_dir=path / "alerts")


def test_page_carries_the_warning_areas_their_levels_actions_and_where_water_gathers_first(tmp_path):
    data = page_data(area_page(tmp_path))
    areas = data["areas"]["features"]
    assert next(f["properties"]["id"] for f in areas) == "city"  # largest first: smaller areas draw on top
    assert sorted(f["properties"]["id"] for f in areas) == sorted(AREA_CHANCES)
    hot = next(f["properties"] for f in areas if f["properties"]["id"] == "site-hot")
    assert (hot["chance_d1"], hot["level_d1"], hot["level_word_d1"]) == (0.4, 3, "Move collections off the floor")
    assert [level["action"] for level in data["area_levels"]] == [None, *ACTIONS]
    assert [level["from"] for level in data["area_levels"]][1:] == [
        "from 5% chance", "from 15% chance", "from 35% chance", "from 70% chance"]
    first = next(layer for layer in data["layers"] if layer["key"] == "flood_where_first")
    assert first["legend"] == "If the city floods that day: chance water reaches here"
    assert sorted(first["images"]) == ["0", "1", "2"] and "Blank" in first["note"]


def test_page_without_warning_areas_has_neither_their_layer_nor_their_list(page):
    data = page_data(page)
    assert data["areas"] is None and data["area_levels"] == []
    assert "flood_where_first" not in {layer["key"] for layer in data["layers"]}


@needs_chromium
def test_warning_areas_draw_with_popups_and_a_list_by_level_then_chance(tmp_path):
    dom, console = chromium(["--dump-dom"], tmp_path, area_page(tmp_path).as_uri() + "#area=site-hot&lead=1")
    assert csp_violations(console) == []
    body = re.search(r"<body([^>]*)>", dom)[1]
    assert 'data-ready="true"' in body and 'data-areas="5"' in body
    assert 'data-areas-listed="4"' in body  # lead 1: all but the west site reach level 1
    assert 'data-overlays="18"' in body  # 6 grid layers (where water gathers first too) x 3 leads
    assert not re.findall(r'class="leaflet-image-layer[^"]* grid', dom)  # the areas' layer shows no grid image
    listed = re.findall(r'<li data-area="([^"]+)"', dom)
    assert listed == ["site-hot", "city", "zone-core", "zone-buffer"]  # level 3, 2 (30 %), 2 (20 %), 1
    popup = re.search(r'<div class="leaflet-popup-content"[^>]*>(.*?)</div></div>', dom, re.DOTALL)[1]
    assert "around Hotspot Clan House" in popup and "40 %" in popup
    assert "3 · Move collections off the floor" in popup and ACTIONS[2] in popup and "lead 1" in popup


@needs_chromium
def test_hostile_area_names_render_as_text_in_the_popup_and_the_list(tmp_path):
    page = area_page(tmp_path, **{"site-hot": HOSTILE, "zone-core": QUOTED})
    assert "<img src=x" not in page.read_text()
    dom, console = chromium(["--dump-dom"], tmp_path, page.as_uri() + "#area=site-hot&lead=2")
    assert csp_violations(console) == [] and "<img src=" not in dom and "<script>alert" not in dom
    popup = re.search(r'<div class="leaflet-popup-content"[^>]*>(.*?)</div></div>', dom, re.DOTALL)[1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in popup
    assert "Level 3 · O'Reilly &amp; Sons \"Godown\"" in dom


def test_alerts_are_listed_by_level_then_lead(page):
    alerts = page_data(page)["alerts"]
    assert [(a["asset_id"], a["hazard"], a["level"], a["lead"]) for a in alerts] == [
        ("block", "flood", 2, 1), ("block", "heat", 2, 1), ("west", "heat", 2, 2), ("east", "heat", 1, 0),
        ("hot", "heat", 1, 1), ("hot", "flood", None, None)]  # floods first on a tie; without a level: last


def test_temperatures_share_one_colour_scale_whatever_the_forecast(tmp_path):
    hotter = forecast_with_levels()
    hotter["tasmax_q50"] = hotter["tasmax_q50"] + 4.0

    def legend(forecast, name):
        data = page_data(write_page(forecast, tmp_path / name, assets=small_assets(), zone=small_zone(), levels=None))
        return next(layer["entries"] for layer in data["layers"] if layer["key"] == "tasmax_q50")

    cool, hot = legend(forecast_with_levels(), "cool.html"), legend(hotter, "hot.html")
    assert cool == hot
    low, high = TASMAX_SCALE_DEGC
    assert (cool[0][1], cool[-1][1]) == (f"{low:g} °C", f"{high:g} °C")


def test_page_carries_the_basemap_and_the_place_names(page):
    data = page_data(page)
    assert data["buildings"].startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(data["buildings"].split(",", 1)[1]))) as image:
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
    (south, west), (north, east) = data["bounds"]
    assert image.width == pytest.approx(NX * RES_M / BUILDING_PIXEL_M, abs=1)
    # the block of buildings (rows 3-6, cols 3-8 of 20 x 30 cells): its share of the image, drawn where it lies
    assert (alpha > 0).mean() == pytest.approx(3 * 5 / (NY * NX), rel=0.2)
    rows, cols = np.nonzero(alpha)
    assert 3.5 / NY < rows.mean() / alpha.shape[0] < 5.5 / NY and 5 / NX < cols.mean() / alpha.shape[1] < 6.5 / NX
    (river,) = data["waterways"]["features"]
    assert river["properties"]["kind"] == "river" and river["geometry"]["type"] == "LineString"
    assert all(west <= lon <= east and south <= lat <= north for lon, lat in river["geometry"]["coordinates"])
    assert {(p["name"], p["kind"]) for p in data["places"]} == {("Heritage core zone", "zone"),
                                                                ("Heritage buffer zone", "zone")}


def test_sites_carry_their_thresholds_and_a_raised_floor(page):
    sites = {f["properties"]["asset_id"]: f["properties"]["leads"]["0"] for f in page_data(page)["assets"]["features"]}
    assert sites["west"]["floor_raises_threshold"] is True and sites["west"]["floor_height_m"] == 1.0
    assert sites["west"]["flood_threshold"] == pytest.approx(0.3 + 2 * 0.1)  # two 0.5 m steps of raised floor
    assert sites["hot"]["floor_raises_threshold"] is False and sites["hot"]["flood_threshold"] == 0.3
    assert sites["block"]["own_flood_threshold"] == 0.9 and sites["block"]["heat_threshold"] == 40.0


class DevTools:
    """Headless Chromium driven over its DevTools pipe (file descriptors 3 and 4: no socket), network off."""

    def __init__(self, tmp_path, url):
        command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={tmp_path / 'devtools'}", "--proxy-server=127.0.0.1:9", "--window-size=1280,860",
                   "--remote-debugging-pipe", "about:blank"]
        self.browser = subprocess.Popen(["sh", "-c", 'exec "$@" 3<&0 4>&1 </dev/null >/dev/null', "sh", *command],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.buffer, self.last_id, self.session = b"", 0, None
        target = self.send("Target.createTarget", url=url)["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def send(self, method: str, **params) -> dict:
        self.last_id += 1
        message = {"id": self.last_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        self.browser.stdin.write(json.dumps(message).encode() + b"\0")
        self.browser.stdin.flush()
        while True:
            while b"\0" not in self.buffer:
                ready, _, _ = select.select([self.browser.stdout], [], [], 60)
                assert ready, f"Chromium did not answer {method}"
                self.buffer += os.read(self.browser.stdout.fileno(), 1 << 16)
            raw, self.buffer = self.buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.last_id:
                assert "error" not in reply, reply["error"]
                return reply["result"]

    def evaluate(self, expression: str):
        return self.send("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_for(self, expression: str):
        """The value of `expression` once it is truthy (the page draws after load); fails after 200 tries."""
        for _ in range(200):
            if value := self.evaluate(expression):
                return value
            select.select([], [], [], 0.05)
        raise AssertionError(f"never true in the page: {expression}")

    def click(self, selector: str) -> None:
        """A left click, as a mouse gives it, in the middle of the element `selector`."""
        x, y = self.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                             ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def close(self):
        self.browser.stdin.close()
        self.browser.kill()
        self.browser.wait()


@pytest.fixture
def browser(tmp_path):
    opened = []

    def open_page(url):
        opened.append(DevTools(tmp_path, url))
        return opened[-1]

    yield open_page
    for devtools in opened:
        devtools.close()


@needs_chromium
def test_page_offline_draws_the_basemap_and_names_without_overlap_and_an_alert_opens_its_day(page, browser):
    tab = browser(page.as_uri())
    body = tab.wait_for("document.body.dataset.ready && {...document.body.dataset}")
    assert body["buildings"] == "1" and body["waterways"] == "1"  # the block's image, the river's line
    assert int(body["labels"]) >= 3 and body["labelOverlaps"] == "0"  # 2 zones and the sites that fit
    assert body["held"] == "3"  # on the flood layer: west's raised floor, block's and east's own thresholds
    assert tab.evaluate("document.querySelectorAll('path[stroke-dasharray=\"3 2\"]').length") == 3
    assert tab.evaluate("document.querySelector('#leads [aria-selected=true]').dataset.lead") == "0"
    tab.click('#alerts li[data-asset="west"]')  # heat level 2 from lead 2
    popup = tab.wait_for("document.querySelector('.leaflet-popup-content')?.textContent")
    assert tab.evaluate("document.querySelector('#leads [aria-selected=true]').dataset.lead") == "2"
    west = next(f["properties"] for f in page_data(page)["assets"]["features"] if f["properties"]["asset_id"] == "west")
    rule = west["leads"]["2"]["heat_rule"]  # the layer of the rule that set the alert
    assert tab.evaluate("document.querySelector('#hazards [aria-checked=true]').dataset.layer") == {
        "met_level": "heat_level", "wbgt_band": "wbgt_band"}[rule]
    assert "West Temple" in popup and "lead 2" in popup and "below the site's alert level" not in popup.split("Heat")[1]
    assert "Act on heat." in popup
    assert "its floor is 1.0 m above the ground, so its threshold is raised" in popup
    assert "The site's flood alert starts at50 %" in popup and "The site's heat alert starts atmedian max 35.0 °C" in popup


@needs_chromium
def test_an_area_alert_opens_the_warning_areas_on_its_day_with_its_popup(tmp_path, browser):
    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / "x.core.cap.xml").write_text(leveled_cap("zone-core", "flood", 2, 1, "warisan_area"))
    tab = browser(area_page(tmp_path).as_uri() + "#layer=tasmax_q50")
    tab.wait_for("document.body.dataset.ready")
    tab.click('#alerts li[data-asset="zone-core"]')
    popup = tab.wait_for("document.querySelector('.leaflet-popup-content')?.textContent")
    assert tab.evaluate("document.querySelector('#leads [aria-selected=true]').dataset.lead") == "1"
    assert tab.evaluate("document.querySelector('#hazards [aria-checked=true]').dataset.layer") == "areas"
    assert "heritage core zone" in popup and "lead 1" in popup


def test_districts_of_the_warning_areas_are_outlined_and_named(tmp_path):
    forecast = with_warning_areas(with_heat_products(small_forecast()), {"zone-buffer": "Timur Laut"})
    kinds = ["district" if area == "zone-buffer" else kind
             for area, kind in zip(forecast["area_id"].values, forecast["area_kind"].values, strict=True)]
    forecast = with_levels(forecast.assign_coords(area_kind=("area", kinds)), flood_bands=(0.01, 0.05, 0.2),
                           heat_bands_degC=(35, 37, 40))
    data = page_data(write_page(forecast, tmp_path / "index.html", assets=small_assets(), zone=small_zone(),
                                levels=None))
    (district,) = data["districts"]["features"]
    assert district["properties"]["name"] == "Timur Laut" and district["geometry"]["type"] == "Polygon"
    assert [(p["name"], p["kind"]) for p in data["places"]] == [
        ("Timur Laut", "district"), ("Heritage core zone", "zone"), ("Heritage buffer zone", "zone")]
    (south, west), (north, east) = data["bounds"]
    assert all(south <= p["latlng"][0] <= north and west <= p["latlng"][1] <= east for p in data["places"])


def test_site_kinds_read_as_words_in_the_popups(tmp_path):
    assets = small_assets()
    assets["kind"] = ["clan_house", "public_space", *assets["kind"].iloc[2:]]
    data = page_data(write_page(small_forecast(), tmp_path / "index.html", assets=assets, zone=small_zone(), levels=None))
    kinds = [feature["properties"]["kind"] for feature in data["assets"]["features"]]
    assert kinds[:2] == ["clan house", "public space"] and "_" not in "".join(kinds)
