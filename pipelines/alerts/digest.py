"""A digest per issue date for each heritage manager: their sites' levels by lead day, in text and HTML.

Both come from templates: pipelines/templates/digest.txt.j2 and digest.html.j2 (autoescaped).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from lxml import etree

from pipelines.alerts.state import CapMessage
from pipelines.alerts.text import day_label
from pipelines.config import ManagerConfig
from pipelines.templating import render

_CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


def manager_digests(
    levels: pd.DataFrame, assets: pd.DataFrame, messages: list[CapMessage], managers: tuple[ManagerConfig, ...], *,
    issue_day: dt.date, city_name: str,
) -> dict[str, tuple[str, str]]:
    """Per manager id: (plain text, HTML) of the day's digest.

    Lists the run's messages about their assets, then each asset's flood chance and tasmax q50
    with their alert levels by lead day, and the day's maps cropped to their sites
    (<manager id>_map_d<lead>.png beside the digest, drawn when the grids are published), each
    linking to the whole city's map one folder up. An asset not in `levels` is listed as without a forecast.
    """
    names = dict(zip(assets["asset_id"], assets["name"], strict=True))
    kinds = dict(zip(assets["asset_id"], assets.get("kind", pd.Series(index=assets.index, dtype=object)),
                     strict=True))
    leads = sorted(int(lead) for lead in levels["lead"].unique())
    digests = {}
    for manager in managers:
        own = [message for message in messages if message.asset_id in manager.assets]
        alerts = [(message.msg_type, message.hazard, names.get(message.asset_id, message.asset_id),
                   etree.fromstring(message.xml).findtext(f"{_CAP}info/{_CAP}headline")) for message in own]
        sites = []
        for asset_id in manager.assets:
            rows = levels[levels["asset_id"] == asset_id].sort_values("lead")
            name, kind = names.get(asset_id, asset_id), kinds.get(asset_id)
            sites.append((f"{name} ({kind})" if kind else name, [
                (day_label(issue_day + dt.timedelta(days=int(row.lead)), "en-GB"),
                 f"{row.flood_probability_max:.0%}" if pd.notna(row.flood_probability_max) else "-",
                 int(row.flood_level),
                 f"{row.tasmax_q50_max:.1f} °C" if pd.notna(row.tasmax_q50_max) else "-", _heat_level(row))
                for row in rows.itertuples()]))
        content = {"title": f"Warisan digest for {manager.name}: {city_name}, forecast issued {issue_day.isoformat()}",
                   "alerts": alerts, "sites": sites, "leads": leads, "manager_id": manager.id}
        digests[manager.id] = (render("digest.txt.j2", **content), render("digest.html.j2", **content))
    return digests


def _heat_level(row) -> str:
    """'2 (MET Malaysia)', '1 (WBGT band)' or '0': a site's heat level and the rule that set it."""
    rule = {"met_level": "MET Malaysia", "wbgt_band": "WBGT band"}.get(getattr(row, "heat_rule", ""), "")
    level = int(row.heat_level)
    return f"{level} ({rule})" if level and rule else str(level)
