"""The interactive page of one issue date: index.html with every lead and hazard, offline.

Leaflet (pipelines/static/leaflet, BSD-2) and all data are inlined, so the page renders from
a file or a plain web server with no network. Grid layers are PNG overlays reprojected to
EPSG:4326; the heritage zone and the assets are GeoJSON; the alerts come from the date's
CAP messages. A Content-Security-Policy <meta> allows only the inlined scripts and styles (by
hash), data: images and the street tiles; every text from the data reaches the DOM as text.
Over the grid layers lies the bundle's own basemap, as on the briefing PNG: buildings (one
translucent image, BUILDING_PIXEL_M to a pixel: its size follows the extent, not the count),
waterways, the heritage zone, district outlines, and place names (districts, zones, sites) placed
by the script where they overlap no other; sites held below the map's flood level by a raised floor
or their own threshold are ringed. Temperatures share one colour scale (maps.TASMAX_SCALE_DEGC) on
every lead and day. The alerts are listed by level, then lead; a click opens the alert's lead,
layer and site (or area).
The forecast's warning areas (when it has them) are the first layer: polygons coloured by level
with a popup each, and the list of areas at level 1 or above, beside the chance of water near each
cell if the city floods (`flood_where_first`). A site's popup gives the day's hours of heat stress (its
hourly WBGT windows, models.heat.hours) and ends with its conservation climate
(mould risk and drying, pipelines.forecast.conservation) where the levels carry it.
Once drawn, the page marks `<body>` with `data-ready`, `data-overlays`, `data-assets`,
`data-popups`, `data-alerts`, `data-areas`, `data-areas-listed`, `data-waterways`, `data-buildings`,
`data-districts`, `data-labels`, `data-label-overlaps` and `data-held` (counts), which tests read
from the DOM.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from importlib.resources import files
from itertools import pairwise
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr
from lxml import etree
from matplotlib import colormaps
from matplotlib.colors import BoundaryNorm, ListedColormap, Normalize
from PIL import Image
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.transform import from_bounds

from models.assets import FLOOR_STEP_M
from pipelines.alerts.text import conservation_line, kind_words, window_words
from pipelines.publish.areas import has_areas, lonlat_geometries, warning_areas_geojson
from pipelines.publish.grid import LEVEL_COLOURS, LEVEL_WORDS, hazard_leads, level_legend, valid_day
from pipelines.publish.maps import FLOOD_CLASSES, TASMAX_SCALE_DEGC, in_crs
from pipelines.storage import write_text_atomic
from pipelines.templating import render

_CAP = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
ASSET_DRIVERS = ("rain_24h_mm", "rain_max_3h_mm", "rain_antecedent_72h_mm", "sea_level_max_m", "hand_m")
_LAYERS = (  # variable, title, legend title
    ("flood_probability", "Chance of flooding", "Chance of flooding during the day"),
    ("flood_level", "Flood level", "Flood level"),
    ("flood_where_first", "Where water gathers first", "If the city floods that day: chance water reaches here"),
    ("tasmax_q50", "Max temperature", "Expected highest temperature (°C, median)"),
    ("heat_level", "Heat level", "Heat level (MET Malaysia, from the median daily maximum)"),
    ("wbgt_band", "WBGT band", "Heat stress band (Singapore NEA, from WBGT in the midday sun)"),
)
WHERE_FIRST_CLASSES = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)  # a share of the city's floods: plain steps
_WHERE_FIRST_NOTE = ("Of the days the city floods somewhere, the share on which water comes near here: where it "
                     "gathers first. Whether the city floods at all is the warning areas' chance. "
                     "Blank: the city is given no chance that day.")
_CONSERVATION_LANGUAGES = ("en-GB", "ms-MY", "zh-CN")  # a site's mould and drying line: English, the rest folded
BUILDING_PIXEL_M = 3.0  # the buildings' image: a pixel is about this wide (a lane stays open)
BUILDING_RGBA = (38, 38, 38, 64)  # dark and translucent, as on the PNG maps: the risk colour shows through
WATERWAY_SIMPLIFY_M = 3.0  # waterways keep their course to this distance
_BASEMAP_DIGITS = 5  # lon/lat decimals of the basemap's vertices: about 1 m
_ZONE_WORDS = {"core": "Heritage core zone", "buffer": "Heritage buffer zone"}
_AREA_KIND_WORDS = {"city": "the whole city", "zone": "heritage zone", "district": "district",
                    "site": "a heritage site's neighbourhood"}


def write_page(
    forecast: xr.Dataset, path: Path, *, assets: gpd.GeoDataFrame, zone: gpd.GeoDataFrame,
    levels: pd.DataFrame | None, alerts_dir: Path | None = None, area_actions: tuple[str, ...] | None = None,
    buildings: gpd.GeoDataFrame | None = None, waterways: gpd.GeoDataFrame | None = None,
) -> Path:
    """Write the interactive map page of `forecast` (with levels, see publish.with_levels) to `path`.

    `levels` is models.assets.asset_alert_levels' table (None: sites without alert levels);
    `alerts_dir` holds the date's `*.cap.xml` (English text preferred), listed beside the map
    and quoted in the popups of their sites. `area_actions` are what to do at warning-area levels
    1-4 (publish.areas.area_level_actions; None: the level words alone). `buildings` (polygons)
    and `waterways` (lines, column `kind`) are the bundle's layers, drawn under the grid (None: left out).
    """
    layers = [name for name, *_ in _LAYERS if name in forecast]
    geographic = forecast[layers].rio.reproject("EPSG:4326", resampling=Resampling.nearest, nodata=np.nan)
    west, south, east, north = geographic.rio.bounds()
    alerts = sorted(read_cap_alerts(alerts_dir) if alerts_dir is not None else [], key=_alert_order)
    extent_m = [forecast.sizes[d] * abs(float(forecast[d][1] - forecast[d][0])) for d in ("x", "y")]
    districts = _districts(forecast)
    data = {
        "title": f"{forecast.attrs['city_name']}: flood and heat outlook issued {forecast.attrs['issue_date']}",
        "bounds": [[south, west], [north, east]],
        "leads": [{"lead": int(lead), "day": f"{valid_day(forecast, lead):%a %d %b}"} for lead in forecast.lead.values],
        "flood_leads": hazard_leads(forecast, "flood"),
        "layers": [_layer(geographic[name], forecast, title, legend) for name, title, legend in _LAYERS
                   if name in layers],
        "zone": json.loads(zone.to_crs("EPSG:4326")[["zone", "geometry"]].to_json()),
        "buildings": _buildings_image(buildings, (west, south, east, north), *extent_m),
        "waterways": _waterways(waterways, forecast.rio.crs),
        "districts": _district_outlines(districts),
        "places": _place_names(zone, districts),
        "assets": _assets_geojson(forecast, assets, levels, alerts),
        "alerts": alerts,
        "areas": warning_areas_geojson(forecast) if has_areas(forecast) else None,
        "area_levels": _area_levels(forecast, area_actions) if has_areas(forecast) else [],
        "area_kinds": _AREA_KIND_WORDS,
        "footer": (f"Flood model {forecast.attrs['flood_model_version']} · heat model "
                   f"{forecast.attrs['heat_model_version']} · Warisan"
                   + (" · STALE: " + forecast.attrs["stale"] if forecast.attrs.get("stale") else "")),
    }
    return write_text_atomic(Path(path), _html(data))


def read_cap_alerts(alerts_dir: Path) -> list[dict]:
    """One dict per CAP file in `alerts_dir`: identifier, msgType, asset_id (or area_id), hazard, level
    and lead (its `alert_level` and `onset_lead_days`; None without) and the English (else first)
    info's event, severity, headline, description, instruction, areaDesc."""
    alerts = []
    for path in sorted(Path(alerts_dir).glob("*.cap.xml")):
        root = etree.parse(str(path)).getroot()
        infos = root.findall("cap:info", _CAP)
        info = next((i for i in infos if i.findtext("cap:language", "", _CAP).startswith("en")), infos[0])

        def pair(parent, tag: str, name: str) -> str | None:
            for element in parent.iterfind(f".//cap:{tag}", _CAP):
                if element.findtext("cap:valueName", None, _CAP) == name:
                    return element.findtext("cap:value", None, _CAP)
            return None

        level, lead = (pair(info, "parameter", name) for name in ("alert_level", "onset_lead_days"))
        alerts.append({
            "file": f"alerts/{path.name}", "identifier": root.findtext("cap:identifier", "", _CAP),
            "msgType": root.findtext("cap:msgType", "", _CAP),
            "asset_id": pair(info, "geocode", "asset_id"), "area_id": pair(info, "geocode", "warisan_area"),
            "hazard": pair(info, "eventCode", "warisan_hazard"),
            "level": None if level is None else int(level), "lead": None if lead is None else int(lead),
            **{key: info.findtext(f".//cap:{key}", "", _CAP) for key in
               ("event", "severity", "headline", "description", "instruction", "areaDesc")},
        })
    return alerts


def _alert_order(alert: dict) -> tuple:
    """Highest level first, then the soonest lead, floods before heat, the city and its areas before sites."""
    return (-(alert["level"] or 0), np.inf if alert["lead"] is None else alert["lead"], alert["hazard"] != "flood",
            alert["area_id"] is None, alert["asset_id"] or alert["area_id"] or "")


def _layer(geographic: xr.DataArray, forecast: xr.Dataset, title: str, legend: str) -> dict:
    """A layer's PNG per lead it has values at (data URIs) and its legend entries (colour, words)."""
    name = str(geographic.name)
    if name in LEVEL_WORDS:
        colours = LEVEL_COLOURS[name]
        cmap, norm = ListedColormap(colours), BoundaryNorm(np.arange(-0.5, len(colours)), len(colours))
        entries = list(zip(colours, level_legend(forecast[name]), strict=True))
    elif name in ("flood_probability", "flood_where_first"):
        cmap, classes = ((colormaps["Blues"], FLOOD_CLASSES) if name == "flood_probability"
                         else (colormaps["Purples"], WHERE_FIRST_CLASSES))
        norm = BoundaryNorm(classes, cmap.N)
        entries = [(_hex(cmap(norm((lo + hi) / 2))), f"{lo:.1%} – {hi:.1%}".replace(".0%", "%"))
                   for lo, hi in pairwise(classes)]
    else:
        cmap, (low, high) = colormaps["Reds"], TASMAX_SCALE_DEGC
        norm = Normalize(low, high)
        entries = [(_hex(cmap(norm(t))), f"{t:g} °C") for t in np.arange(low, high + 1, 2)]
    images = {}
    for lead in geographic.lead.values:  # a hazard's layers have no image past its leads (NaN there)
        values = geographic.sel(lead=lead).transpose("y", "x").values
        if not np.isfinite(values).any():
            continue
        rgba = cmap(norm(np.nan_to_num(values)), bytes=True)
        rgba[..., 3] = np.where(np.isfinite(values), 255, 0)  # sea and beyond the grid: transparent
        images[str(int(lead))] = "data:image/png;base64," + base64.b64encode(_png(rgba)).decode()
    note = _WHERE_FIRST_NOTE if name == "flood_where_first" else ""
    return {"key": name, "title": title, "legend": legend, "entries": entries, "images": images, "note": note}


def _area_levels(forecast: xr.Dataset, actions: tuple[str, ...] | None) -> list[dict]:
    """Warning-area levels 0-4: colour, word, where the level starts (its chance, or that the
    validation period never supported it) and its action (None without `actions`)."""
    starts = [float(v) for v in np.atleast_1d(forecast["area_flood_level"].attrs.get("level_thresholds", []))]
    out = []
    for k, (word, colour) in enumerate(zip(LEVEL_WORDS["area_flood_level"], LEVEL_COLOURS["area_flood_level"],
                                           strict=True)):
        start = starts[k - 1] if 0 < k <= len(starts) else np.nan
        out.append({"level": k, "word": word, "colour": colour,
                    "from": (f"from {round(start * 100, 1):g}% chance" if np.isfinite(start)
                             else "not issued" if k else ""),
                    "action": actions[k - 1] if actions is not None and k else None})
    return out


def _png(rgba: np.ndarray) -> bytes:
    """PNG of an (y, x, 4) uint8 image: palette-indexed, a byte a pixel, when it has at most 256
    colours (a colour map's layer does, but for a full 256-colour map with transparency)."""
    codes, colours = pd.factorize(rgba.view(np.uint32).ravel())
    if len(colours) > 256:
        image = Image.fromarray(rgba, "RGBA")
    else:
        palette = colours.view(np.uint8).reshape(-1, 4)
        image = Image.fromarray(codes.astype(np.uint8).reshape(rgba.shape[:2]), "P")
        image.putpalette(palette[:, :3].tobytes(), "RGB")
        image.info["transparency"] = palette[:, 3].tobytes()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _assets_geojson(forecast: xr.Dataset, assets: gpd.GeoDataFrame, levels: pd.DataFrame | None,
                    alerts: list[dict]) -> dict:
    """Assets as GeoJSON points: per lead, their levels, values and the drivers at their cell.

    The drivers are read for every asset and lead at once (None off the grid); the levels are
    looked up by (asset_id, lead), so the cost grows with the number of assets, not its square.
    """
    local = assets.to_crs(forecast.rio.crs)
    points = local.geometry.representative_point()
    advisories = {(a["asset_id"], a["hazard"]): a for a in alerts}
    leads = forecast.lead.values
    inside = ((points.x >= float(forecast.x.min())) & (points.x <= float(forecast.x.max()))
              & (points.y >= float(forecast.y.min())) & (points.y <= float(forecast.y.max()))).to_numpy()
    at = forecast[[n for n in ASSET_DRIVERS if n in forecast]].assign_coords(x=forecast.x, y=forecast.y).sel(
        x=xr.DataArray(points.x.to_numpy(), dims="asset"), y=xr.DataArray(points.y.to_numpy(), dims="asset"),
        method="nearest")
    drivers = {name: np.where(inside[:, None], da.broadcast_like(at.lead).transpose("asset", "lead").values, np.nan)
               for name, da in at.data_vars.items()}  # (asset, lead)
    rows = {} if levels is None else {(r["asset_id"], r["lead"]): r for r in levels.to_dict("records")}
    numbers = [n for n in ("flood_probability_max", "tasmax_q50_max", "tasmax_q90_max", "flood_level", "heat_level",
                           "flood_above_floor_probability", "flood_depth_expected_cm", "floor_height_m",
                           "flood_chance", "flood_threshold", "own_flood_threshold", "flood_level_drop",
                           "heat_threshold")
               if levels is not None and n in levels]

    def entry(i: int, asset_id, j: int) -> dict:
        row = rows.get((asset_id, leads[j]))
        out = {} if row is None else {name: _number(row[name]) for name in numbers} | {
            f"{h}_alert": bool(row[f"{h}_alert"]) for h in ("flood", "heat")}
        if row is not None and "flood_basis" in row:  # the site's level: its neighbourhood's, or its cell's
            out["flood_basis"] = str(row["flood_basis"])
        if row is not None and row.get("heat_rule"):  # the rule that sets its heat alert: met_level or wbgt_band
            out["heat_rule"] = str(row["heat_rule"])
        if row is not None and "floor_height_m" in row:  # a raised floor raises a threshold on cells
            out["floor_raises_threshold"] = bool(row["floor_height_m"] >= FLOOR_STEP_M)
        if row is not None and row.get("wbgt_windows"):  # the day's hours of heat stress (models.heat.hours)
            out["heat_hours"] = window_words(row["wbgt_windows"], "en-GB")
        return out | {"drivers": {name: _number(values[i, j]) for name, values in drivers.items()}}

    conservation = {} if levels is None else _conservation_lines(levels, dt.date.fromisoformat(forecast.attrs["issue_date"]))
    names = local["name"] if "name" in local else local["asset_id"]
    kinds = local["kind"] if "kind" in local else pd.Series("", index=local.index)
    wgs84 = points.to_crs("EPSG:4326")
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(point.x, 6), round(point.y, 6)]},
         "properties": {
             "asset_id": str(asset_id), "name": str(name), "kind": kind_words(kind, "en-GB"),
             "leads": {str(int(lead)): entry(i, asset_id, j) for j, lead in enumerate(leads)},
             "advisories": {h: advisories[(asset_id, h)] for h in ("flood", "heat") if (asset_id, h) in advisories},
             "conservation": conservation.get(asset_id, {}),
         }}
        for i, (asset_id, name, kind, point) in enumerate(zip(local["asset_id"], names, kinds, wgs84, strict=True))
    ]}


def _conservation_lines(levels: pd.DataFrame, issue_day: dt.date) -> dict[str, dict[str, str]]:
    """Per asset_id, its mould risk and drying line per language (pipelines.alerts.text.conservation_line);
    sites without a conservation climate are left out."""
    out = {}
    for asset_id, rows in levels.groupby("asset_id", sort=False):
        lines = {language: conservation_line(rows, language, issue_day=issue_day)
                 for language in _CONSERVATION_LANGUAGES}
        if all(lines.values()):
            out[asset_id] = lines
    return out


def _buildings_image(buildings: gpd.GeoDataFrame | None, bounds: tuple[float, float, float, float],
                     width_m: float, height_m: float) -> str | None:
    """The footprints burnt into a translucent PNG (data URI) over `bounds` (west, south, east, north,
    degrees), BUILDING_PIXEL_M to a pixel over the grid's `width_m` x `height_m`: its size grows with
    the city's extent, not with its number of buildings."""
    if buildings is None or buildings.empty:
        return None
    width, height = (max(1, round(extent / BUILDING_PIXEL_M)) for extent in (width_m, height_m))
    mask = rasterize(buildings.to_crs("EPSG:4326").geometry, out_shape=(height, width),
                     transform=from_bounds(*bounds, width, height), dtype="uint8").astype(bool)
    rgba = np.where(mask[..., None], np.array(BUILDING_RGBA, np.uint8), np.zeros(4, np.uint8))
    return "data:image/png;base64," + base64.b64encode(_png(rgba)).decode()


def _waterways(waterways: gpd.GeoDataFrame | None, crs) -> dict | None:
    """The waterways as GeoJSON lines, simplified (WATERWAY_SIMPLIFY_M) in the grid's `crs` (metres),
    with their `kind` (river, canal, drain; without it all are rivers)."""
    if waterways is None or waterways.empty:
        return None
    kinds = waterways["kind"].astype(str) if "kind" in waterways else pd.Series("river", index=waterways.index)
    lines = in_crs(waterways, crs).geometry.simplify(WATERWAY_SIMPLIFY_M)
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"kind": kind}, "geometry": geometry}
        for kind, geometry in zip(kinds, lonlat_geometries(lines, _BASEMAP_DIGITS), strict=True)]}


def _districts(forecast: xr.Dataset) -> gpd.GeoDataFrame:
    """The forecast's district warning areas (clipped to the grid): `name` and geometry in its CRS; none
    without warning areas."""
    if not has_areas(forecast):
        return gpd.GeoDataFrame({"name": []}, geometry=[], crs=forecast.rio.crs)
    chosen = forecast["area_kind"].values == "district"
    return gpd.GeoDataFrame({"name": forecast["area_name"].values[chosen].astype(str)},
                            geometry=shapely.from_wkt(forecast["area_geometry"].values[chosen]), crs=forecast.rio.crs)


def _district_outlines(districts: gpd.GeoDataFrame) -> dict:
    """`districts` (_districts) as GeoJSON outlines with their names."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": name}, "geometry": geometry}
        for name, geometry in zip(districts["name"], lonlat_geometries(districts.geometry, _BASEMAP_DIGITS),
                                  strict=True)]}


def _place_names(zone: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> list[dict]:
    """The names of the `districts` (_districts) and heritage zones, each with its kind and a point inside
    it (`latlng`), districts first: they are the larger."""
    names = [*districts["name"], *(_ZONE_WORDS.get(kind, f"Heritage {kind} zone") for kind in zone["zone"])]
    kinds = ["district"] * len(districts) + ["zone"] * len(zone)
    shapes = gpd.GeoSeries([*districts.geometry, *in_crs(zone, districts.crs).geometry], crs=districts.crs)
    points = shapes.representative_point().to_crs("EPSG:4326")
    return [{"name": name, "kind": kind, "latlng": [round(point.y, 6), round(point.x, 6)]}
            for name, kind, point in zip(names, kinds, points, strict=True)]


def _number(value) -> float | None:
    value = float(value)
    return round(value, 4) if np.isfinite(value) else None


def _hex(rgba) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgba[:3])


def _html(data: dict) -> str:
    """index.html from pipelines/templates/page.html.j2: `data` as JSON, Leaflet and our script and styles inlined."""
    static = files("pipelines") / "static"
    return render("page.html.j2", data=data,
                  leaflet_js=(static / "leaflet" / "leaflet.js").read_text(encoding="utf-8"),
                  leaflet_css=(static / "leaflet" / "leaflet.css").read_text(encoding="utf-8"),
                  page_js=(static / "page.js").read_text(encoding="utf-8"),
                  page_css=(static / "page.css").read_text(encoding="utf-8"))
