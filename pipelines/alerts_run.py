"""One forecast run's alerts: decide, record, write (issue_run), then deliver and publish the feed.

issue_run, for an issue date D:
- D already recorded (a rerun): the recorded messages and digests are written again, byte for
  byte; nothing is decided, queued or sent anew.
- D newer than every recorded date: messages come from the state before D and the forecast;
  messages, digests, the run and the outbox are recorded in one transaction, then the files are
  written from what was recorded. A crash before the commit leaves nothing; after it, the rerun
  is the case above.
- D older than the newest recorded date (a late backfill): rendered from the state before D
  and written, but neither recorded nor queued, so the live sequence never forks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd
from lxml import etree

from pipelines.alerts import cap_messages, write_cap_messages
from pipelines.alerts_advice import load_advisories
from pipelines.alerts_delivery import send_queued, write_feed
from pipelines.alerts_digest import manager_digests
from pipelines.alerts_state import CapMessage, Outgoing, open_store
from pipelines.config import AlertConfig
from pipelines.storage import write_text_atomic

STORE_FILE = "alerts.sqlite"
FEED_FILE = "alerts.atom"
_CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


@dataclass(frozen=True)
class IssuedRun:
    mode: str  # 'new', 'rerun' or 'backfill'
    messages: list[CapMessage]
    paths: list[Path]  # CAP files, then digests


def issue_run(
    city_store: Path, out: Path, levels: pd.DataFrame, assets: gpd.GeoDataFrame, *, issue_time: dt.datetime,
    city_slug: str, city_name: str, timezone: str, alert: AlertConfig, model_versions: dict[str, str],
    note: str = "",
) -> IssuedRun:
    """Decide, record and write the CAP messages and digests of one issue date (module docstring).

    CAP files go to `out/alerts/`, digests to `out/digests/<manager>.txt|.html`; the state is
    `city_store/alerts.sqlite`.
    """
    advisories = load_advisories(alert.advisories, alert.languages)
    issue_day = pd.Timestamp(issue_time).tz_convert(timezone).date()
    with open_store(city_store / STORE_FILE) as store:
        if store.recorded(issue_day):
            mode, messages, digests = "rerun", store.messages(issue_day), store.digests(issue_day)
        else:
            messages = cap_messages(
                levels, assets, issue_time=issue_time, city_slug=city_slug, city_name=city_name,
                timezone=timezone, alert=alert, advisories=advisories, model_versions=model_versions,
                events=store.events_before(issue_day), note=note)
            digests = manager_digests(levels, assets, messages, alert.managers, issue_day=issue_day,
                                      city_name=city_name)
            latest = store.latest_date()
            mode = "backfill" if latest is not None and latest > issue_day.isoformat() else "new"
            sent = issue_time.astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds")
            if mode == "new" and not store.record_run(issue_day, sent, messages, digests,
                                                      outgoing(messages, digests, alert, issue_day)):
                mode, messages, digests = "rerun", store.messages(issue_day), store.digests(issue_day)
    paths = write_cap_messages(messages, out / "alerts")
    for manager_id, (text, html) in digests.items():
        paths += [write_text_atomic(out / "digests" / f"{manager_id}.txt", text),
                  write_text_atomic(out / "digests" / f"{manager_id}.html", html)]
    return IssuedRun(mode, messages, paths)


def deliver_run(city_store: Path, alert: AlertConfig, *, city_slug: str, city_name: str) -> dict[str, int]:
    """Send what the outbox holds and rewrite the feed (city_store/alerts.atom); counts sent/queued."""
    with open_store(city_store / STORE_FILE) as store:
        counts = send_queued(store, alert.channels, attempts=alert.delivery.attempts,
                             retry_delay_s=alert.delivery.retry_delay_s)
        write_feed(store, city_store / FEED_FILE, city_slug=city_slug, city_name=city_name)
    return counts


def outgoing(messages: list[CapMessage], digests: dict[str, tuple[str, str]], alert: AlertConfig,
             issue_day: dt.date) -> list[Outgoing]:
    """Outbox items: each message to the all-alerts channels and its managers' channels; each
    digest to its manager's channels. The CAP file and the HTML digest travel as attachments."""
    broadcast = {name for name, channel in alert.channels.items() if channel.all_alerts}
    items = []
    for message in messages:
        channels = broadcast | {channel for manager in alert.managers if message.asset_id in manager.assets
                                for channel in manager.channels}
        title, body = _message_text(message)
        items += [Outgoing(message.identifier, channel, title, body, f"{message.identifier}.cap.xml", message.xml)
                  for channel in sorted(channels)]
    for manager in alert.managers:
        if manager.id not in digests:
            continue
        text, html = digests[manager.id]
        key = f"digest.{issue_day.isoformat()}.{manager.id}"
        items += [Outgoing(key, channel, text.splitlines()[0], text, f"digest-{issue_day.isoformat()}.html",
                           html.encode()) for channel in sorted(set(manager.channels))]
    return items


def _message_text(message: CapMessage) -> tuple[str, str]:
    """Title (the first language's headline) and body (every language's words) of a message."""
    root = etree.fromstring(message.xml)
    blocks = []
    for info in root.iter(f"{_CAP}info"):
        blocks.append("\n\n".join(info.findtext(f"{_CAP}{tag}") or "" for tag in ("headline", "description",
                                                                                  "instruction")))
    title = root.findtext(f"{_CAP}info/{_CAP}headline") or message.identifier
    status = root.findtext(f"{_CAP}status")
    footer = f"CAP {message.msg_type} {message.identifier} ({status}), sent {message.sent}."
    return (f"[{status}] {title}" if status != "Actual" else title), "\n\n----\n\n".join([*blocks, footer])
