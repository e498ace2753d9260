"""A city's heritage assets from a table of sites, and the synthetic heritage zone around them.

Shared by the live sources (listed assets beside OpenStreetMap's) and the demo world.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipelines.data import packaged_data

PACKAGED_ASSETS = "george-town"  # the 25 real sites shipped in pipelines/data/heritage_sites.csv
CORE_AREA_HA = 109.0  # George Town's UNESCO core zone
BUFFER_AREA_HA = 150.0  # and its buffer zone
_CLUSTER_RADIUS_M = 1000.0  # assets this close to their median point make the historic core

# (word in the source category, asset kind); religious sites are refined by name below
_KIND_BY_CATEGORY = (
    ("religious", "temple"), ("clan", "clan_house"), ("museum", "museum"), ("civic", "civic"),
    ("streetscape", "streetscape"), ("public space", "public_space"), ("maritime", "jetty"),
    ("waterfront", "jetty"), ("residen", "residence"), ("rural", "streetscape"),
    ("coastal", "streetscape"),
)
_KIND_BY_NAME = (
    ("mosque", "mosque"), ("church", "church"), ("temple", "temple"), ("wat ", "temple"),
    ("fort", "fort"), ("jett", "jetty"), ("kongsi", "clan_house"), ("museum", "museum"),
    ("hall", "civic"), ("mansion", "residence"), ("house", "residence"), ("street", "streetscape"),
    ("square", "public_space"),
)
# Floor above the ground in m: raised plinths for temples and civic buildings, stilts for jetties.
FLOOR_HEIGHT_M = {
    "temple": 0.8, "mosque": 0.6, "church": 0.5, "clan_house": 0.6, "fort": 1.0, "civic": 0.8,
    "museum": 0.5, "streetscape": 0.3, "jetty": 1.5, "residence": 0.6, "public_space": 0.3,
    "heritage_site": 0.5,
}


def asset_kind(name: str, category: str) -> str:
    """Asset kind from the source's category, refined by the name where the category is vague."""
    category, name = str(category).lower(), f"{str(name).lower()} "
    by_category = next((kind for word, kind in _KIND_BY_CATEGORY if word in category), None)
    by_name = next((kind for word, kind in _KIND_BY_NAME if word in name), None)
    if by_category == "temple" and by_name in {"mosque", "church", "temple"}:
        return by_name
    return by_category or by_name or "heritage_site"


def slug_initials(slug: str) -> str:
    """Initials of a slug ("george-town" -> "GT"): the prefix of ids made for a city or asset set."""
    return "".join(part[0] for part in slug.split("-") if part).upper() or "A"


def read_asset_table(assets: str, city_slug: str) -> tuple[pd.DataFrame, str]:
    """The asset table (name, lon, lat, category, id) and the prefix of its asset ids.

    `assets` is "george-town" (the packaged sites, ids GT-01..) or a CSV path with columns
    name, lon, lat, category and an optional id (ids then start with the city slug's initials).
    """
    if assets == PACKAGED_ASSETS:
        return pd.read_csv(packaged_data("heritage_sites.csv")), slug_initials(PACKAGED_ASSETS)
    path = Path(assets)
    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError) as err:
        raise ValueError(f"`assets`: cannot read CSV {path}: {err}") from err
    missing = {"name", "lon", "lat", "category"} - set(table.columns)
    if missing:
        raise ValueError(f"`assets`: {path} lacks columns {sorted(missing)}")
    if "id" not in table.columns:
        table["id"] = np.arange(1, len(table) + 1)
    return table, slug_initials(city_slug)


def heritage_assets(
    table: pd.DataFrame, prefix: str, crs: str, bounds: tuple[float, float, float, float],
    progress: Callable[[str], None],
) -> gpd.GeoDataFrame:
    """Asset points inside `bounds` (grid CRS) with asset_id, name, kind, floor height, thresholds.

    Assets outside the grid are dropped (and named through `progress`). Streetscapes get a
    lower flood threshold (0.2) and museums a heat threshold (34 degC); the others use the
    city defaults (NaN). `district` comes from the packaged Penang districts, within 1 km.
    """
    ids = [f"{prefix}-{int(i):02d}" if str(i).isdigit() else str(i) for i in table["id"]]
    points = gpd.GeoSeries(gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326").to_crs(crs)
    xmin, ymin, xmax, ymax = bounds
    inside = ((points.x > xmin) & (points.x < xmax) & (points.y > ymin) & (points.y < ymax)).to_numpy()
    if not inside.all():
        names = ", ".join(table["name"][~inside].astype(str))
        progress(f"dropped {(~inside).sum()} of {len(table)} heritage assets outside the grid: {names}")
    if not inside.any():
        raise ValueError("no heritage asset lies inside the grid bounds")
    kinds = [asset_kind(n, c) for n, c in zip(table["name"], table["category"], strict=True)]
    assets = gpd.GeoDataFrame(
        {
            "asset_id": ids, "name": table["name"].astype(str), "kind": kinds,
            "floor_height_m": [FLOOR_HEIGHT_M.get(kind, 0.5) for kind in kinds],
            "flood_threshold": [0.2 if kind == "streetscape" else np.nan for kind in kinds],
            "heat_threshold": [34.0 if kind == "museum" else np.nan for kind in kinds],
        },
        geometry=points.to_numpy(), crs=crs,
    )[inside].reset_index(drop=True)
    if assets["asset_id"].duplicated().any():
        raise ValueError("`assets`: ids are not unique")
    return _with_district(assets)


def _with_district(assets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Assets with the Penang district within 1 km; no column when none is that close."""
    districts = gpd.read_file(packaged_data("penang_districts.geojson"))[["district", "geometry"]]
    joined = gpd.sjoin_nearest(assets, districts.to_crs(assets.crs), how="left", max_distance=1000.0)
    district = joined[~joined.index.duplicated()]["district"]
    if district.isna().all():
        return assets
    return assets.assign(district=district.fillna("unknown").to_numpy())


def _grow_to_area(seed: shapely.Geometry, within: shapely.Geometry, area_m2: float,
                  minus: shapely.Geometry | None = None) -> shapely.Geometry:
    """`seed` buffered (bisection on the distance) until its part in `within` has `area_m2`."""
    def part(distance: float) -> shapely.Geometry:
        grown = seed.buffer(distance).intersection(within)
        return grown.difference(minus) if minus is not None else grown

    low, high = -3000.0, 5000.0  # a negative buffer shrinks a hull larger than the area
    for _ in range(40):
        mid = (low + high) / 2
        low, high = (mid, high) if part(mid).area < area_m2 else (low, mid)
    return part(high)


def heritage_zones(assets: gpd.GeoDataFrame, land: shapely.Geometry, bounds: tuple) -> gpd.GeoDataFrame:
    """Synthetic core (~109 ha) and buffer (~150 ha ring) zones around the clustered assets.

    An approximation: the official UNESCO outline is not public. The core grows from the
    convex hull of the assets within 1 km of their median point, over land and 150 m of
    water (jetties stand over the sea); the buffer is the ring around it.
    """
    xy = shapely.get_coordinates(assets.geometry.to_numpy())
    near = np.hypot(*(xy - core_centre(assets)).T) <= _CLUSTER_RADIUS_M
    hull = shapely.MultiPoint(xy[near] if near.any() else xy).convex_hull
    within = land.buffer(150.0).intersection(shapely.box(*bounds))
    core = _grow_to_area(hull, within, CORE_AREA_HA * 1e4)
    buffer = _grow_to_area(core, within, BUFFER_AREA_HA * 1e4, minus=core)
    return gpd.GeoDataFrame({"zone": ["core", "buffer"]}, geometry=[core, buffer], crs=assets.crs)


def core_centre(assets: gpd.GeoDataFrame) -> tuple[float, float]:
    """Median position of the assets (grid CRS, m): the heart of the historic core."""
    x, y = np.median(shapely.get_coordinates(assets.geometry.to_numpy()), axis=0)
    return float(x), float(y)
