"""Per-asset risk from the forecast grid, and the alert level each heritage asset reaches.

A forecast with warning areas (models.warning.areas) bases a site's flood alert on the chance of a flood in
its neighbourhood, levels 1-4; one without them on its cells' highest chance, levels 1-3 (the
`flood_basis` column says which). Heat levels are 1-3 either way.

Pure: a forecast Dataset and the assets GeoDataFrame in, pandas DataFrames out.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from models.asset_cells import asset_cells, reduce_by_asset, value_at_peak
from models.warning.areas import AreaForecast, area_levels, forecast_areas, issued_thresholds, site_area_id
from models.warning.door import DoorDepth, water_at_door

ASSET_BUFFER_M = 30.0  # default: a point asset reads the cells whose square comes this close
NEAREST_LAND_CELLS = 3  # default: an asset with no land cell in reach looks this many cells further
ASSET_REACH_M = 400.0  # an asset over water (a jetty) reads the land cells this close
FLOOR_STEP_M = 0.5  # each full step of raised floor ...
FLOOR_STEP_THRESHOLD = 0.1  # ... raises the default flood threshold by this much
MAX_FLOOD_THRESHOLD = 0.95  # ... up to this cap, so a high floor still alerts on a near-certain flood
# Alert levels 1, 2, 3: flood odds p/(1-p) at least these multiples of the threshold's odds (so
# every level stays below certainty); heat tasmax q50 at least these degC above the heat threshold
# (35/37/40 degC from the default, MetMalaysia's heat levels).
FLOOD_LEVEL_ODDS_RATIOS = (1.0, 3.0, 9.0)
HEAT_LEVEL_STEPS_DEGC = (0.0, 2.0, 5.0)
# Driver layers of the forecast read at an asset's cells, and how its cells reduce to one value:
# the worst cell for the weather (max) and for terrain (the lowest height above drainage, the deepest
# closed depression).
ASSET_DRIVERS = {
    "rain_max_1h_mm": "max", "rain_max_3h_mm": "max", "rain_24h_mm": "max",
    "rain_antecedent_72h_mm": "max", "sea_level_max_m": "max", "hand_m": "min", "depression_depth_m": "max",
    "tasmax_regional_degC": "max", "hurs_mean_pct": "max", "heat_index_max": "max", "wbgt_max": "max",
    "impervious_frac": "mean", "building_frac": "mean",
}
# The forecast's two heat products, read as their highest level over an asset's cells: MET Malaysia's
# heat level (tasmax held for days) and Singapore NEA's WBGT band (models.heat.levels).
HEAT_PRODUCTS = {"heat_level": "met_heat_level_max", "wbgt_band": "wbgt_band_max"}
HEAT_RULES = ("met_level", "wbgt_band")  # a site's heat alert follows the first rule any lead reaches
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


def nearest_land_reach(resolution_m: float) -> int:
    """How many cells an asset over water looks for land: ASSET_REACH_M on a grid of `resolution_m` m,
    at least 3."""
    return max(3, round(ASSET_REACH_M / resolution_m))


def asset_risk(
    forecast: xr.Dataset, assets: gpd.GeoDataFrame, *, buffer_m: float = ASSET_BUFFER_M,
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
    the layer's CF `flag_meanings`) adds the feature name at the asset's wettest cell; each
    layer of HEAT_PRODUCTS present adds its highest level over the cells (`met_heat_level_max`,
    `wbgt_band_max`).

    A forecast with warning areas (models.warning.areas.forecast_areas) adds `area_flood_probability`:
    the chance of a flood in the site's neighbourhood (area `site-<asset_id>`), NaN where the
    forecast has no such area (e.g. a site off the grid).
    """
    if buffer_m < 0:
        raise ValueError(f"`buffer_m` must be >= 0, got {buffer_m}")
    if nearest_land_cells < 0:
        raise ValueError(f"`nearest_land_cells` must be >= 0, got {nearest_land_cells}")
    _require_assets(assets)
    x, y = forecast.x.values, forecast.y.values
    reach_m = nearest_land_cells * max(abs(float(x[1] - x[0])), abs(float(y[1] - y[0])))
    leads = forecast.lead.values
    flat = {  # (lead, cell) views of each variable
        name: _lead_cells(forecast[name], leads.size)
        for name in ("flood_probability", "tasmax_q50", "tasmax_q90", *ASSET_DRIVERS, *FLOOD_DRIVER_LAYERS,
                     *HEAT_PRODUCTS)
        if name in forecast
    }
    local = assets.to_crs(forecast.rio.crs)
    cells = asset_cells(local.geometry.values, x, y, forecast["land"].values.astype(bool),
                        buffer_m=buffer_m, reach_m=reach_m)

    def per_row(values: np.ndarray) -> np.ndarray:  # (lead, asset) -> one value per (asset, lead) row
        return values.T.ravel()

    columns = {name: per_row(reduce_by_asset(flat[name], cells, how)) for name, how in ASSET_DRIVERS.items()
               if name in flat}
    columns |= {column: per_row(reduce_by_asset(flat[name], cells, "max")) for name, column in HEAT_PRODUCTS.items()
                if name in flat}
    columns |= {name: pd.Series(per_row(_flag_words(forecast[name], value_at_peak(flat[name], flat["flood_probability"],
                                                                                   cells))), dtype=object)
                for name in FLOOD_DRIVER_LAYERS if name in flat}  # object: None where no driver, as the alerts read
    areas = forecast_areas(forecast)
    if areas is not None:
        chance = areas.chances.set_index(["area_id", "lead"])["chance"]
        keys = pd.MultiIndex.from_arrays([np.repeat([site_area_id(a) for a in local["asset_id"]], leads.size),
                                          np.tile(leads, len(local))])
        columns["area_flood_probability"] = chance.reindex(keys).to_numpy(float)
    return pd.DataFrame({
        "asset_id": np.repeat(local["asset_id"].to_numpy(), leads.size),
        "lead": np.tile(leads, len(local)),
        "flood_probability_max": per_row(reduce_by_asset(flat["flood_probability"], cells, "max")),
        "flood_probability_mean": per_row(reduce_by_asset(flat["flood_probability"], cells, "mean")),
        "tasmax_q50_max": per_row(reduce_by_asset(flat["tasmax_q50"], cells, "max")),
        "tasmax_q90_max": per_row(reduce_by_asset(flat["tasmax_q90"], cells, "max")),
        "n_cells": np.repeat(cells.counts, leads.size),
        "cells_from": np.repeat(cells.cells_from, leads.size),
        "on_water": np.repeat(cells.on_water, leads.size),
        **columns,
    })


def asset_alert_levels(
    risk: pd.DataFrame, assets: gpd.GeoDataFrame, *,
    default_flood_threshold: float, default_heat_threshold_degC: float,
    area_thresholds: tuple[float | None, ...] | None = None, door: DoorDepth | None = None,
) -> pd.DataFrame:
    """`risk` (from asset_risk) with each asset's thresholds and its alerts at each lead.

    Flood, where `risk` has the site's neighbourhood chance (`area_flood_probability`, not NaN;
    `flood_basis` 'area'): `flood_chance` is that chance and `flood_level` (0..4) the area's
    level from `area_thresholds` (the forecast's `level_thresholds`, models.warning.areas.area_levels),
    then lowered by one for each full FLOOR_STEP_M (0.5 m) of `floor_height_m`
    (`flood_level_drop`: a raised floor keeps water out longer), and 0 while the chance is
    below the site's own `flood_threshold` where given (`own_flood_threshold`: it knows the
    site). `flood_threshold` is the chance at which the site's level 1 starts: the threshold
    of level 1 + drop, or the own threshold if higher (NaN: never). The default threshold is
    not used: it is a chance per cell, not per area.

    Flood otherwise (`flood_basis` 'cells', a forecast without areas): `flood_chance` is
    flood_probability_max; `flood_threshold` (1) the asset's own where given, else the default
    raised by FLOOR_STEP_THRESHOLD (0.1) for each full FLOOR_STEP_M of `floor_height_m`,
    capped at MAX_FLOOD_THRESHOLD (0.95); a missing or negative floor height raises nothing;
    `flood_level` (0..3): how many steps of FLOOD_LEVEL_ODDS_RATIOS the odds reach.
    Either way `flood_alert` is flood_level >= 1 (False where the chance is NaN).
    `heat_threshold` (degC): the asset's own `heat_threshold` where given, else the default.

    Water at the door (models.warning.door, from the flood model's `door` depth model; NaN without it or
    where `risk` lacks the site's ground, `door.feature`): `flood_above_floor_probability` (1), the
    chance that water rises above the site's floor, flood_chance x P(depth > floor | a flood), and
    `flood_depth_expected_cm`, the mean reported depth given a flood on ground like the site's;
    `floor_height_m` is the floor used (m above the ground; missing or negative: 0).

    Heat has two rules, kept apart. `heat_met_level` (0..3): MET Malaysia's level at the site,
    `met_heat_level_max` where tasmax_q50_max reaches the heat threshold (a site may set a higher
    bar; MET's levels start where MET says); without that column (a forecast without the heat
    model's level) the steps of HEAT_LEVEL_STEPS_DEGC above the threshold that one day's
    tasmax_q50_max reaches. `heat_wbgt_band` (0..2): NEA's band, `wbgt_band_max` (0 without it).
    `heat_rule` is the first of HEAT_RULES any lead of the asset reaches ('' if none) and
    `heat_level` that rule's level at each lead, so an alert never mixes the two scales;
    `heat_alert`: heat_level >= 1.
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
    thresholds["own_flood_threshold"], thresholds["floor_steps"] = own_flood.to_numpy(), steps.to_numpy()
    thresholds["floor_height_m"] = floor_m.to_numpy()
    levels = risk.merge(thresholds, on="asset_id", how="left", validate="many_to_one")
    by_area = levels["area_flood_probability"].notna() if "area_flood_probability" in levels else levels["lead"] < 0
    if by_area.any() and area_thresholds is None:
        raise ValueError("`risk` has area chances (`area_flood_probability`) but `area_thresholds` is None")
    flood_odds = _odds(levels["flood_probability_max"].clip(upper=1.0))
    cell_level = sum(
        (flood_odds >= ratio * _odds(levels["flood_threshold"])).astype(int) for ratio in FLOOD_LEVEL_ODDS_RATIOS)
    drop = levels.pop("floor_steps").where(by_area, 0).astype(int)
    levels["flood_basis"] = np.where(by_area, "area", "cells")
    levels["flood_chance"] = levels["area_flood_probability"].where(by_area, levels["flood_probability_max"]) \
        if "area_flood_probability" in levels else levels["flood_probability_max"]
    levels["flood_level_drop"] = drop
    levels["flood_level"] = cell_level
    if by_area.any():
        levels.loc[by_area, "flood_threshold"] = _area_start(area_thresholds, drop[by_area],
                                                             levels.loc[by_area, "own_flood_threshold"])
        levels = held_flood_levels(levels, {}, area_thresholds)
    levels["flood_alert"] = levels["flood_level"] >= 1
    levels = levels.assign(**_water_at_door(levels, door))
    return _with_heat_levels(levels).astype({"flood_alert": bool, "heat_alert": bool})


def _water_at_door(levels: pd.DataFrame, door: DoorDepth | None) -> dict[str, np.ndarray]:
    """flood_above_floor_probability and flood_depth_expected_cm of each row (asset_alert_levels)."""
    if door is None:
        nan = np.full(len(levels), np.nan)
        return {"flood_above_floor_probability": nan, "flood_depth_expected_cm": nan.copy()}
    ground = levels[door.feature] if door.feature in levels else np.full(len(levels), np.nan)
    return water_at_door(levels["flood_chance"].to_numpy(float), np.asarray(ground, float),
                         levels["floor_height_m"].to_numpy(float), door)


def held_flood_levels(levels: pd.DataFrame, previous: dict[str, int],
                      thresholds: tuple[float | None, ...] | None) -> pd.DataFrame:
    """`levels` with the flood level and alert of its area-based rows (`flood_basis` 'area') from their
    chance, each held at `previous[asset_id]` (its open event's level; absent or 0: none) while the
    chance stays above models.warning.areas.HOLD_SHARE of that level's threshold (models.warning.areas.area_levels).

    The raised floor's drop is added back before the hold and taken off after; an own threshold
    is held the same way. Rows based on cells are left as they are.
    """
    by_area = (levels["flood_basis"] == "area").to_numpy()
    if not by_area.any():
        return levels
    rows = levels[by_area]
    chance = rows["flood_chance"].to_numpy(float)
    before = rows["asset_id"].map(previous).fillna(0).astype(int).to_numpy()
    drop = rows["flood_level_drop"].to_numpy(int)
    held = area_levels(chance, thresholds, previous=np.where(before > 0, before + drop, 0))
    level = np.maximum(held.astype(int) - drop, 0)
    own = rows["own_flood_threshold"].to_numpy(float)
    for threshold in np.unique(own[np.isfinite(own)]):  # the own gate, with the same hold
        mine = own == threshold
        gate = area_levels(chance[mine], (float(threshold),), previous=(before[mine] > 0).astype(int)) >= 1
        level[mine] = np.where(gate, level[mine], 0)
    out = levels.copy()
    out.loc[by_area, "flood_level"] = level
    out.loc[by_area, "flood_alert"] = level >= 1
    return out


def _area_start(thresholds: tuple[float | None, ...], drop: pd.Series, own: pd.Series) -> np.ndarray:
    """The chance at which an area-based site's level 1 starts: level 1 + drop's threshold, or its own if higher."""
    issued = np.array([*issued_thresholds(thresholds), np.nan])  # NaN: that level is never issued
    start = issued[np.minimum(drop.to_numpy(int), len(issued) - 1)]
    return np.fmax(start, own.to_numpy(float))


def area_alert_levels(areas: AreaForecast, *, kinds: tuple[str, ...] = ("city", "zone", "district")) -> pd.DataFrame:
    """One row per (area, lead) of the areas of `kinds`, in the table asset_alert_levels gives
    (so the alert state and CAP take an area as an asset): `asset_id` the area_id, `area_name`,
    `area_kind`, `flood_chance`, `flood_threshold` (level 1's), `flood_level` 0-4, `flood_alert`,
    `flood_basis` 'area', no own threshold or floor drop, and no heat alert."""
    table = areas.table[areas.table["kind"].isin(kinds)]
    rows = areas.chances.merge(pd.DataFrame({"area_id": table["area_id"], "area_name": table["name"],
                                             "area_kind": table["kind"]}), on="area_id", validate="many_to_one")
    rows = rows.sort_values(["area_id", "lead"], kind="stable").reset_index(drop=True)
    start = issued_thresholds(areas.thresholds)
    levels = pd.DataFrame({
        "asset_id": rows["area_id"], "lead": rows["lead"], "area_name": rows["area_name"], "area_kind": rows["area_kind"],
        "flood_chance": rows["chance"].astype(float), "flood_threshold": start[0] if start else np.nan,
        "own_flood_threshold": np.nan, "flood_level_drop": 0, "flood_basis": "area", "flood_level": 0,
        "flood_alert": False, "heat_level": 0, "heat_alert": False, "heat_rule": "",
        "tasmax_q50_max": np.nan, "tasmax_q90_max": np.nan, "cells_from": "area", "on_water": False,
    })
    return held_flood_levels(levels, {}, areas.thresholds).astype({"flood_alert": bool, "flood_level": int})


def _with_heat_levels(levels: pd.DataFrame) -> pd.DataFrame:
    """`levels` with heat_met_level, heat_wbgt_band, heat_rule, heat_level and heat_alert (see asset_alert_levels)."""
    reached = levels["tasmax_q50_max"] >= levels["heat_threshold"]  # False where NaN
    if "met_heat_level_max" in levels:
        met = levels["met_heat_level_max"].where(reached, 0).fillna(0).astype(int)
    else:
        met = sum((levels["tasmax_q50_max"] >= levels["heat_threshold"] + step).astype(int)
                  for step in HEAT_LEVEL_STEPS_DEGC)
    band = levels["wbgt_band_max"].fillna(0).astype(int) if "wbgt_band_max" in levels else met * 0
    per_asset = pd.DataFrame({"met": met, "band": band, "asset_id": levels["asset_id"]}).groupby("asset_id")
    by_met = per_asset["met"].transform("max") >= 1
    by_band = ~by_met & (per_asset["band"].transform("max") >= 1)
    level = np.where(by_met, met, np.where(by_band, band, 0))
    return levels.assign(heat_met_level=met, heat_wbgt_band=band,
                         heat_rule=np.select([by_met, by_band], HEAT_RULES, ""),
                         heat_level=level, heat_alert=level >= 1)


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


def rank_heat_drivers(row: pd.Series | dict) -> list[tuple[str, float]]:
    """(driver, value) pairs behind a heat risk: the heat index where present and above tasmax,
    the forecast tasmax q50, WBGT where present, humidity from HUMID_PCT, a dense block from DENSE_BUILT_UP_FRAC."""
    def value(name: str) -> float:
        return float(row[name]) if name in row and pd.notna(row[name]) else float("nan")

    tasmax = value("tasmax_q50_max")
    drivers = [("heat_index_max", value("heat_index_max"))] if value("heat_index_max") > tasmax else []
    drivers += [("tasmax_q50_max", tasmax), ("wbgt_max", value("wbgt_max"))]
    drivers += [("hurs_mean_pct", value("hurs_mean_pct"))] if value("hurs_mean_pct") >= HUMID_PCT else []
    built = max((value(name) for name in ("impervious_frac", "building_frac") if name in row), default=np.nan)
    drivers += [("built_up_frac", built)] if built >= DENSE_BUILT_UP_FRAC else []
    return [(name, v) for name, v in drivers if np.isfinite(v)]


def _odds(probability: pd.Series) -> pd.Series:
    return probability / (1.0 - probability).clip(lower=1e-9)


def _flag_words(layer: xr.DataArray, codes: np.ndarray) -> np.ndarray:
    """The `flag_meanings` word of each code (None where NaN or not a flag value)."""
    meanings = str(layer.attrs.get("flag_meanings", "")).split()
    flags = list(np.atleast_1d(layer.attrs.get("flag_values", range(len(meanings)))))
    words = pd.Series(codes.ravel()).map(dict(zip((float(f) for f in flags), meanings, strict=False)))
    out = words.to_numpy(dtype=object)
    out[words.isna().to_numpy()] = None
    return out.reshape(codes.shape)


def _lead_cells(layer: xr.DataArray, n_lead: int) -> np.ndarray:
    """(lead, cell) values of a (lead, y, x) layer, or of a static (y, x) layer repeated per lead."""
    if "lead" not in layer.dims:
        return np.broadcast_to(layer.transpose("y", "x").values.reshape(1, -1).astype(float), (n_lead, layer.size))
    return layer.transpose("lead", "y", "x").values.reshape(n_lead, -1).astype(float)


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
