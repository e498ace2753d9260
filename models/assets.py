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
# Alert levels 1, 2, 3: flood odds p/(1-p) at least these multiples of the threshold's odds (so
# every level stays below certainty); heat tasmax q50 at least these degC above the heat threshold
# (35/37/40 degC from the default, MetMalaysia's heat levels).
FLOOD_LEVEL_ODDS_RATIOS = (1.0, 3.0, 9.0)
HEAT_LEVEL_STEPS_DEGC = (0.0, 2.0, 5.0)
# Driver layers of the forecast read at an asset's cells, and how its cells reduce to one value:
# the worst cell for the weather (max) and for terrain (the lowest height above drainage).
ASSET_DRIVERS = {
    "rain_max_1h_mm": "max", "rain_max_3h_mm": "max", "rain_24h_mm": "max",
    "rain_antecedent_72h_mm": "max", "sea_level_max_m": "max", "hand_m": "min",
    "tasmax_regional_degC": "max", "hurs_mean_pct": "max", "heat_index_max": "max",
    "impervious_frac": "mean", "building_frac": "mean",
}
FLOOD_DRIVER_LAYERS = ("flood_driver_1", "flood_driver_2", "flood_driver_3")  # model's top contributions
# Flood drivers ranked by value / reference, the reference being a value that alone makes a flood
# in a tropical city plausible: a 30 mm hour, 50 mm in 3 h, 60 mm in a day (MetMalaysia's heavy
# rain), 100 mm in the 3 days before, a tide 1 m above mean sea level; low ground ranks by
# 1 m / hand_m (a cell 0.4 m above its drain scores 2.5). Rain bursts (1 h, 3 h, 24 h) name one.
FLOOD_DRIVER_REFERENCES = {
    "rain_max_1h_mm": 30.0, "rain_max_3h_mm": 50.0, "rain_24h_mm": 60.0,
    "rain_antecedent_72h_mm": 100.0, "sea_level_max_m": 1.0,
}
LOW_GROUND_REFERENCE_M = 1.0
_RAIN_BURSTS = ("rain_max_1h_mm", "rain_max_3h_mm", "rain_24h_mm")
MIN_DRIVER_SCORE = 0.5  # drivers scoring below this are not named, except the top one
HUMID_PCT = 70.0  # heat: humidity at or above this is named (sweat evaporates poorly)
DENSE_BUILT_UP_FRAC = 0.6  # heat: a block this sealed (impervious or built fraction) is named
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

    Each layer of ASSET_DRIVERS present in `forecast` ((lead, y, x) or static (y, x)) adds a
    column of that name reduced over the same cells as its table says; each layer of
    FLOOD_DRIVER_LAYERS present (the flood model's top contributions as integer codes into
    the layer's CF `flag_meanings`) adds the feature name at the asset's wettest cell.
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
        name: _lead_cells(forecast[name], leads.size)
        for name in ("flood_probability", "tasmax_q50", "tasmax_q90", *ASSET_DRIVERS, *FLOOD_DRIVER_LAYERS)
        if name in forecast
    }
    reducers = {"max": _max, "min": _min, "mean": _mean}
    local = assets.to_crs(forecast.rio.crs)
    blocks = []
    for asset_id, geom in zip(local["asset_id"], local.geometry, strict=True):
        cells, cells_from, on_water = _asset_cells(
            geom, xx, yy, land, half_x=half_x, half_y=half_y, buffer_m=buffer_m, reach_m=reach_m
        )
        flood = flat["flood_probability"][:, cells]
        drivers = {name: reducers[how](flat[name][:, cells]) for name, how in ASSET_DRIVERS.items() if name in flat}
        drivers |= {name: _flag_at_peak(forecast[name], flat[name][:, cells], flood)
                    for name in FLOOD_DRIVER_LAYERS if name in flat}
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
            **drivers,
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
    heat_threshold; both False where the risk is NaN. `flood_level`, `heat_level` (0..3): how
    many steps of FLOOD_LEVEL_ODDS_RATIOS / HEAT_LEVEL_STEPS_DEGC the risk reaches (0: no alert).
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
    flood_odds = _odds(levels["flood_probability_max"].clip(upper=1.0))
    levels["flood_level"] = sum(
        (flood_odds >= ratio * _odds(levels["flood_threshold"])).astype(int) for ratio in FLOOD_LEVEL_ODDS_RATIOS)
    levels["heat_level"] = sum(
        (levels["tasmax_q50_max"] >= levels["heat_threshold"] + step).astype(int) for step in HEAT_LEVEL_STEPS_DEGC)
    return levels.astype({"flood_alert": bool, "heat_alert": bool})


def rank_flood_drivers(row: pd.Series | dict) -> list[tuple[str, float]]:
    """(driver, value) pairs that best explain a flood risk, strongest first, at most three.

    The flood model's own top contributions (`flood_driver_1..3`, feature names) come first
    where present, with their values where the row has them; the rest rank by
    FLOOD_DRIVER_REFERENCES and LOW_GROUND_REFERENCE_M (see there). Drivers scoring below
    MIN_DRIVER_SCORE are left out unless none is stronger; NaN drivers are never named.
    """
    values = {name: float(row[name]) for name in ASSET_DRIVERS if name in row and pd.notna(row[name])}
    scores = {name: values[name] / ref for name, ref in FLOOD_DRIVER_REFERENCES.items() if name in values}
    if "hand_m" in values:
        scores["hand_m"] = LOW_GROUND_REFERENCE_M / max(values["hand_m"], 0.1)
    bursts = sorted((name for name in _RAIN_BURSTS if name in scores), key=scores.get, reverse=True)
    for weaker in bursts[1:]:  # rain bursts are one driver: name the strongest window
        scores.pop(weaker)
    ranked = sorted(scores, key=lambda name: (-scores[name], name))
    chosen = [name for name in ranked if scores[name] >= MIN_DRIVER_SCORE] or ranked[:1]
    from_model = [row[name] for name in FLOOD_DRIVER_LAYERS if name in row and isinstance(row[name], str)]
    names = list(dict.fromkeys([*from_model, *chosen]))[:3]
    return [(name, values.get(name, float("nan"))) for name in names]


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


def rank_heat_drivers(row: pd.Series | dict) -> list[tuple[str, float]]:
    """(driver, value) pairs behind a heat risk: the heat index where present and above tasmax,
    the forecast tasmax q50, humidity from HUMID_PCT, a dense block from DENSE_BUILT_UP_FRAC."""
    def value(name: str) -> float:
        return float(row[name]) if name in row and pd.notna(row[name]) else float("nan")

    tasmax = value("tasmax_q50_max")
    drivers = [("heat_index_max", value("heat_index_max"))] if value("heat_index_max") > tasmax else []
    drivers += [("tasmax_q50_max", tasmax)]
    drivers += [("hurs_mean_pct", value("hurs_mean_pct"))] if value("hurs_mean_pct") >= HUMID_PCT else []
    built = max((value(name) for name in ("impervious_frac", "building_frac") if name in row), default=np.nan)
    drivers += [("built_up_frac", built)] if built >= DENSE_BUILT_UP_FRAC else []
    return [(name, v) for name, v in drivers if np.isfinite(v)]


def _max(values: np.ndarray) -> np.ndarray:
    """Max over cells (axis 1) ignoring NaN; NaN where a lead has no finite value."""
    finite = ~np.isnan(values)
    peak = np.where(finite, values, -np.inf).max(axis=1, initial=-np.inf)
    return np.where(finite.any(axis=1), peak, np.nan)


def _min(values: np.ndarray) -> np.ndarray:
    """Min over cells (axis 1) ignoring NaN; NaN where a lead has no finite value."""
    return -_max(-values)


def _odds(probability: pd.Series) -> pd.Series:
    return probability / (1.0 - probability).clip(lower=1e-9)


def _lead_cells(layer: xr.DataArray, n_lead: int) -> np.ndarray:
    """(lead, cell) values of a (lead, y, x) layer, or of a static (y, x) layer repeated per lead."""
    if "lead" not in layer.dims:
        return np.broadcast_to(layer.transpose("y", "x").values.reshape(1, -1).astype(float), (n_lead, layer.size))
    return layer.transpose("lead", "y", "x").values.reshape(n_lead, -1).astype(float)


def _flag_at_peak(layer: xr.DataArray, codes: np.ndarray, flood: np.ndarray) -> list[str | None]:
    """Per lead, the `flag_meanings` word of `codes` at the cell of highest `flood`; None without one."""
    meanings = str(layer.attrs.get("flag_meanings", "")).split()
    flags = list(np.atleast_1d(layer.attrs.get("flag_values", range(len(meanings)))))
    words = []
    for lead_codes, lead_flood in zip(codes, flood, strict=True):
        finite = ~np.isnan(lead_flood) & ~np.isnan(lead_codes)
        code = lead_codes[finite][np.argmax(lead_flood[finite])] if finite.any() else None
        words.append(meanings[flags.index(int(code))] if code is not None and int(code) in flags else None)
    return words


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
