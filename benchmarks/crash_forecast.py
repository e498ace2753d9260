"""50 `warisan forecast` runs SIGKILLed at random moments, then the checks of tests/reliability/test_crash.py.

Builds the flow tests' second city (tests/conftest.py) in a temporary folder, trains it, then
kills forecast runs against a copy of its store and checks after every kill that each published
date is complete (forecast.nc opens, every CAP validates, item.json's files exist), that the alert
SQLite passes integrity_check and agrees with the published CAP files, and finally that the next
run completes and a rerun sends nothing twice. Usage: python benchmarks/crash_forecast.py [KILLS] [SEED]
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect.testing.utilities import prefect_test_harness

from pipelines import flows
from tests.pipelines.conftest import ASSETS, CONFIG
from tests.reliability.crash import fresh_store_config, kill_at_random


def main(kills: int = 50, seed: int = 2024) -> None:
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=120):
        root = Path(tmp)
        (root / "assets.csv").write_text(ASSETS)
        city = root / "port.yaml"
        city.write_text(CONFIG.format(assets=root / "assets.csv"))
        bundle = flows.ingest(city)
        flows.train(city)
        print(f"test city ingested and trained in {time.monotonic() - began:.0f} s", flush=True)
        (root / "crash").mkdir()
        config, city_store = fresh_store_config(city, bundle, root / "store" / "port-test", root / "crash")
        first = dt.date(2023, 12, 31) - dt.timedelta(days=kills)
        dates = [(first + dt.timedelta(days=i)).isoformat() for i in range(kills + 1)]
        report = kill_at_random(config, city_store, dates, kills=kills, seed=seed,
                                progress=lambda message: print(message, flush=True))
    print(f"RESULT: {report} (seed {seed}, {time.monotonic() - began:.0f} s in all)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
