"""SIGKILL `warisan forecast` at random moments against a copy of a store, checking what is left.

Shared by tests/reliability/test_crash.py (a few kills) and benchmarks/crash_forecast.py (50).
Runs are forked from one warm process (tests/reliability/forker.py), so each random moment falls
inside the flow, not in the imports; the completeness checks are tests/pipelines/test_publish_kill.py's.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from prefect.settings import PREFECT_API_URL

from tests.pipelines.test_publish_kill import complete_dates
from tests.reliability.store_state import check_alert_state, open_forecasts

_PUBLISHED = ("forecasts", "catalog.json", "alerts.sqlite", "alerts.sqlite-wal", "alerts.sqlite-shm", "alerts.atom")


@dataclass
class CrashReport:
    kills: int = 0
    finished_before_kill: int = 0  # the run ended before its moment came
    run_s: float = 0.0  # the shortest uninterrupted run seen, start to exit: kills fall within it
    published: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.kills} kills ({self.finished_before_kill} runs finished first), full run {self.run_s:.1f} s; "
                f"published {len(self.published)} dates, alert state holds {len(self.recorded)} runs; all checks passed")


def fresh_store_config(city: Path, bundle: Path, city_store: Path, root: Path) -> tuple[Path, Path]:
    """A config for `city` writing to a copy of `city_store` under `root` with its models and features
    but nothing published and no alert state, so that every date killed is a new one for the alerts."""
    copy = root / "store" / city_store.name
    shutil.copytree(city_store, copy, symlinks=True, ignore=lambda folder, names: [
        n for n in names if Path(folder) == city_store and n in _PUBLISHED])
    config = root / "crash.yaml"
    config.write_text(city.read_text().replace("bundle: port/bundle", f"bundle: {bundle}")
                      .replace("store: store", f"store: {root / 'store'}"))
    return config, copy


class Forker:
    """The warm forker process: `begin` forks a forecast run, `end` waits for its exit code."""

    def __init__(self):
        env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_LOGGING_LEVEL": "WARNING"}
        self.process = subprocess.Popen([sys.executable, "-m", "tests.reliability.forker"], env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def begin(self, config: Path, date: str) -> int:
        self.process.stdin.write(f"{config} {date}\n")
        self.process.stdin.flush()
        return int(self._read("pid"))

    def end(self) -> int:
        return int(self._read("exit"))

    def _read(self, tag: str) -> str:
        line = self.process.stdout.readline()
        if not line.startswith(f"{tag} "):
            raise RuntimeError(f"forker said {line!r}: {self.process.stderr.read()[-3000:] if not line else ''}")
        return line.split()[1]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def run_to_end(forker: Forker, config: Path, date: str) -> float:
    """Run the forecast of `date` to its end; its duration in s."""
    began = time.monotonic()
    forker.begin(config, date)
    assert forker.end() == 0, f"the run of {date} failed"
    return time.monotonic() - began


def check_store(city_store: Path) -> tuple[list[str], list[str]]:
    """Every published date complete and readable, the alert state sound; (published, recorded)."""
    published = complete_dates(city_store)
    assert open_forecasts(city_store) == published
    return published, check_alert_state(city_store)


def _outbox_and_messages(city_store: Path) -> tuple[list, list]:
    with sqlite3.connect(city_store / "alerts.sqlite") as db:
        return (db.execute("SELECT key, channel, status FROM outbox ORDER BY rowid").fetchall(),
                db.execute("SELECT identifier, sent, xml FROM messages ORDER BY identifier").fetchall())


def kill_at_random(config: Path, city_store: Path, dates: list[str], kills: int, seed: int, *,
                   rerun: bool = True, progress=lambda message: None) -> CrashReport:
    """Publish dates[0], then `kills` runs of the date before (a rerun) or the next new date, each
    SIGKILLed at a random moment of its run; check the store after each; then finish the last date
    (and, with `rerun`, run it again: no message or outbox row may change)."""
    rng = random.Random(seed)
    forker = Forker()
    try:
        report = CrashReport(run_s=run_to_end(forker, config, dates[0]))
        check_store(city_store)
        new = iter(dates[1:])
        date = dates[0]
        for i in range(kills):
            if rng.random() < 0.7:  # mostly new dates: the alert state records runs only for those
                date = next(new)
            began = time.monotonic()
            pid = forker.begin(config, date)
            time.sleep(rng.uniform(0.05, 0.8) * report.run_s)  # inside the run, even a warm one
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if forker.end() != -signal.SIGKILL:  # a warm run is faster than the first: aim at it
                report.finished_before_kill += 1
                report.run_s = min(report.run_s, time.monotonic() - began)
            report.kills += 1
            report.published, report.recorded = check_store(city_store)
            progress(f"kill {i + 1}/{kills}: {date}, published {report.published}")
        run_to_end(forker, config, date)  # the next run completes normally
        report.published, report.recorded = check_store(city_store)
        assert date in report.published and date in report.recorded
        if rerun:  # and a rerun sends nothing twice
            state = _outbox_and_messages(city_store)
            run_to_end(forker, config, date)
            report.published, report.recorded = check_store(city_store)
            assert _outbox_and_messages(city_store) == state, "a rerun queued or changed alerts"
    finally:
        forker.close()
    return report
