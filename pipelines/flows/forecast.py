"""The daily_forecast flow: the day's forecast -> features -> predictions -> published files -> alerts."""

from __future__ import annotations

import datetime as dt
import errno
import shutil
import time
from pathlib import Path

from prefect import flow

from pipelines.alerts.notices import raise_notice
from pipelines.alerts.run import deliver_alerts, issue_alerts
from pipelines.bundle import readers
from pipelines.bundle.validate import require_city_bundle
from pipelines.config import CityConfig, load_city_config
from pipelines.feature_cache.build import build_static_features
from pipelines.forecast.hours import site_hours
from pipelines.forecast.predict import predict_grid, with_warning_areas
from pipelines.forecast.tiles import join_tiles, static_tiles
from pipelines.progress import warn
from pipelines.publish.archive import write_archive
from pipelines.publish.day import publish_artifacts, publish_grids
from pipelines.publish.stac import link_latest, write_catalog
from pipelines.storage import PublishError, new_version_folder, publish_folder, run_lock
from pipelines.timezones import local_today
from pipelines.training.production import ensure_production


def _stale_sources(config: CityConfig) -> str:
    """What ingest marked stale in provenance.json (a source that failed or lied), with why, in words;
    '' if none."""
    stale = readers.read_provenance(config.bundle_dir).get("stale_sources") or {}
    return "; ".join(f"{source} data is stale (last success {entry.get('last_success', 'unknown')}): "
                     f"{entry.get('error') or 'no reason recorded'}" for source, entry in sorted(stale.items()))


STORE_FAULTS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)  # a store that cannot take the day
PUBLISH_LOCK = ".publish.lock"  # in the city's store: one run of a city publishes at a time


def run_issue_date(config: CityConfig, issue_date: dt.date | None, today: bool) -> dt.date:
    """The issue date a run forecasts: `issue_date`, else with `today` the city's local date, else the
    bundle's last forecast (the demo world is frozen in time)."""
    if issue_date is None and today:
        return local_today(config.city.timezone)
    return issue_date or readers.forecast_dates(config.bundle_dir)[-1]


def _nothing_to_do(config: CityConfig, issue_date: dt.date, *, scheduled: bool, waited_since: float | None) -> str:
    """Why this run need not publish (''): another run published its date while it waited for the
    lock, or, for a scheduled run, its date or a later one is already published (late runs piling up
    after a stop: the first publishes, the rest step aside)."""
    forecasts = config.city_store / "forecasts"
    final = forecasts / issue_date.isoformat()
    if waited_since is not None and final.exists() and final.resolve().stat().st_mtime >= waited_since:
        return f"{final}: published by another run while this one waited; nothing to do"
    if not scheduled:
        return ""
    published = sorted(p.name for p in forecasts.glob("????-??-??") if p.is_dir())
    if published and published[-1] >= issue_date.isoformat():
        return (f"a scheduled run for {issue_date}: {forecasts / published[-1]} is already published; nothing to do "
                f"(to publish {issue_date} again: warisan forecast --date {issue_date})")
    return ""


@flow(name="daily_forecast", log_prints=True)
def daily_forecast(config_path: Path, issue_date: dt.date | None = None,
                   today: bool = False, drill: bool = False, scheduled: bool = False) -> dict[str, list[Path]]:
    """For one issue date (default: the bundle's last, or with `today` the city's local date):
    forecast -> features -> predict -> publish -> alerts. `drill` sends the alerts with CAP
    status Test, as `alerts.drill` in the config does.

    With no weather forecast for `issue_date`, the run fails naming the missing file, or, with
    `output.on_missing_forecast: stale`, publishes the last earlier forecast under `issue_date`
    marked stale (its own issue date stays in the files, so lead days keep their valid days), and
    sends the operators a notice (alerts.operators).

    One run of a city publishes at a time (a lock in its store, `output.lock_wait_s`): a run that
    waited for another that published the same date exits with nothing to do, so no alert goes out
    twice; a `scheduled` run (the deployment's) also steps aside when its date or a later one is
    already published. Returns the files written ({} when there was nothing to do).
    """
    config = load_city_config(config_path)
    bundle_warnings = require_city_bundle(config)
    available = readers.forecast_dates(config.bundle_dir)
    issue_date = run_issue_date(config, issue_date, today)
    source_date, stale = issue_date, ""
    if issue_date not in available:
        missing = (f"{config.bundle_dir / 'weather' / 'forecasts'}: no forecast issued on {issue_date} "
                   f"(forecasts run {available[0]} to {available[-1]})")
        earlier = [d for d in available if d < issue_date]
        if config.output.on_missing_forecast != "stale" or not earlier:
            raise ValueError(missing)
        source_date = earlier[-1]
        stale = f"no forecast issued on {issue_date}; published from the forecast of {earlier[-1]}"
        warn(f"STALE: {stale}")
    started = time.time()
    with run_lock(config.city_store / PUBLISH_LOCK, wait_s=config.output.lock_wait_s) as waited:
        reason = _nothing_to_do(config, issue_date, scheduled=scheduled, waited_since=started if waited else None)
        if reason:
            print(reason)
            return {}
        return _forecast_and_publish(config, issue_date, source_date, stale, drill, bundle_warnings)


def _forecast_and_publish(config: CityConfig, issue_date: dt.date, source_date: dt.date, stale: str,
                          drill: bool, bundle_warnings: list[str]) -> dict[str, list[Path]]:
    """Predict from the forecast of `source_date`, publish under `issue_date` with its alerts; the
    bundle's `bundle_warnings` go into forecast.nc's attributes, item.json and the run's artifact."""
    static_path = build_static_features(config)
    origin = ensure_production(config, static_path, source_date)
    tiles = [predict_grid.submit(tile, path, source_date, origin) for tile, path in static_tiles(config, static_path)]
    forecast = join_tiles(tiles, config)  # on Dask, the tiles ran on the workers
    forecast = with_warning_areas(config, static_path, forecast, source_date, origin)  # areas span tiles
    stale = "; ".join(filter(None, [stale, _stale_sources(config)]))
    if bundle_warnings:
        forecast.attrs["bundle_warnings"] = "\n".join(bundle_warnings)
    if stale:
        forecast.attrs |= {"stale": stale, "stale_for": issue_date.isoformat()}
        raise_notice(config, "stale", issue_date, f"{config.city.name}: the forecast of {issue_date} is published stale",
                     f"The forecast of {issue_date} for {config.city.name} was published stale: {stale}.")
    final = config.city_store / "forecasts" / issue_date.isoformat()
    version = None
    try:
        version = new_version_folder(final)  # filled whole, then swapped in: readers never see half a day
        hours = site_hours(config, forecast)
        levels, messages = issue_alerts(config, forecast, version, hours=hours, drill=drill)
        written = publish_grids(config, forecast, levels, version, hours=hours) | {"cap": messages}
        publish_folder(version, final)
    except OSError as err:  # the day published before stays, nothing is sent
        if version is not None:
            shutil.rmtree(version, ignore_errors=True)
        if err.errno not in STORE_FAULTS:  # e.g. a bundle file gone: not the store's fault, said as it is
            raise
        raise PublishError(f"{err.filename or final.parent}: cannot publish the forecast of {issue_date}: "
                           f"{err.strerror or err}; {final} is as it was and no alert was sent") from err
    deliver_alerts(config)  # after publishing: the feed and messages point at files now visible
    link_latest(config.city_store)
    written = {kind: [final / p.relative_to(version) for p in paths] for kind, paths in written.items()}
    written["stac"].append(write_catalog(config.city_store, config.city.slug, config.city.name))
    written["archive"] = write_archive(config.city_store, config.city.name, config.bundle_dir)  # reads the catalog
    publish_artifacts(config, forecast, written, stale=stale)
    return written


@flow(name="deadline_check", log_prints=True)
def deadline_check(config_path: Path, today: bool = False) -> bool:
    """Whether the day's forecast (the date a scheduled run forecasts, `run_issue_date`) is published;
    if not, an operator notice goes out through alerts.operators at once. `warisan serve` runs this at
    `output.publish_by`, local time: an in-flow watchdog, so it needs no Prefect server's automations."""
    config = load_city_config(config_path)
    issue_date = run_issue_date(config, None, today)
    final = config.city_store / "forecasts" / issue_date.isoformat()
    deadline = f"{config.output.publish_by or 'its deadline'} ({config.city.timezone})"
    if final.exists():
        print(f"{final}: published by {deadline}")
        return True
    raise_notice(config, "late", issue_date, f"{config.city.name}: the forecast of {issue_date} is late",
                 f"The forecast of {issue_date} for {config.city.name} was not published by {deadline}: no "
                 f"{final}. Look at the daily_forecast runs; a rerun: warisan forecast --date {issue_date}.")
    deliver_alerts(config)
    return False
