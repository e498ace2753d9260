"""OpenStreetMap layers through osmnx: buildings, waterways, sea (from the coastline), heritage.

Each layer is one Overpass query of `osmnx.features_from_bbox` against a configurable Overpass
URL; every feature keeps its OSM id (`osm_id`, e.g. "way/123"). Mapping to the contract:
- buildings: polygons with `height_m` from `height` (metres), else `building:levels` x 3 m;
- waterways: river and stream -> river, canal -> canal, drain and ditch -> drain (lines);
- sea: the bbox cut by `natural=coastline` lines; OSM draws coastlines with land on the left,
  so the pieces on their right are sea;
- heritage: named `historic=*`, `heritage=*`, `tourism=museum|attraction` points and polygons.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

LICENCE = ("OpenStreetMap data (c) OpenStreetMap contributors, available under the Open Database "
           "License (ODbL) 1.0: https://www.openstreetmap.org/copyright")
METRES_PER_LEVEL = 3.0
QUERIES = {
    "buildings": {"building": True},
    "waterways": {"waterway": ["river", "stream", "canal", "drain", "ditch"]},
    "coastline": {"natural": "coastline"},
    "heritage": {"historic": True, "heritage": True, "tourism": ["museum", "attraction"]},
}
_WATERWAY_KIND = {"river": "river", "stream": "river", "canal": "canal", "drain": "drain", "ditch": "drain"}
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|metres|meters)?\s*$")


@contextmanager
def overpass(url: str, timeout_s: float) -> Iterator[None]:
    """osmnx pointed at `url` (no cache, no DNS pinning), its settings restored afterwards."""
    import osmnx as ox

    wanted = {"overpass_url": url, "requests_timeout": timeout_s, "use_cache": False,
              "overpass_rate_limit": "127.0.0.1" not in url, "log_console": False}
    before = {key: getattr(ox.settings, key) for key in wanted}
    for key, value in wanted.items():
        setattr(ox.settings, key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            setattr(ox.settings, key, value)


def features(lonlat_bounds: tuple[float, float, float, float], tags: dict) -> gpd.GeoDataFrame:
    """The features matching `tags` in the bbox (EPSG:4326), with `osm_id`; empty when none match."""
    import osmnx as ox
    from osmnx._errors import InsufficientResponseError

    try:
        found = ox.features_from_bbox(lonlat_bounds, tags)
    except InsufficientResponseError:  # osmnx's "no matching features"
        return gpd.GeoDataFrame({"osm_id": []}, geometry=[], crs="EPSG:4326")
    ids = [f"{element}/{osm_id}" for element, osm_id in found.index]
    return found.reset_index(drop=True).assign(osm_id=ids)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame.columns else pd.Series([None] * len(frame), index=frame.index)


def _metres(value) -> float:
    match = _NUMBER.match(str(value)) if value is not None else None
    return float(match[1]) if match else np.nan


def buildings(found: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Building polygons with `osm_id` and `height_m` (NaN where neither height nor levels is tagged)."""
    found = found[found.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    height = _column(found, "height").map(_metres)
    levels = _column(found, "building:levels").map(_metres) * METRES_PER_LEVEL
    frame = gpd.GeoDataFrame({"osm_id": found["osm_id"], "height_m": height.fillna(levels).astype(float)},
                             geometry=found.geometry, crs=found.crs)
    return frame.reset_index(drop=True)


def waterways(found: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Waterway lines with `osm_id`, `kind` in river/canal/drain and `name`."""
    kind = _column(found, "waterway").map(_WATERWAY_KIND)
    keep = found.geometry.geom_type.isin(["LineString", "MultiLineString"]) & kind.notna()
    frame = gpd.GeoDataFrame({"osm_id": found["osm_id"], "kind": kind, "name": _column(found, "name")},
                             geometry=found.geometry, crs=found.crs)[keep]
    return frame.reset_index(drop=True)


def sea(coastline: gpd.GeoDataFrame, lonlat_bounds: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    """The sea inside the bbox: pieces of the bbox cut by the coastline lying on its right side."""
    box = shapely.box(*lonlat_bounds)
    lines = [g for g in coastline.geometry if g.geom_type in ("LineString", "MultiLineString")]
    if not lines:
        return gpd.GeoDataFrame({"osm_id": []}, geometry=[], crs="EPSG:4326")
    coast = shapely.line_merge(shapely.union_all(lines))
    pieces = shapely.get_parts(shapely.polygonize([shapely.union(box.boundary, coast.intersection(box))]))
    at_sea = [piece for piece in pieces if _right_of_coast(piece, coast)]
    geometry = shapely.union_all(at_sea) if at_sea else shapely.Polygon()
    ids = ";".join(sorted(coastline["osm_id"]))
    return gpd.GeoDataFrame({"osm_id": [ids]}, geometry=[geometry], crs="EPSG:4326")


def _right_of_coast(piece: shapely.Geometry, coast: shapely.Geometry) -> bool:
    """True when `piece` lies to the right of the nearest coastline segment (OSM: water on the right)."""
    inside = piece.point_on_surface()
    nearest = min(shapely.get_parts(coast), key=lambda line: line.distance(inside))
    along = nearest.project(inside)
    step = min(1e-6, nearest.length / 10)
    a, b = nearest.interpolate(max(along - step, 0)), nearest.interpolate(min(along + step, nearest.length))
    cross = (b.x - a.x) * (inside.y - a.y) - (b.y - a.y) * (inside.x - a.x)
    return cross < 0


def heritage(found: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Named heritage features as assets: `asset_id` (osm-<element>-<id>), `name`, `kind`, `osm_id`."""
    named = _column(found, "name").notna() & found.geometry.geom_type.isin(["Point", "Polygon", "MultiPolygon"])
    found = found[named]
    tourism, historic = _column(found, "tourism"), _column(found, "historic")
    kind = np.where(tourism == "museum", "museum",
                    np.where(historic.notna() & (historic != "yes"), "historic_" + historic.astype(str),
                             "heritage_site"))
    frame = gpd.GeoDataFrame(
        {"asset_id": ["osm-" + i.replace("/", "-") for i in found["osm_id"]],
         "name": found["name"].astype(str), "kind": kind, "osm_id": found["osm_id"]},
        geometry=found.geometry, crs=found.crs,
    )
    return frame.reset_index(drop=True)
