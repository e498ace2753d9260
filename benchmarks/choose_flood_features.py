"""Judge new flood features on the validation period, never the test period.

Usage: .venv/bin/python benchmarks/choose_flood_features.py [--config configs/demo.yaml] [--seeds 0 1 2]

Fits one evaluation-style flood model (models.flood.FLOOD_PARAMS) per feature set: the model's
FLOOD_FEATURES, and those plus the rain return periods and 72 h maximum (RAIN_CLIMATE_DRIVERS), the
soil water index (STORAGE_DRIVERS), or both. Each is scored on the validation period's held-out
blocks against the reports, overall and per lead; with several `--seeds` (train.seed: the held-out
blocks, the negatives drawn and LightGBM's bagging) the comparison is repeated on other draws.
Prints the table and the mean over seeds, and appends the rows with the git commit to
benchmarks/results/flood_features.csv.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import pandas as pd
from prefect.logging import disable_run_logger
from results_csv import ROOT, append_rows, git_commit

from models.tables import FLOOD_FEATURES, RAIN_CLIMATE_DRIVERS, STORAGE_DRIVERS
from pipelines.config import load_city_config
from pipelines.feature_cache.build import build_driver_history, build_static_features
from pipelines.training.choices import score_flood_features


def feature_sets() -> dict[str, list[str]]:
    """The model's flood features, and each group of candidate drivers added to them (none twice)."""
    base = list(FLOOD_FEATURES)

    def plus(*groups: tuple[str, ...]) -> list[str]:
        return base + [n for group in groups for n in group if n not in base]

    return {"model": base, "+return_periods": plus(RAIN_CLIMATE_DRIVERS), "+storage": plus(STORAGE_DRIVERS),
            "+both": plus(RAIN_CLIMATE_DRIVERS, STORAGE_DRIVERS)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    config = load_city_config(args.config)
    frames = []
    with disable_run_logger():
        paths = {"static": build_static_features.fn(config), "drivers": build_driver_history.fn(config)}
        for seed in args.seeds:
            seeded = config.model_copy(update={"train": config.train.model_copy(update={"seed": seed})})
            frames.append(score_flood_features.fn(seeded, paths, feature_sets()).assign(seed=seed))
    results = pd.concat(frames, ignore_index=True)
    print(results.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    mean = results.groupby(["features", "lead"], sort=False)[["roc_auc", "pr_auc", "brier", "brier_skill"]].mean()
    print(f"mean over seeds {args.seeds}:\n{mean.to_string(float_format=lambda v: f'{v:.4f}')}")
    stamp = {"commit": git_commit(), "date": dt.date.today().isoformat(), "city": config.city.slug,
             "validation": f"{config.protocol.validation[0]}..{config.protocol.validation[1]}"}
    rows = [stamp | row for row in results.to_dict("records")]
    append_rows(ROOT / "benchmarks" / "results" / "flood_features.csv", list(rows[0]), rows)


if __name__ == "__main__":
    main()
