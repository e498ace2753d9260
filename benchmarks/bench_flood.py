"""Time the flood model's static features and training on a city bundle (default: the demo world).

Run after `warisan features` (or `warisan demo`):
    .venv/bin/python benchmarks/bench_flood.py [--config configs/demo.yaml]
Times static_features (all layers, hydrology included) on the bundle's inputs, then building the
training table and fitting + calibrating the classifier exactly as `train_flood` does.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from features.grid import cell_lonlat, project_points
from features.static import static_features
from models.flood import train_flood_model
from models.split import blocked_split, held_out_blocks, spatial_blocks, time_split
from models.tables import (
    STATIC_FLOOD_FEATURES,
    attach_features,
    cells_near_reports,
    flood_rows,
    land_cells,
    with_flood_interactions,
)
from pipelines import bundle as bundle_io
from pipelines.config import load_city_config
from pipelines.flow_common import FLOOD_FEATURES, city_template

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


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
    inputs = (bundle_io.read_dem(root), bundle_io.read_vector(root, "buildings"),
              bundle_io.read_vector(root, "waterways"), bundle_io.read_vector(root, "sea") if sea.exists() else None,
              bundle_io.read_raster(root, "impervious") if impervious.exists() else None, template)
    static = timed(f"static_features on {template.shape[0]}x{template.shape[1]} cells", lambda: static_features(*inputs))

    drivers_files = sorted((config.city_store / "features").glob("drivers-*.nc"), key=lambda p: p.stat().st_mtime)
    if not drivers_files:
        raise SystemExit(f"{config.city_store / 'features'}: no drivers file; run `warisan features` first")
    drivers = xr.load_dataset(drivers_files[-1])
    cells = land_cells(static)
    lon, lat = cell_lonlat(template)
    lonlat = (lon.values.ravel()[cells["cell"]], lat.values.ravel()[cells["cell"]])
    issue_dates = pd.DatetimeIndex(drivers.issue_date.values)
    reports = bundle_io.read_flood_events(root)
    x, y = project_points(reports["lon"], reports["lat"], config.grid.crs)
    flooded = cells_near_reports(reports.assign(x_m=x, y_m=y), cells, config.flood.label_radius_m)

    def table():
        rows = flood_rows(issue_dates, config.lead_days, cells, flooded,
                          negatives_per_positive=config.flood.negatives_per_positive,
                          rng=np.random.default_rng(config.train.seed))
        return rows, with_flood_interactions(attach_features(rows, cells, drivers, lonlat, STATIC_FLOOD_FEATURES))

    rows, frame = timed("training table (rows, features, interactions)", table)
    blocks = spatial_blocks(cells["x_m"].to_numpy(), cells["y_m"].to_numpy(), block_m=config.flood.block_size_m)
    held = held_out_blocks(blocks, share=config.flood.holdout_block_share, seed=config.train.seed)
    at = pd.Series(np.arange(len(cells)), index=cells["cell"].to_numpy())[rows["cell"].to_numpy()].to_numpy()
    split = blocked_split(time_split(issue_dates, rows["issue_index"].values, rows["lead"].values,
                                     holdout_days=config.train.holdout_days,
                                     validation_days=config.train.validation_days,
                                     calibration_days=config.flood.calibration_days), np.isin(blocks[at], held))
    _, fit = timed(f"fit + calibrate on {int((split == 'train').sum())} training rows", lambda: train_flood_model(
        frame, FLOOD_FEATURES, split, num_boost_round=config.train.num_boost_round, seed=config.train.seed))
    print(f"best iteration {fit['best_iteration']}, calibration {fit['calibration']['method']}; "
          f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB")


if __name__ == "__main__":
    main()
