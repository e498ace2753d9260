"""Warning areas: which cells make each area, the chance of a flood somewhere in it, and its levels.

A per-cell chance of a flood within 90 m cannot be sharp a day ahead (where a convective cell drops
its rain is not predictable at 30 m); the chance that water comes somewhere in a neighbourhood, a
heritage zone or a district can. As warning services do (JMA's risk maps, CIMA's bulletins), the
forecast says it for areas, with levels tied to actions: a classifier on (area, issue date, lead)
rows, the day's weather over the area and what its cells are like, learns the areas' reported
floods; a guarded calibration makes its output a chance; the levels' thresholds are chosen on the
validation period. Pure: arrays and frames in, the same out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import geopandas as gpd
import lightgbm as lgb
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import shapely
import xarray as xr
from scipy import sparse

from models.boosting import BoosterFit, feature_matrix, fit_booster, predict_trees
from models.calibration import Calibration, day_folds, fit_guarded_isotonic
from models.verification import ratio_or_nan
from models.warning.levels import hysteresis_levels, levels_from_chance

# How each level is chosen on the validation period, against the area events of that period, each
# among the chances above the level below: level 1 the highest chance that still catches
# LEVEL_HIT_RATE of them, level 2 the chance of the best critical success index, levels 3 and 4
# the lowest chances whose false-alarm ratio falls to these shares. So a level says how often it
# is right, not a hand-set percentage.
LEVEL_HIT_RATE = 0.9
LEVEL_FALSE_ALARM_RATIOS = {3: 0.5, 4: 0.25}
HOLD_SHARE = 0.5  # an area keeps its level while its chance stays above this share of the level's threshold
AREA_STATIC = ("hand_m", "depression_depth_m", "drainage_capacity_mm", "impervious_frac", "tide_block_level_m",
               "dist_waterway_m", "upstream_area_km2", "topographic_wetness_index")
AREA_STATIC_QUANTILES = (0.1, 0.5, 0.9)  # of each static layer over the area's cells


def area_membership(geometries, x: np.ndarray, y: np.ndarray, land: np.ndarray) -> sparse.csr_array:
    """(area, cell) 0/1 matrix over the flat (y, x) grid: the land cells whose centre lies in each area.

    `geometries` are polygons in the grid's CRS (metres); `x`, `y` the 1-D cell-centre coordinates;
    `land` a (y, x) boolean grid. An area covering no cell centre takes the cell under its
    representative point, if that is land.
    """
    land = np.asarray(land, bool)
    if land.shape != (len(y), len(x)):
        raise ValueError(f"`land` has shape {land.shape}, the grid is {(len(y), len(x))}")
    yy, xx = np.meshgrid(y, x, indexing="ij")
    rows, columns = [], []
    for k, geometry in enumerate(geometries):
        inside = shapely.contains_xy(geometry, xx, yy) & land
        if not inside.any():
            point = geometry.representative_point()
            iy, ix = np.abs(np.asarray(y) - point.y).argmin(), np.abs(np.asarray(x) - point.x).argmin()
            inside = np.zeros_like(land)
            inside[iy, ix] = land[iy, ix]
        found = np.flatnonzero(inside)
        rows.append(np.full(found.size, k))
        columns.append(found)
    rows, columns = np.concatenate(rows or [[]]).astype(int), np.concatenate(columns or [[]]).astype(int)
    return sparse.csr_array((np.ones(rows.size), (rows, columns)), shape=(len(geometries), land.size))


def area_events(flooded: np.ndarray, membership: sparse.csr_array) -> np.ndarray:
    """Whether any of an area's cells flooded: (..., cells) 0/1 in, (..., area) bool out."""
    flooded = np.asarray(flooded, float)
    return (membership.dot(flooded.reshape(-1, flooded.shape[-1]).T).T > 0).reshape(
        *flooded.shape[:-1], membership.shape[0])


@dataclass(frozen=True)
class AreaWarning:
    """The area classifier, the map from its output to the chance of a flood in the area, and the
    levels' thresholds.

    `thresholds[k - 1]` is the chance at which level k starts (None: the validation period never
    supported that level); `choice` records how each was chosen and its scores there.
    """

    booster: lgb.Booster
    calibrations: tuple[Calibration, ...]  # one per lead (the same one when pooled over leads)
    thresholds: tuple[float | None, ...]
    choice: dict

    def chance(self, rows: pd.DataFrame) -> np.ndarray:
        """The chance of a flood somewhere in the area per row of `area_rows` (by its `lead`)."""
        return _by_lead(self.calibrations, self.score(rows), rows["lead"].to_numpy())

    def score(self, rows: pd.DataFrame) -> np.ndarray:
        return predict_trees(self.booster, feature_matrix(rows, self.booster.feature_name()))

    @property
    def issued(self) -> tuple[float, ...]:
        """The thresholds of the levels issued (1 up to the first level never supported)."""
        return issued_thresholds(self.thresholds)

    def levels(self, chance: np.ndarray, *, previous: np.ndarray | None = None) -> np.ndarray:
        """Level 0-4 per chance (NaN: 0). With `previous` (the levels the same targets had at the
        issue before, same shape), a level is kept while the chance stays above HOLD_SHARE of its
        threshold (models.warning.levels.hysteresis_levels), so it does not flip without cause."""
        return area_levels(chance, self.thresholds, previous=previous)

    def to_dict(self) -> dict:
        """The card's record (the booster is saved apart)."""
        return {"calibrations": [c.to_dict() for c in self.calibrations], "thresholds": list(self.thresholds),
                "choice": self.choice}

    @classmethod
    def from_dict(cls, booster: lgb.Booster, record: dict) -> AreaWarning:
        return cls(booster, tuple(Calibration.from_dict(c) for c in record["calibrations"]),
                   tuple(record["thresholds"]), record["choice"])


def area_levels(chance: np.ndarray, thresholds: tuple[float | None, ...], *,
                previous: np.ndarray | int | None = None) -> np.ndarray:
    """Level 0-4 per chance (NaN: 0) from the levels' `thresholds` (None or NaN: never issued).

    With `previous` (the level each target had at the issue before, broadcast to `chance`'s
    shape), a level is kept while the chance stays above HOLD_SHARE of its threshold
    (models.warning.levels.hysteresis_levels), so it does not flip without cause.
    """
    issued = issued_thresholds(thresholds)
    chance = np.clip(np.asarray(chance, float), 0.0, 1.0)
    if not issued:
        return np.zeros(chance.shape, np.int8)
    if previous is None:
        return levels_from_chance(chance, issued)
    edges = np.asarray(issued)
    held = np.broadcast_to(np.minimum(np.asarray(previous), len(issued)), chance.shape)
    start = np.where(held > 0, edges[np.maximum(held, 1) - 1], 0.0)  # as if entered at its threshold
    return hysteresis_levels(np.stack([start, chance]), issued, hold_share=HOLD_SHARE)[1]


def issued_thresholds(thresholds) -> tuple[float, ...]:
    """The thresholds of the levels issued: 1 up to the first never supported (None or NaN)."""
    issued = []
    for threshold in thresholds:
        if threshold is None or not np.isfinite(threshold):
            break
        issued.append(float(threshold))
    return tuple(issued)


def _contingency(chance: np.ndarray, observed: np.ndarray, threshold: float) -> dict:
    warned = chance >= threshold
    hits, misses = int((warned & observed).sum()), int((~warned & observed).sum())
    false_alarms = int((warned & ~observed).sum())
    return {"threshold": float(threshold), "hits": hits, "misses": misses, "false_alarms": false_alarms,
            "hit_rate": float(ratio_or_nan(hits, hits + misses)),
            "false_alarm_ratio": float(ratio_or_nan(false_alarms, hits + false_alarms)),
            "csi": float(ratio_or_nan(hits, hits + misses + false_alarms))}


def choose_level_thresholds(chance: np.ndarray, observed: np.ndarray) -> tuple[tuple[float | None, ...], dict]:
    """Thresholds of levels 1-4 on held-out area chances and their 0/1 events, by the rules above.

    Candidates are the distinct chances forecast; each level picks by its rule among those above
    the level below. A level whose rule no such candidate meets, and every level above it, is None
    (never issued). Returns the thresholds
    and, per level, the rule and its contingency scores at the threshold.
    """
    chance, observed = np.asarray(chance, float), np.asarray(observed, bool)
    candidates = np.unique(chance[np.isfinite(chance) & (chance > 0)])
    if not observed.any() or not candidates.size:
        return (None,) * 4, {"reason": "no event or no chance above zero on the validation period"}
    scores = [_contingency(chance, observed, t) for t in candidates]
    rules = {1: (f"hit rate >= {LEVEL_HIT_RATE}", lambda above: max(
                 [s for s in above if s["hit_rate"] >= LEVEL_HIT_RATE], key=lambda s: s["threshold"], default=None)),
             2: ("best critical success index", lambda above: max(
                 [s for s in above if s["hits"] > 0], key=lambda s: (s["csi"], -s["threshold"]), default=None))}
    for level, ratio in LEVEL_FALSE_ALARM_RATIOS.items():
        rules[level] = (f"false-alarm ratio <= {ratio}", lambda above, ratio=ratio: min(
            [s for s in above if s["false_alarm_ratio"] <= ratio and s["hits"] > 0],
            key=lambda s: s["threshold"], default=None))
    thresholds, choice, below = [], {}, 0.0
    for level, (rule, pick_from) in rules.items():
        pick = pick_from([s for s in scores if s["threshold"] > below]) if below is not None else None
        thresholds.append(None if pick is None else pick["threshold"])
        choice[str(level)] = {"rule": rule, **(pick or {}), "issued": pick is not None}
        below = None if pick is None else pick["threshold"]
    return tuple(thresholds), choice


def area_static_features(cells: pd.DataFrame, membership: sparse.csr_array) -> pd.DataFrame:
    """What each area's cells are like: the count of land cells (log10) and quantiles of AREA_STATIC.

    `cells` are the land cells (models.tables.land_cells) in the order of `membership`'s columns
    (area, land cell). One row per area; columns `log10_cells` and e.g. `hand_m_q10`.
    """
    columns = {"log10_cells": np.log10(np.asarray(membership.sum(axis=1)).ravel())}
    values = cells[list(AREA_STATIC)].to_numpy(float)
    per_area = [np.nanquantile(values[membership[[k]].indices], AREA_STATIC_QUANTILES, axis=0)
                for k in range(membership.shape[0])]  # (quantile, layer) per area: a loop over areas, not cells
    for q, quantile in enumerate(AREA_STATIC_QUANTILES):
        for f, name in enumerate(AREA_STATIC):
            columns[f"{name}_q{round(quantile * 100):02d}"] = [found[q, f] for found in per_area]
    return pd.DataFrame(columns)


def area_rows(static: pd.DataFrame, weather: dict[str, np.ndarray]) -> pd.DataFrame:
    """(issue date, lead, area) rows: `issue_index`, `lead`, `lead_days`, `area_index`, each weather
    driver (arrays (issue, lead, area), e.g. the day's wettest value over the area) and the area's
    static features (`area_static_features`). Ordered by issue date, lead, area."""
    n_issues, n_leads, n_areas = next(iter(weather.values())).shape
    issue, lead, area = (a.ravel() for a in np.meshgrid(np.arange(n_issues), np.arange(n_leads), np.arange(n_areas),
                                                        indexing="ij"))
    columns = {"issue_index": issue, "lead": lead, "lead_days": lead.astype(float), "area_index": area}
    columns |= {name: values.astype("float32").ravel() for name, values in weather.items()}
    columns |= {name: static[name].to_numpy("float32")[area] for name in static}
    return pd.DataFrame(columns)


def area_features(static: pd.DataFrame, weather_names: list[str]) -> list[str]:
    """The area classifier's features: the weather drivers, the static columns and the lead."""
    return [*weather_names, *static.columns, "lead_days"]


def fit_area_warning(rows: pd.DataFrame, features: list[str], split: np.ndarray, *, report_rate: float,
                     min_events: int, num_boost_round: int, seed: int, params: dict,
                     trainer: BoosterFit = fit_booster) -> AreaWarning:
    """Fit the area classifier on 'train' rows (early stopping on 'valid'), calibrate it on 'calib'.

    `rows` (`area_rows`) carry `label` (a reported flood in the area, 0/1) and `day` (the target
    day's number, for the folds). The calibration is the guarded isotonic map (`min_events` events
    per step) on the 'calib' rows, one for all leads or one per lead (the rain forecast blurs with
    lead), whichever has the lower held-out Brier score on two folds of whole days (`day_folds`);
    it is divided by `report_rate` (the share of area floods the inventory reports). Thresholds are
    chosen on the held-out chances, so no row chooses a threshold with a map it helped fit.
    """
    parts = {name: rows[split == name] for name in ("train", "valid", "calib")}
    for name, part in parts.items():
        if part["label"].sum() == 0:
            raise ValueError(f"no reported area flood in the {name} rows: cannot fit the area warning")
    booster = trainer({**params, "seed": seed}, parts["train"][features], parts["train"]["label"],
                      num_boost_round=num_boost_round, valid=(parts["valid"][features], parts["valid"]["label"]),
                      early_stopping_rounds=40)
    calib = parts["calib"]
    score = predict_trees(booster, feature_matrix(calib, features))
    observed, day, lead = calib["label"].to_numpy(float), calib["day"].to_numpy(), calib["lead"].to_numpy()
    leads = int(rows["lead"].max()) + 1
    fold = day_folds(day, observed)
    held_out, brier = {}, {}
    for how in ("pooled", "by_lead"):
        held_out[how] = np.empty_like(score)
        for k in (0, 1):
            fitted = _calibrations(score[fold != k], observed[fold != k], lead[fold != k], leads, how, min_events)
            held_out[how][fold == k] = _by_lead(fitted, score[fold == k], lead[fold == k])
        brier[how] = float(np.mean((held_out[how] - observed) ** 2))
    how = min(("pooled", "by_lead"), key=brier.get)  # a tie keeps one map for every lead
    thresholds, choice = choose_level_thresholds(held_out[how] / report_rate, observed > 0)
    calibrations = tuple(replace(c, report_rate=float(report_rate))
                         for c in _calibrations(score, observed, lead, leads, how, min_events))
    return AreaWarning(booster, calibrations, thresholds, choice | {
        "calibration": how, "calibration_heldout_brier": brier,
        "rows": len(calib), "events": int(observed.sum()), "event_days": int(np.unique(day[observed > 0]).size),
        "best_iteration": int(booster.best_iteration)})

def _calibrations(score: np.ndarray, observed: np.ndarray, lead: np.ndarray, leads: int, how: str,
                  min_events: int) -> tuple[Calibration, ...]:
    """One guarded isotonic map per lead: fitted on every lead's rows ('pooled') or on each lead's own."""
    if how == "pooled":
        return (fit_guarded_isotonic(score, observed, min_events=min_events),) * leads
    return tuple(fit_guarded_isotonic(score[lead == k], observed[lead == k], min_events=min_events)
                 for k in range(leads))


def _by_lead(calibrations: tuple[Calibration, ...], score: np.ndarray, lead: np.ndarray) -> np.ndarray:
    out = np.empty(len(score))
    for k, calibration in enumerate(calibrations):
        out[lead == k] = calibration(score[lead == k])
    return out


def where_first(cell_chance: np.ndarray, city_chance: np.ndarray) -> np.ndarray:
    """The chance of a flood near each cell if the city floods that day: p(cell) / p(city), capped at 1.

    `cell_chance` (..., cells), `city_chance` (...,): the area chance of the whole city. Where the city
    is given no chance, NaN. A flood near a cell is a flood in the city, so the ratio is P(cell | city).
    """
    city = np.asarray(city_chance, float)[..., None]
    return np.minimum(np.divide(cell_chance, city, out=np.full(np.shape(cell_chance), np.nan), where=city > 0), 1.0)


@dataclass(frozen=True)
class AreaBaselines:
    """The area forecast's baselines, rates of reported area floods divided by the area report rate:
    the area's climatology by calendar month, its rate on any day (what the place alone says) and the
    rain rule (its rate on days whose 24 h rain over it reaches `rain_rule_mm`, and on the others)."""

    climatology: np.ndarray  # (area, 12)
    static: np.ndarray  # (area,)
    rain_rule: np.ndarray  # (area, 2): below, at or above the threshold
    rain_rule_mm: float

    def chances(self, area_index: np.ndarray, month: np.ndarray, rain_24h_mm: np.ndarray) -> dict[str, np.ndarray]:
        """Each baseline's chance per row: `area_index`, calendar `month` (1-12) and the area's 24 h rain (mm)."""
        return {"climatology": self.climatology[area_index, month - 1], "static_susceptibility": self.static[area_index],
                "rain_rule": self.rain_rule[area_index, (rain_24h_mm >= self.rain_rule_mm).astype(int)]}


def fit_area_baselines(label: np.ndarray, area_index: np.ndarray, month: np.ndarray, rain_24h_mm: np.ndarray,
                       n_areas: int, *, rain_rule_mm: float, report_rate: float) -> AreaBaselines:
    """`AreaBaselines` from training rows: 0/1 `label` (a reported flood in the area), the row's area,
    the calendar month of its day (1-12) and the area's 24 h rain (mm). An area or month without rows
    takes the rate over all of the area's rows (or 0)."""
    label = np.asarray(label, float)

    def rate(keys: np.ndarray, n_keys: int) -> np.ndarray:
        rows = np.bincount(keys, minlength=n_keys)
        return np.divide(np.bincount(keys, label, minlength=n_keys), rows, out=np.full(n_keys, np.nan), where=rows > 0)

    static = np.nan_to_num(rate(area_index, n_areas))
    climatology = rate(area_index * 12 + month - 1, n_areas * 12).reshape(n_areas, 12)
    climatology = np.where(np.isnan(climatology), static[:, None], climatology)
    warned = (np.asarray(rain_24h_mm) >= rain_rule_mm).astype(int)
    rule = rate(area_index * 2 + warned, n_areas * 2).reshape(n_areas, 2)
    rule = np.where(np.isnan(rule), static[:, None], rule)
    scale = 1 / float(report_rate)
    return AreaBaselines(np.minimum(climatology * scale, 1), np.minimum(static * scale, 1),
                         np.minimum(rule * scale, 1), float(rain_rule_mm))


@dataclass(frozen=True)
class AreaForecast:
    """The warning areas of one forecast: their outlines, chances and levels' thresholds.

    `table`: `area_id`, `name`, `kind`, geometry (the forecast's CRS, metres); `chances`: one row per
    (area_id, lead) with `chance` (of a flood somewhere in the area that local day); `thresholds`:
    the chance at which levels 1-4 start (None: never issued).
    """

    table: gpd.GeoDataFrame
    chances: pd.DataFrame
    thresholds: tuple[float | None, ...]


def site_area_id(asset_id) -> str:
    return f"site-{asset_id}"


def forecast_areas(forecast: xr.Dataset) -> AreaForecast | None:
    """The warning areas of `forecast` (pipelines.forecast.predict's `area` dimension); None without them."""
    if "area_flood_probability" not in forecast:
        return None
    table = gpd.GeoDataFrame(
        {"area_id": forecast["area_id"].values.astype(str), "name": forecast["area_name"].values.astype(str),
         "kind": forecast["area_kind"].values.astype(str)},
        geometry=shapely.from_wkt(forecast["area_geometry"].values.astype(str)), crs=forecast.rio.crs)
    chance = forecast["area_flood_probability"].transpose("lead", "area").values.astype(float)
    leads = forecast["lead"].values
    chances = pd.DataFrame({"area_id": np.tile(table["area_id"].to_numpy(), leads.size),
                            "lead": np.repeat(leads, len(table)), "chance": chance.ravel()})
    raw = np.atleast_1d(forecast["area_flood_level"].attrs.get("level_thresholds", []))
    thresholds = tuple(float(t) if np.isfinite(t) else None for t in np.asarray(raw, float))
    return AreaForecast(table, chances, thresholds)


def areas_of_sites(areas: gpd.GeoDataFrame, assets: gpd.GeoDataFrame, *,
                   kinds: tuple[str, ...] = ("site", "zone", "district")) -> dict[str, list[str]]:
    """Per asset_id, the area_ids of `kinds` it belongs to: its own neighbourhood (`site-<asset_id>`)
    and each zone or district holding its representative point; in the order of `areas`."""
    local = assets.to_crs(areas.crs)
    out = {}
    for asset_id, geometry in zip(local["asset_id"], local.geometry, strict=True):
        point = geometry.representative_point() if geometry is not None and not geometry.is_empty else None
        out[asset_id] = [
            area.area_id for area in areas.itertuples() if area.kind in kinds and (
                area.area_id == site_area_id(asset_id)
                or (area.kind != "site" and point is not None and area.geometry.covers(point)))]
    return out
