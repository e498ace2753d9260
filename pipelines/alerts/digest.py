"""A digest per issue date for each heritage manager: their sites' levels by lead day, in text and HTML.

Both come from templates: pipelines/templates/digest.txt.j2 and digest.html.j2 (autoescaped).
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
from pipelines.alerts.text import audience_words, conservation_line, day_label, window_words
from pipelines.config import ManagerConfig
from pipelines.templating import render

_CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


def manager_digests(
    levels: pd.DataFrame, assets: pd.DataFrame, messages: list[CapMessage], managers: tuple[ManagerConfig, ...], *,
    issue_day: dt.date, city_name: str, area_levels: pd.DataFrame | None = None,
    areas: gpd.GeoDataFrame | None = None, advisories: Advisories | None = None,
    languages: tuple[str, ...] = ("en-GB",),
) -> dict[str, tuple[str, str]]:
    """Per manager id: (plain text, HTML) of the day's digest.

    Lists the run's messages about their assets and the warning areas holding them, then each
    asset's flood chance (its neighbourhood's where the forecast has warning areas) and tasmax q50
    with their alert levels by lead day, and where known the chance that water rises above the
    site's floor with the expected depth if it floods (models.warning.door), then the heritage zones and districts holding their sites
    (`area_levels`, models.assets.area_alert_levels, with their outlines in `areas`): chance and
    level by lead day. With `advisories`, each flood level comes with its action (en-GB). Sites with
    hourly WBGT windows (`wbgt_windows`, models.heat.hours) get their hours of heat stress by day and,
    with `advisories`, the advice per audience for each band reached, once. Last,
    the day's maps cropped to their sites (<manager id>_map_d<lead>.png beside the digest, drawn
    when the grids are published), each linking to the whole city's map one folder up. An asset
    not in `levels` is listed as without a forecast. Where `levels` has the sites' conservation climate
    (pipelines.forecast.conservation), each site's mould risk and drying line follows, in each of `languages`.
    """
    names = dict(zip(assets["asset_id"], assets["name"], strict=True))
    kinds = dict(zip(assets["asset_id"], assets.get("kind", pd.Series(index=assets.index, dtype=object)),
                     strict=True))
    leads = sorted(int(lead) for lead in levels["lead"].unique())
    held_by = ({} if areas is None or area_levels is None
               else areas_of_sites(areas, assets, kinds=("zone", "district")))
    area_names = {} if area_levels is None else dict(zip(area_levels["asset_id"], area_levels["area_name"],
                                                         strict=False))

    def action(kind, level: int) -> str:
        return advisories.text(kind, "flood", level, "en-GB") if advisories is not None and level >= 1 else ""

    def label(asset_id) -> str:
        name, kind = names.get(asset_id, asset_id), kinds.get(asset_id)
        return f"{name} ({kind})" if kind else name

    def day(lead) -> str:
        return day_label(issue_day + dt.timedelta(days=int(lead)), "en-GB")

    digests = {}
    for manager in managers:
        own_areas = list(dict.fromkeys(a for asset_id in manager.assets for a in held_by.get(asset_id, [])))
        about = set(manager.assets) | set(own_areas)
        alerts = [(message.msg_type, message.hazard, names.get(message.asset_id) or area_names.get(message.asset_id)
                   or message.asset_id, etree.fromstring(message.xml).findtext(f"{_CAP}info/{_CAP}headline"))
                  for message in messages if message.asset_id in about]
        sites = []
        for asset_id in manager.assets:
            rows = levels[levels["asset_id"] == asset_id].sort_values("lead")
            kind = kinds.get(asset_id)
            sites.append((label(asset_id), [
                (day(row.lead), f"{row.flood_chance:.0%}" if pd.notna(row.flood_chance) else "-",
                 int(row.flood_level), f"{row.tasmax_q50_max:.1f} °C" if pd.notna(row.tasmax_q50_max) else "-",
                 _heat_level(row), action(kind, int(row.flood_level)), _door(row))
                for row in rows.itertuples()]))
        conservation = []  # the sites' mould risk and drying (pipelines.forecast.conservation)
        for asset_id in manager.assets:
            rows = levels[levels["asset_id"] == asset_id]
            lines = [line for language in languages if (line := conservation_line(rows, language, issue_day=issue_day))]
            if lines:
                conservation.append((label(asset_id), lines))
        zones = []
        for area_id in own_areas:
            rows = area_levels[area_levels["asset_id"] == area_id].sort_values("lead")
            zones.append((area_names[area_id], [
                (day(row.lead), f"{row.flood_chance:.0%}" if pd.notna(row.flood_chance) else "-", int(row.flood_level),
                 action(row.area_kind, int(row.flood_level))) for row in rows.itertuples()]))
        by_area = "flood_basis" in levels and (levels["flood_basis"] == "area").any()
        content = {"title": f"Warisan digest for {manager.name}: {city_name}, forecast issued {issue_day.isoformat()}",
                   "alerts": alerts, "sites": sites, "areas": zones, "leads": leads, "manager_id": manager.id,
                   "flood_levels": "0-4" if by_area else "0-3", "conservation": conservation,
                   **dict(zip(("heat_hours", "heat_advice"),
                              _heat_hours(levels, manager.assets, names, kinds, day, advisories), strict=True))}
        digests[manager.id] = (render("digest.txt.j2", **content), render("digest.html.j2", **content))
    return digests


def _heat_hours(levels: pd.DataFrame, asset_ids: tuple[str, ...], names: dict, kinds: dict,
                day: Callable[[int], str], advisories: Advisories | None) -> tuple[list, list]:
    """The sites' hourly WBGT windows (models.heat.hours.with_heat_windows) in en-GB: per site with any, (site,
    [(day, the day's windows in words)]); and per band reached, once, ('WBGT at or above 31 °C', [(audience,
    advice)]) with `advisories`. ([], []) without windows."""
    if "wbgt_windows" not in levels:
        return [], []
    mine = levels[levels["asset_id"].isin(asset_ids) & (levels["wbgt_windows"].map(len) > 0)]
    sites = []
    for asset_id in asset_ids:
        rows = mine[mine["asset_id"] == asset_id].sort_values("lead")
        if len(rows):
            name, kind = names.get(asset_id, asset_id), kinds.get(asset_id)
            sites.append((f"{name} ({kind})" if kind else name,
                          [(day(row.lead), window_words(row.wbgt_windows, "en-GB")) for row in rows.itertuples()]))
    bands = sorted({(band, threshold) for windows in mine["wbgt_windows"] for band, threshold, _, _ in windows})
    advice = [] if advisories is None else [
        (f"WBGT at or above {threshold:g} °C", audience_words(advisories.audience_advice(band, "en-GB"), "en-GB"))
        for band, threshold in bands]
    return sites, advice


def _door(row) -> str:
    """'water above the floor (0.6 m) 4%, about 15 cm deep if it floods', or '' where unknown (models.warning.door)."""
    chance = getattr(row, "flood_above_floor_probability", float("nan"))
    if pd.isna(chance):
        return ""
    depth = getattr(row, "flood_depth_expected_cm", float("nan"))
    return (f"water above the floor ({row.floor_height_m:.1f} m) {chance:.0%}"
            + (f", about {depth:.0f} cm deep if it floods" if pd.notna(depth) else ""))


def _heat_level(row) -> str:
    """'2 (MET Malaysia)', '1 (WBGT band)' or '0': a site's heat level and the rule that set it."""
    rule = {"met_level": "MET Malaysia", "wbgt_band": "WBGT band"}.get(getattr(row, "heat_rule", ""), "")
    level = int(row.heat_level)
    return f"{level} ({rule})" if level and rule else str(level)
