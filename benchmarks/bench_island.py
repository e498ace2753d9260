"""Time and size the daily forecast, static features and training on a Penang-Island-sized city.

Usage: .venv/bin/python benchmarks/bench_island.py [--train-rows N] [--fresh] [--models DIR]

Builds (once; reused while benchmarks/out/island/ holds it) a synthetic-coast demo city of
about 330,000 land cells at 30 m (21.6 km x 25 km, sea in the east) with four months of
history and 3 lead days, trains its flood and heat models through the flows, then measures,
each in a fresh subprocess so that its peak RSS is its own:

- forecast: the daily forecast's work for the last issue date without Prefect's server:
  features + predict (predict_grid, with the trees compiled where they compile: the flood
  classifier; the heat models' linear trees stay LightGBM's), warning areas (with_warning_areas),
  asset levels, publish (publish_grids: NetCDF, COGs, maps, page, STAC), against raw LightGBM
  predict (the flood classifier and the heat boosters) on the same feature matrix as contiguous
  float32, timed in the same process, and beside it the compiled trees of the boosters that
  compile on the same rows (compiled there, each compile timed); then asset risk on that
  forecast for 2,000 made-up sites (a full heritage inventory);
- static: static_features for the island grid from the bundle's files;
- train: train_flood_model (fit with early stopping + calibration) on N synthetic rows with the
  flood feature columns (default 10 million, the target; fewer are extrapolated linearly in rows
  at the same number of boosting rounds, and said to be so).

Four months of history train small models (tens of trees), so raw predict is cheap and the ratio
large. `--models DIR` forecasts with the models registered in DIR instead, e.g.
store/george-town-demo/models after `make demo` (six years: hundreds of trees, the size a city
with years of records trains); they replace the island's own registry until `--fresh`.

Prints seconds, ratios and peak memory with the load average, and appends a row per measurement
to benchmarks/results/bench_island.csv with the git commit and date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from results_csv import append_rows, git_commit

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "island"
RESULTS = ROOT / "benchmarks" / "results" / "bench_island.csv"
CONFIG = OUT / "island.yaml"
CRS, BOUNDS, RESOLUTION_M = "EPSG:32647", (600_000.0, 570_000.0, 621_600.0, 595_000.0), 30.0
TRAIN_ROWS_TARGET = 10_000_000
MANY_SITES = 2_000  # asset risk for a full heritage inventory, beside the forecast's own 8 sites
TARGETS = {"forecast_s": 30.0, "forecast_ratio": 3.0, "train_10M_s": 300.0, "peak_mib": 4096.0}

CONFIG_TEXT = """\
# Written by benchmarks/bench_island.py: a Penang-Island-sized synthetic city (sea in the east).
city: {{slug: island-bench, name: Island benchmark, timezone: Asia/Kuala_Lumpur}}
grid: {{crs: "{crs}", resolution_m: {res}, bounds: [{bounds}]}}
source:
  kind: demo
  seed: 11
  start: 2024-08-01
  end: 2024-11-30
  coastline: synthetic
  assets: {assets}
  regional_spacing_deg: 0.05
paths: {{bundle: bundle, store: store}}
flood: {{lead_days: 3, calibration_days: 20, block_size_m: 2000}}
train: {{early_stopping_days: 21, num_boost_round: 400, seed: 0}}
evaluation: {{validation: [2024-10-20, 2024-11-09], test: [2024-11-10, 2024-11-30]}}
alerts: {{sender: warisan-bench@example.org, sender_name: Warisan island benchmark, status: Test}}
"""


def _assets_csv() -> str:
    """Eight made-up sites in a core about 4 km in from the west edge, mid-island (lon/lat)."""
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    x0, y0 = BOUNDS[0] + 4_000, (BOUNDS[1] + BOUNDS[3]) / 2
    kinds = ["Religious Heritage", "Colonial Civic Heritage", "Urban Streetscape", "Colonial Heritage"]
    lines = ["name,lon,lat,category"]
    for k in range(8):
        lon, lat = to_lonlat.transform(x0 + 300 * (k % 4), y0 + 350 * (k // 4))
        lines.append(f"Bench site {k + 1},{lon:.5f},{lat:.5f},{kinds[k % 4]}")
    return "\n".join(lines) + "\n"


def setup(fresh: bool, models: Path | None) -> None:
    """Write the island's config, then ingest and train through the flows unless already done;
    with `models`, put copies of its flood and heat registries in place of the island's."""
    if fresh:
        shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "assets.csv").write_text(_assets_csv())
    CONFIG.write_text(CONFIG_TEXT.format(crs=CRS, res=RESOLUTION_M, assets=OUT / "assets.csv",
                                         bounds=", ".join(f"{b:.0f}" for b in BOUNDS)))
    registry = OUT / "store" / "island-bench" / "models"
    if all((registry / hazard).is_dir() for hazard in ("flood", "heat")):
        print(f"island city ready in {OUT} (delete it or pass --fresh to rebuild)")
    else:
        _ingest_and_train()
    if models is not None:
        for hazard in ("flood", "heat"):
            shutil.rmtree(registry / hazard, ignore_errors=True)
            shutil.copytree(models / hazard, registry / hazard)
        print(f"forecasting with the models registered in {models}")
    _refit_before_timing()


def _refit_before_timing() -> None:
    """The production refit the last issue date needs (pipelines.training.production.ensure_production) and its
    compiled trees, done here, so that the measured forecast only loads its models: a refit's or a compile's
    seconds and memory are not the forecast's."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from pipelines.bundle import readers
    from pipelines.config import load_city_config
    from pipelines.feature_cache.build import build_static_features
    from pipelines.forecast.forecasters import load_forecasters
    from pipelines.training.production import ensure_production

    config = load_city_config(CONFIG)
    origin = ensure_production(config, build_static_features.fn(config), readers.forecast_dates(config.bundle_dir)[-1])
    load_forecasters(config.city_store / "models", origin, compiled_trees=True)


def _ingest_and_train() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from pipelines import flows

    start = time.perf_counter()
    flows.ingest(CONFIG)
    print(f"setup: ingest (demo world) {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    flows.train(CONFIG)
    print(f"setup: build_features + train {time.perf_counter() - start:.0f} s")


# --- measurements: each runs in its own subprocess and prints one JSON line -------------------------------


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu_s() -> float:
    """CPU seconds of this process so far, all threads: less bent by other load than wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _static_inputs(config):
    from pipelines.bundle import readers
    from pipelines.config import city_template

    root = config.bundle_dir
    sea, impervious = root / "static" / "sea.gpkg", root / "static" / "impervious.tif"
    return (readers.read_dem(root), readers.read_vector(root, "buildings"),
            readers.read_vector(root, "waterways"),
            readers.read_vector(root, "sea") if sea.exists() else None,
            readers.read_raster(root, "impervious") if impervious.exists() else None, city_template(config))


def measure_static() -> dict:
    from features.static import static_features
    from pipelines.config import load_city_config

    config = load_city_config(CONFIG)
    inputs = _static_inputs(config)
    start = time.perf_counter()
    features = static_features(*inputs)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "cells": int(features["land"].size), "land_cells": int(features["land"].sum())}


def _tree_seconds(config, frame, origin) -> dict:
    """LightGBM's own predict of every booster the forecast runs on each cell (the production refit at
    `origin`) on the frame's feature matrix (contiguous float32), and in the same process the boosters
    that compile (pipelines.forecast.compiled_trees): their compile seconds, LightGBM's and the
    compiled trees' predict seconds on the same rows (the same numbers)."""
    from models.boosting import feature_matrix, predict_trees
    from models.heat.regression import quantile_name
    from models.tables import with_flood_interactions
    from pipelines.forecast.compiled_trees import compiled_booster
    from pipelines.forecast.forecasters import load_forecasters

    forecasters = load_forecasters(config.city_store / "models", origin)
    frame = with_flood_interactions(frame)
    boosters = {"flood classifier": forecasters.flood.booster,
                **{quantile_name(v, q): b for v, by_q in forecasters.heat.items() for q, b in by_q.items()}}
    matrices = {name: feature_matrix(frame, b.feature_name()) for name, b in boosters.items()}

    def timed(predict) -> tuple[float, float]:
        """Wall and CPU seconds of one call (the CPU seconds are less bent by other work on the machine)."""
        start, start_cpu = time.perf_counter(), _cpu_s()
        predict()
        return time.perf_counter() - start, _cpu_s() - start_cpu

    lightgbm = {name: timed(lambda b=b, m=matrices[name]: b.predict(m, num_iteration=b.best_iteration or None))
                for name, b in boosters.items()}
    compiled, compile_s = {}, {}
    with tempfile.TemporaryDirectory(dir=OUT) as folder:
        for name, booster in boosters.items():
            if booster.params.get("linear_tree"):
                continue  # treelite cannot read linear trees: the forecast leaves them to LightGBM
            start = time.perf_counter()
            compiled[name] = compiled_booster(booster, Path(folder) / f"{name.replace(' ', '_')}.so")
            compile_s[name] = time.perf_counter() - start
        compiled_s = {name: timed(lambda b=b, m=matrices[name]: predict_trees(b, m)) for name, b in compiled.items()}

    def total(times: dict, names, k: int) -> float:
        return sum(times[n][k] for n in names)

    return {"raw_predict_s": total(lightgbm, boosters, 0), "raw_predict_cpu_s": total(lightgbm, boosters, 1),
            "rows": len(frame), "boosters": len(boosters), "trees": sum(b.num_trees() for b in boosters.values()),
            "compiled": sorted(compiled), "compiled_trees": sum(boosters[n].num_trees() for n in compiled),
            "compile_s": compile_s, "lightgbm_of_compiled_s": total(lightgbm, compiled, 0),
            "lightgbm_of_compiled_cpu_s": total(lightgbm, compiled, 1), "compiled_s": total(compiled_s, compiled, 0),
            "compiled_cpu_s": total(compiled_s, compiled, 1)}


def measure_forecast() -> dict:
    import xarray as xr

    from models.assets import asset_alert_levels, asset_risk, nearest_land_reach
    from models.tables import land_cells
    from models.warning.areas import forecast_areas
    from models.warning.door import forecast_door
    from pipelines.bundle import readers
    from pipelines.bundle.readers import read_provenance
    from pipelines.config import city_template, load_city_config
    from pipelines.feature_cache.build import _feature_file, climate_before, static_features
    from pipelines.feature_cache.drivers import drivers_for_dates
    from pipelines.forecast.frame import feature_frame, land_lonlat
    from pipelines.forecast.predict import predict_grid, with_warning_areas
    from pipelines.publish.day import publish_grids
    from pipelines.training.production import ensure_production

    config = load_city_config(CONFIG)
    files = read_provenance(config.bundle_dir)["files"]
    hashes = {name: e["sha256"] for name, e in sorted(files.items()) if name.startswith("static/")}
    static_path = _feature_file(config, "static", [hashes, config.grid.model_dump()])
    if not static_path.exists():  # built by the train flow; rebuilt here only if the feature version moved
        dataset = static_features(*_static_inputs(config))
        static_path.parent.mkdir(parents=True, exist_ok=True)
        dataset.to_netcdf(static_path)
    issue_date = readers.forecast_dates(config.bundle_dir)[-1]
    stages, cpu = {}, {}

    def timed(name, call):
        start, start_cpu = time.perf_counter(), _cpu_s()
        out = call()
        stages[name], cpu[name] = time.perf_counter() - start, _cpu_s() - start_cpu
        return out

    origin = ensure_production(config, static_path, issue_date)  # refitted by setup: loads, untimed
    forecast = timed("features_predict", lambda: predict_grid.fn(config, static_path, issue_date, origin))
    forecast = timed("warning_areas", lambda: with_warning_areas.fn(config, static_path, forecast, issue_date, origin))

    def levels():
        assets = readers.read_vector(config.bundle_dir, "heritage_assets")
        with xr.open_dataset(static_path) as static:
            with_urban = forecast.assign({n: static[n].load() for n in ("impervious_frac", "building_frac")})
        risk = asset_risk(with_urban, assets, nearest_land_cells=nearest_land_reach(config.grid.resolution_m))
        areas = forecast_areas(forecast)
        return asset_alert_levels(risk, assets, default_flood_threshold=config.flood.default_threshold,
                                  default_heat_threshold_degC=config.heat.default_threshold_degC,
                                  area_thresholds=None if areas is None else areas.thresholds,
                                  door=forecast_door(forecast.attrs))

    asset_levels = timed("asset_levels", levels)
    with tempfile.TemporaryDirectory(dir=OUT) as out:
        (Path(out) / "alerts").mkdir()
        timed("publish", lambda: publish_grids.fn(config, forecast, asset_levels, Path(out)))
    total = sum(stages.values())
    cells = land_cells(xr.load_dataset(static_path))
    with readers.read_history(config.bundle_dir) as history:
        drivers = drivers_for_dates(config.bundle_dir, history.load(), [issue_date], lead_days=config.forecast_days,
                                    timezone=config.city.timezone, climate_before=climate_before(config))
    frame = feature_frame(cells, land_lonlat(city_template(config), cells), drivers)
    trees = _tree_seconds(config, frame, origin)
    start = time.perf_counter()
    asset_risk(forecast, _many_sites(config.grid.crs), nearest_land_cells=3)
    many_sites_s = time.perf_counter() - start
    return {"seconds": total, **trees, "many_sites_s": many_sites_s, "stages": stages,
            "cpu_s": sum(cpu.values()), "stage_cpu_s": cpu}


def _many_sites(crs: str):
    """MANY_SITES made-up sites anywhere on the island grid (sea and beyond its edge included): half
    points, half 20-80 m polygons, as a city's full heritage inventory would list them."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(0)
    x = rng.uniform(BOUNDS[0] - 300, BOUNDS[2] + 300, MANY_SITES)
    y = rng.uniform(BOUNDS[1] - 300, BOUNDS[3] + 300, MANY_SITES)
    points = shapely.points(x, y)
    geoms = np.where(np.arange(MANY_SITES) % 2 == 0, points, shapely.buffer(points, rng.uniform(20, 80, MANY_SITES)))
    return gpd.GeoDataFrame({"asset_id": [f"site-{k}" for k in range(MANY_SITES)]}, geometry=geoms, crs=crs)


def measure_train(rows: int) -> dict:
    from models.flood import train_flood_model
    from models.tables import FLOOD_FEATURES
    from pipelines.config import load_city_config

    config = load_city_config(CONFIG)
    table = synthetic_flood_table(rows, FLOOD_FEATURES, seed=0)
    split = np.select([table["issue_index"] < 70, table["issue_index"] < 85, table["issue_index"] < 100],
                      ["train", "valid", "calib"], "test")
    start = time.perf_counter()
    model, fit = train_flood_model(table, FLOOD_FEATURES, split, num_boost_round=config.train.num_boost_round,
                                   seed=config.train.seed)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": rows, "train_rows": int((split == "train").sum()),
            "best_iteration": fit["best_iteration"], "rounds": model.booster.current_iteration()}


def synthetic_flood_table(rows: int, features: list[str], *, seed: int):
    """`rows` rows with every flood feature (float32), a label from a rain-over-HAND rule, weights."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    table = pd.DataFrame({name: rng.standard_normal(rows, dtype=np.float32) for name in features})
    table["issue_index"] = rng.integers(0, 120, rows)
    table["lead"] = rng.integers(0, 3, rows)
    score = table["rain_24h_mm"].to_numpy() - table["hand_m"].to_numpy() + 0.5 * table["impervious_frac"].to_numpy()
    table["label"] = (score + rng.standard_normal(rows, dtype=np.float32) > 3.0).astype(np.int8)
    table["weight"] = np.where(table["label"] == 1, 1.0, 20.0)
    return table


# --- driver: subprocesses, printing, CSV ------------------------------------------------------------------


def _run(name: str, *extra: str) -> dict:
    """Run one measurement in a fresh interpreter; its result with the subprocess's peak RSS."""
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, __file__, "--measure", name, *extra], cwd=ROOT, check=True,
                          capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result | {"load_1min_before": load, "load_1min_after": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", choices=["static", "forecast", "train"], help=argparse.SUPPRESS)
    parser.add_argument("--train-rows", type=int, default=TRAIN_ROWS_TARGET,
                        help="synthetic training rows (10 million, the target, by default; fewer are extrapolated)")
    parser.add_argument("--models", type=Path, help="forecast with the models registered in this folder")
    parser.add_argument("--fresh", action="store_true", help="rebuild the island city from scratch")
    parser.add_argument("--only", nargs="+", choices=["forecast", "static", "train"],
                        default=["forecast", "static", "train"])
    args = parser.parse_args()
    if args.measure:
        result = {"static": measure_static, "forecast": measure_forecast,
                  "train": lambda: measure_train(args.train_rows)}[args.measure]()
        print(json.dumps(result | {"peak_mib": _peak_mib()}))
        return

    setup(args.fresh, args.models)
    now, commit, cpus = dt.datetime.now().isoformat(timespec="seconds"), git_commit(), os.cpu_count()
    results = {name: _run(name, "--train-rows", str(args.train_rows)) for name in args.only}
    rows = []

    def record(measure, seconds, peak, load, ratio=None, ratio_of="", detail=""):
        rows.append({"date": now, "commit": commit, "measure": measure, "seconds": round(seconds, 2),
                     "ratio": "" if ratio is None else round(ratio, 2), "ratio_of": ratio_of,
                     "peak_mib": round(peak), "detail": detail, "load_1min": round(load, 2), "cpus": cpus})

    print(f"\nIsland benchmark, commit {commit}, {now}, {cpus} CPUs")
    if "forecast" in results:
        r = results["forecast"]
        ratio = r["seconds"] / r["raw_predict_s"]
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in r["stages"].items())
        cpu = ", ".join(f"{k} {v:.1f} s" for k, v in r["stage_cpu_s"].items())
        record("forecast", r["seconds"], r["peak_mib"], r["load_1min_before"], ratio,
               "forecast / raw LightGBM predict", f"{r['rows']} rows; {stages}; cpu {r['cpu_s']:.1f} s ({cpu}); "
               f"compiled trees: {', '.join(r['compiled']) or 'none'}")
        record("raw_predict", r["raw_predict_s"], r["peak_mib"], r["load_1min_before"],
               detail=f"{r['rows']} rows, {r['boosters']} boosters (flood, heat), {r['trees']} trees "
                      f"({'models of ' + str(args.models) if args.models else 'the island models'}), float32; "
                      f"cpu {r['raw_predict_cpu_s']:.1f} s")
        print(f"  daily forecast       {r['seconds']:7.1f} s  ({stages})  target <= {TARGETS['forecast_s']:.0f} s")
        print(f"                       cpu {r['cpu_s']:.1f} s ({cpu})")
        print(f"  raw LightGBM predict {r['raw_predict_s']:7.1f} s  on {r['rows']:,} rows ({r['boosters']} boosters, "
              f"{r['trees']} trees);"
              f" cpu {r['raw_predict_cpu_s']:.1f} s")
        if r["compiled"]:
            speedup = r["lightgbm_of_compiled_s"] / r["compiled_s"]
            compile_s = ", ".join(f"{n} {s:.1f} s" for n, s in r["compile_s"].items())
            which = f"{', '.join(r['compiled'])} ({r['compiled_trees']} trees)"
            floor = r["raw_predict_s"] - r["lightgbm_of_compiled_s"] + r["compiled_s"]
            cpu_times = (f"cpu {r['compiled_cpu_s']:.2f} s against LightGBM's {r['lightgbm_of_compiled_cpu_s']:.2f} s, "
                         f"{r['lightgbm_of_compiled_cpu_s'] / r['compiled_cpu_s']:.2f}x")
            record("compiled_trees_predict", r["compiled_s"], r["peak_mib"], r["load_1min_before"], speedup,
                   "LightGBM predict / compiled trees, same boosters and rows",
                   f"{which}: LightGBM {r['lightgbm_of_compiled_s']:.2f} s; {cpu_times}; compile {compile_s}; "
                   f"every booster as the forecast evaluates them {floor:.2f} s; tl2cgen quantized, gcc")
            print(f"  compiled trees       {r['compiled_s']:7.2f} s  for {which} against LightGBM "
                  f"{r['lightgbm_of_compiled_s']:.2f} s on the same rows: {speedup:.2f}x ({cpu_times});"
                  f" compile {compile_s}")
            print(f"  trees as forecast    {floor:7.2f} s  (compiled where they compile, the rest LightGBM)")
        record("asset_risk_many_sites", r["many_sites_s"], r["peak_mib"], r["load_1min_before"],
               detail=f"{MANY_SITES} made-up sites, half points, half polygons")
        print(f"  asset risk           {r['many_sites_s']:7.2f} s  for {MANY_SITES:,} made-up sites")
        print(f"  ratio forecast / raw {ratio:7.1f} x  target <= {TARGETS['forecast_ratio']:.0f} x;"
              f"  peak RSS {r['peak_mib']:,.0f} MiB; load {r['load_1min_before']:.2f}")
    if "static" in results:
        r = results["static"]
        record("static_features", r["seconds"], r["peak_mib"], r["load_1min_before"],
               detail=f"{r['land_cells']} land of {r['cells']} cells")
        print(f"  static features      {r['seconds']:7.1f} s  on {r['land_cells']:,} land of {r['cells']:,} cells;"
              f"  peak RSS {r['peak_mib']:,.0f} MiB; load {r['load_1min_before']:.2f}")
    if "train" in results:
        r = results["train"]
        scale = TRAIN_ROWS_TARGET / r["rows"]
        extrapolated = r["seconds"] * scale
        record("train", r["seconds"], r["peak_mib"], r["load_1min_before"],
               detail=f"{r['rows']} rows ({r['train_rows']} in fit), {r['rounds']} rounds "
                      f"({r['seconds'] / r['rounds']:.2f} s each), best iteration {r['best_iteration']}")
        record("train_10M_extrapolated", extrapolated, r["peak_mib"] * scale, r["load_1min_before"],
               ratio=scale, ratio_of="rows 10M / measured", detail="linear in rows, same rounds")
        print(f"  train (flood)        {r['seconds']:7.1f} s  on {r['rows']:,} rows, {r['rounds']} rounds "
              f"(best {r['best_iteration']}); peak RSS {r['peak_mib']:,.0f} MiB; load {r['load_1min_before']:.2f}")
        if scale != 1:
            print(f"  train at 10M rows    {extrapolated:7.1f} s  (extrapolated x{scale:g}, linear in rows; "
                  f"memory ~{r['peak_mib'] * scale:,.0f} MiB)  target <= {TARGETS['train_10M_s']:.0f} s")
    append_rows(RESULTS, ["date", "commit", "measure", "seconds", "ratio", "ratio_of", "peak_mib", "detail",
              "load_1min", "cpus"], rows)
    print(f"appended {len(rows)} rows to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
