"""Factories for the publishing tests: a small forecast, assets and heritage zone, in memory.

The forecast is 20 x 30 cells of 30 m with 3 leads; the 6 eastern columns are sea. Flood
probability peaks at cell (row 8, col 10) and grows with lead; tasmax q50 falls from 36 degC
in the west to 32 degC in the east and rises 1 degC a lead.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr
from shapely.geometry import LineString, Point, box

from models.heat.levels import band_level, met_level_attrs, sustained_level, wbgt_band_attrs
from models.warning.areas import where_first
from models.warning.levels import levels_from_chance
from pipelines.forecast.areas import AREA_ATTRS
from tests.conftest import ORIGIN, template

NY, NX, RES_M = 20, 30, 30.0
SEA_COLUMNS = 6
ISSUE_DATE = "2024-12-26"
HOTSPOT = (8, 10)  # (row, col) of the flood peak
HOSTILE = '"><img src=x onerror=alert(1)><script>alert(1)</script>'  # a site, city or advice text carrying markup
HOSTILE_ESCAPED = "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
QUOTED = 'O\'Reilly & Sons "Godown"'  # quotes and an ampersand, which must survive as they are


def cell_centre(row: int, col: int) -> tuple[float, float]:
    """Grid x, y (m) of the centre of cell (row, col), rows counted from the north."""
    xmin, ymax = ORIGIN
    return xmin + RES_M * (col + 0.5), ymax - RES_M * (row + 0.5)


def small_forecast(n_lead: int = 3) -> xr.Dataset:
    """A forecast Dataset as the forecast flow hands it to publishing."""
    base = template(NY, NX, RES_M)
    rows, cols = np.meshgrid(np.arange(NY), np.arange(NX), indexing="ij")
    land = cols < NX - SEA_COLUMNS
    lead = np.arange(n_lead)[:, None, None]
    peak = np.exp(-((rows - HOTSPOT[0]) ** 2 + (cols - HOTSPOT[1]) ** 2) / 20.0)
    flood = np.clip(0.05 + 0.85 * peak * (lead + 1) / n_lead, 0, 1)
    q50 = 36.0 - 4.0 * cols / (NX - 1) + 1.0 * lead - 1.0
    sea = ~land[None]

    def lead_var(values, long_name, units):
        data = np.where(sea, np.nan, values).astype("float32")
        return (("lead", "y", "x"), data, {"long_name": long_name, "units": units})

    forecast = xr.Dataset(
        {
            "flood_probability": lead_var(flood, "probability of flooding", "1"),
            "tasmax_q10": lead_var(q50 - 1.5, "daily max air temperature, 10th percentile", "degC"),
            "tasmax_q50": lead_var(q50, "daily max air temperature, median", "degC"),
            "tasmax_q90": lead_var(q50 + 1.5, "daily max air temperature, 90th percentile", "degC"),
            "land": (("y", "x"), land, {"long_name": "land cell"}),
        },
        coords={"lead": np.arange(n_lead), "y": base.y, "x": base.x,
                "forecast_reference_time": np.datetime64("2024-12-25T16:00:00", "ns")},
        attrs={"issue_date": ISSUE_DATE, "city": "test-city", "city_name": "Test City",
               "timezone": "Asia/Kuala_Lumpur", "flood_model_version": "flood-test-1",
               "heat_model_version": "heat-test-1"},
    )
    return forecast.rio.write_crs(base.rio.crs).rio.write_transform(base.rio.transform())


def small_assets() -> gpd.GeoDataFrame:
    """Six assets in WGS84 (so tests exercise the reprojection): points, a 2x2-cell polygon,
    a jetty over the sea and a site outside the grid."""
    x0, y0 = cell_centre(0, 0)
    left, top = x0 - RES_M / 2, y0 + RES_M / 2
    records = [
        ("hot", "Hotspot Clan House", Point(cell_centre(*HOTSPOT)), np.nan, np.nan, 0.0, "Timur Laut"),
        ("west", "West Temple", Point(cell_centre(2, 1)), np.nan, np.nan, 1.0, "Timur Laut"),
        ("block", "Shophouse Row", box(left + 9 * RES_M, top - 10 * RES_M, left + 11 * RES_M, top - 8 * RES_M),
         0.9, 40.0, np.nan, None),
        ("jetty", "Clan Jetty", Point(cell_centre(12, NX - SEA_COLUMNS + 1)), np.nan, np.nan, np.nan,
         "Timur Laut"),
        ("east", "Harbour Fort", Point(cell_centre(15, NX - SEA_COLUMNS - 1)), 0.2, np.nan, 0.0, None),
        ("far", "Hill Shrine", Point(x0 - 2000, y0), np.nan, np.nan, np.nan, "Barat Daya"),
    ]
    frame = pd.DataFrame(records, columns=["asset_id", "name", "geometry", "flood_threshold",
                                           "heat_threshold", "floor_height_m", "district"])
    frame["kind"] = "temple"
    local = gpd.GeoDataFrame(frame, geometry="geometry", crs=template(NY, NX, RES_M).rio.crs)
    return local.to_crs("EPSG:4326")


def small_zone() -> gpd.GeoDataFrame:
    """A heritage core inside a buffer zone, on the grid CRS."""
    xmin, ymax = ORIGIN
    core = box(xmin + 150, ymax - 420, xmin + 450, ymax - 150)
    buffer = box(xmin + 90, ymax - 510, xmin + 600, ymax - 90).difference(core)
    return gpd.GeoDataFrame({"zone": ["core", "buffer"]}, geometry=[core, buffer],
                            crs=template(NY, NX, RES_M).rio.crs)


def river_and_block() -> dict[str, gpd.GeoDataFrame]:
    """A river across the grid and a block of buildings, on the grid CRS: `waterways` and `buildings`."""
    crs = template(NY, NX, RES_M).rio.crs
    river = gpd.GeoDataFrame({"kind": ["river"]}, geometry=[LineString([cell_centre(18, 0), cell_centre(18, 23)])],
                             crs=crs)
    (x0, y0), (x1, y1) = cell_centre(3, 3), cell_centre(6, 8)
    return {"waterways": river, "buildings": gpd.GeoDataFrame(geometry=[box(x0, y1, x1, y0)], crs=crs)}


def with_heat_products(forecast: xr.Dataset, recent_degC: tuple[float, float] = (35.5, 36.0)) -> xr.Dataset:
    """`forecast` with the daily forecast's two heat products, built so that they disagree.

    MET Malaysia's `heat_level`: tasmax_q50 held 3 days, the 2 days before issue at `recent_degC`
    everywhere. NEA's `wbgt_band` from `wbgt_max`: tasmax_q50 - 3 degC in the northern half,
    - 5 degC in the southern. So at lead 0 the west column (35 degC) is MET level 1 but WBGT
    band 0 in the south, and columns 1-7 (34.0-34.9 degC) are MET level 0 but WBGT band 1 in the north.
    """
    q50 = forecast["tasmax_q50"].transpose("lead", "y", "x").values
    days = np.concatenate([np.broadcast_to(np.reshape(recent_degC, (-1, 1, 1)), (2, *q50.shape[1:])), q50])
    met = sustained_level(np.moveaxis(days, 0, -1), (35.0, 37.0, 40.0), days=3)[..., 2:]
    south = (np.arange(forecast.sizes["y"]) >= forecast.sizes["y"] // 2)[None, :, None]
    wbgt = q50 - np.where(south, 5.0, 3.0)
    land = forecast["land"].values[None]
    dims = ("lead", "y", "x")
    return forecast.assign(
        heat_level=(dims, np.where(land, np.moveaxis(met, -1, 0), np.nan).astype("float32"),
                    met_level_attrs((35.0, 37.0, 40.0), sustained_days=3, observed_days=2)),
        wbgt_max=(dims, wbgt.astype("float32"), {"units": "degC", "long_name": "WBGT in the midday sun"}),
        wbgt_band=(dims, np.where(land, band_level(wbgt, (31.0, 33.0)), np.nan).astype("float32"),
                   wbgt_band_attrs((31.0, 33.0))),
    )


AREA_THRESHOLDS = (0.05, 0.15, 0.35, 0.7)  # where area levels 1..4 start
AREA_CHANCES = {  # area_id -> chance per lead (3 leads)
    "city": (0.10, 0.30, 0.60),
    "zone-core": (0.02, 0.20, 0.50),
    "zone-buffer": (0.01, 0.10, 0.40),
    "site-hot": (0.06, 0.40, 0.80),
    "site-west": (0.00, 0.01, 0.02),
}


def with_warning_areas(forecast: xr.Dataset, names: dict[str, str] | None = None) -> xr.Dataset:
    """`forecast` (3 leads) with the forecast's warning areas as pipelines.forecast.predict adds them: the
    whole grid, the two heritage zones of small_zone and 60 m around two sites, chances AREA_CHANCES,
    levels from AREA_THRESHOLDS, and `flood_where_first`. `names` overrides area names by id."""
    zone = small_zone().set_index("zone").geometry
    xmin, ymax = ORIGIN
    frame = box(xmin, ymax - NY * RES_M, xmin + NX * RES_M, ymax)
    geometries = {"city": frame, "zone-core": zone["core"], "zone-buffer": zone["buffer"],
                  "site-hot": Point(cell_centre(*HOTSPOT)).buffer(60).intersection(frame),
                  "site-west": Point(cell_centre(2, 1)).buffer(60).intersection(frame)}  # clipped, as city_areas does
    kinds = {"city": "city", "zone-core": "zone", "zone-buffer": "zone", "site-hot": "site", "site-west": "site"}
    default = {"city": "Test City", "zone-core": "heritage core zone", "zone-buffer": "heritage buffer zone",
               "site-hot": "around Hotspot Clan House", "site-west": "around West Temple"}
    ids = list(AREA_CHANCES)
    chance = np.array([AREA_CHANCES[i] for i in ids], "float32").T  # (lead, area)
    city = chance[:, ids.index("city")]
    flat = forecast["flood_probability"].transpose("lead", "y", "x").values
    first = where_first(flat.reshape(len(city), -1), city).reshape(flat.shape).astype("float32")
    return forecast.assign_coords(
        area_id=("area", ids), area_name=("area", [(names or {}).get(i, default[i]) for i in ids]),
        area_kind=("area", [kinds[i] for i in ids]),
        area_geometry=("area", [geometries[i].wkt for i in ids]),
    ).assign(
        area_flood_probability=(("lead", "area"), chance, AREA_ATTRS["area_flood_probability"]),
        area_flood_level=(("lead", "area"), levels_from_chance(chance, AREA_THRESHOLDS),
                          AREA_ATTRS["area_flood_level"] | {"level_thresholds": list(AREA_THRESHOLDS)}),
        flood_where_first=(("lead", "y", "x"), first, AREA_ATTRS["flood_where_first"]),
    )
