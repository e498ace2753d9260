"""Does a bug in the model's HAND show in the scores? A backtest with HAND intact, and one with it broken.

Usage: .venv/bin/python benchmarks/broken_hand.py [--config configs/demo.yaml] [--start 2024-09-01]
           [--end 2024-11-30]

The demo truth floods water routed over its own ground (pipelines/demo_world/flooding.py) and shares
no code with features/: a broken feature must cost skill, not cancel out. This runs the backtest
flow over `--start`..`--end` twice, each in a store of its own (so the static features are rebuilt):
once as the code is, once with features.static's height above nearest drainage shuffled across the
land cells (every other feature intact). It prints the flood model's ROC AUC and Brier skill score
against the truth by lead for both and appends them, with the git commit, to
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

import features.static
from pipelines.flows.backtest import backtest

_HAND = features.static.height_above_nearest_drainage


def shuffled_hand(*args, **kwargs) -> xr.DataArray:
    """HAND with its land values permuted (seeded): right distribution, wrong places."""
    hand = _HAND(*args, **kwargs)
    values = hand.values.copy()
    land = np.isfinite(values)
    values[land] = np.random.default_rng(0).permutation(values[land])
    return hand.copy(data=values)


def run(config: Path, store: Path, start: dt.date, end: dt.date, *, broken: bool) -> Path:
    """The backtest's scores.nc of a copy of `config` whose store is `store`."""
    raw = yaml.safe_load(config.read_text())
    raw["paths"] = {"bundle": str((config.parent / raw["paths"]["bundle"]).resolve()), "store": str(store)}
    copy = store.parent / f"{store.name}.yaml"
    copy.write_text(yaml.safe_dump(raw))
    if broken:
        with mock.patch.object(features.static, "height_above_nearest_drainage", shuffled_hand):
            return backtest(copy, start, end)["scores"][0]
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
        for hand in ("intact", "shuffled"):
            path = run(args.config.resolve(), Path(tmp) / hand, args.start, args.end, broken=hand == "shuffled")
            with xr.open_dataset(path) as scores:
                at = {"hazard": "flood", "target": "truth", "model": "model", "zone": "all", "period": "all",
                      "days": "all"}
                for lead in scores.lead.values:
                    row = {metric: round(float(scores["score"].sel(metric=metric, lead=lead, **at)), 4)
                           for metric in ("roc_auc", "brier_skill_score", "pr_auc")}
                    rows.append(stamp | {"hand": hand, "lead": int(lead), **row})
    for row in rows:
        print(f"HAND {row['hand']:8s} lead {row['lead']}: ROC AUC {row['roc_auc']:.3f}, PR AUC {row['pr_auc']:.4f}, "
              f"BSS {row['brier_skill_score']:.3f} (against the truth)")
    append_rows(ROOT / "benchmarks" / "results" / "broken_hand.csv", list(rows[0]), rows)


if __name__ == "__main__":
    main()
