"""Alert state: which CAP message each asset and hazard gets, and the SQLite store that remembers.

An event is one asset's alert for one hazard: an Alert, then Updates, ended by a Cancel or by
expiring. Each issue date gives at most one message per asset and hazard:

| state before the run           | forecast crosses the threshold         | it does not       |
| ------------------------------ | -------------------------------------- | ----------------- |
| no open event (none, cancelled | Alert                                  | nothing           |
| or expired by the run's sent)  |                                        |                   |
| open event                     | Update if the level or the onset date  | Cancel            |
|                                | changed, or to renew a message that    |                   |
|                                | expires within RENEW_BEFORE (1 day);   |                   |
|                                | else nothing                           |                   |

An onset already past counts as today: an event under way keeps its onset as the days go by.

A flood level by warning area (models.assets, `flood_basis` 'area') has hysteresis: before the
table is read, `held_levels` keeps an open flood event's level while the chance stays above
models.warning.areas.HOLD_SHARE of that level's threshold (and the event open while it stays above that
share of level 1's), so a level does not flip between consecutive runs without cause. A warning
area (city, zone, district) is an event like a site's, keyed by its area_id.

Update and Cancel carry `references`: every earlier message of the event, oldest first, each as
"sender,identifier,sent". The state before an issue date is folded from the messages recorded
for earlier dates, so no mutable state can drift from the messages sent.

The store (<store>/<city>/alerts.sqlite) holds the messages (identifier, sent and bytes fixed
when first recorded), the digests and an outbox of what each channel must still receive. A
run records its messages, digests and outbox rows in one transaction with the run itself: a
crash before the commit leaves no trace, after it the rerun reads everything back.

Operator notices (a forecast not published by its deadline, one published stale) are not a
run's: they wait in their own outbox, `notices`, keyed so that each is queued once per channel
(a second check of the same deadline sends nothing again), and are sent with the rest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from models.assets import held_flood_levels

HAZARDS = ("flood", "heat")
RENEW_BEFORE = dt.timedelta(days=1)  # an open event whose last message expires this soon is renewed
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    issue_date TEXT PRIMARY KEY, sent TEXT NOT NULL, n_messages INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    identifier TEXT PRIMARY KEY, issue_date TEXT NOT NULL REFERENCES runs, asset_id TEXT NOT NULL,
    hazard TEXT NOT NULL, msg_type TEXT NOT NULL CHECK (msg_type IN ('Alert', 'Update', 'Cancel')),
    sender TEXT NOT NULL, sent TEXT NOT NULL, expires TEXT NOT NULL, level INTEGER NOT NULL,
    onset TEXT, refs TEXT NOT NULL, xml BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_event ON messages (asset_id, hazard, issue_date);
CREATE TABLE IF NOT EXISTS digests (
    issue_date TEXT NOT NULL REFERENCES runs, manager_id TEXT NOT NULL, text TEXT NOT NULL,
    html TEXT NOT NULL, PRIMARY KEY (issue_date, manager_id));
CREATE TABLE IF NOT EXISTS outbox (
    key TEXT NOT NULL, channel TEXT NOT NULL, issue_date TEXT NOT NULL REFERENCES runs,
    title TEXT NOT NULL, body TEXT NOT NULL, attachment_name TEXT, attachment BLOB,
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent')),
    attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, sent_at TEXT, PRIMARY KEY (key, channel));
CREATE TABLE IF NOT EXISTS notices (
    key TEXT NOT NULL, channel TEXT NOT NULL, raised TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent')),
    attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, sent_at TEXT, PRIMARY KEY (key, channel));
"""
NOTICE_PREFIX = "notice."  # the key of every operator notice starts so


@dataclass(frozen=True)
class Event:
    """An asset's alert for one hazard as its last message left it."""

    references: tuple[str, ...]  # "sender,identifier,sent" of each message so far, oldest first
    level: int
    onset: str | None  # ISO date of the first day at or above the threshold
    expires: dt.datetime
    cancelled: bool

    def open_at(self, moment: dt.datetime) -> bool:
        return not self.cancelled and self.expires > moment


@dataclass(frozen=True)
class Transition:
    """The message one asset and hazard gets from a run."""

    asset_id: str
    hazard: str
    msg_type: str  # Alert, Update or Cancel
    level: int  # 0 for a Cancel
    onset_lead: int | None  # None for a Cancel
    references: tuple[str, ...]


@dataclass(frozen=True)
class CapMessage:
    """One rendered CAP message and what the state needs to remember of it."""

    identifier: str
    asset_id: str
    hazard: str
    msg_type: str
    sender: str
    sent: str
    expires: str
    level: int
    onset: str | None
    references: tuple[str, ...]
    xml: bytes

    @property
    def reference(self) -> str:
        return f"{self.sender},{self.identifier},{self.sent}"


@dataclass(frozen=True)
class Outgoing:
    """What one channel must receive: a CAP message or a digest, fixed when queued."""

    key: str
    channel: str
    title: str
    body: str
    attachment_name: str | None = None
    attachment: bytes | None = None


def plan_transitions(
    levels: pd.DataFrame, events: dict[tuple[str, str], Event], *, issue_day: dt.date, sent: dt.datetime,
) -> list[Transition]:
    """The message each asset and hazard of `levels` gets, by the table in the module docstring.

    `levels` is models.assets.asset_alert_levels' table; `events` the state before the run
    (AlertStore.events_before). Events of assets missing from `levels` are left alone.
    Sorted by (asset_id, hazard).
    """
    transitions = []
    for (asset_id, hazard), event in _crossings(levels, events).items():
        crossing, level, onset_lead = event["crossing"], event["level"], event["onset_lead"]
        before = events.get((asset_id, hazard))
        is_open = before is not None and before.open_at(sent)
        if crossing and not is_open:
            transitions.append(Transition(asset_id, hazard, "Alert", level, onset_lead, ()))
        elif crossing:
            onset = (issue_day + dt.timedelta(days=onset_lead)).isoformat()
            changed = (level, onset) != (before.level, max(before.onset or "", issue_day.isoformat()))
            if changed or before.expires <= sent + RENEW_BEFORE:
                transitions.append(Transition(asset_id, hazard, "Update", level, onset_lead, before.references))
        elif is_open:
            transitions.append(Transition(asset_id, hazard, "Cancel", 0, None, before.references))
    return transitions


def held_levels(levels: pd.DataFrame, events: dict[tuple[str, str], Event], *, sent: dt.datetime,
                thresholds: tuple[float | None, ...] | None) -> pd.DataFrame:
    """`levels` with each area-based flood level held at its open event's level (module docstring;
    models.assets.held_flood_levels with `thresholds`, the forecast's `level_thresholds`)."""
    previous = {asset_id: event.level for (asset_id, hazard), event in events.items()
                if hazard == "flood" and event.open_at(sent)}
    return held_flood_levels(levels, previous, thresholds)


def _crossings(levels: pd.DataFrame, events: dict[tuple[str, str], Event]) -> dict[tuple[str, str], dict]:
    """Per (asset_id, hazard) with a crossing or an event: crossing, peak level, first alerting lead."""
    out = {}
    for asset_id, rows in levels.sort_values(["asset_id", "lead"]).groupby("asset_id", sort=True):
        for hazard in HAZARDS:
            flagged = rows[rows[f"{hazard}_alert"]]
            if flagged.empty and (asset_id, hazard) not in events:
                continue
            out[asset_id, hazard] = {
                "crossing": not flagged.empty,
                "level": int(max(rows[f"{hazard}_level"].max(), 1)) if not flagged.empty else 0,
                "onset_lead": int(flagged["lead"].iloc[0]) if not flagged.empty else None,
            }
    return out


class AlertStore:
    """The alert state of one city in SQLite; use `open_store` for a connection that closes."""

    def __init__(self, connection: sqlite3.Connection):
        self._db = connection

    def latest_date(self) -> str | None:
        return self._db.execute("SELECT max(issue_date) FROM runs").fetchone()[0]

    def recorded(self, issue_date: dt.date) -> bool:
        row = self._db.execute("SELECT 1 FROM runs WHERE issue_date = ?", (issue_date.isoformat(),)).fetchone()
        return row is not None

    def events_before(self, issue_date: dt.date) -> dict[tuple[str, str], Event]:
        """Each asset and hazard's event as the messages of issue dates before `issue_date` left it."""
        rows = self._db.execute(
            "SELECT asset_id, hazard, msg_type, sender, identifier, sent, level, onset, expires FROM messages "
            "WHERE issue_date < ? ORDER BY asset_id, hazard, issue_date", (issue_date.isoformat(),))
        chains: dict[tuple[str, str], list[str]] = {}
        events = {}
        for asset_id, hazard, msg_type, sender, identifier, sent, level, onset, expires in rows:
            key = (asset_id, hazard)
            chain = [] if msg_type == "Alert" else chains.get(key, [])
            chains[key] = [*chain, f"{sender},{identifier},{sent}"]
            events[key] = Event(tuple(chains[key]), level, onset, dt.datetime.fromisoformat(expires),
                                msg_type == "Cancel")
        return events

    def messages(self, issue_date: dt.date | None = None) -> list[CapMessage]:
        """Recorded messages of `issue_date` (all dates if None), by issue date then identifier."""
        where, args = ("WHERE issue_date = ?", (issue_date.isoformat(),)) if issue_date else ("", ())
        rows = self._db.execute(
            "SELECT identifier, asset_id, hazard, msg_type, sender, sent, expires, level, onset, refs, xml "
            f"FROM messages {where} ORDER BY issue_date, identifier", args)
        return [CapMessage(*row[:9], tuple(row[9].split()), bytes(row[10])) for row in rows]

    def latest_sent(self) -> str | None:
        row = self._db.execute("SELECT sent FROM runs ORDER BY issue_date DESC LIMIT 1").fetchone()
        return None if row is None else row[0]

    def current_messages(self) -> list[tuple[str, CapMessage]]:
        """(issue_date, message) of each event's last message that is still in force at the latest
        run: Alerts and Updates not yet expired, and the latest run's Cancels. By identifier."""
        latest, latest_sent = self.latest_date(), self.latest_sent()
        if latest is None:
            return []
        rows = self._db.execute(
            "SELECT m.issue_date, m.identifier FROM messages m WHERE m.issue_date = (SELECT max(issue_date) "
            "FROM messages e WHERE e.asset_id = m.asset_id AND e.hazard = m.hazard) ORDER BY m.identifier")
        last = {identifier: day for day, identifier in rows}
        now = dt.datetime.fromisoformat(latest_sent)
        current = []
        for day in sorted(set(last.values())):
            for message in self.messages(dt.date.fromisoformat(day)):
                if message.identifier not in last:
                    continue
                in_force = message.msg_type != "Cancel" and dt.datetime.fromisoformat(message.expires) > now
                if in_force or (message.msg_type == "Cancel" and day == latest):
                    current.append((day, message))
        return sorted(current, key=lambda pair: pair[1].identifier)

    def digests(self, issue_date: dt.date) -> dict[str, tuple[str, str]]:
        rows = self._db.execute("SELECT manager_id, text, html FROM digests WHERE issue_date = ? "
                                "ORDER BY manager_id", (issue_date.isoformat(),))
        return {manager: (text, html) for manager, text, html in rows}

    def record_run(self, issue_date: dt.date, sent: str, messages: list[CapMessage],
                   digests: dict[str, tuple[str, str]], outgoing: list[Outgoing]) -> bool:
        """Record a run with its messages, digests and outbox in one transaction.

        False (and nothing written) if `issue_date` was recorded meanwhile by another run.
        """
        with self._transaction():
            if self.recorded(issue_date):
                return False
            day = issue_date.isoformat()
            self._db.execute("INSERT INTO runs VALUES (?, ?, ?)", (day, sent, len(messages)))
            self._db.executemany(
                "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(m.identifier, day, m.asset_id, m.hazard, m.msg_type, m.sender, m.sent, m.expires, m.level,
                  m.onset, " ".join(m.references), m.xml) for m in messages])
            self._db.executemany("INSERT INTO digests VALUES (?, ?, ?, ?)",
                                 [(day, manager, text, html) for manager, (text, html) in digests.items()])
            self._queue(day, outgoing)
        return True

    def _queue(self, day: str, outgoing: list[Outgoing]) -> None:
        self._db.executemany(
            "INSERT INTO outbox (key, channel, issue_date, title, body, attachment_name, attachment) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(o.key, o.channel, day, o.title, o.body, o.attachment_name, o.attachment) for o in outgoing])

    def queue_notice(self, raised: str, items: list[Outgoing]) -> int:
        """Queue an operator notice (`items`: one per channel, keys starting with NOTICE_PREFIX) raised
        at `raised` (ISO time); a (key, channel) queued or sent before is not queued again. How many were new."""
        if any(not item.key.startswith(NOTICE_PREFIX) for item in items):
            raise ValueError(f"an operator notice's key must start with {NOTICE_PREFIX!r}")
        with self._transaction():
            before = self._db.total_changes
            self._db.executemany("INSERT OR IGNORE INTO notices (key, channel, raised, title, body) VALUES (?, ?, ?, ?, ?)",
                                 [(o.key, o.channel, raised, o.title, o.body) for o in items])
            return self._db.total_changes - before

    def queued(self) -> list[Outgoing]:
        """What is still to be sent, oldest first: the runs' outbox, then the operator notices."""
        rows = self._db.execute("SELECT key, channel, title, body, attachment_name, attachment FROM outbox "
                                "WHERE status = 'queued' ORDER BY rowid")
        items = [Outgoing(*row[:5], None if row[5] is None else bytes(row[5])) for row in rows]
        notices = self._db.execute("SELECT key, channel, title, body FROM notices WHERE status = 'queued' ORDER BY rowid")
        return items + [Outgoing(*row) for row in notices]

    def notices(self) -> pd.DataFrame:
        """Every operator notice: key, channel, raised, title, status, attempts, last_error, sent_at."""
        return pd.read_sql_query("SELECT key, channel, raised, title, status, attempts, last_error, sent_at "
                                 "FROM notices ORDER BY rowid", self._db)

    def outbox(self) -> pd.DataFrame:
        """The whole outbox: key, channel, status, attempts, last_error, sent_at."""
        return pd.read_sql_query("SELECT key, channel, status, attempts, last_error, sent_at FROM outbox "
                                 "ORDER BY rowid", self._db)

    def mark(self, item: Outgoing, *, sent_at: str | None, error: str | None, attempts: int) -> None:
        """Record one delivery try: sent (with its time) or still queued (with the error)."""
        table = "notices" if item.key.startswith(NOTICE_PREFIX) else "outbox"
        with self._transaction():
            self._db.execute(
                f"UPDATE {table} SET status = ?, attempts = attempts + ?, last_error = ?, sent_at = ? "
                "WHERE key = ? AND channel = ?",
                ("sent" if sent_at else "queued", attempts, error, sent_at, item.key, item.channel))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")  # one writer at a time: a parallel run waits, then sees ours
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


@contextlib.contextmanager
def open_store(path: Path) -> Iterator[AlertStore]:
    """The alert store at `path` (created with its tables if new), closed on exit."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None, timeout=60)  # transactions are explicit
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA foreign_keys = ON")
        connection.executescript(_SCHEMA)
        yield AlertStore(connection)
    finally:
        connection.close()
