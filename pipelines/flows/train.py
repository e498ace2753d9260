"""The train flow: training tables, LightGBM fits, held-out scores, registered models with cards."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from pipelines.bundle import readers
from pipelines.config import load_city_config
from pipelines.flows.features import build_features
from pipelines.runner import on_this_runner
from pipelines.training.card import card_headline
from pipelines.training.flood import train_flood
from pipelines.training.heat import train_heat
from pipelines.training.production import fit_production, refit_origin


@flow(name="train", log_prints=True)
def train(config_path: Path) -> dict[str, dict]:
    """Training tables from features and observations; the evaluation fits, scored on the sealed test
    period (evaluation.test), then the production refits on everything before the latest forecast's
    cadence period (train.refit); all registered."""
    config = load_city_config(config_path)
    paths = on_this_runner(build_features)(config_path)  # on a Dask runner, on the same cluster
    cards = {"flood": train_flood(config, paths), "heat": train_heat(config, paths)}
    origin = refit_origin(config.train.refit, readers.forecast_dates(config.bundle_dir)[-1])
    production = fit_production(config, paths, origin, cards)
    rows = "".join(f"| {hazard} | `{card['version']}` | `{production[hazard]['version']}` | {card_headline(card)} |\n"
                   for hazard, card in cards.items())
    create_markdown_artifact(
        key=f"{config.city.slug}-train",
        markdown=(f"# Models trained for {config.city.name}\n\n| model | evaluation fit | production refit "
                  f"(everything before {origin}) | sealed test-period scores |\n|---|---|---|---|\n{rows}"),
        description="sealed test-period scores",
    )
    return cards
