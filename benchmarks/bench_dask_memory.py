"""Peak memory per Dask worker of the daily forecast while the city's area doubles twice.

Usage: .venv/bin/python benchmarks/bench_dask_memory.py [--tile-cells N] [--no-local] [--fresh]

Builds (once; reused while benchmarks/out/dask-memory/ holds them) three synthetic-coast demo
cities from bench_island's config and sites, at 1x, 2x and 4x area (9 x 9 km, 18 x 9 km and
18 x 18 km at 30 m; four months of history, 3 lead days). The 1x city is trained through the
flows and its models are registered for the 2x and 4x cities too (the forecast's work per cell
does not depend on what the model learnt); each city's static features are built beforehand.

Then, for each area, in a fresh process with a fresh cluster: `daily_forecast` for the last
issue date on `runner: dask`, a LocalCluster of two single-threaded worker processes, the grid
cut into tiles of `--tile-cells` cells. It reads the peak RSS of each worker (getrusage in the
worker, after it ran its tiles), each worker's RSS before the run (its libraries imported),
the peak RSS of the flow's process (which joins the tiles and publishes the whole grid) and the
wall time. With the local runner (unless --no-local) the same forecast runs in one process,
for contrast. Appends a row per run to benchmarks/results/bench_dask_memory.csv with the git
commit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench_island import CONFIG_TEXT, CRS, RESOLUTION_M, _assets_csv
from results_csv import append_rows, git_commit

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "dask-memory"
RESULTS = ROOT / "benchmarks" / "results" / "bench_dask_memory.csv"
AREAS = {  # bounds (m, EPSG:32647) holding bench_island's sites; each doubles the one before
    1: (600_000.0, 576_000.0, 609_000.0, 585_000.0),
    2: (600_000.0, 576_000.0, 618_000.0, 585_000.0),
    4: (600_000.0, 567_000.0, 618_000.0, 585_000.0),
}
TILE_CELLS = 40_000
WORKERS = 2


def _config(area: int) -> Path:
    return OUT / f"area-{area}x" / "city.yaml"


def setup(fresh: bool) -> None:
    """Write the three cities' configs; ingest each, train 1x, share its models, build static features."""
    if fresh:
        shutil.rmtree(OUT, ignore_errors=True)
    from pipelines import flows

    for area, bounds in AREAS.items():
        config = _config(area)
        config.parent.mkdir(parents=True, exist_ok=True)
        (config.parent / "assets.csv").write_text(_assets_csv())
        config.write_text(CONFIG_TEXT.format(crs=CRS, res=RESOLUTION_M, assets=config.parent / "assets.csv",
                                             bounds=", ".join(f"{b:.0f}" for b in bounds)))
        store = config.parent / "store" / "island-bench"
        if (store / "models").is_dir() and any((store / "features").glob("static-*.nc")):
            continue
        start = time.perf_counter()
        flows.ingest(config)
        if area == 1:
            flows.train(config)
        else:
            shutil.copytree(_config(1).parent / "store" / "island-bench" / "models", store / "models",
                            dirs_exist_ok=True)
            flows.build_features(config)
        print(f"setup {area}x: {time.perf_counter() - start:.0f} s")


# --- one measurement: runs in its own process and prints one JSON line -----------------------------------


def _import_flows() -> None:
    import pipelines.flows  # noqa: F401


def _peak_mib() -> float:
    """Peak RSS of this process since it started, MiB (Linux VmHWM: unlike getrusage's ru_maxrss,
    not inherited from the process that forked it)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024  # kB


def _rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def measure(area: int, runner_kind: str, tile_cells: int) -> dict:
    import distributed
    import xarray as xr

    from pipelines import flows
    from pipelines.config import RunnerConfig
    from pipelines.forecast.tiles import row_tiles
    from pipelines.runner import dask_scheduler, flow_runner

    config = _config(area)
    result = {}
    if runner_kind == "local":
        start = time.perf_counter()
        written = flows.daily_forecast(config)
        result["seconds"] = time.perf_counter() - start
    else:
        with dask_scheduler(RunnerConfig(kind="dask", n_workers=WORKERS), config) as address:
            dask_config = config.with_name("dask.yaml")
            dask_config.write_text(config.read_text() + f"runner: {{kind: dask, address: '{address}', "
                                   f"tile_cells: {tile_cells}}}\n")
            with distributed.Client(address) as client:
                client.run(_import_flows)  # the libraries in, before the baseline
                result["worker_before_mib"] = sorted(client.run(_rss_mib).values())
                start = time.perf_counter()
                with flow_runner(dask_config) as on_runner:
                    written = on_runner(flows.daily_forecast)(dask_config)
                result["seconds"] = time.perf_counter() - start
                result["worker_peak_mib"] = sorted(client.run(_peak_mib).values())
    with xr.open_dataset(written["netcdf"][0]) as forecast:
        land = forecast["land"].values.astype(bool)
        result |= {"cells": int(land.size), "land_cells": int(land.sum())}
    if runner_kind == "dask":
        result["tiles"] = len(row_tiles(land.any(axis=1), rows_per_tile=-(-tile_cells // land.shape[1])))
    return result | {"flow_peak_mib": _peak_mib()}


# --- driver: subprocesses, printing, CSV ------------------------------------------------------------------


def _run(area: int, runner_kind: str, tile_cells: int) -> dict:
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, __file__, "--measure", str(area), runner_kind, "--tile-cells",
                           str(tile_cells)], cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"load_1min": load}


def main() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")  # a busy machine
    os.environ.setdefault("PREFECT_HOME", str(OUT / "prefect"))  # its own database, shared by no one
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", nargs=2, metavar=("AREA", "RUNNER"), help=argparse.SUPPRESS)
    parser.add_argument("--tile-cells", type=int, default=TILE_CELLS, help="runner.tile_cells on Dask")
    parser.add_argument("--no-local", action="store_true", help="skip the local runner's runs")
    parser.add_argument("--fresh", action="store_true", help="rebuild the three cities from scratch")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(int(args.measure[0]), args.measure[1], args.tile_cells)))
        return

    setup(args.fresh)
    now, commit, cpus = dt.datetime.now().isoformat(timespec="seconds"), git_commit(), os.cpu_count()
    kinds = ["dask"] + ([] if args.no_local else ["local"])
    rows = []
    print(f"\nDask memory benchmark, commit {commit}, {now}, {cpus} CPUs, {WORKERS} workers, "
          f"tiles of {args.tile_cells:,} cells")
    for kind in kinds:
        for area in AREAS:
            r = _run(area, kind, args.tile_cells)
            peaks = r.get("worker_peak_mib", [])
            tile_cells = args.tile_cells if kind == "dask" else ""
            rows.append({"date": now, "commit": commit, "runner": kind, "area": area, "cells": r["cells"],
                         "land_cells": r["land_cells"], "tile_cells": tile_cells,
                         "tiles": r.get("tiles", ""), "seconds": round(r["seconds"], 1),
                         "worker_peak_mib": round(max(peaks)) if peaks else "",
                         "worker_peaks_mib": " ".join(f"{p:.0f}" for p in peaks),
                         "worker_before_mib": " ".join(f"{p:.0f}" for p in r.get("worker_before_mib", [])),
                         "flow_peak_mib": round(r["flow_peak_mib"]), "load_1min": round(r["load_1min"], 2),
                         "cpus": cpus})
            workers = (f"{r['tiles']} tiles, peak per worker {' / '.join(f'{p:,.0f}' for p in peaks)} MiB "
                       f"(before the run {' / '.join(f'{p:,.0f}' for p in r['worker_before_mib'])})  "
                       if peaks else "")
            print(f"  {kind:5s} {area}x area  {r['cells']:>9,} cells ({r['land_cells']:,} land)  "
                  f"{r['seconds']:6.1f} s  {workers}flow process peak {r['flow_peak_mib']:,.0f} MiB  "
                  f"load {r['load_1min']:.2f}")
    append_rows(RESULTS, ["date", "commit", "runner", "area", "cells", "land_cells", "tile_cells", "tiles", "seconds",
              "worker_peak_mib", "worker_peaks_mib", "worker_before_mib", "flow_peak_mib", "load_1min",
              "cpus"], rows)
    print(f"appended {len(rows)} rows to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
