"""A digest per issue date for each heritage manager and language: their sites' levels, when, why and
what to do, then by lead day, in text and HTML.

Both come from templates: pipelines/templates/digest.txt.j2 and digest.html.j2 (autoescaped); their
words from pipelines/alerts/words/<language>.yaml.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import geopandas as gpd
import pandas as pd
from lxml import etree

from models.warning.areas import areas_of_sites
from pipelines.alerts.advice import Advisories
from pipelines.alerts.state import CapMessage
from pipelines.alerts.text import (
    audience_words,
    conservation_line,
    day_label,
    kind_words,
    site_alert_lines,
    window_words,
    words,
)
from pipelines.config import ManagerConfig
from pipelines.templating import render

_CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


def digest_name(manager_id: str, language: str, languages: tuple[str, ...]) -> str:
    """The file stem of a manager's digest: their id in the first of `languages`, else '<id>.<language>'."""
    return manager_id if language == languages[0] else f"{manager_id}.{language}"


def manager_digests(
    levels: pd.DataFrame, assets: pd.DataFrame, messages: list[CapMessage], managers: tuple[ManagerConfig, ...], *,
    issue_day: dt.date, city_name: str, area_levels: pd.DataFrame | None = None,
    areas: gpd.GeoDataFrame | None = None, advisories: Advisories | None = None,
    languages: tuple[str, ...] = ("en-GB",),
) -> dict[str, tuple[str, str]]:
    """Per digest name (digest_name: a manager in one of `languages`): (plain text, HTML) of the day's digest.

    Lists the run's messages about their assets and the warning areas holding them (each message's
    headline in the digest's language), then per site (its kind in words) each hazard reaching level 1:
    its level and when, why (the drivers at the peak) and, with `advisories`, what to do at that level.
    Then each asset's flood chance (its neighbourhood's where the forecast has warning areas) and
    tasmax q50 with their alert levels by lead day, and where known the chance that water rises above
    the site's floor with the expected depth if it floods (models.warning.door), then the heritage zones
    and districts holding their sites (`area_levels`, models.assets.area_alert_levels, with their
    outlines in `areas`): chance, level and action by lead day. Sites with hourly WBGT windows
    (`wbgt_windows`, models.heat.hours) get their hours of heat stress by day and, with `advisories`,
    the advice per audience for each band reached, once. Where `levels` has the sites' conservation
    climate (pipelines.forecast.conservation), each site's mould risk and drying line follows. Last,
    the day's maps cropped to their sites, marked (<manager id>_map_d<lead>.png beside the digest,
    drawn when the grids are published), each linking to the whole city's map one folder up, and
    links to the digest in the other languages. An asset not in `levels` is listed as without a forecast.
    """
    names = dict(zip(assets["asset_id"], assets["name"], strict=True))
    kinds = dict(zip(assets["asset_id"], assets.get("kind", pd.Series(index=assets.index, dtype=object)),
                     strict=True))
    leads = sorted(int(lead) for lead in levels["lead"].unique())
    held_by = ({} if areas is None or area_levels is None
               else areas_of_sites(areas, assets, kinds=("zone", "district")))
    area_names = {} if area_levels is None else dict(zip(area_levels["asset_id"], area_levels["area_name"],
                                                         strict=False))
    by_area = "flood_basis" in levels and (levels["flood_basis"] == "area").any()
    digests = {}
    for manager in managers:
        own_areas = list(dict.fromkeys(a for asset_id in manager.assets for a in held_by.get(asset_id, [])))
        about = set(manager.assets) | set(own_areas)
        mine = [message for message in messages if message.asset_id in about]
        for language in languages:
            said = words(language)["digest"]

            def advice(kind, hazard: str, level: int, language=language) -> str:
                return advisories.text(kind, hazard, level, language) if advisories is not None and level >= 1 else ""

            def day(lead, language=language) -> str:
                return day_label(issue_day + dt.timedelta(days=int(lead)), language)

            def label(asset_id, language=language) -> str:
                name, kind = names.get(asset_id, asset_id), kind_words(kinds.get(asset_id), language)
                return words(language)["digest"]["site_label"].format(name=name, kind=kind) if kind else name

            alerts = [said["message_line"].format(msg_type=said["msg_types"][message.msg_type],
                                                  hazard=words(language)["hazards"][message.hazard],
                                                  headline=_headline(message, language)) for message in mine]
            sites = []
            for asset_id in manager.assets:
                rows = levels[levels["asset_id"] == asset_id].sort_values("lead")
                kind = kinds.get(asset_id)
                summary = site_alert_lines(language, rows, issue_day=issue_day,
                                           advice=lambda hazard, level, kind=kind: advice(kind, hazard, level))
                sites.append((label(asset_id), summary, [
                    (day(row.lead), f"{row.flood_chance:.0%}" if pd.notna(row.flood_chance) else "-",
                     int(row.flood_level) if pd.notna(row.flood_chance) else "-",  # "-": past the flood's leads
                     f"{row.tasmax_q50_max:.1f} °C" if pd.notna(row.tasmax_q50_max) else "-",
                     _heat_level(row, said), _door(row, said)) for row in rows.itertuples()]))
            conservation = [(label(asset_id), line) for asset_id in manager.assets
                            if (line := conservation_line(levels[levels["asset_id"] == asset_id], language,
                                                          issue_day=issue_day))]
            zones = []
            for area_id in own_areas:
                rows = area_levels[(area_levels["asset_id"] == area_id) & area_levels["flood_chance"].notna()].sort_values(
                    "lead")  # the flood leads
                zones.append((area_names[area_id], [
                    (day(row.lead), f"{row.flood_chance:.0%}" if pd.notna(row.flood_chance) else "-",
                     int(row.flood_level), advice(row.area_kind, "flood", int(row.flood_level)))
                    for row in rows.itertuples()]))
            heat_hours, heat_advice = _heat_hours(levels, manager.assets, label, day, advisories, language)
            content = {
                "w": said, "lang": language, "title": said["title"].format(
                    manager=manager.name, city=city_name, date=day_label(issue_day, language)),
                "alerts": alerts, "sites": sites, "areas": zones, "manager_id": manager.id,
                "maps": [(lead, said["map_alt"].format(day=day(lead))) for lead in leads],
                "own_maps": [f"digests/{manager.id}_map_d{lead}.png" for lead in leads],
                "city_maps": [f"map_d{lead}.png" for lead in leads],
                "flood_levels": "0-4" if by_area else "0-3", "conservation": conservation,
                "heat_hours": heat_hours, "heat_advice": heat_advice,
                "other_languages": [(other, digest_name(manager.id, other, languages))
                                    for other in languages if other != language],
            }
            digests[digest_name(manager.id, language, languages)] = (
                render("digest.txt.j2", **content), render("digest.html.j2", **content))
    return digests


def _headline(message: CapMessage, language: str) -> str:
    """The message's headline in `language`, else in its first <info>'s."""
    infos = etree.fromstring(message.xml).findall(f"{_CAP}info")
    info = next((info for info in infos if info.findtext(f"{_CAP}language") == language), infos[0])
    return info.findtext(f"{_CAP}headline") or ""


def _heat_hours(levels: pd.DataFrame, asset_ids: tuple[str, ...], label: Callable[[str], str],
                day: Callable[[int], str], advisories: Advisories | None, language: str) -> tuple[list, list]:
    """The sites' hourly WBGT windows (models.heat.hours.with_heat_windows) in `language`: per site with any,
    (site, [(day, the day's windows in words)]); and per band reached, once, ('WBGT at or above 31 °C',
    [(audience, advice)]) with `advisories`. ([], []) without windows."""
    if "wbgt_windows" not in levels:
        return [], []
    mine = levels[levels["asset_id"].isin(asset_ids) & (levels["wbgt_windows"].map(len) > 0)]
    sites = []
    for asset_id in asset_ids:
        rows = mine[mine["asset_id"] == asset_id].sort_values("lead")
        if len(rows):
            sites.append((label(asset_id),
                          [(day(row.lead), window_words(row.wbgt_windows, language)) for row in rows.itertuples()]))
    bands = sorted({(band, threshold) for windows in mine["wbgt_windows"] for band, threshold, _, _ in windows})
    advice = [] if advisories is None else [
        (words(language)["digest"]["band"].format(t=threshold),
         audience_words(advisories.audience_advice(band, language), language)) for band, threshold in bands]
    return sites, advice


def _door(row, said: dict) -> str:
    """'water above the floor (0.6 m) 4%, about 15 cm deep if it floods', or '' where unknown (models.warning.door)."""
    chance = getattr(row, "flood_above_floor_probability", float("nan"))
    if pd.isna(chance):
        return ""
    depth = getattr(row, "flood_depth_expected_cm", float("nan"))
    return (said["door_line"].format(floor=row.floor_height_m, chance=f"{chance:.0%}")
            + (said["door_depth"].format(depth=depth) if pd.notna(depth) else ""))


def _heat_level(row, said: dict) -> str:
    """'2, MET Malaysia', '1, WBGT band' or '0': a site's heat level and the rule that set it."""
    rule = {"met_level": said["met_rule"], "wbgt_band": said["wbgt_rule"]}.get(getattr(row, "heat_rule", ""), "")
    level = int(row.heat_level)
    return said["heat_level_rule"].format(level=level, rule=rule) if level and rule else str(level)
