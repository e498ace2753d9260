"""The ingest flow: fill or refresh a city's bundle from its configured source, then validate it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from pipelines.bundle.readers import read_provenance
from pipelines.bundle.validate import require_city_bundle, warnings_markdown
from pipelines.config import load_city_config
from pipelines.demo_world.generate import generate_demo
from pipelines.sources.live import ingest_live


@flow(name="ingest", log_prints=True)
def ingest(config_path: Path, issue_date: dt.date | None = None) -> Path:
    """Fill or refresh the city's bundle from its configured source, then validate it.

    A `bundle` source is the user's own bundle: it is validated and never written.
    """
    config = load_city_config(config_path)
    bundle, stale = config.bundle_dir, {}
    if config.source.kind == "demo":
        generate_demo(config)
    elif config.source.kind == "live":
        stale = ingest_live(config, issue_date).get("stale_sources", {})
    warned = require_city_bundle(config)
    if config.source.kind == "bundle":
        print(f"{bundle}: source.kind is 'bundle': the bundle is the user's, valid, and nothing to ingest")
    files = read_provenance(bundle)["files"]
    lines = "".join(f"- **{name} is stale** since {info['last_success']}: {info['error']}\n"
                    for name, info in stale.items())
    create_markdown_artifact(
        key=f"{config.city.slug}-ingest",
        markdown=(f"# Ingest: {config.city.name}\n\nBundle `{bundle}` is valid, {len(files)} entries.\n\n{lines}"
                  + warnings_markdown(warned)),
        description="bundle ingested and validated",
    )
    return bundle
