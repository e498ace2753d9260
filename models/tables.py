"""Training tables: (cell, issue date, lead) rows joining static features, daily drivers and labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage
from scipy.spatial import cKDTree

from features.weather import DRIVER_NAMES, DRIVERS, regional_weights, sample_bilinear

STATIC_FLOOD_FEATURES = (
    "elevation_m", "slope_deg", "upstream_area_km2", "hand_m", "dist_waterway_m",
    "dist_sea_m", "impervious_frac", "building_frac", "depression_depth_m", "depression_area_ha",
    "topographic_wetness_index", "drain_height_m", "drainage_capacity_mm", "tide_block_level_m",
    "outfall_distance_m",
)
FLOOD_INTERACTIONS = {  # name: (units, long_name), made by with_flood_interactions
    "rain_excess_3h_mm": ("mm", "largest 3 h rain above the cell's drainage capacity"),
    "sea_over_block_level_m": ("m", "sea level at peak rain above the level that backs the sea up to the cell"),
    "rain_excess_tide_blocked_mm": ("mm", "rain excess over capacity while the sea backs up to the cell"),
}
STATIC_HEAT_FEATURES = (
    "elevation_m", "dist_sea_m", "impervious_frac", "building_frac", "building_height_m",
    *(f"{name}_{scale}m" for name in ("impervious_frac", "building_frac", "building_height_m")
      for scale in (100, 300, 1000)),
)


def land_cells(static: xr.Dataset) -> pd.DataFrame:
    """One row per land cell: its flat index `cell` into (y, x), x_m, y_m and the static features."""
    land = static["land"].values.ravel()
    yy, xx = np.meshgrid(static.y.values, static.x.values, indexing="ij")
    table = {"cell": np.flatnonzero(land), "x_m": xx.ravel()[land], "y_m": yy.ravel()[land]}
    for name, da in static.data_vars.items():
        if name != "land" and da.dims == ("y", "x"):
            table[name] = da.values.ravel()[land]
    return pd.DataFrame(table)


def cells_near_reports(reports: pd.DataFrame, cells: pd.DataFrame, radius_m: float) -> pd.DataFrame:
    """Unique (date, cell) pairs for every land cell within `radius_m` of a report at (x_m, y_m).

    A report farther than `radius_m` from every land cell labels nothing.
    """
    if reports.empty:
        return pd.DataFrame({"date": pd.Series(dtype="datetime64[s]"), "cell": pd.Series(dtype=int)})
    tree = cKDTree(np.column_stack([cells["x_m"], cells["y_m"]]))
    hits = tree.query_ball_point(np.column_stack([reports["x_m"], reports["y_m"]]), r=radius_m)
    counts = np.array([len(h) for h in hits])
    rows = np.concatenate([np.asarray(h, dtype=int) for h in hits]) if counts.sum() else np.array([], int)
    pairs = pd.DataFrame({
        "date": np.repeat(pd.to_datetime(reports["date"]).values, counts),
        "cell": cells["cell"].values[rows],
    })
    return pairs.drop_duplicates().reset_index(drop=True)


def flood_rows(
    issue_dates: pd.DatetimeIndex, lead_days: int, cells: pd.DataFrame, flooded: pd.DataFrame,
    *, negatives_per_positive: int, rng: np.random.Generator,
) -> pd.DataFrame:
    """Rows (issue_index, lead, cell, label, weight): every positive and a weighted negative sample.

    A row is positive when its cell is flooded on issue date + lead. Negatives are drawn
    uniformly and weighted by (all negatives / drawn negatives), so weighted rates stay unbiased.
    """
    issue_pos = pd.Series(np.arange(len(issue_dates)), index=issue_dates)
    positives = []
    for lead in range(lead_days):
        issue = pd.DatetimeIndex(flooded["date"]) - pd.Timedelta(days=lead)
        keep = issue.isin(issue_dates)
        positives.append(pd.DataFrame({
            "issue_index": issue_pos[issue[keep]].values, "lead": lead, "cell": flooded["cell"].values[keep],
        }))
    pos = pd.concat(positives, ignore_index=True).assign(label=1, weight=1.0)
    total = len(issue_dates) * lead_days * len(cells)
    n_draw = min(max(len(pos), 1) * negatives_per_positive, total - len(pos))
    neg = pd.DataFrame({
        "issue_index": rng.integers(0, len(issue_dates), n_draw),
        "lead": rng.integers(0, lead_days, n_draw),
        "cell": cells["cell"].values[rng.integers(0, len(cells), n_draw)],
    })
    key = ["issue_index", "lead", "cell"]
    neg = neg.merge(pos[key], on=key, how="left", indicator=True)
    neg = neg[neg["_merge"] == "left_only"].drop(columns="_merge")
    neg = neg.assign(label=0, weight=(total - len(pos)) / max(len(neg), 1))
    return pd.concat([pos, neg], ignore_index=True).sort_values(key, kind="stable").reset_index(drop=True)


def attach_features(
    rows: pd.DataFrame, cells: pd.DataFrame, drivers: xr.Dataset, lonlat: tuple[np.ndarray, np.ndarray],
    static_names: tuple[str, ...],
) -> pd.DataFrame:
    """Add static features (by `cell`) and regional drivers (bilinear at the cell, by issue and lead).

    `drivers` has dims (issue_date, lead, y, x) on the regional grid, with its CRS; `lonlat` gives
    every land cell's longitude and latitude (WGS84 degrees) in the order of `cells`.
    """
    at = pd.Series(np.arange(len(cells)), index=cells["cell"].values)[rows["cell"].values].values
    out = rows.copy()
    for name in static_names:
        out[name] = cells[name].values[at]
    lon, lat = lonlat
    weights = regional_weights(drivers, lon[at], lat[at])
    index = (rows["issue_index"].values, rows["lead"].values)
    for name, da in drivers.data_vars.items():
        out[name] = sample_bilinear(da.transpose("issue_date", "lead", "y", "x").values, weights, index=index)
    out["lead_days"] = rows["lead"].values
    return out


def with_flood_interactions(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` plus the FLOOD_INTERACTIONS columns, from its static features and daily drivers.

    A cell whose water leaves the grid over land (no `tide_block_level_m`) is never tide-blocked:
    its sea excess is NaN and its blocked rain excess 0.
    """
    excess = np.maximum(frame["rain_max_3h_mm"] - frame["drainage_capacity_mm"], 0)
    sea_over = frame["sea_level_at_peak_rain_m"] - frame["tide_block_level_m"]
    return frame.assign(rain_excess_3h_mm=excess, sea_over_block_level_m=sea_over,
                        rain_excess_tide_blocked_mm=np.where(sea_over.to_numpy() > 0, excess, 0.0))


def events_within_radius(flooded: np.ndarray, radius_cells: float) -> np.ndarray:
    """True where an event (True in `flooded`, dims (time, y, x)) lies within `radius_cells` cells.

    The gridded counterpart of `cells_near_reports`: a truth map read as the labels are made.
    """
    reach = int(np.floor(radius_cells))
    offsets = np.arange(-reach, reach + 1)
    disk = np.hypot(*np.meshgrid(offsets, offsets)) <= radius_cells
    return ndimage.binary_dilation(np.asarray(flooded, bool), structure=disk[None])


def evaluation_rows(
    issue_index: np.ndarray, lead_days: int, cells: np.ndarray, wet: np.ndarray, *, dry_share: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Rows (issue_index, lead, cell, wet_day, weight) to score forecasts on a gridded truth.

    Every cell of `cells` on wet target days (`wet`, (issues, leads) bool); on dry ones a random
    `dry_share` of them, weighted 1 / dry_share, so weighted scores stand for every cell-day.
    """
    issue, lead, cell = (a.ravel() for a in np.meshgrid(issue_index, np.arange(lead_days), cells, indexing="ij"))
    wet_day = np.repeat(np.asarray(wet, bool).ravel(), len(cells))
    keep = wet_day | (rng.random(issue.size) < dry_share)
    return pd.DataFrame({"issue_index": issue[keep], "lead": lead[keep], "cell": cell[keep],
                         "wet_day": wet_day[keep], "weight": np.where(wet_day[keep], 1.0, 1 / dry_share)})


def heat_rows(
    obs: pd.DataFrame, issue_dates: pd.DatetimeIndex, lead_days: int, cells: pd.DataFrame, *,
    variable: str = "tasmax",
) -> pd.DataFrame:
    """Rows (issue_index, lead, cell, station_id, `variable`) from station observations at (x_m, y_m).

    Each station reads the nearest land cell; each day with a value of the column `variable`
    (e.g. tasmax, tasmin) gives one row per lead whose issue date is known.
    """
    tree = cKDTree(np.column_stack([cells["x_m"], cells["y_m"]]))
    _, nearest = tree.query(np.column_stack([obs["x_m"], obs["y_m"]]))
    issue_pos = pd.Series(np.arange(len(issue_dates)), index=issue_dates)
    frames = []
    for lead in range(lead_days):
        issue = pd.DatetimeIndex(obs["date"]) - pd.Timedelta(days=lead)
        keep = issue.isin(issue_dates) & obs[variable].notna().values
        frames.append(pd.DataFrame({
            "issue_index": issue_pos[issue[keep]].values, "lead": lead,
            "cell": cells["cell"].values[nearest[keep]],
            "station_id": obs["station_id"].values[keep], variable: obs[variable].values[keep],
        }))
    return pd.concat(frames, ignore_index=True).sort_values(["issue_index", "lead", "station_id"],
                                                            kind="stable").reset_index(drop=True)


# Published as forecast layers, not learnt from: on the validation period (6 draws of held-out blocks
# and negatives, benchmarks/choose_flood_features.py) neither group helped both ROC AUC and Brier skill
# (return periods: ROC AUC +0.008 but Brier skill -0.006; storage: -0.011 and -0.023; docs/evaluation.md).
RAIN_CLIMATE_DRIVERS = ("rain_max_72h_mm", *(n for n in DRIVER_NAMES if DRIVERS[n][0] == "years"))
STORAGE_DRIVERS = ("soil_water_index_start_mm", "soil_water_index_max_mm")
FLOOD_DRIVERS = [n for n in DRIVER_NAMES if DRIVERS[n][0] in ("mm", "m")  # water, not heat: fewer day fingerprints
                 and n not in (*RAIN_CLIMATE_DRIVERS, *STORAGE_DRIVERS)]


FLOOD_FEATURES = [*STATIC_FLOOD_FEATURES, *FLOOD_DRIVERS, *FLOOD_INTERACTIONS, "lead_days"]


HEAT_FEATURES = [*STATIC_HEAT_FEATURES, "tasmax_regional_degC", "tasmin_regional_degC", "hurs_mean_pct",
                 "wind_mean_m_s", "rsds_mean_W_m2", "rain_24h_mm", "lead_days"]
