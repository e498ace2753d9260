"""Rerunning a flow with the same inputs changes nothing published and sends no alert twice.

A rerun of an issue date rewrites every file of its folder with the same bytes (CAP messages and
digests are read back from the alert state, the rest is deterministic); docs/bad-inputs.md lists
what is byte-identical and what only content-identical elsewhere in the store.
"""

import re
import sqlite3

import pytest

from pipelines import flows
from tests.reliability.store_state import check_alert_state, store_hashes

pytestmark = pytest.mark.usefixtures("prefect_api")


def _alert_rows(city_store):
    with sqlite3.connect(city_store / "alerts.sqlite") as db:
        return {table: db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
                for table in ("runs", "messages", "digests", "outbox")}


def _published(city_store):
    """store_hashes with each version folder's random suffix dropped, the SQLite files left out
    (their pages move on every open; their rows are compared instead)."""
    def plain(text):
        return re.sub(r"(\.versions/\d{4}-\d{2}-\d{2})-[^/]+", r"\1", text)

    return {plain(name): plain(value) for name, value in store_hashes(city_store).items()
            if not name.startswith("alerts.sqlite")}


def test_a_forecast_rerun_publishes_the_same_files_and_sends_nothing_again(run, city):
    city_store = run["store"]
    date = city_store / "forecasts" / "2023-12-31"
    before, alerts = _published(city_store), _alert_rows(city_store)
    first = date.resolve()
    flows.daily_forecast(city)
    assert date.resolve() != first  # a new version folder was swapped in ...
    after = _published(city_store)
    assert after.keys() == before.keys()
    changed = sorted(name for name in before if after[name] != before[name])
    assert changed == [], changed  # ... holding the same bytes, and nothing else in the store moved
    assert _alert_rows(city_store) == alerts  # nothing recorded, queued or re-sent
    check_alert_state(city_store)


def test_an_ingest_rerun_leaves_the_bundle_unchanged(run, city):
    before = store_hashes(run["bundle"])
    assert flows.ingest(city) == run["bundle"]
    assert store_hashes(run["bundle"]) == before
