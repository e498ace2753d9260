"""The live city's ingest: one task per live source, each retried; a failed source is marked stale."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from pipelines.bundle.checks import DEM, FORECASTS, HISTORY
from pipelines.config import CityConfig, LiveSource
from pipelines.progress import log
from pipelines.sources import refresh, user_files
from pipelines.sources.staging import brought_files, live_city, user_dtm, weather_settings, write_provenance
from pipelines.timezones import local_today

# sources whose files come only together: not fetched at all when the bundle brought any of them
WHOLE_SOURCES = {"open-meteo": (HISTORY, f"{FORECASTS}/"), "copernicus-dem": (DEM,)}


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
def refresh_osm(config: CityConfig, keep: frozenset[str]) -> dict:
    """Buildings, waterways, sea, heritage assets and zone from OpenStreetMap, except the files in `keep`."""
    return refresh.refresh_osm(config.bundle_dir, live_city(config), config.source.osm, keep)


@task(cache_policy=NO_CACHE)
def apply_user_files(config: CityConfig, keep: frozenset[str]) -> dict:
    """The user's files over the fetched layers (source `files`) but not over `keep`, then empty obs
    CSVs where none."""
    city = live_city(config)
    entries = {}
    if config.source.files is not None and config.source.files.is_dir():
        entries, ignored = user_files.apply_user_files(config.bundle_dir, config.source.files, city, keep)
        if ignored:
            log(f"user files outside the contract layout or over the bundle's own, ignored: {', '.join(ignored)}")
    return entries | refresh.fill_missing_obs(config.bundle_dir, city)


def ingest_live(config: CityConfig, issue_date: dt.date | None = None, now: pd.Timestamp | None = None
                ) -> dict:
    """Refresh each live source in turn; a failed source leaves its files and is marked stale.

    Returns the new provenance record. Network sources retry (HTTP retries with backoff inside,
    then `task_retries` Prefect retries with doubling delays). Files the bundle brought itself
    (`brought_files`) are never written over nor re-credited; the weather and the DEM are not
    fetched at all when the bundle brought any of their files, nor the DEM when the user's files
    hold one (`user_dtm`).
    """
    source: LiveSource = config.source
    issue_date = issue_date or local_today(config.city.timezone)
    now = now if now is not None else pd.Timestamp.now("UTC").tz_localize(None)
    retrying = {"retries": source.task_retries, "retry_jitter_factor": 0.5,
                "retry_delay_seconds": exponential_backoff(backoff_factor=source.task_retry_delay_s)}
    brought = brought_files(config.bundle_dir)
    if brought:
        log("kept as the bundle brought them: " + ", ".join(f"{name} ({credit or 'no provenance entry'})"
                                                           for name, credit in brought.items()))
    keep = frozenset(brought)
    steps = {  # the DEM last: it removes the buildings that the osm source or the user's files wrote
        "open-meteo": lambda: refresh_weather.with_options(**retrying)(config, issue_date, now),
        "osm": lambda: refresh_osm.with_options(**retrying)(config, keep),
        "files": lambda: apply_user_files(config, keep),
        "copernicus-dem": lambda: refresh_dem.with_options(**retrying)(config),
    }
    for name, paths in WHOLE_SOURCES.items():
        if any(file.startswith(paths) for file in keep):
            log(f"{name}: not fetched; the bundle brought its own {' and '.join(paths)}")
            del steps[name]
    if "copernicus-dem" in steps and (users := user_dtm(config)) is not None:
        log(f"copernicus-dem: not fetched; the user's {users} is the terrain")
        del steps["copernicus-dem"]
    entries, failures = {}, {}
    for name, step in steps.items():
        try:
            entries |= step()
        except Exception as err:  # noqa: BLE001  (a failed source keeps its last good files)
            failures[name] = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err) else ''}"
            log(f"{name} failed; keeping the bundle's last good files, marked stale: {failures[name]}")
    return write_provenance(config.bundle_dir, live_city(config), entries, failures)
