"""Time each flow of the demo chain on a config (default: configs/demo.yaml) and print seconds and peak memory.

Usage: python benchmarks/bench_pipeline.py [CONFIG] [--fresh]
--fresh deletes the bundle, truth and store of that config first, so every stage does its full work.
Appends a row per flow and the total, with the git commit, the load average before the run and
whether it was fresh, to benchmarks/results/bench_pipeline.csv.
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import shutil
import sys
import time
from pathlib import Path

from results_csv import ROOT, append_rows, git_commit

from pipelines import flows
from pipelines.config import load_city_config


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    config_path = Path(args[0]) if args else Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
    config = load_city_config(config_path)
    if "--fresh" in sys.argv:
        for folder in (config.bundle_dir, config.truth_dir, config.city_store):
            shutil.rmtree(folder, ignore_errors=True)
    load = os.getloadavg()[0]
    timings = {}
    for name, run in [("ingest", lambda: flows.ingest(config_path)),
                      ("build_features", lambda: flows.build_features(config_path)),
                      ("train", lambda: flows.train(config_path)),
                      ("daily_forecast", lambda: flows.daily_forecast(config_path))]:
        start = time.perf_counter()
        run()
        timings[name] = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{config.city.name}: {config.grid.bounds} at {config.grid.resolution_m} m")
    for name, seconds in timings.items():
        print(f"  {name:<15} {seconds:7.1f} s")
    print(f"  {'total':<15} {sum(timings.values()):7.1f} s   peak RSS {peak_mib:,.0f} MiB")
    stamp = {"date": dt.datetime.now().isoformat(timespec="seconds"), "commit": git_commit(),
             "city": config.city.slug, "fresh": "--fresh" in sys.argv, "load_1min_before": round(load, 2)}
    rows = [{**stamp, "flow": name, "seconds": round(seconds, 1), "peak_mib": ""} for name, seconds in timings.items()]
    rows.append({**stamp, "flow": "total", "seconds": round(sum(timings.values()), 1), "peak_mib": round(peak_mib)})
    append_rows(ROOT / "benchmarks" / "results" / "bench_pipeline.csv",
                ["date", "commit", "city", "fresh", "flow", "seconds", "peak_mib", "load_1min_before"], rows)


if __name__ == "__main__":
    main()
