"""Operator notices: the day's forecast late for its deadline, or published stale, told once per
day and kind through the operator channels (alerts.operators) and in the run's log."""

from __future__ import annotations

import datetime as dt

from pipelines.alerts.run import STORE_FILE
from pipelines.alerts.state import NOTICE_PREFIX, Outgoing, open_store
from pipelines.config import CityConfig


def raise_notice(config: CityConfig, kind: str, day: dt.date, title: str, body: str) -> int:
    """Queue the notice `kind` ('late', 'stale') of issue date `day` to every operator channel, once:
    a notice of the same kind and day queued before is not queued again. Printed to the run's log
    either way. Returns how many channels it was newly queued for (sent by the next delivery)."""
    print(f"OPERATOR NOTICE ({kind}, {day}): {title}")
    if not config.alerts.operators:
        print("no operator channel is configured (alerts.operators): this log is the only notice")
    key = f"{NOTICE_PREFIX}{kind}.{day.isoformat()}"
    items = [Outgoing(key, channel, title, body) for channel in config.alerts.operators]
    with open_store(config.city_store / STORE_FILE) as store:
        return store.queue_notice(dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), items)
