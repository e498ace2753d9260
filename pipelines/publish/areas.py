"""The forecast's warning areas as a planner's GIS reads them: GeoJSON files of the areas and of the
warning polygons, the level actions, and the areas at level 1 or above.

Both files are RFC 7946 GeoJSON: EPSG:4326 lon/lat rounded to 6 decimals (~0.1 m), outer rings
anticlockwise, holes clockwise. Properties are flat (one column per lead), so QGIS or a web map
styles them by a plain field: `warning_areas.geojson` has one feature per area (`id`, `name`,
`kind`, `issue_date`, and per lead L `valid_date_dL`, `chance_dL`, `level_dL`, `level_word_dL`);
`flood_warning_polygons.geojson` one feature per lead and cell flood level k >= 1 (`lead`,
`valid_date`, `level`, `level_word`, `area_km2`): the cells at level >= k, nested.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
import xarray as xr

from models.warning.polygons import level_polygons
from pipelines.alerts.advice import Advisories
from pipelines.publish.grid import LEVEL_WORDS, hazard_leads, valid_day
from pipelines.storage import write_text_atomic

AREAS_NAME = "warning_areas.geojson"
POLYGONS_NAME = "flood_warning_polygons.geojson"
# The warning polygons of the cell flood levels: a closing of 60 m (two 30 m cells) joins patches
# less than 120 m apart, about a street block, as a planner would draw one area around them; parts
# and holes under 0.02 km2 (2 ha, a city block or some 22 cells of 30 m) go, since the per-cell
# chance is not sharp enough a day ahead to warn a single street.
POLYGON_SMOOTH_M = 60.0
POLYGON_MIN_AREA_M2 = 20_000.0
CHANCE_DIGITS = 3  # a chance to 0.1 %
_DEGREE_DIGITS = 6
AREA_LEVELS = range(1, 5)  # the area levels with an action: 1 watch .. 4 close


def has_areas(forecast: xr.Dataset) -> bool:
    """Whether `forecast` carries warning areas (a flood model trained without them does not)."""
    return "area_flood_level" in forecast


def area_level_actions(advisories: Advisories) -> tuple[str, ...] | None:
    """The English action of area levels 1-4 from the advice table's default flood texts; None while the
    table lacks one of them (the page and files then give the level words alone)."""
    try:
        return tuple(advisories.text(None, "flood", level, "en-GB") for level in AREA_LEVELS)
    except KeyError:
        return None


def warning_areas_geojson(forecast: xr.Dataset) -> dict:
    """The warning areas (largest first, so smaller ones draw on top) as a GeoJSON FeatureCollection, with
    the properties of each flood lead."""
    order = np.argsort(-shapely.area(shapely.from_wkt(forecast["area_geometry"].values)), kind="stable")
    forecast = forecast.sel(lead=hazard_leads(forecast, "flood"))
    areas = forecast.isel(area=order)
    geometries = lonlat_geometries(gpd.GeoSeries(shapely.from_wkt(areas["area_geometry"].values), crs=forecast.rio.crs))
    chance = areas["area_flood_probability"].transpose("area", "lead").values
    level = areas["area_flood_level"].transpose("area", "lead").values
    words = LEVEL_WORDS["area_flood_level"]
    leads = [int(lead) for lead in forecast.lead.values]
    features = []
    for i, (area_id, name, kind) in enumerate(zip(areas["area_id"].values, areas["area_name"].values,
                                                  areas["area_kind"].values, strict=True)):
        properties = {"id": str(area_id), "name": str(name), "kind": str(kind),
                      "issue_date": forecast.attrs["issue_date"]}
        for j, lead in enumerate(leads):
            properties |= {f"valid_date_d{lead}": valid_day(forecast, lead).isoformat(),
                           f"chance_d{lead}": _chance(chance[i, j]), f"level_d{lead}": int(level[i, j]),
                           f"level_word_d{lead}": words[int(level[i, j])]}
        features.append({"type": "Feature", "id": str(area_id), "geometry": geometries[i],
                         "properties": properties})
    return {"type": "FeatureCollection", "features": features}


def warning_polygons_geojson(forecast: xr.Dataset) -> dict:
    """Per flood lead, the nested polygons of the cell `flood_level` (publish.grid.with_levels) at each level
    k >= 1 (models.warning.polygons.level_polygons, POLYGON_SMOOTH_M and POLYGON_MIN_AREA_M2)."""
    words = LEVEL_WORDS["flood_level"]
    features = []
    for lead in hazard_leads(forecast, "flood"):
        polygons = level_polygons(forecast["flood_level"].sel(lead=lead), crs=forecast.rio.crs,
                                  min_area_m2=POLYGON_MIN_AREA_M2, smooth_m=POLYGON_SMOOTH_M)
        day = valid_day(forecast, lead).isoformat()
        for geometry, row in zip(lonlat_geometries(polygons.geometry), polygons.itertuples(), strict=True):
            features.append({"type": "Feature", "geometry": geometry, "properties": {
                "lead": int(lead), "valid_date": day, "level": int(row.level), "level_word": words[int(row.level)],
                "area_km2": round(float(row.area_km2), 4)}})
    return {"type": "FeatureCollection", "features": features}


def write_area_files(forecast: xr.Dataset, out: Path) -> list[Path]:
    """Write flood_warning_polygons.geojson (from `forecast`'s `flood_level`) and, when it has warning
    areas, warning_areas.geojson into the folder `out`, atomically."""
    out = Path(out)
    paths = [write_text_atomic(out / POLYGONS_NAME, json.dumps(warning_polygons_geojson(forecast)))]
    if has_areas(forecast):
        paths.insert(0, write_text_atomic(out / AREAS_NAME, json.dumps(warning_areas_geojson(forecast))))
    return paths


def areas_on_warning(forecast: xr.Dataset) -> list[dict]:
    """The areas at level 1 or above, per flood lead: lead, valid_date, id, name, kind, chance, level and its
    word; by lead, then level and chance, highest first. Empty without warning areas."""
    if not has_areas(forecast):
        return []
    words = LEVEL_WORDS["area_flood_level"]
    rows = []
    for lead in hazard_leads(forecast, "flood"):
        at = forecast.sel(lead=lead)
        for area_id, name, kind, chance, level in zip(at["area_id"].values, at["area_name"].values,
                                                      at["area_kind"].values, at["area_flood_probability"].values,
                                                      at["area_flood_level"].values, strict=True):
            if level >= 1:
                rows.append({"lead": int(lead), "valid_date": valid_day(forecast, lead).isoformat(),
                             "id": str(area_id), "name": str(name), "kind": str(kind), "chance": _chance(chance),
                             "level": int(level), "level_word": words[int(level)]})
    return sorted(rows, key=lambda r: (r["lead"], -r["level"], -(r["chance"] or 0.0)))


def _chance(value) -> float | None:
    value = float(value)
    return round(value, CHANCE_DIGITS) if np.isfinite(value) else None


def lonlat_geometries(geometries: gpd.GeoSeries, digits: int = _DEGREE_DIGITS) -> list[dict]:
    """`geometries` as RFC 7946 GeoJSON geometries: lon/lat snapped to 10^-`digits` degree (kept valid;
    6: 0.1 m, 5: 1 m), outer rings anticlockwise."""
    wgs84 = geometries.to_crs("EPSG:4326").to_numpy()
    snapped = shapely.set_precision(wgs84, 10.0 ** -digits)
    clean = shapely.transform(snapped, lambda xy: np.round(xy, digits))  # on the grid: drops float noise
    return [shapely.geometry.mapping(g) for g in shapely.orient_polygons(clean)]
