"""The live city's ingest: one task per live source, each retried; a failed source is marked stale."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from pipelines.config import CityConfig, LiveSource
from pipelines.progress import log
from pipelines.sources import copernicus_dem, open_meteo, osm, refresh, user_files
from pipelines.sources.staging import live_city, weather_settings, write_provenance
from pipelines.timezones import local_today

LIVE_ATTRIBUTION = [open_meteo.LICENCE, osm.LICENCE, copernicus_dem.LICENCE]


@task(cache_policy=NO_CACHE)
def refresh_weather(config: CityConfig, issue_date: dt.date, now: pd.Timestamp) -> dict:
    """history.nc (new hours only) and the forecast of `issue_date` from Open-Meteo."""
    city = live_city(config)
    return refresh.refresh_weather(config.bundle_dir, city, weather_settings(config, city),
                                        config.source.open_meteo, issue_date, now)


@task(cache_policy=NO_CACHE)
def refresh_dem(config: CityConfig) -> dict:
    """static/dem.tif from the Copernicus GLO-30 tiles."""
    return refresh.refresh_dem(config.bundle_dir, live_city(config), config.source.copernicus_dem)


@task(cache_policy=NO_CACHE)
def refresh_osm(config: CityConfig) -> dict:
    """Buildings, waterways, sea, heritage assets and zone from OpenStreetMap."""
    return refresh.refresh_osm(config.bundle_dir, live_city(config), config.source.osm)


@task(cache_policy=NO_CACHE)
def apply_user_files(config: CityConfig) -> dict:
    """The user's files over the fetched layers (source `files`), then empty obs CSVs where none."""
    city = live_city(config)
    entries = {}
    if config.source.files is not None and config.source.files.is_dir():
        entries, ignored = user_files.apply_user_files(config.bundle_dir, config.source.files, city)
        if ignored:
            log(f"user files outside the contract layout, ignored: {', '.join(ignored)}")
    return entries | refresh.fill_missing_obs(config.bundle_dir, city)



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
            log(f"{name} failed; keeping the bundle's last good files, marked stale: {failures[name]}")
    return write_provenance(config.bundle_dir, live_city(config), entries, failures,
                                 LIVE_ATTRIBUTION)
