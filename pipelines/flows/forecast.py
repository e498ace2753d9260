"""The daily_forecast flow: the day's forecast -> features -> predictions -> published files -> alerts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow

from pipelines.alerts.run import deliver_alerts, issue_alerts
from pipelines.bundle import readers
from pipelines.bundle.validate import require_city_bundle
from pipelines.config import CityConfig, load_city_config
from pipelines.feature_cache.build import build_static_features
from pipelines.forecast.hours import site_hours
from pipelines.forecast.predict import predict_grid, with_warning_areas
from pipelines.forecast.tiles import join_tiles, static_tiles
from pipelines.publish.day import publish_artifacts, publish_grids
from pipelines.publish.stac import link_latest, write_catalog
from pipelines.storage import new_version_folder, publish_folder
from pipelines.timezones import local_today
from pipelines.training.production import ensure_production


def _stale_sources(config: CityConfig) -> str:
    """What ingest marked stale in provenance.json (a source that failed), in words; '' if none."""
    stale = readers.read_provenance(config.bundle_dir).get("stale_sources") or {}
    return "; ".join(f"{source} data is stale (last success {entry.get('last_success', 'unknown')})"
                     for source, entry in sorted(stale.items()))


@flow(name="daily_forecast", log_prints=True)
def daily_forecast(config_path: Path, issue_date: dt.date | None = None,
                   today: bool = False, drill: bool = False) -> dict[str, list[Path]]:
    """For one issue date (default: the bundle's last, or with `today` the city's local date):
    forecast -> features -> predict -> publish -> alerts. `drill` sends the alerts with CAP
    status Test, as `alerts.drill` in the config does.

    With no weather forecast for `issue_date`, the run fails naming the missing file, or, with
    `output.on_missing_forecast: stale`, publishes the last earlier forecast under `issue_date`
    marked stale (its own issue date stays in the files, so lead days keep their valid days).
    """
    config = load_city_config(config_path)
    require_city_bundle(config)
    available = readers.forecast_dates(config.bundle_dir)
    if issue_date is None and today:
        issue_date = local_today(config.city.timezone)
    issue_date = issue_date or available[-1]
    source_date, stale = issue_date, ""
    if issue_date not in available:
        missing = (f"{config.bundle_dir / 'weather' / 'forecasts'}: no forecast issued on {issue_date} "
                   f"(forecasts run {available[0]} to {available[-1]})")
        earlier = [d for d in available if d < issue_date]
        if config.output.on_missing_forecast != "stale" or not earlier:
            raise ValueError(missing)
        source_date = earlier[-1]
        stale = f"no forecast issued on {issue_date}; published from the forecast of {earlier[-1]}"
        print(f"STALE: {stale}")
    static_path = build_static_features(config)
    origin = ensure_production(config, static_path, source_date)
    tiles = [predict_grid.submit(tile, path, source_date, origin) for tile, path in static_tiles(config, static_path)]
    forecast = join_tiles(tiles, config)  # on Dask, the tiles ran on the workers
    forecast = with_warning_areas(config, static_path, forecast, source_date, origin)  # areas span tiles
    stale = "; ".join(filter(None, [stale, _stale_sources(config)]))
    if stale:
        forecast.attrs |= {"stale": stale, "stale_for": issue_date.isoformat()}
    final = config.city_store / "forecasts" / issue_date.isoformat()
    version = new_version_folder(final)  # filled whole, then swapped in: readers never see half a day
    hours = site_hours(config, forecast)
    levels, messages = issue_alerts(config, forecast, version, hours=hours, drill=drill)
    written = publish_grids(config, forecast, levels, version, hours=hours) | {"cap": messages}
    publish_folder(version, final)
    deliver_alerts(config)  # after publishing: the feed and messages point at files now visible
    link_latest(config.city_store)
    written = {kind: [final / p.relative_to(version) for p in paths] for kind, paths in written.items()}
    written["stac"].append(write_catalog(config.city_store, config.city.slug, config.city.name))
    publish_artifacts(config, forecast, written, stale=stale)
    return written
