"""Rolling-origin backtests: origins, baselines, observed grids, per-cell errors and asset alert outcomes.

Pure functions over pandas/numpy objects; the backtest flow (pipelines.flows.backtest) feeds them.
The scores themselves are in models.backtest_scores.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from models.assets import asset_alert_levels, asset_risk
from models.heat.levels import sustained_level
from models.split import time_split
from models.warning.areas import forecast_areas, site_area_id

AREA_LAYERS = ("area_flood_probability", "area_flood_level")  # a forecast's warning areas (models.warning.areas)
# Outcome of an asset's alert on a day: flag value and meaning (CF flag_values / flag_meanings).
OUTCOMES = {"correct_negative": 0, "hit": 1, "miss": 2, "false_alarm": 3}


def rolling_origins(start: dt.date, end: dt.date, *, every: str) -> list[tuple[dt.date, dt.date]]:
    """(origin, last issue date) of each window covering `start`..`end`, origins `every` (pandas freq).

    The first origin is `start`; each window ends the day before the next origin, the last at `end`.
    """
    if end < start:
        raise ValueError(f"`end` ({end}) is before `start` ({start})")
    origins = sorted({start, *(d.date() for d in pd.date_range(start, end, freq=every))})
    ends = [o - dt.timedelta(days=1) for o in origins[1:]] + [end]
    return list(zip(origins, ends, strict=True))


def origin_split(issue_dates: pd.DatetimeIndex, issue_index: np.ndarray, lead: np.ndarray, *,
                 validation_days: int, calibration_days: int = 0) -> np.ndarray:
    """'train', 'valid', 'calib' or '' per row of a table ending just before an origin.

    The last `calibration_days` issue dates calibrate, the `validation_days` before them stop
    early, the rest trains: `time_split` with its test period used for calibration.
    """
    part = time_split(issue_dates, issue_index, lead, holdout_days=calibration_days,
                      validation_days=validation_days)
    return np.where(part == "test", "calib", part)


def flood_climatology(flooded: pd.DataFrame, days: pd.DatetimeIndex, cells: np.ndarray, *,
                      prior_days: float = 30.0) -> np.ndarray:
    """Chance (0..1) of a flooded cell-day per calendar month and cell, (12, cells).

    `flooded` holds (date, cell) pairs seen on `days`. A cell's rate is shrunk towards the rate of
    all cells in that month by `prior_days` pseudo-days, so a cell never flooded keeps a small chance.
    """
    month_days = np.bincount(days.month - 1, minlength=12).astype(float)
    seen = flooded[pd.DatetimeIndex(flooded["date"]).isin(days)]
    column = pd.Series(np.arange(len(cells)), index=cells)
    at = column.reindex(seen["cell"].to_numpy()).to_numpy()
    ok = ~np.isnan(at)
    counts = np.zeros((12, len(cells)))
    np.add.at(counts, (pd.DatetimeIndex(seen["date"]).month.to_numpy()[ok] - 1, at[ok].astype(int)), 1)
    regional = np.divide(counts.sum(1), month_days * len(cells), out=np.zeros(12), where=month_days > 0)
    return (counts + prior_days * regional[:, None]) / (month_days[:, None] + prior_days)


def flood_persistence(flooded: pd.DataFrame, issue_dates: pd.DatetimeIndex, cells: np.ndarray) -> np.ndarray:
    """1 where a cell was flooded on the day before each issue date, else 0; (issue dates, cells)."""
    out = np.zeros((len(issue_dates), len(cells)), "float32")
    day = pd.Series(np.arange(len(issue_dates)), index=issue_dates - pd.Timedelta(days=1))
    column = pd.Series(np.arange(len(cells)), index=cells)
    dates = pd.DatetimeIndex(flooded["date"])
    keep = dates.isin(day.index) & np.isin(flooded["cell"].to_numpy(), cells)
    out[day[dates[keep]].to_numpy(), column[flooded["cell"].to_numpy()[keep]].to_numpy()] = 1
    return out


def heat_climatology(obs: pd.DataFrame, station_id: np.ndarray, month: np.ndarray) -> np.ndarray:
    """Mean observed tasmax (degC) of each row's station and calendar month in `obs`.

    `obs` has station_id, date, tasmax. A station-month never observed gets the month's mean
    over all stations, a month never observed the mean of all of `obs`.
    """
    obs_month = pd.DatetimeIndex(obs["date"]).month
    by_station = obs.groupby([obs["station_id"], obs_month])["tasmax"].mean()
    by_month = obs.groupby(obs_month)["tasmax"].mean()
    key = pd.MultiIndex.from_arrays([station_id, month])
    value = by_station.reindex(key).to_numpy()
    return np.where(np.isnan(value), by_month.reindex(month).fillna(obs["tasmax"].mean()).to_numpy(), value)


def heat_persistence(obs: pd.DataFrame, station_id: np.ndarray, issue_dates: pd.DatetimeIndex,
                     fallback: np.ndarray) -> np.ndarray:
    """The station's observed tasmax (degC) on the day before each row's issue date, else `fallback`."""
    known = obs.set_index(["station_id", "date"])["tasmax"]
    known = known[~known.index.duplicated()]
    key = pd.MultiIndex.from_arrays([station_id, pd.DatetimeIndex(issue_dates) - pd.Timedelta(days=1)])
    value = known.reindex(key).to_numpy(float)
    return np.where(np.isnan(value), fallback, value)




def flooded_grid(flooded: pd.DataFrame, issue_dates: pd.DatetimeIndex, lead_days: int,
                 cells: np.ndarray) -> np.ndarray:
    """True where a cell of `cells` is flooded on issue date + lead; (issue dates, leads, cells).

    `flooded` holds (date, cell) pairs, as the labels or the truth give them.
    """
    out = np.zeros((len(issue_dates), lead_days, len(cells)), bool)
    dates = pd.DatetimeIndex(flooded["date"])
    column = pd.Series(np.arange(len(cells)), index=cells).reindex(flooded["cell"].to_numpy()).to_numpy()
    for lead in range(lead_days):
        issue = pd.DatetimeIndex(issue_dates).get_indexer(dates - pd.Timedelta(days=lead))
        keep = (issue >= 0) & ~np.isnan(column)
        out[issue[keep], lead, column[keep].astype(int)] = True
    return out


def grid_sums(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of the finite values per cell (the last axis) of `values`, to pool over origins."""
    finite = np.isfinite(values)
    axes = tuple(range(values.ndim - 1))
    return np.where(finite, values, 0.0).sum(axis=axes), finite.sum(axis=axes)


def row_sums(cell: np.ndarray, values: np.ndarray, n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of the finite `values` per cell position `cell` (0 .. n_cells - 1), to pool over origins."""
    finite = np.isfinite(values)
    return (np.bincount(cell[finite], weights=values[finite], minlength=n_cells),
            np.bincount(cell[finite], minlength=n_cells))


def alert_outcomes(alert: np.ndarray, event: np.ndarray) -> np.ndarray:
    """OUTCOMES code of each alert (bool) against its event (1, 0, or NaN where not observed): float32, NaN
    where the event is unknown."""
    alert, event = np.asarray(alert, bool), np.asarray(event, float)
    happened = event == 1
    code = np.select([alert & happened, ~alert & happened, alert & ~happened],
                     [OUTCOMES["hit"], OUTCOMES["miss"], OUTCOMES["false_alarm"]], OUTCOMES["correct_negative"])
    return np.where(np.isnan(event), np.nan, code).astype("float32")


def _as_leads(grid: xr.Dataset, names: dict[str, str]) -> xr.Dataset:
    """(issue_date, lead, y, x) layers of `grid` renamed by `names`, their first two dims flattened
    into one `lead` 0 .. issues x leads - 1 (what asset_risk reads), with `land` and the CRS; and
    the warning areas' (issue_date, lead, area) layers flattened alike, where `grid` has them."""
    n = grid.sizes["issue_date"] * grid.sizes["lead"]
    layers = {new: (("lead", "y", "x"), grid[old].transpose("issue_date", "lead", "y", "x").values
                    .reshape(n, grid.sizes["y"], grid.sizes["x"]).astype(float)) for old, new in names.items()}
    layers |= {name: (("lead", "area"), grid[name].transpose("issue_date", "lead", "area").values
                      .reshape(n, grid.sizes["area"]), grid[name].attrs)
               for name in AREA_LAYERS if name in grid}
    areas = {name: coord for name, coord in grid.coords.items() if coord.dims == ("area",)}
    flat = xr.Dataset(layers, coords={"lead": np.arange(n), "y": grid.y, "x": grid.x, **areas})
    return flat.assign(land=grid["land"]).rio.write_crs(grid.rio.crs)


def asset_alert_outcomes(forecast: xr.Dataset, observed: xr.Dataset, assets: gpd.GeoDataFrame, *,
                         default_flood_threshold: float, default_heat_threshold_degC: float,
                         nearest_land_cells: int, observed_areas: np.ndarray | None = None) -> pd.DataFrame:
    """One row per hazard, asset, issue date and lead: alert issued, event observed, OUTCOMES code.

    `forecast` has flood_probability, tasmax_q50 and tasmax_q90 (degC), `observed` flood (0/1)
    and tasmax (degC), NaN where not observed; both (issue_date, lead, y, x) on one grid with
    `land` and a CRS. The alert is the asset's, as the daily forecast issues it
    (models.assets.asset_alert_levels on asset_risk's cells). The heat event is the cells' highest
    tasmax at or above the asset's heat threshold. The flood event is a flooded cell among the
    asset's cells; where `forecast` has warning areas (AREA_LAYERS, dims (issue_date, lead, area),
    the area coordinates and `level_thresholds`) a site's flood alert is its neighbourhood's, and
    its event is a flood in that neighbourhood: `observed_areas` (issue_date, lead, area) 0/1.
    """
    reach = {"nearest_land_cells": nearest_land_cells}
    flat = _as_leads(forecast, {n: n for n in ("flood_probability", "tasmax_q50", "tasmax_q90")})
    areas = forecast_areas(flat)
    if areas is not None and observed_areas is None:
        raise ValueError("`forecast` has warning areas but `observed_areas` is None: a site's neighbourhood "
                         "alert needs its neighbourhood's event")
    levels = asset_alert_levels(
        asset_risk(flat, assets, **reach), assets, default_flood_threshold=default_flood_threshold,
        default_heat_threshold_degC=default_heat_threshold_degC,
        area_thresholds=None if areas is None else areas.thresholds)
    seen = asset_risk(_as_leads(observed, {"flood": "flood_probability", "tasmax": "tasmax_q50"})
                      .assign(tasmax_q90=lambda d: d["tasmax_q50"]), assets, **reach)
    levels = levels.merge(seen[["asset_id", "lead", "flood_probability_max", "tasmax_q50_max"]],
                          on=["asset_id", "lead"], suffixes=("", "_seen"), validate="one_to_one")
    issue, lead = np.divmod(levels["lead"].to_numpy(), forecast.sizes["lead"])
    heat_seen = levels["tasmax_q50_max_seen"].to_numpy()
    flood_seen = levels["flood_probability_max_seen"].to_numpy()
    if areas is not None:
        column = pd.Series(np.arange(len(areas.table)), index=areas.table["area_id"].to_numpy())
        at = column.reindex([site_area_id(a) for a in levels["asset_id"]]).to_numpy()
        by_area = (levels["flood_basis"] == "area").to_numpy() & np.isfinite(at)
        flat_areas = np.asarray(observed_areas, float).reshape(-1, len(areas.table))
        flood_seen = np.where(by_area, flat_areas[levels["lead"].to_numpy(), np.nan_to_num(at).astype(int)],
                              flood_seen)
    events = {"flood": flood_seen,
              "heat": np.where(np.isnan(heat_seen), np.nan, heat_seen >= levels["heat_threshold"].to_numpy())}
    return pd.concat([pd.DataFrame({
        "hazard": hazard, "asset_id": levels["asset_id"].to_numpy(),
        "issue_date": forecast.issue_date.values[issue], "lead": lead,
        "alert": levels[f"{hazard}_alert"].to_numpy(bool), "event": events[hazard],
        "outcome": alert_outcomes(levels[f"{hazard}_alert"].to_numpy(bool), events[hazard]),
    }) for hazard in ("flood", "heat")], ignore_index=True)


def outcome_calendar(outcomes: pd.DataFrame, names: dict[str, str]) -> xr.DataArray:
    """OUTCOMES codes with dims (hazard, asset, lead, date), date the day the forecast is valid for
    (issue date + lead); NaN where nothing was forecast or observed. `names` maps asset_id to name."""
    date = pd.DatetimeIndex(outcomes["issue_date"]) + pd.to_timedelta(outcomes["lead"].to_numpy(), unit="D")
    table = outcomes.assign(date=date, asset=outcomes["asset_id"]).set_index(["hazard", "asset", "lead", "date"])
    calendar = table["outcome"].to_xarray().astype("float32")
    calendar = calendar.assign_coords(asset_name=("asset", [names.get(a, a) for a in calendar.asset.values]))
    return calendar.rename("asset_outcome").assign_attrs(
        long_name="alert outcome at the asset on the day the forecast is valid for", units="1",
        flag_values=np.array(list(OUTCOMES.values()), "int8"), flag_meanings=" ".join(OUTCOMES))


def asset_heat_levels(forecast: xr.Dataset, observed: xr.Dataset, assets: gpd.GeoDataFrame, *,
                      thresholds_degC: tuple[float, ...], sustained_days: int,
                      nearest_land_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """MET Malaysia's heat level (0..3) at each asset as forecast and as observed, each (issue, lead, asset)
    in the order of `assets`; NaN where the asset has no land cell in reach or the day no value.

    `forecast` has tasmax_q50 (degC) and `observed` tasmax, (issue_date, lead, y, x) with `land` and a
    CRS; the issue dates are consecutive days. An asset's value is the highest over its cells
    (models.assets.asset_risk). The level holds `sustained_days` in a row (models.heat.levels): at
    lead L the forecast's days L - sustained_days + 1 .. L, and before the issue date the lead-0
    forecasts of the issues of those days (the latest word on them, standing for the observed
    maximum the daily forecast reads; missing before the first issue: not hot). The observed level
    runs over the observed days.
    """
    reach = {"nearest_land_cells": nearest_land_cells}
    n_issues, n_leads = forecast.sizes["issue_date"], forecast.sizes["lead"]
    ids = assets["asset_id"].to_numpy()

    def at_assets(grid: xr.Dataset, name: str) -> np.ndarray:
        layers = _as_leads(grid, {name: "tasmax_q50"})  # asset_risk reads the flood layers too: none here
        risk = asset_risk(layers.assign(tasmax_q90=layers["tasmax_q50"], flood_probability=layers["tasmax_q50"] * np.nan),
                          assets, **reach)
        table = risk.pivot(index="lead", columns="asset_id", values="tasmax_q50_max").reindex(columns=ids)
        return table.to_numpy(float).reshape(n_issues, n_leads, len(ids))

    values, seen = at_assets(forecast, "tasmax_q50"), at_assets(observed, "tasmax")
    before = sustained_days - 1
    lead0 = np.concatenate([np.full((before, len(ids)), np.nan), values[:, 0]])  # (before + issue, asset)
    known = np.concatenate([np.stack([lead0[i:i + n_issues] for i in range(before)], axis=1), values], axis=1)
    forecast_level = sustained_level(np.moveaxis(known, 1, -1), thresholds_degC, days=sustained_days)[..., before:]
    daily = np.full((n_issues + n_leads - 1, len(ids)), np.nan)  # observed day (first issue date + k), asset
    issue, lead = np.divmod(np.arange(n_issues * n_leads), n_leads)
    daily[issue + lead] = seen.reshape(-1, len(ids))
    observed_daily = sustained_level(daily.T, thresholds_degC, days=sustained_days).T
    observed_level = observed_daily[issue + lead].reshape(n_issues, n_leads, len(ids))
    return (np.where(np.isfinite(values), np.moveaxis(forecast_level, -1, 1), np.nan),
            np.where(np.isfinite(seen), observed_level, np.nan))


def heat_level_counts(forecast_level: np.ndarray, observed_level: np.ndarray, levels: int) -> dict[str, np.ndarray]:
    """Per asset and level k = 1 .. `levels`, (asset, level) counts over issues and leads: `events`
    (observed level >= k), `alerts` (forecast level >= k) and `hits` (both); NaN rows count nowhere."""
    both = np.isfinite(forecast_level) & np.isfinite(observed_level)
    k = np.arange(1, levels + 1)
    issued = (forecast_level[..., None] >= k) & both[..., None]  # (issue, lead, asset, level)
    seen = (observed_level[..., None] >= k) & both[..., None]
    return {"events": seen.sum(axis=(0, 1)), "alerts": issued.sum(axis=(0, 1)), "hits": (issued & seen).sum(axis=(0, 1))}


def level_flip_flop_sums(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per asset, changed pairs and pairs of consecutive issues' levels for the same target day, over the
    target days every lead of (issue, lead, asset) `levels` forecast (models.verification.flip_flop_index
    counts the same pairs, pooled)."""
    n_issues, n_leads, _ = levels.shape
    if n_issues < n_leads:
        return np.zeros(levels.shape[2]), np.zeros(levels.shape[2])
    targets = np.arange(n_leads - 1, n_issues)
    by_issue = np.stack([levels[targets - lead, lead] for lead in range(n_leads - 1, -1, -1)], axis=1)
    step = np.diff(by_issue, axis=1)  # (target, pair, asset), NaN where an issue or the asset is missing
    pairs = np.isfinite(step)
    return (pairs & (step != 0)).sum(axis=(0, 1)).astype(float), pairs.sum(axis=(0, 1)).astype(float)
