"""The ingest flow: fill or refresh a city's bundle from its configured source, then validate it."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from prefect.tasks import exponential_backoff

from pipelines import bundle as bundle_io
from pipelines.config import CityConfig, LiveSource, load_city_config
from pipelines.flow_common import log, provenance
from pipelines.sources import copernicus_dem, live, live_refresh, open_meteo, osm, user_files
from pipelines.sources.demo import GENERATOR_VERSION, generate_demo_bundle

LIVE_ATTRIBUTION = [open_meteo.LICENCE, osm.LICENCE, copernicus_dem.LICENCE]


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
        "climate": source.climate.model_dump(),
    }
    marker = config.bundle_dir / "provenance.json"
    made = provenance(config.bundle_dir) if marker.exists() else {}
    if made.get("generator_arguments") == arguments and made.get("generator_version") == GENERATOR_VERSION:
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


@task(cache_policy=NO_CACHE)
def refresh_weather(config: CityConfig, issue_date: dt.date, now: pd.Timestamp) -> dict:
    """history.nc (new hours only) and the forecast of `issue_date` from Open-Meteo."""
    city = live.live_city(config)
    return live_refresh.refresh_weather(config.bundle_dir, city, live.weather_settings(config, city),
                                        config.source.open_meteo, issue_date, now)


@task(cache_policy=NO_CACHE)
def refresh_dem(config: CityConfig) -> dict:
    """static/dem.tif from the Copernicus GLO-30 tiles."""
    return live_refresh.refresh_dem(config.bundle_dir, live.live_city(config), config.source.copernicus_dem)


@task(cache_policy=NO_CACHE)
def refresh_osm(config: CityConfig) -> dict:
    """Buildings, waterways, sea, heritage assets and zone from OpenStreetMap."""
    return live_refresh.refresh_osm(config.bundle_dir, live.live_city(config), config.source.osm)


@task(cache_policy=NO_CACHE)
def apply_user_files(config: CityConfig) -> dict:
    """The user's files over the fetched layers (source `files`), then empty obs CSVs where none."""
    city = live.live_city(config)
    entries = {}
    if config.source.files is not None and config.source.files.is_dir():
        entries, ignored = user_files.apply_user_files(config.bundle_dir, config.source.files, city)
        if ignored:
            log(f"user files outside the contract layout, ignored: {', '.join(ignored)}")
    return entries | live_refresh.fill_missing_obs(config.bundle_dir, city)


def _log(message: str) -> None:
    """Log to the Prefect run when there is one, else to the module's logger."""
    try:
        log(message)
    except MissingContextError:
        logging.getLogger(__name__).warning(message)


def local_today(timezone: str) -> dt.date:
    return dt.datetime.now(ZoneInfo(timezone)).date()


def ingest_live(config: CityConfig, issue_date: dt.date | None = None, now: pd.Timestamp | None = None
                ) -> dict:
    """Refresh each live source in turn; a failed source leaves its files and is marked stale.

    Returns the new provenance record. Network sources retry (HTTP retries with backoff inside,
    then `task_retries` Prefect retries with doubling delays).
    """
    source: LiveSource = config.source
    issue_date = issue_date or local_today(config.city.timezone)
    now = now if now is not None else pd.Timestamp.now("UTC").tz_localize(None)
    retrying = {"retries": source.task_retries, "retry_jitter_factor": 0.5,
                "retry_delay_seconds": exponential_backoff(backoff_factor=source.task_retry_delay_s)}
    steps = {
        "open-meteo": lambda: refresh_weather.with_options(**retrying)(config, issue_date, now),
        "copernicus-dem": lambda: refresh_dem.with_options(**retrying)(config),
        "osm": lambda: refresh_osm.with_options(**retrying)(config),
        "files": lambda: apply_user_files(config),
    }
    entries, failures = {}, {}
    for name, step in steps.items():
        try:
            entries |= step()
        except Exception as err:  # noqa: BLE001  (a failed source keeps its last good files)
            failures[name] = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err) else ''}"
            _log(f"{name} failed; keeping the bundle's last good files, marked stale: {failures[name]}")
    return live.write_provenance(config.bundle_dir, live.live_city(config), entries, failures,
                                 LIVE_ATTRIBUTION)


@flow(name="ingest", log_prints=True)
def ingest(config_path: Path, issue_date: dt.date | None = None) -> Path:
    """Fill or refresh the city's bundle from its configured source, then validate it."""
    config = load_city_config(config_path)
    stale = {}
    if config.source.kind == "demo":
        bundle = generate_demo(config)
    else:
        bundle = config.bundle_dir
        stale = ingest_live(config, issue_date).get("stale_sources", {})
    validate_bundle(config)
    files = provenance(bundle)["files"]
    lines = "".join(f"- **{name} is stale** since {info['last_success']}: {info['error']}\n"
                    for name, info in stale.items())
    create_markdown_artifact(
        key=f"{config.city.slug}-ingest",
        markdown=f"# Ingest: {config.city.name}\n\nBundle `{bundle}` is valid, {len(files)} entries.\n\n{lines}",
        description="bundle ingested and validated",
    )
    return bundle
