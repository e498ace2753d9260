"""Delivery against a local SMTP server (aiosmtpd) and a local HTTP server, both on 127.0.0.1."""

import base64
import datetime as dt
import email
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from aiosmtpd.controller import Controller
from lxml import etree

from pipelines.alerts.advice import DEFAULT_ADVISORIES
from pipelines.alerts.delivery import FEED_FILE, notify_apprise, send_queued
from pipelines.alerts.run import STORE_FILE, deliver_run, issue_run
from pipelines.alerts.state import open_store
from pipelines.config import ChannelConfig, DeliveryConfig, ManagerConfig
from tests.pipelines.alerts_factory import CONFIG, FIRST_DAY, VERSIONS, day_levels, issue_time, run_day
from tests.pipelines.conftest_publish import HOSTILE, HOSTILE_ESCAPED, QUOTED, small_assets

DAY0, DAY1, DAY2 = (FIRST_DAY + dt.timedelta(days=n) for n in range(3))
RISING, HIGHER, FALLING = day_levels([0.1, 0.35, 0.4]), day_levels([0.7, 0.8, 0.5]), day_levels([0.1, 0.1, 0.1])
ATOM = {"atom": "http://www.w3.org/2005/Atom", "cap": "urn:oasis:names:tc:emergency:cap:1.2"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


class Webhook:
    """A threaded HTTP server on 127.0.0.1 keeping every POST (headers, JSON body); start/stop at will."""

    def __init__(self, port: int):
        self.port, self.posts, self._server = port, [], None

    def start(self):
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                posts.append((dict(self.headers), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def webhook():
    hook = Webhook(free_port())
    yield hook
    hook.stop()


@pytest.fixture
def smtp():
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def alert_config(http_port: int, smtp_port: int, hook_url: str | None = None):
    mail = f"mailto://127.0.0.1:{smtp_port}?from=warisan@example.org&to=keeper@example.org&mode=insecure"
    return CONFIG.model_copy(update={
        "channels": {"ops": ChannelConfig(url=hook_url or f"json://127.0.0.1:{http_port}/hook", all_alerts=True),
                     "mail": ChannelConfig(url=mail)},
        "managers": (ManagerConfig(id="keeper", name="Clan house keeper", assets=("hot",), channels=("mail",)),),
        "delivery": DeliveryConfig(attempts=2, retry_delay_s=0),
    })


def deliver(store, alert):
    return deliver_run(store, alert, city_slug="test-city", city_name="Test City")


def test_each_message_reaches_each_channel_once_however_often_the_day_reruns(tmp_path, webhook, smtp):
    box, smtp_port = smtp
    webhook.start()
    alert = alert_config(webhook.port, smtp_port)
    for _ in range(3):
        run_day(tmp_path, DAY0, RISING, alert=alert)
        deliver(tmp_path, alert)
    identifier = "warisan-test@example.org.test-city.hot.flood.2024-12-26"
    assert [headers["X-Warisan-Message"] for headers, _ in webhook.posts] == [identifier]
    body = webhook.posts[0][1]
    assert body["title"].startswith("[Test] Flood risk level 1 of 3 at Hotspot Clan House")
    assert body["attachments"][0]["filename"] == f"{identifier}.cap.xml"
    assert b"<msgType>Alert</msgType>" in base64.b64decode(body["attachments"][0]["base64"])
    assert sorted(m["X-Warisan-Message"] for m in box.messages) == ["digest.2024-12-26.keeper", identifier]


def test_a_webhook_that_is_down_loses_nothing_and_repeats_nothing(tmp_path, webhook, smtp):
    alert = alert_config(webhook.port, smtp[1])
    run_day(tmp_path, DAY0, RISING, alert=alert)
    assert deliver(tmp_path, alert) == {"sent": 2, "queued": 1}  # mail went; the hook is down
    with open_store(tmp_path / STORE_FILE) as store:
        hook_row = store.outbox().query("channel == 'ops'").iloc[0]
    assert hook_row["status"] == "queued" and hook_row["attempts"] == 2 and "failure" in hook_row["last_error"]
    webhook.start()
    run_day(tmp_path, DAY1, HIGHER, alert=alert)
    deliver(tmp_path, alert)
    deliver(tmp_path, alert)
    assert [headers["X-Warisan-Message"][-16:] for headers, _ in webhook.posts] == [
        "flood.2024-12-26", "flood.2024-12-27"]  # the queued Alert first, then the Update
    assert len(smtp[0].messages) == 4  # Alert + digest, Update + digest


def test_a_mail_server_that_is_down_gets_its_mail_once_it_is_back(tmp_path, webhook):
    port = free_port()
    webhook.start()
    alert = alert_config(webhook.port, port)
    run_day(tmp_path, DAY0, RISING, alert=alert)
    assert deliver(tmp_path, alert) == {"sent": 1, "queued": 2}
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert deliver(tmp_path, alert) == {"sent": 2, "queued": 0}
        assert deliver(tmp_path, alert) == {"sent": 0, "queued": 0}
    finally:
        controller.stop()
    assert len(box.messages) == 2 and len(webhook.posts) == 1


def test_secrets_come_from_the_environment_only_when_sending(tmp_path, webhook, smtp, monkeypatch):
    webhook.start()
    alert = alert_config(webhook.port, smtp[1], hook_url=f"json://warisan:${{HOOK_TOKEN}}@127.0.0.1:{webhook.port}/h")
    run_day(tmp_path, DAY0, RISING, alert=alert)
    monkeypatch.delenv("HOOK_TOKEN", raising=False)
    deliver(tmp_path, alert)
    with open_store(tmp_path / STORE_FILE) as store:
        error = store.outbox().query("channel == 'ops'")["last_error"].iloc[0]
    assert error == "channel 'ops': environment variable(s) HOOK_TOKEN not set" and webhook.posts == []
    monkeypatch.setenv("HOOK_TOKEN", "s3cret")
    deliver(tmp_path, alert)
    assert webhook.posts[0][0]["Authorization"] == "Basic " + base64.b64encode(b"warisan:s3cret").decode()


def test_a_failed_send_is_tried_again_after_doubling_waits_then_left_queued(tmp_path):
    alert = alert_config(free_port(), free_port())  # nothing listens: `notify` below stands in for apprise
    run_day(tmp_path, DAY0, RISING, alert=alert)
    sleeps, tries = [], {}

    def flaky(url, item):  # the webhook is down; mail goes out on the third try
        tries[item.key, item.channel] = tries.get((item.key, item.channel), 0) + 1
        return "down" if item.channel == "ops" else (None if tries[item.key, item.channel] == 3 else "busy")

    with open_store(tmp_path / STORE_FILE) as store:
        counts = send_queued(store, alert.channels, attempts=3, retry_delay_s=5, notify=flaky, sleep=sleeps.append)
        outbox = store.outbox().set_index("channel")
    assert counts == {"sent": 2, "queued": 1} and sorted(tries.values()) == [3, 3, 3]
    assert sleeps == [5, 10] * 3  # before the 2nd and the 3rd try of each item
    assert outbox.loc["ops", "status"] == "queued" and outbox.loc["ops", "last_error"] == "down"
    assert outbox["attempts"].tolist() == [3, 3, 3]


def test_a_crash_while_sending_neither_loses_nor_repeats_a_message(tmp_path, webhook, smtp):
    webhook.start()
    alert = alert_config(webhook.port, smtp[1])
    run_day(tmp_path, DAY0, RISING, alert=alert)
    calls = []

    def dies_on_the_second_send(url, item):
        calls.append(item.key)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process is killed before this item goes out
        return notify_apprise(url, item)

    with open_store(tmp_path / STORE_FILE) as store, pytest.raises(KeyboardInterrupt):
        send_queued(store, alert.channels, attempts=1, retry_delay_s=0, notify=dies_on_the_second_send)
    deliver(tmp_path, alert)
    deliver(tmp_path, alert)
    assert len(webhook.posts) == 1 and len(smtp[0].messages) == 2


def test_feed_lists_current_alerts_and_the_latest_cancels(tmp_path):
    run_day(tmp_path, DAY0, RISING)
    run_day(tmp_path, DAY1, day_levels([0.1, 0.1, 0.1], heat=[36.0, 36.0, 36.0]))  # flood ends, heat starts
    deliver(tmp_path, CONFIG)
    feed = etree.parse(str(tmp_path / FEED_FILE)).getroot()
    entries = feed.findall("atom:entry", ATOM)
    assert [e.findtext("cap:msgType", namespaces=ATOM) for e in entries] == ["Cancel", "Alert"]
    assert entries[1].find("atom:link", ATOM).get("href") == (
        "forecasts/2024-12-27/alerts/warisan-test@example.org.test-city.hot.heat.2024-12-27.cap.xml")
    assert feed.findtext("atom:updated", namespaces=ATOM) == "2024-12-27T00:00:00+08:00"
    run_day(tmp_path, DAY2, day_levels([0.1, 0.1, 0.1], heat=[36.0, 36.0, 36.0]))  # nothing new
    deliver(tmp_path, CONFIG)
    entries = etree.parse(str(tmp_path / FEED_FILE)).getroot().findall("atom:entry", ATOM)
    assert [e.findtext("cap:msgType", namespaces=ATOM) for e in entries] == ["Alert"]


def test_digest_lists_the_managers_sites_by_day_in_text_and_html(tmp_path):
    alert = alert_config(1, 1)
    run_day(tmp_path, DAY0, RISING, alert=alert)
    folder = tmp_path / "forecasts" / DAY0.isoformat() / "digests"
    text, html = (folder / "keeper.txt").read_text(), (folder / "keeper.html").read_text()
    assert "Warisan digest for Clan house keeper" in text and "New alert (Flood): Flood risk level 1 of 3 at Hotspot Clan House" in text
    assert "Fri 27 Dec 2024: flood 35% (level 1)" in text
    assert "<td>Fri 27 Dec 2024</td><td>35%</td><td>1</td>" in html and 'src="keeper_map_d0.png"' in html and 'href="../map_d0.png"' in html


def test_digest_escapes_markup_in_names_in_html_only(tmp_path):
    assets = small_assets()
    assets.loc[assets["asset_id"] == "hot", "name"] = HOSTILE
    manager = ManagerConfig(id="keeper", name=HOSTILE, assets=("hot",))
    issue_run(tmp_path, tmp_path / "out", RISING, assets, issue_time=issue_time(DAY0), city_slug="test-city",
              city_name=HOSTILE, timezone="Asia/Kuala_Lumpur", alert=CONFIG.model_copy(update={"managers": (manager,)}),
              model_versions=VERSIONS)
    text, html = ((tmp_path / "out" / "digests" / name).read_text() for name in ("keeper.txt", "keeper.html"))
    assert "<img src=x" not in html and "<script>" not in html
    assert ("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src 'self'; "
            "base-uri 'none'; form-action 'none'\">") in html  # no script or style runs; only its maps load
    assert f"<title>Warisan digest for {HOSTILE_ESCAPED}: {HOSTILE_ESCAPED}, forecast" in html
    assert f"<td>{HOSTILE_ESCAPED} (temple)</td>" in html and f"(Flood): Flood risk level 1 of 3 at {HOSTILE_ESCAPED}" in html
    assert f"Warisan digest for {HOSTILE}: {HOSTILE}" in text and f"  {HOSTILE} (temple)" in text


def hostile_advice(tmp_path):
    """The default advice table with a kind named QUOTED whose flood advice at level 1 is HOSTILE."""
    table = yaml.safe_load(DEFAULT_ADVISORIES.read_text(encoding="utf-8"))
    table["kinds"] = {QUOTED: {"flood": {1: {"en-GB": HOSTILE, "ms-MY": HOSTILE}}}}
    path = tmp_path / "advisories.yaml"
    path.write_text(yaml.safe_dump(table, allow_unicode=True), encoding="utf-8")
    return path


def test_hostile_names_advice_and_senders_arrive_as_text_in_cap_feed_mail_and_webhook(tmp_path, webhook, smtp):
    webhook.start()
    alert = alert_config(webhook.port, smtp[1])
    alert = alert.model_copy(update={"sender_name": HOSTILE, "advisories": hostile_advice(tmp_path), "managers": (
        alert.managers[0].model_copy(update={"name": HOSTILE}),)})
    assets = small_assets()
    assets.loc[assets["asset_id"] == "hot", ["name", "kind"]] = HOSTILE, QUOTED
    issued = issue_run(tmp_path, tmp_path / "forecasts" / DAY0.isoformat(), RISING, assets,
                       issue_time=issue_time(DAY0), city_slug="test-city", city_name=HOSTILE,
                       timezone="Asia/Kuala_Lumpur", alert=alert, model_versions=VERSIONS)
    deliver_run(tmp_path, alert, city_slug="test-city", city_name=HOSTILE)

    (cap_path,) = [path for path in issued.paths if path.name.endswith(".cap.xml")]
    raw = cap_path.read_bytes()
    assert b"<script>" not in raw and b"<img" not in raw  # markup only as &lt;...
    for info in etree.fromstring(raw).findall("cap:info", ATOM):  # the text round-trips exactly
        assert info.findtext("cap:senderName", namespaces=ATOM) == HOSTILE
        assert info.findtext("cap:instruction", namespaces=ATOM) == HOSTILE
        assert info.findtext("cap:area/cap:areaDesc", namespaces=ATOM) == f"{HOSTILE}, Timur Laut, {HOSTILE}"
        assert HOSTILE in info.findtext("cap:headline", namespaces=ATOM)

    raw = (tmp_path / FEED_FILE).read_bytes()
    assert b"<script>" not in raw and b"<img" not in raw
    feed = etree.fromstring(raw)
    assert feed.findtext("atom:title", namespaces=ATOM) == f"Warisan alerts: {HOSTILE}"
    assert feed.findtext("atom:entry/cap:areaDesc", namespaces=ATOM) == f"{HOSTILE}, Timur Laut, {HOSTILE}"
    assert HOSTILE in feed.findtext("atom:entry/atom:title", namespaces=ATOM)

    ((_, post),) = webhook.posts  # JSON carries the text as it is
    assert HOSTILE in post["title"] and f"\n\n{HOSTILE}\n\n" in post["message"]
    box, _ = smtp
    assert len(box.messages) == 2  # the alert and the digest, each as plain text only
    for mail in box.messages:
        bodies = [part for part in mail.walk() if not part.is_multipart() and part.get_filename() is None]
        assert [part.get_content_type() for part in bodies] == ["text/plain"]
        assert HOSTILE in bodies[0].get_payload(decode=True).decode()
    digest = next(mail for mail in box.messages if mail["X-Warisan-Message"].startswith("digest."))
    (attached,) = [part for part in digest.walk() if part.get_filename() == "digest-2024-12-26.html"]
    html = attached.get_payload(decode=True).decode()
    assert "<script>alert" not in html and f"Warisan digest for {HOSTILE_ESCAPED}: {HOSTILE_ESCAPED}" in html
