"""Choose the flood booster's LightGBM settings on the validation period, never the test period.

Usage: .venv/bin/python benchmarks/choose_flood_settings.py [--config configs/demo.yaml]

Fits one evaluation-style flood model per candidate in pipelines.training.choices.FLOOD_SETTINGS
(training years, early stopping on the days before `evaluation.validation`), scores each on the
validation period's held-out blocks against the flood reports, prints the table and the choice
(highest ROC AUC), and appends the rows with the git commit to benchmarks/results/flood_choices.csv.
models.flood.FLOOD_PARAMS holds the choice (docs/evaluation.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from prefect.logging import disable_run_logger
from results_csv import ROOT, append_rows, git_commit

from pipelines.config import load_city_config
from pipelines.feature_cache.build import build_driver_history, build_static_features
from pipelines.training.choices import chosen, score_flood_settings, settings_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.yaml")
    config = load_city_config(parser.parse_args().config)
    with disable_run_logger():
        paths = {"static": build_static_features.fn(config), "drivers": build_driver_history.fn(config)}
        results = score_flood_settings.fn(config, paths, settings_grid())
    print(results.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"chosen on validation {config.protocol.validation[0]}..{config.protocol.validation[1]}: {chosen(results)}")
    stamp = {"commit": git_commit(), "date": dt.date.today().isoformat(), "city": config.city.slug,
             "validation": f"{config.protocol.validation[0]}..{config.protocol.validation[1]}"}
    rows = [stamp | row for row in results.to_dict("records")]
    append_rows(ROOT / "benchmarks" / "results" / "flood_choices.csv", list(rows[0]), rows)


if __name__ == "__main__":
    main()
