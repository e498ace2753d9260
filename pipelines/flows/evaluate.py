"""The evaluate flow: the latest flood card scored against the demo truth, where the city has one."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from pipelines.config import load_city_config
from pipelines.evaluation.card_truth import score_flood_card_against_truth
from pipelines.flows.features import build_features
from pipelines.runner import on_this_runner


@flow(name="evaluate", log_prints=True)
def evaluate(config_path: Path) -> dict | None:
    """Add the truth's scores to the latest flood card (`scores.evaluation.truth`); None without a truth."""
    config = load_city_config(config_path)
    paths = on_this_runner(build_features)(config_path)  # cached: built by the train flow
    return score_flood_card_against_truth(config, paths)
