"""Per-asset risk from the forecast grid, and the alert level each heritage asset reaches.

Pure: a forecast Dataset and the assets GeoDataFrame in, pandas DataFrames out.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import shapely
import xarray as xr

NEAREST_LAND_CELLS = 3  # default: an asset with no land cell in reach looks this many cells further
FLOOR_STEP_M = 0.5  # each full step of raised floor ...
FLOOR_STEP_THRESHOLD = 0.1  # ... raises the default flood threshold by this much
MAX_FLOOD_THRESHOLD = 0.95  # ... up to this cap, so a high floor still alerts on a near-certain flood
_POLYGONAL = ("Polygon", "MultiPolygon")


def asset_risk(
    forecast: xr.Dataset, assets: gpd.GeoDataFrame, *, buffer_m: float = 30.0,
    nearest_land_cells: int = NEAREST_LAND_CELLS,
) -> pd.DataFrame:
    """Risk per asset and lead: one row per (asset_id, lead), leads as in `forecast`.

    Columns: `flood_probability_max`, `flood_probability_mean` (1), `tasmax_q50_max`,
    `tasmax_q90_max` (degC) over the land cells standing for the asset, plus how they were
    chosen: `cells_from` is 'footprint' (cells whose centre lies inside a polygon), 'buffer'
    (cells whose square comes within `buffer_m` of a point; for a polygon covering no cell
    centre, of its representative point), 'nearest_land' (none of those is land, so the
    nearest land cell(s) within `nearest_land_cells` cells of the asset) or 'none' (no land in
    reach, e.g. outside the grid: values NaN); `n_cells` counts the cells; `on_water` is True
    where the asset's own cell is sea (a jetty). Sea cells never count. Assets are
    reprojected to the grid CRS.
    """
    if buffer_m < 0:
        raise ValueError(f"`buffer_m` must be >= 0, got {buffer_m}")
    if nearest_land_cells < 0:
        raise ValueError(f"`nearest_land_cells` must be >= 0, got {nearest_land_cells}")
    _require_assets(assets)
    land = forecast["land"].values.astype(bool)
    xx, yy = np.meshgrid(forecast.x.values, forecast.y.values)
    half_x = abs(float(forecast.x[1] - forecast.x[0])) / 2
    half_y = abs(float(forecast.y[1] - forecast.y[0])) / 2
    reach_m = nearest_land_cells * 2 * max(half_x, half_y)
    leads = forecast.lead.values
    flat = {  # (lead, cell) views of each variable
        name: forecast[name].transpose("lead", "y", "x").values.reshape(leads.size, -1)
        for name in ("flood_probability", "tasmax_q50", "tasmax_q90")
    }
    local = assets.to_crs(forecast.rio.crs)
    blocks = []
    for asset_id, geom in zip(local["asset_id"], local.geometry, strict=True):
        cells, cells_from, on_water = _asset_cells(
            geom, xx, yy, land, half_x=half_x, half_y=half_y, buffer_m=buffer_m, reach_m=reach_m
        )
        flood = flat["flood_probability"][:, cells]
        blocks.append(pd.DataFrame({
            "asset_id": asset_id,
            "lead": leads,
            "flood_probability_max": _max(flood),
            "flood_probability_mean": _mean(flood),
            "tasmax_q50_max": _max(flat["tasmax_q50"][:, cells]),
            "tasmax_q90_max": _max(flat["tasmax_q90"][:, cells]),
            "n_cells": int(cells.sum()),
            "cells_from": cells_from,
            "on_water": on_water,
        }))
    return pd.concat(blocks, ignore_index=True)


def asset_alert_levels(
    risk: pd.DataFrame, assets: gpd.GeoDataFrame, *,
    default_flood_threshold: float, default_heat_threshold_degC: float,
) -> pd.DataFrame:
    """`risk` (from asset_risk) with each asset's thresholds and its alerts at each lead.

    `flood_threshold` (1): the asset's own `flood_threshold` where given (it already knows the
    site); else the default raised by FLOOR_STEP_THRESHOLD (0.1) for each full FLOOR_STEP_M
    (0.5 m) of `floor_height_m` (a raised floor keeps water out longer), capped at
    MAX_FLOOD_THRESHOLD (0.95); a missing or negative floor height raises nothing.
    `heat_threshold` (degC): the asset's own `heat_threshold` where given, else the default.
    `flood_alert`: flood_probability_max >= flood_threshold; `heat_alert`: tasmax_q50_max >=
    heat_threshold; both False where the risk is NaN.
    """
    if not 0 < default_flood_threshold < 1:
        raise ValueError(f"`default_flood_threshold` must be inside (0, 1), got {default_flood_threshold}")
    _require_assets(assets)
    unknown = sorted(set(risk["asset_id"]) - set(assets["asset_id"]))
    if unknown:
        raise ValueError(f"`risk` has assets missing from `assets`: {unknown}")
    table = pd.DataFrame(assets.drop(columns=assets.geometry.name))
    own_flood = _optional_column(table, "flood_threshold")
    floor_m = _optional_column(table, "floor_height_m").fillna(0.0).clip(lower=0.0)
    steps = np.floor(floor_m / FLOOR_STEP_M + 1e-9)  # 1e-9: 1.5 m is three steps despite rounding
    raised = np.minimum(default_flood_threshold + FLOOR_STEP_THRESHOLD * steps, MAX_FLOOD_THRESHOLD)
    thresholds = pd.DataFrame({
        "asset_id": table["asset_id"],
        "flood_threshold": own_flood.where(own_flood.notna(), raised),
        "heat_threshold": _optional_column(table, "heat_threshold").fillna(default_heat_threshold_degC),
    })
    levels = risk.merge(thresholds, on="asset_id", how="left", validate="many_to_one")
    levels["flood_alert"] = (levels["flood_probability_max"] >= levels["flood_threshold"]).fillna(False)
    levels["heat_alert"] = (levels["tasmax_q50_max"] >= levels["heat_threshold"]).fillna(False)
    return levels.astype({"flood_alert": bool, "heat_alert": bool})


def _asset_cells(
    geom: shapely.Geometry | None, xx: np.ndarray, yy: np.ndarray, land: np.ndarray, *,
    half_x: float, half_y: float, buffer_m: float, reach_m: float,
) -> tuple[np.ndarray, str, bool]:
    """Flat mask of the land cells standing for one asset, the rule that chose them, on water."""
    if geom is None or geom.is_empty:
        return np.zeros(land.size, dtype=bool), "none", False
    polygonal = geom.geom_type in _POLYGONAL
    anchor = geom.representative_point() if polygonal else geom
    # distance from the anchor point to each cell's square (0 inside it)
    gap = np.hypot(
        np.maximum(np.abs(xx - anchor.x) - half_x, 0.0), np.maximum(np.abs(yy - anchor.y) - half_y, 0.0)
    )
    own = gap == 0
    on_water = bool(own.any() and not land[own].any())
    inside = shapely.contains_xy(geom, xx, yy) if polygonal else np.zeros_like(land)
    if inside.any():
        cells, cells_from = inside & land, "footprint"
    else:
        cells, cells_from = (gap <= buffer_m) & land, "buffer"
    if not cells.any():
        distance = np.where(land, np.hypot(xx - anchor.x, yy - anchor.y), np.inf)
        nearest = distance.min()
        cells = distance == nearest if nearest <= reach_m else np.zeros_like(land)
        cells_from = "nearest_land" if cells.any() else "none"
    return cells.ravel(), cells_from, on_water


def _max(values: np.ndarray) -> np.ndarray:
    """Max over cells (axis 1) ignoring NaN; NaN where a lead has no finite value."""
    finite = ~np.isnan(values)
    peak = np.where(finite, values, -np.inf).max(axis=1, initial=-np.inf)
    return np.where(finite.any(axis=1), peak, np.nan)


def _mean(values: np.ndarray) -> np.ndarray:
    """Mean over cells (axis 1) ignoring NaN; NaN where a lead has no finite value."""
    finite = ~np.isnan(values)
    count = finite.sum(axis=1)
    total = np.where(finite, values, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _optional_column(table: pd.DataFrame, name: str) -> pd.Series:
    """A float column of `table`, all NaN if the optional column is absent."""
    if name not in table:
        return pd.Series(np.nan, index=table.index, dtype=float)
    return pd.to_numeric(table[name], errors="raise").astype(float)


def _require_assets(assets: gpd.GeoDataFrame) -> None:
    if "asset_id" not in assets:
        raise ValueError("`assets` has no `asset_id` column")
    if assets["asset_id"].duplicated().any():
        dupes = sorted(assets.loc[assets["asset_id"].duplicated(), "asset_id"].astype(str))
        raise ValueError(f"`assets` repeats asset_id {dupes}")
    if assets.crs is None:
        raise ValueError("`assets` has no CRS")
    kinds = set(assets.geometry.dropna().geom_type) - {"Point", *_POLYGONAL}
    if kinds:
        raise ValueError(f"`assets` must be points or polygons, got {sorted(kinds)}")
