"""Time the flood model's static features and training on a city bundle (default: the demo world).

Run after `warisan features` (or `warisan demo`):
    .venv/bin/python benchmarks/bench_flood.py [--config configs/demo.yaml]
Times static_features (all layers, hydrology included) on the bundle's inputs, then building the
training table and fitting + calibrating the classifier exactly as `train_flood` does. Where the
city has a demo truth, also prints how complete the reports are along the forecast: on the
calibration rows (weighted back to the population), the chance of a report, of a true flood
and their ratio, the report rate, by band of the calibrated chance of a report
(docs/flood-skill.md).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

from features.grid import cell_lonlat, project_points
from features.static import static_features
from models.flood import FloodModel, predict_flood, train_flood_model
from models.split import blocked_split, held_out_blocks, protocol_split, spatial_blocks
from models.tables import (
    FLOOD_FEATURES,
    STATIC_FLOOD_FEATURES,
    attach_features,
    cells_near_reports,
    flood_rows,
    land_cells,
    with_flood_interactions,
)
from pipelines.bundle import readers
from pipelines.config import city_template, load_city_config
from pipelines.evaluation.truth import truth_flood_near
from pipelines.feature_cache.drivers import read_drivers

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
REPORT_BANDS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)  # calibrated chance of a report


def timed(label: str, call):
    start = time.perf_counter()
    out = call()
    print(f"{label}: {time.perf_counter() - start:.2f} s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEMO)
    config = load_city_config(parser.parse_args().config)
    root, template = config.bundle_dir, city_template(config)
    sea = root / "static" / "sea.gpkg"
    impervious = root / "static" / "impervious.tif"
    inputs = (readers.read_dem(root), readers.read_vector(root, "buildings"),
              readers.read_vector(root, "waterways"), readers.read_vector(root, "sea") if sea.exists() else None,
              readers.read_raster(root, "impervious") if impervious.exists() else None, template)
    static = timed(f"static_features on {template.shape[0]}x{template.shape[1]} cells", lambda: static_features(*inputs))

    drivers_files = sorted((config.city_store / "features").glob("drivers-*.nc"), key=lambda p: p.stat().st_mtime)
    if not drivers_files:
        raise SystemExit(f"{config.city_store / 'features'}: no drivers file; run `warisan features` first")
    drivers = read_drivers(drivers_files[-1])
    cells = land_cells(static)
    lon, lat = cell_lonlat(template)
    lonlat = (lon.values.ravel()[cells["cell"]], lat.values.ravel()[cells["cell"]])
    issue_dates = pd.DatetimeIndex(drivers.issue_date.values)
    reports = readers.read_flood_events(root)
    x, y = project_points(reports["lon"], reports["lat"], config.grid.crs)
    flooded = cells_near_reports(reports.assign(x_m=x, y_m=y), cells, config.flood.label_radius_m)

    def table():
        rows = flood_rows(issue_dates, config.flood.lead_days, cells, flooded,
                          negatives_per_positive=config.flood.negatives_per_positive,
                          rng=np.random.default_rng(config.train.seed))
        return rows, with_flood_interactions(attach_features(rows, cells, drivers, lonlat, STATIC_FLOOD_FEATURES))

    rows, frame = timed("training table (rows, features, interactions)", table)
    blocks = spatial_blocks(cells["x_m"].to_numpy(), cells["y_m"].to_numpy(), block_m=config.flood.block_size_m)
    held = held_out_blocks(blocks, share=config.flood.holdout_block_share, seed=config.train.seed)
    at = pd.Series(np.arange(len(cells)), index=cells["cell"].to_numpy())[rows["cell"].to_numpy()].to_numpy()
    split = blocked_split(protocol_split(issue_dates, rows["issue_index"].values, rows["lead"].values,
                                         validation=config.protocol.validation, test=config.protocol.test,
                                         early_stopping_days=config.train.early_stopping_days, calibrate=True),
                          np.isin(blocks[at], held))
    model, fit = timed(f"fit + calibrate on {int((split == 'train').sum())} training rows", lambda: train_flood_model(
        frame, FLOOD_FEATURES, split, num_boost_round=config.train.num_boost_round, seed=config.train.seed))
    print(f"best iteration {fit['best_iteration']}, calibration {fit['calibration']['method']}; "
          f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB")
    report_completeness(config, model, frame[split == "calib"], issue_dates)


def report_completeness(config, model: FloodModel, calib: pd.DataFrame, issue_dates: pd.DatetimeIndex) -> None:
    """Print P(report), P(flood) and their ratio by band of the calibrated chance of a report, on the
    calibration rows against the demo truth; nothing without a truth."""
    found = truth_flood_near(config)
    if found is None or calib.empty:
        return
    days, near = found
    at = days.get_indexer(issue_dates[calib["issue_index"].to_numpy()]
                          + pd.to_timedelta(calib["lead"].to_numpy(), unit="D"))
    kept = calib[at >= 0]
    flood = near[at[at >= 0], kept["cell"].to_numpy()].astype(float)
    report, weight = kept["label"].to_numpy(float), kept["weight"].to_numpy(float)
    band = np.searchsorted(REPORT_BANDS, predict_flood(model, kept), side="right")
    print(f"report rate by calibrated chance of a report ({len(kept)} calibration rows, demo truth):")
    edges = (0.0, *REPORT_BANDS, 1.0)
    for k in np.unique(band):
        m = band == k
        p_report, p_flood = np.average(report[m], weights=weight[m]), np.average(flood[m], weights=weight[m])
        rate = f"{p_report / p_flood:.3f}" if p_flood > 0 else "-"
        print(f"  {edges[k]:.4f}-{edges[k + 1]:.4f}: {m.sum():6d} rows  P(report) {p_report:.5f}  "
              f"P(flood) {p_flood:.5f}  report rate {rate}")
    print(f"  all: report rate {np.average(report, weights=weight) / np.average(flood, weights=weight):.3f}")


if __name__ == "__main__":
    main()
