"""Training tables: (cell, issue date, lead) rows joining static features, daily drivers and labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy.spatial import cKDTree

from features.weather import bilinear_weights, sample_bilinear

STATIC_FLOOD_FEATURES = (
    "elevation_m", "slope_deg", "upstream_area_km2", "hand_m", "dist_waterway_m",
    "dist_sea_m", "impervious_frac", "building_frac",
)
STATIC_HEAT_FEATURES = (
    "elevation_m", "dist_sea_m", "impervious_frac", "building_frac", "building_height_m",
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

    `drivers` has dims (issue_date, lead, y, x) on the regional grid; `lonlat` gives every land
    cell's longitude and latitude in the order of `cells`.
    """
    at = pd.Series(np.arange(len(cells)), index=cells["cell"].values)[rows["cell"].values].values
    out = rows.copy()
    for name in static_names:
        out[name] = cells[name].values[at]
    lon, lat = lonlat
    weights = bilinear_weights(drivers.y.values, drivers.x.values, lat[at], lon[at])
    index = (rows["issue_index"].values, rows["lead"].values)
    for name, da in drivers.data_vars.items():
        out[name] = sample_bilinear(da.transpose("issue_date", "lead", "y", "x").values, weights, index=index)
    out["lead_days"] = rows["lead"].values
    return out


def heat_rows(
    obs: pd.DataFrame, issue_dates: pd.DatetimeIndex, lead_days: int, cells: pd.DataFrame,
) -> pd.DataFrame:
    """Rows (issue_index, lead, cell, station_id, tasmax) from station observations at (x_m, y_m).

    Each station reads the nearest land cell; each observed day gives one row per lead whose
    issue date is known.
    """
    tree = cKDTree(np.column_stack([cells["x_m"], cells["y_m"]]))
    _, nearest = tree.query(np.column_stack([obs["x_m"], obs["y_m"]]))
    issue_pos = pd.Series(np.arange(len(issue_dates)), index=issue_dates)
    frames = []
    for lead in range(lead_days):
        issue = pd.DatetimeIndex(obs["date"]) - pd.Timedelta(days=lead)
        keep = issue.isin(issue_dates) & obs["tasmax"].notna().values
        frames.append(pd.DataFrame({
            "issue_index": issue_pos[issue[keep]].values, "lead": lead,
            "cell": cells["cell"].values[nearest[keep]],
            "station_id": obs["station_id"].values[keep], "tasmax": obs["tasmax"].values[keep],
        }))
    return pd.concat(frames, ignore_index=True).sort_values(["issue_index", "lead", "station_id"],
                                                            kind="stable").reset_index(drop=True)
