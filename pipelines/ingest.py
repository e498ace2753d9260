"""The ingest flow: fill or refresh a city's bundle from its configured source, then validate it."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from pipelines import bundle as bundle_io
from pipelines.config import CityConfig, load_city_config
from pipelines.flow_common import log, provenance
from pipelines.sources.demo import generate_demo_bundle


@task
def generate_demo(config: CityConfig) -> Path:
    """Write the demo world's bundle and truth; skip when the bundle holds this exact world."""
    source = config.source
    arguments = {
        "city_slug": config.city.slug, "crs": config.grid.crs, "bounds": list(config.grid.bounds),
        "resolution_m": config.grid.resolution_m, "start": source.start.isoformat(),
        "end": source.end.isoformat(), "seed": source.seed, "timezone": config.city.timezone,
        "coastline": source.coastline, "assets": source.assets,
        "regional_spacing_deg": source.regional_spacing_deg, "lead_days": config.lead_days,
    }
    marker = config.bundle_dir / "provenance.json"
    if marker.exists() and provenance(config.bundle_dir).get("generator_arguments") == arguments:
        log(f"demo bundle {config.bundle_dir} is up to date; nothing to generate")
        return config.bundle_dir
    summary = generate_demo_bundle(  # records `arguments` and the time zone in provenance.json
        config.bundle_dir, config.truth_dir,
        **{**arguments, "bounds": config.grid.bounds, "start": source.start, "end": source.end},
        progress=log,
    )
    log(f"demo bundle written: {summary}")
    return config.bundle_dir


@task
def validate_bundle(config: CityConfig) -> Path:
    """Refuse a bundle that breaks the contract, listing every problem with its file and field."""
    bundle_io.require_valid_bundle(
        config.bundle_dir, city_crs=config.grid.crs, city_bounds=config.grid.bounds,
        timezone=config.city.timezone, lead_days=config.lead_days,
    )
    return config.bundle_dir


@flow(name="ingest", log_prints=True)
def ingest(config_path: Path) -> Path:
    """Fill or refresh the city's bundle from its configured source, then validate it."""
    config = load_city_config(config_path)
    if config.source.kind != "demo":
        raise NotImplementedError(
            f"{config_path}: source.kind: live sources (open-meteo, osm, copernicus-dem) are not "
            "implemented yet; place a bundle in the contract's layout at paths.bundle instead"
        )
    bundle = generate_demo(config)
    validate_bundle(config)
    files = provenance(bundle)["files"]
    create_markdown_artifact(
        key=f"{config.city.slug}-ingest",
        markdown=f"# Ingest: {config.city.name}\n\nBundle `{bundle}` is valid, {len(files)} entries.\n",
        description="bundle ingested and validated",
    )
    return bundle
