"""The train flow: training tables, LightGBM fits, held-out scores, registered models with cards."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from pipelines.config import load_city_config
from pipelines.flows.features import build_features
from pipelines.runner import on_this_runner
from pipelines.training.flood import train_flood
from pipelines.training.heat import train_heat


@flow(name="train", log_prints=True)
def train(config_path: Path) -> dict[str, dict]:
    """Training tables from features and observations; fit, score on held-out days, register."""
    config = load_city_config(config_path)
    paths = on_this_runner(build_features)(config_path)  # on a Dask runner, on the same cluster
    cards = {"flood": train_flood(config, paths), "heat": train_heat(config, paths)}
    flood, heat = cards["flood"]["scores"]["test"], cards["heat"]["scores"]["test"]
    create_markdown_artifact(
        key=f"{config.city.slug}-train",
        markdown=(
            f"# Models trained for {config.city.name}\n\n"
            f"| model | version | held-out scores |\n|---|---|---|\n"
            f"| flood | `{cards['flood']['version']}` | ROC AUC {flood['roc_auc']:.3f}, PR AUC "
            f"{flood['pr_auc']:.3f}, Brier {flood['brier']:.5f}, BSS {flood['brier_skill_vs_climatology']:.3f} |\n"
            f"| heat | `{cards['heat']['version']}` | MAE {heat['mae_degC']:.2f} degC (regional "
            f"{heat['baseline_regional_mae_degC']:.2f}), 10-90% coverage {heat['interval_coverage']:.2f} |\n"
        ),
        description="held-out scores",
    )
    return cards
