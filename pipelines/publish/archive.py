"""The archive of a city's store as a static site: every issue date with its maps, and how past warnings fared.

Both pages live in `<city store>/archive/` and are rebuilt from the STAC catalog (pipelines.publish.stac)
after each publish, each file written atomically. Every link is relative (`../forecasts/<date>/...`) and
nothing is fetched by script, so the folder opens from a file and from any web server that serves the store.

The verification page compares each warning area's published level (warning_areas.geojson of each
issue date, lead 0; a site's flood warning is its neighbourhood's) with the city's own flood reports
(the bundle's obs/flood_events.csv), never with a demo world's truth (docs/evaluation.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from models.backtest import OUTCOMES
from models.verification import MIN_EVENTS, too_few_events
from models.warning.verification import (
    VERIFICATION_WINDOWS_DAYS,
    outcome_counts,
    reports_in_areas,
    warning_outcomes,
)
from pipelines.bundle import readers
from pipelines.publish.stac import CATALOG_NAME
from pipelines.storage import write_text_atomic
from pipelines.templating import render

ARCHIVE_DIR = "archive"
AREAS_FILE = "warning_areas.geojson"
CALENDAR_DAYS = 30  # the verification page's day-by-day table covers the last this many verified days


def _item(city_store: Path, href: str) -> dict:
    """What the archive shows of the item at `href` (relative to the catalog): its date, title,
    valid dates, staleness, and its page, maps and warning areas as links from the archive folder."""
    path = city_store / href
    item = json.loads(path.read_text())
    folder = Path("..") / path.parent.relative_to(city_store)
    assets = {asset["href"].removeprefix("./"): asset for asset in item["assets"].values()}
    properties = item["properties"]
    return {"date": properties["warisan:issue_date"], "title": properties["title"],
            "stale": properties.get("warisan:stale", ""), "item": (folder / path.name).as_posix(),
            "page": (folder / "index.html").as_posix() if "index.html" in assets else None,
            "maps": [{"lead": lead, "valid": valid, "href": (folder / f"map_d{lead}.png").as_posix()}
                     for lead, valid in enumerate(properties["warisan:valid_dates"]) if f"map_d{lead}.png" in assets],
            "alerts": sum("alert" in asset.get("roles", []) for asset in assets.values()),
            "areas": path.parent / AREAS_FILE if AREAS_FILE in assets else None}


def archive_items(city_store: Path) -> list[dict]:
    """Every issue date of `<city_store>/catalog.json`, newest first (see _item)."""
    catalog = json.loads((city_store / CATALOG_NAME).read_text())
    items = [_item(city_store, link["href"]) for link in catalog["links"] if link["rel"] == "item"]
    return sorted(items, key=lambda item: item["date"], reverse=True)


def published_warnings(items: list[dict]) -> tuple[pd.DataFrame, gpd.GeoDataFrame | None]:
    """(area_id, date, level) of each area on each issue date's own day (lead 0), and the areas
    (area_id, name, kind, polygons) of the newest date with warning areas; None without any."""
    with_areas = [item for item in items if item["areas"] is not None]
    rows = []
    for item in with_areas:
        for feature in json.loads(item["areas"].read_text())["features"]:
            properties = feature["properties"]
            rows.append({"area_id": properties["id"], "date": pd.Timestamp(properties["valid_date_d0"]),
                         "level": int(properties["level_d0"])})
    if not with_areas:
        return pd.DataFrame(columns=["area_id", "date", "level"]), None
    areas = gpd.read_file(with_areas[0]["areas"]).rename(columns={"id": "area_id"})
    return pd.DataFrame(rows), areas[["area_id", "name", "kind", "geometry"]]


def by_month(items: list[dict]) -> list[dict]:
    """`items` (newest first) grouped by the month of their issue date: `month` ('2024-12') and its `days`."""
    months: dict[str, list[dict]] = {}
    for item in items:
        months.setdefault(item["date"][:7], []).append(item)
    return [{"month": month, "days": days} for month, days in months.items()]


def _fraction(value: float) -> str | None:
    return None if np.isnan(value) else f"{value:.2f}"


def _verification(items: list[dict], bundle_dir: Path) -> dict:
    """The verification page's tables: per window and area, the outcome counts, POD and FAR; the
    last CALENDAR_DAYS verified days' outcome per area; the period verified. Only the issue dates of
    the longest window before the newest (`items` newest first) are read."""
    since = f"{pd.Timestamp(items[0]['date']) - pd.Timedelta(days=max(VERIFICATION_WINDOWS_DAYS)):%Y-%m-%d}" if items else ""
    warned, areas = published_warnings([item for item in items if item["date"] > since])
    if areas is None:
        return {"windows": [], "calendar": None, "first": None, "last": None, "observed_until": None}
    reports = readers.read_flood_events(bundle_dir)
    observed_until = pd.concat([reports["date"], readers.read_temperature_obs(bundle_dir)["date"]]).max()
    if pd.isna(observed_until):  # no observation at all yet
        return {"windows": [], "calendar": None, "first": None, "last": None, "observed_until": None}
    outcomes = warning_outcomes(warned, reports_in_areas(reports, areas), observed_until=observed_until)
    if outcomes.empty:
        return {"windows": [], "calendar": None, "first": None, "last": None,
                "observed_until": f"{observed_until:%Y-%m-%d}"}
    last = pd.Timestamp(outcomes["date"].max())
    names = areas.set_index("area_id")[["name", "kind"]]
    counts = outcome_counts(outcomes, end=last).join(names, on="area_id")
    windows = []
    for window in VERIFICATION_WINDOWS_DAYS:
        table = counts[counts["window_days"] == window]
        windows.append({"days": window, "rows": [
            {"name": row.name, "kind": row.kind, "days": int(row.days), **{k: int(getattr(row, k)) for k in OUTCOMES},
             "events": int(row.hit + row.miss), "pod": _fraction(row.pod), "far": _fraction(row.far),
             "few": bool(too_few_events(row.hit + row.miss))} for row in table.itertuples()]})
    days = sorted(outcomes["date"].unique())[-CALENDAR_DAYS:]
    grid = outcomes[outcomes["date"].isin(days)].pivot(index="area_id", columns="date", values="outcome")
    calendar = {"days": [f"{pd.Timestamp(d):%d %b}" for d in days],
                "rows": [{"name": names.loc[area, "name"], "cells": [cell if isinstance(cell, str) else "none"
                                                                    for cell in grid.loc[area, days]]}
                         for area in names.index if area in grid.index]}
    return {"windows": windows, "calendar": calendar, "first": f"{outcomes['date'].min():%Y-%m-%d}",
            "last": f"{last:%Y-%m-%d}", "observed_until": f"{observed_until:%Y-%m-%d}"}


def write_archive(city_store: Path, city_name: str, bundle_dir: Path) -> list[Path]:
    """Rewrite `<city_store>/archive/index.html` (every issue date with its maps) and
    `verification.html` (how the published warnings fared against the reports in `bundle_dir`)."""
    items = archive_items(city_store)
    folder = city_store / ARCHIVE_DIR
    common = {"city_name": city_name, "min_events": MIN_EVENTS}
    return [write_text_atomic(folder / "index.html", render("archive.html.j2", items=items, months=by_month(items),
                                                                     **common)),
            write_text_atomic(folder / "verification.html", render(
                "verification.html.j2", verification=_verification(items, bundle_dir), **common))]
