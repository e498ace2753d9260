"""One forecast run's alerts: decide, record, write (issue_run), then deliver and publish the feed.

issue_run, for an issue date D:
- D already recorded (a rerun): the recorded messages and digests are written again, byte for
  byte; nothing is decided, queued or sent anew.
- D newer than every recorded date: messages come from the state before D and the forecast;
  messages, digests, the run and the outbox are recorded in one transaction, then the files are
  written from what was recorded. A crash before the commit leaves nothing; after it, the rerun
  is the case above.
- D older than the newest recorded date (a late backfill): rendered from the state before D
  and written, but neither recorded nor queued, so the live sequence never forks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd
import xarray as xr
from lxml import etree
from prefect import task
from prefect.artifacts import (
    create_table_artifact,
)

from models.assets import area_alert_levels, asset_alert_levels, asset_risk, nearest_land_reach
from models.heat.hours import heat_windows, with_heat_windows
from models.warning.areas import AreaForecast, forecast_areas
from models.warning.door import forecast_door
from pipelines.alerts.advice import load_advisories
from pipelines.alerts.cap import cap_messages, write_cap_messages
from pipelines.alerts.delivery import send_queued, write_feeds
from pipelines.alerts.digest import digest_name, manager_digests
from pipelines.alerts.state import CapMessage, Outgoing, held_levels, open_store
from pipelines.bundle import readers
from pipelines.config import AlertConfig, CityConfig
from pipelines.feature_cache.build import with_built_up
from pipelines.forecast.conservation import site_conservation
from pipelines.storage import write_text_atomic

STORE_FILE = "alerts.sqlite"
_CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


@dataclass(frozen=True)
class IssuedRun:
    mode: str  # 'new', 'rerun' or 'backfill'
    messages: list[CapMessage]
    paths: list[Path]  # CAP files, then digests


def issue_run(
    city_store: Path, out: Path, levels: pd.DataFrame, assets: gpd.GeoDataFrame, *, issue_time: dt.datetime,
    city_slug: str, city_name: str, timezone: str, alert: AlertConfig, model_versions: dict[str, str],
    note: str = "", areas: AreaForecast | None = None,
) -> IssuedRun:
    """Decide, record and write the CAP messages and digests of one issue date (module docstring).

    With the forecast's warning `areas`, the city, zones and districts reaching flood level 1 get
    messages too, and the area-based flood levels are held by the state's hysteresis
    (pipelines.alerts.state.held_levels) before anything is decided or written.
    CAP files go to `out/alerts/`, digests to `out/digests/<manager>.txt|.html` in the first language and
    `<manager>.<language>.txt|.html` in the others (pipelines.alerts.digest.digest_name); the state is
    `city_store/alerts.sqlite`.
    """
    advisories = load_advisories(alert.advisories, alert.languages)
    issue_day = pd.Timestamp(issue_time).tz_convert(timezone).date()
    with open_store(city_store / STORE_FILE) as store:
        if store.recorded(issue_day):
            mode, messages, digests = "rerun", store.messages(issue_day), store.digests(issue_day)
        else:
            events = store.events_before(issue_day)
            thresholds = None if areas is None else areas.thresholds
            levels = held_levels(levels, events, sent=issue_time, thresholds=thresholds)
            area_levels = None if areas is None else held_levels(area_alert_levels(areas), events, sent=issue_time,
                                                                 thresholds=thresholds)
            messages = cap_messages(
                levels, assets, issue_time=issue_time, city_slug=city_slug, city_name=city_name,
                timezone=timezone, alert=alert, advisories=advisories, model_versions=model_versions,
                events=events, note=note, area_levels=area_levels,
                areas=None if areas is None else areas.table)
            digests = manager_digests(levels, assets, messages, alert.managers, issue_day=issue_day,
                                      city_name=city_name, area_levels=area_levels,
                                      areas=None if areas is None else areas.table, advisories=advisories,
                                      languages=alert.languages)
            latest = store.latest_date()
            mode = "backfill" if latest is not None and latest > issue_day.isoformat() else "new"
            sent = issue_time.astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds")
            if mode == "new" and not store.record_run(issue_day, sent, messages, digests,
                                                      outgoing(messages, digests, alert, issue_day)):
                mode, messages, digests = "rerun", store.messages(issue_day), store.digests(issue_day)
    paths = write_cap_messages(messages, out / "alerts")
    for name, (text, html) in digests.items():
        paths += [write_text_atomic(out / "digests" / f"{name}.txt", text),
                  write_text_atomic(out / "digests" / f"{name}.html", html)]
    return IssuedRun(mode, messages, paths)


def deliver_run(city_store: Path, alert: AlertConfig, *, city_slug: str, city_name: str) -> dict[str, int]:
    """Send what the outbox holds and rewrite the feeds (city_store/alerts.atom in the first language,
    alerts.<language>.atom in the others); counts sent/queued."""
    with open_store(city_store / STORE_FILE) as store:
        counts = send_queued(store, alert.channels, attempts=alert.delivery.attempts,
                             retry_delay_s=alert.delivery.retry_delay_s)
        write_feeds(store, city_store, city_slug=city_slug, city_name=city_name, languages=alert.languages)
    return counts


def outgoing(messages: list[CapMessage], digests: dict[str, tuple[str, str]], alert: AlertConfig,
             issue_day: dt.date) -> list[Outgoing]:
    """Outbox items: each message to the all-alerts channels and its managers' channels; each manager's
    digest, in their language (the first of the alert languages by default), to their channels. The CAP
    file and the HTML digest travel as attachments."""
    broadcast = {name for name, channel in alert.channels.items() if channel.all_alerts}
    items = []
    for message in messages:
        channels = broadcast | {channel for manager in alert.managers if message.asset_id in manager.assets
                                for channel in manager.channels}
        title, body = _message_text(message)
        items += [Outgoing(message.identifier, channel, title, body, f"{message.identifier}.cap.xml", message.xml)
                  for channel in sorted(channels)]
    for manager in alert.managers:
        name = digest_name(manager.id, manager.language or alert.languages[0], alert.languages)
        if name not in digests:
            continue
        text, html = digests[name]
        key = f"digest.{issue_day.isoformat()}.{manager.id}"
        items += [Outgoing(key, channel, text.splitlines()[0], text, f"digest-{issue_day.isoformat()}.html",
                           html.encode()) for channel in sorted(set(manager.channels))]
    return items


def _message_text(message: CapMessage) -> tuple[str, str]:
    """Title (the first language's headline) and body (every language's words) of a message."""
    root = etree.fromstring(message.xml)
    blocks = []
    for info in root.iter(f"{_CAP}info"):
        blocks.append("\n\n".join(info.findtext(f"{_CAP}{tag}") or "" for tag in ("headline", "description",
                                                                                  "instruction")))
    title = root.findtext(f"{_CAP}info/{_CAP}headline") or message.identifier
    status = root.findtext(f"{_CAP}status")
    footer = f"CAP {message.msg_type} {message.identifier} ({status}), sent {message.sent}."
    return (f"[{status}] {title}" if status != "Actual" else title), "\n\n----\n\n".join([*blocks, footer])




@task
def issue_alerts(config: CityConfig, forecast: xr.Dataset, out: Path, hours: xr.Dataset | None = None,
                 drill: bool = False) -> tuple[pd.DataFrame, list[Path]]:
    """Per-asset risk and levels with each site's conservation climate (pipelines.forecast.conservation), then
    the CAP messages and digests of the issue date (pipelines.alerts.run).

    With the sites' `hours` (pipelines.forecast.hours.site_hours), each day's windows of hours at or
    above the WBGT bands join the levels (models.heat.hours.with_heat_windows), for the heat
    messages and digests. The state in <store>/<city>/alerts.sqlite decides Alert, Update or Cancel;
    a rerun rewrites the recorded messages. `drill` sends every message with status Test. Returns
    the levels and CAP files.
    """
    assets = readers.read_vector(config.bundle_dir, "heritage_assets")
    forecast = with_built_up(config, forecast)  # the heat drivers name a dense built-up block
    areas = forecast_areas(forecast)
    risk = asset_risk(forecast, assets, nearest_land_cells=nearest_land_reach(config.grid.resolution_m))
    levels = asset_alert_levels(risk, assets, default_flood_threshold=config.flood.default_threshold,
                                default_heat_threshold_degC=config.heat.default_threshold_degC,
                                area_thresholds=None if areas is None else areas.thresholds,
                                door=forecast_door(forecast.attrs))
    issue_day = dt.date.fromisoformat(forecast.attrs["issue_date"])
    conservation = site_conservation(config.bundle_dir, issue_day, assets, lead_days=config.heat.lead_days,
                                     timezone=config.city.timezone)
    levels = levels.merge(conservation, on=["asset_id", "lead"], how="left", validate="one_to_one")
    if hours is not None:
        windows = heat_windows(hours["wbgt_degC"], config.heat.wbgt_bands_degC, config.city.timezone)
        levels = with_heat_windows(levels, windows, issue_day)
    alert = config.alerts.model_copy(update={"drill": config.alerts.drill or drill})
    issued = issue_run(
        config.city_store, out, levels, assets,
        issue_time=pd.Timestamp(forecast.forecast_reference_time.values).to_pydatetime().replace(tzinfo=dt.UTC),
        city_slug=config.city.slug, city_name=config.city.name, timezone=config.city.timezone, alert=alert,
        model_versions={k: forecast.attrs[k] for k in ("flood_model_version", "heat_model_version")},
        note=forecast.attrs.get("stale", ""), areas=areas,
    )
    if issued.messages:
        create_table_artifact(
            key=f"{config.city.slug}-alerts",
            table=[{"identifier": m.identifier, "msg_type": m.msg_type, "asset_id": m.asset_id, "hazard": m.hazard,
                    "level": m.level, "onset": m.onset} for m in issued.messages],
            description=f"CAP messages ({issued.mode} run), issue date {forecast.attrs['issue_date']}",
        )
    return levels, [path for path in issued.paths if path.name.endswith(".cap.xml")]


@task
def deliver_alerts(config: CityConfig) -> dict[str, int]:
    """Send the outbox (this run's messages and any left from earlier runs); rewrite the Atom feed."""
    return deliver_run(config.city_store, config.alerts, city_slug=config.city.slug, city_name=config.city.name)
