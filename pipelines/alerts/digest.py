"""A digest per issue date for each heritage manager: their sites' levels by lead day, in text and HTML."""

from __future__ import annotations

import datetime as dt
import html

import pandas as pd
from lxml import etree

from pipelines.alerts.state import CapMessage
from pipelines.alerts.text import day_label
from pipelines.config import ManagerConfig

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
            sites.append((names.get(asset_id, asset_id), kinds.get(asset_id), [
                (day_label(issue_day + dt.timedelta(days=int(row.lead)), "en-GB"),
                 f"{row.flood_probability_max:.0%}" if pd.notna(row.flood_probability_max) else "-",
                 int(row.flood_level),
                 f"{row.tasmax_q50_max:.1f} °C" if pd.notna(row.tasmax_q50_max) else "-", int(row.heat_level))
                for row in rows.itertuples()]))
        title = f"Warisan digest for {manager.name}: {city_name}, forecast issued {issue_day.isoformat()}"
        digests[manager.id] = (_text(title, alerts, sites, leads, manager.id),
                               _html(title, alerts, sites, leads, manager.id))
    return digests


def _text(title: str, alerts: list, sites: list, leads: list[int], manager_id: str) -> str:
    lines = [title, "", "Messages in this forecast:"]
    lines += [f"  {msg_type.upper():<7} {hazard:<5} {name}: {headline}" for msg_type, hazard, name, headline in alerts]
    lines += ["  none"] if not alerts else []
    lines += ["", "Your sites by day (flood chance, level 0-3; expected max temperature, level 0-3):"]
    for name, kind, days in sites:
        lines.append(f"  {name}" + (f" ({kind})" if kind else ""))
        lines += [f"    {day}: flood {flood} (level {fl}); heat {heat} (level {hl})"
                  for day, flood, fl, heat, hl in days] or ["    no forecast for this site (outside the grid?)"]
    lines += ["", "Maps of your sites: " + ", ".join(f"digests/{manager_id}_map_d{lead}.png" for lead in leads)
              + "; of the whole city: " + ", ".join(f"map_d{lead}.png" for lead in leads)
              + " (in this forecast's folder).", ""]
    return "\n".join(lines)


def _html(title: str, alerts: list, sites: list, leads: list[int], manager_id: str) -> str:
    esc = html.escape
    head = f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(title)}</title></head>"
    parts = [head, f"<body><h1>{esc(title)}</h1>", "<h2>Messages in this forecast</h2>"]
    parts += (["<ul>"] + [f"<li><b>{esc(t)}</b> {esc(h)} at {esc(n)}: {esc(line or '')}</li>"
                          for t, h, n, line in alerts] + ["</ul>"]) if alerts else ["<p>None.</p>"]
    parts.append("<h2>Your sites by day</h2><table><tr><th>site</th><th>day</th><th>flood chance</th>"
                 "<th>flood level</th><th>expected max</th><th>heat level</th></tr>")
    for name, kind, days in sites:
        label = esc(name) + (f" ({esc(kind)})" if kind else "")
        parts += [f"<tr><td>{label}</td><td>{esc(day)}</td><td>{esc(flood)}</td><td>{fl}</td><td>{esc(heat)}</td>"
                  f"<td>{hl}</td></tr>" for day, flood, fl, heat, hl in days] or [
            f"<tr><td>{label}</td><td colspan=\"5\">no forecast for this site</td></tr>"]
    parts.append("</table><h2>Maps</h2><p>")
    parts += [f"<a href=\"../map_d{lead}.png\"><img src=\"{manager_id}_map_d{lead}.png\" "
              f"alt=\"risk map of your sites, lead day {lead} (click for the whole city)\" width=\"480\"></a>"
              for lead in leads]
    parts.append("</p></body></html>\n")
    return "\n".join(parts)
