"""Delivery of queued alerts and digests through apprise, and the Atom feeds of current alerts (one per language).

The outbox (pipelines.alerts.state) says what each channel must still receive. Each item is
tried `attempts` times in a run, with doubling waits; what fails stays queued for the next run,
so a channel that is down loses nothing. An item is marked sent in its own transaction right
after apprise reports success: a crash between the two is the one case that sends an item
again, so every email and webhook carries an `X-Warisan-Message` header (the outbox key) by
which a receiver can drop a repeat. Secrets never sit in files: a channel URL names them as
${ENV_VAR}, filled from the environment only when sending.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import apprise
import tenacity
from lxml import etree

from pipelines.alerts.state import AlertStore, CapMessage, Outgoing
from pipelines.alerts.text import words
from pipelines.config import ChannelConfig
from pipelines.storage import write_atomic

ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
FEED_FILE = "alerts.atom"  # the feed in the first language; the others in alerts.<language>.atom
CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
_ENV_NAME = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HEADER_SCHEMES = ("mailto", "mailtos", "json", "jsons", "xml", "xmls", "form", "forms")  # take +Header=value
_FEED_ID = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/warisan/alerts")  # namespace of feed ids

Notify = Callable[[str, Outgoing], str | None]  # (url, item) -> None when sent, else the error


class DeliveryError(RuntimeError):
    """A channel that cannot be used as configured (a missing environment variable)."""


def channel_url(template: str, channel: str, env: Mapping[str, str]) -> str:
    """`template` with each ${NAME} replaced from `env`; DeliveryError naming what is missing."""
    missing = sorted({name for name in _ENV_NAME.findall(template) if name not in env})
    if missing:
        raise DeliveryError(f"channel {channel!r}: environment variable(s) {', '.join(missing)} not set")
    return _ENV_NAME.sub(lambda match: urllib.parse.quote(env[match.group(1)], safe=""), template)


def notify_apprise(url: str, item: Outgoing) -> str | None:
    """Send one item through apprise; None when sent, else an error that never shows the URL."""
    url = _with_message_header(url, item.key)
    with tempfile.TemporaryDirectory(prefix="warisan-send-") as tmp:
        attach = None
        if item.attachment is not None:
            path = Path(tmp) / (item.attachment_name or "attachment")
            path.write_bytes(item.attachment)
            attach = apprise.AppriseAttachment(str(path))
        sender = apprise.Apprise()
        if not sender.add(url):
            return "apprise does not accept the channel's URL"
        # Our bodies are plain text: said so, apprise sends mail as text/plain; left unsaid, it would send
        # them as the HTML part of the mail, where a site's name could be markup.
        result = sender.notify(body=item.body, title=item.title, attach=attach, body_format=apprise.NotifyFormat.TEXT)
        return None if result else f"apprise: {result.status.name.lower()}"


def send_queued(
    store: AlertStore, channels: Mapping[str, ChannelConfig], *, attempts: int, retry_delay_s: float,
    env: Mapping[str, str] | None = None, notify: Notify = notify_apprise,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, int]:
    """Try every queued item once per attempt, oldest first; counts of 'sent' and 'queued' items.

    A channel whose item failed every attempt is not tried again in this run (its other items
    stay queued with that error), so a channel that is down costs one item's retries a run.
    """
    env = os.environ if env is None else env
    retrying = tenacity.Retrying(  # waits `retry_delay_s` before the 2nd try, doubled before each next
        stop=tenacity.stop_after_attempt(attempts), wait=tenacity.wait_exponential(multiplier=retry_delay_s),
        retry=tenacity.retry_if_result(lambda error: error is not None), sleep=sleep,
        retry_error_callback=lambda state: state.outcome.result())  # out of tries: the last error
    counts = {"sent": 0, "queued": 0}
    down: dict[str, str] = {}
    for item in store.queued():
        error, tries = down.get(item.channel), 0
        if error is None and item.channel not in channels:
            error = f"channel {item.channel!r} is no longer configured"
        if error is None:
            try:
                url = channel_url(channels[item.channel].url, item.channel, env)
            except DeliveryError as err:
                error = str(err)
            else:
                error = retrying(notify, url, item)  # an exception from `notify` is not retried: it ends a run
                tries = retrying.statistics["attempt_number"]
        if error is not None:
            down[item.channel] = error
        sent_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds") if error is None else None
        store.mark(item, sent_at=sent_at, error=error, attempts=tries)
        counts["sent" if error is None else "queued"] += 1
    return counts


def feed_file(language: str, languages: tuple[str, ...]) -> str:
    """The Atom feed's file name in `language`: FEED_FILE for the first of `languages`, else alerts.<language>.atom."""
    return FEED_FILE if language == languages[0] else f"alerts.{language}.atom"


def atom_feed(current: list[tuple[str, CapMessage]], *, city_slug: str, city_name: str, updated: str,
              language: str) -> bytes:
    """An Atom feed in `language` of (issue_date, message) pairs, as CAP feeds publish them, as UTF-8 XML.

    Each entry takes the message's <info> in `language` (its first where it has none) and links to its
    CAP file relative to the city's store (forecasts/<issue_date>/alerts/<identifier>.cap.xml),
    repeating CAP's key fields. Feed and entry ids differ by language.
    """
    root = etree.Element(f"{{{ATOM_NAMESPACE}}}feed", nsmap={None: ATOM_NAMESPACE, "cap": CAP_NAMESPACE})
    root.set(XML_LANG, language)
    _atom(root, "id", f"urn:uuid:{uuid.uuid5(_FEED_ID, f'{city_slug}/{language}')}")
    _atom(root, "title", words(language)["feed"]["title"].format(city=city_name))
    _atom(root, "updated", updated)
    _atom(_atom(root, "author"), "name", "Warisan")
    for issue_date, message in current:
        cap = etree.fromstring(message.xml)
        infos = cap.findall(f"{{{CAP_NAMESPACE}}}info")
        info = next((i for i in infos if i.findtext(f"{{{CAP_NAMESPACE}}}language") == language), infos[0])
        entry = _atom(root, "entry")
        _atom(entry, "id", f"urn:uuid:{uuid.uuid5(_FEED_ID, f'{message.identifier}/{language}')}")
        _atom(entry, "title", info.findtext(f"{{{CAP_NAMESPACE}}}headline"))
        _atom(entry, "updated", message.sent)
        _atom(entry, "summary", info.findtext(f"{{{CAP_NAMESPACE}}}description"))
        link = _atom(entry, "link")
        link.attrib.update({"rel": "alternate", "type": "application/cap+xml",
                            "href": f"forecasts/{issue_date}/alerts/{message.identifier}.cap.xml"})
        for tag, parent in (("identifier", cap), ("msgType", cap), ("status", cap), ("event", info),
                            ("urgency", info), ("severity", info), ("certainty", info), ("expires", info)):
            etree.SubElement(entry, f"{{{CAP_NAMESPACE}}}{tag}").text = parent.findtext(f"{{{CAP_NAMESPACE}}}{tag}")
        area = info.find(f"{{{CAP_NAMESPACE}}}area")
        etree.SubElement(entry, f"{{{CAP_NAMESPACE}}}areaDesc").text = area.findtext(f"{{{CAP_NAMESPACE}}}areaDesc")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def write_feeds(store: AlertStore, folder: Path, *, city_slug: str, city_name: str,
                languages: tuple[str, ...]) -> list[Path]:
    """Write the Atom feed of the store's current messages in each of `languages` to `folder` (feed_file),
    atomically."""
    updated = store.latest_sent() or "1970-01-01T00:00:00+00:00"
    current = store.current_messages()
    paths = []
    for language in languages:
        feed = atom_feed(current, city_slug=city_slug, city_name=city_name, updated=updated, language=language)
        paths.append(write_atomic(folder / feed_file(language, languages), lambda tmp, feed=feed: tmp.write_bytes(feed),
                                  suffix=".atom"))
    return paths


def _with_message_header(url: str, key: str) -> str:
    """`url` with `+X-Warisan-Message=<key>` where apprise turns it into a header."""
    if url.split("://", 1)[0].lower() not in _HEADER_SCHEMES:
        return url
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}+X-Warisan-Message={urllib.parse.quote(key, safe='')}"


def _atom(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, f"{{{ATOM_NAMESPACE}}}{tag}")
    child.text = text
    return child
