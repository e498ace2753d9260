"""Does a bug in the model's terrain features show in the scores? Backtests with them intact and broken.

Usage: .venv/bin/python benchmarks/broken_hand.py [--config configs/demo.yaml] [--start 2024-09-01]
           [--end 2024-11-30]

The demo truth floods water routed over its own ground (pipelines/demo_world/flooding.py) and shares
no code with features/: a broken feature can no longer cancel out. This runs the backtest flow over
`--start`..`--end` three times, each in a store of its own (so the static features are rebuilt): as
the code is; with the height above nearest drainage (HAND) shuffled across the land cells; and with
every terrain feature shuffled (TERRAIN, each on its own). It prints the flood model's ROC AUC, PR AUC
and Brier skill score against the truth by lead and appends them, with the git commit, to
benchmarks/results/broken_hand.csv.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import xarray as xr
import yaml
from results_csv import ROOT, append_rows, git_commit

import pipelines.feature_cache.build
from pipelines.flows.backtest import backtest

TERRAIN = ("elevation_m", "slope_deg", "upstream_area_km2", "hand_m", "depression_depth_m", "depression_area_ha",
           "topographic_wetness_index", "drain_height_m", "drainage_capacity_mm", "tide_block_level_m",
           "outfall_distance_m", "dist_waterway_m")
BROKEN = {"intact": (), "hand": ("hand_m",), "terrain": TERRAIN}
_STATIC = pipelines.feature_cache.build.static_features


def shuffling(names: tuple[str, ...]):
    """static_features with each of `names` permuted over the land cells (seeded): right values, wrong places."""
    def broken(*args, **kwargs) -> xr.Dataset:
        static = _STATIC(*args, **kwargs)
        land = static["land"].values.astype(bool)
        rng = np.random.default_rng(0)
        for name in names:
            values = static[name].values.copy()
            values[land] = rng.permutation(values[land])
            static[name] = static[name].copy(data=values)
        return static
    return broken


def run(config: Path, store: Path, start: dt.date, end: dt.date, *, names: tuple[str, ...]) -> Path:
    """The backtest's scores.nc of a copy of `config` whose store is `store`, `names` shuffled."""
    raw = yaml.safe_load(config.read_text())
    raw["paths"] = {"bundle": str((config.parent / raw["paths"]["bundle"]).resolve()), "store": str(store)}
    copy = store.parent / f"{store.name}.yaml"
    copy.write_text(yaml.safe_dump(raw))
    with mock.patch.object(pipelines.feature_cache.build, "static_features", shuffling(names)):
        return backtest(copy, start, end)["scores"][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.yaml")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 9, 1))
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2024, 11, 30))
    args = parser.parse_args()
    stamp = {"commit": git_commit(), "date": dt.date.today().isoformat(), "period": f"{args.start}..{args.end}"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for broken, names in BROKEN.items():
            path = run(args.config.resolve(), Path(tmp) / broken, args.start, args.end, names=names)
            with xr.open_dataset(path) as scores:
                at = {"hazard": "flood", "target": "truth", "model": "model", "zone": "all", "period": "all",
                      "days": "all"}
                for lead in scores.lead.values:
                    row = {metric: round(float(scores["score"].sel(metric=metric, lead=lead, **at)), 4)
                           for metric in ("roc_auc", "brier_skill_score", "pr_auc")}
                    rows.append(stamp | {"shuffled": broken, "lead": int(lead), **row})
    for row in rows:
        print(f"shuffled {row['shuffled']:8s} lead {row['lead']}: ROC AUC {row['roc_auc']:.3f}, PR AUC {row['pr_auc']:.4f}, "
              f"BSS {row['brier_skill_score']:.3f} (against the truth)")
    append_rows(ROOT / "benchmarks" / "results" / "broken_hand.csv", list(rows[0]), rows)


if __name__ == "__main__":
    main()
