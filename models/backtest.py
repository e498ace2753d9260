"""Rolling-origin backtests: origins, baselines, and scores by lead, model and zone as one Dataset.

Pure functions over pandas/xarray objects; the backtest flow (pipelines.backtest) feeds them.
Scores follow weatherbench2: one Dataset with dims (metric, lead, model, zone), a point value
(`score`) and a block-bootstrap confidence interval (`ci_low`, `ci_high`); intervals are drawn
for the zone 'all' only (NaN in the others), where they cost the most and matter the most.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.metrics import roc_curve

from models.heat_scores import point_scores, quantile_scores
from models.split import time_split
from models.verification import contingency_scores, flood_scores

FLOOD_METRICS = ("roc_auc", "pr_auc", "brier", "brier_skill_score", "reliability_error", "pod", "far", "csi",
                 "frequency_bias", "n_rows", "n_positive")
HEAT_METRICS = ("mae_degC", "rmse_degC", "bias_degC", "crps_degC", "rmse_hottest_10pct_degC",
                "interval_coverage", "hot_day_pod", "hot_day_far", "hot_day_csi", "n_rows")
_NO_CI = ("n_rows", "n_positive")
FALSE_ALARM_RATES = np.linspace(0, 1, 51)  # where ROC curves are read, for plots and rescoring
_MAX_BINS = 8  # reliability bins kept per model and lead (RELIABILITY_EDGES has 7)


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


def block_counts(issue_dates: pd.DatetimeIndex, *, block_days: int, n_boot: int,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Block of each row (runs of `block_days` issue days) and how often each bootstrap draws it.

    Returns (block per row, (n_boot, blocks) counts): each replicate draws as many blocks as
    there are, with replacement, so serial correlation within a block is kept.
    """
    days = (pd.DatetimeIndex(issue_dates) - pd.DatetimeIndex(issue_dates).min()).days.to_numpy()
    block = np.unique(days // block_days, return_inverse=True)[1]
    n_blocks = int(block.max()) + 1 if len(block) else 0
    draws = np.random.default_rng(seed).integers(0, max(n_blocks, 1), (n_boot, n_blocks))
    counts = np.stack([np.bincount(d, minlength=n_blocks) for d in draws]) if n_boot else np.zeros((0, n_blocks))
    return block, counts


def _with_ci(score_rows: Callable[[np.ndarray, np.ndarray | None], dict], n_rows: int, block: np.ndarray,
             counts: np.ndarray, metrics: tuple[str, ...], confidence: float) -> dict[str, np.ndarray]:
    """Point scores and percentile CIs: `score_rows(index, weight_factor)` on all rows, then per replicate."""
    point = score_rows(np.arange(n_rows), None)
    values = np.array([[point.get(m, np.nan) for m in metrics]], float)
    replicates = []
    for count in counts:
        factor = count[block]
        keep = np.flatnonzero(factor)
        scored = score_rows(keep, factor[keep])
        replicates.append([np.nan if m in _NO_CI else scored.get(m, np.nan) for m in metrics])
    tail = (1 - confidence) / 2 * 100
    if replicates:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a metric undefined in every replicate
            low, high = np.nanpercentile(np.array(replicates, float), [tail, 100 - tail], axis=0)
    else:
        low = high = np.full(len(metrics), np.nan)
    return {"score": values[0], "ci_low": low, "ci_high": high, "point": point}


def _flood_metrics(prob, observed, weight, reference, threshold) -> dict:
    out = flood_scores(prob, observed, weight, reference, threshold=threshold)
    out["brier_skill_score"] = out.pop("brier_skill_vs_climatology")
    out["frequency_bias"] = out["pod"] / (1 - out["far"]) if out["far"] < 1 else float("nan")
    return out


def _subsets(rows: pd.DataFrame) -> list[tuple[int, str, np.ndarray]]:
    """(lead, zone, row mask) of every lead and zone ('all' and each value of `zone` if present)."""
    zones = ["all", *sorted(rows["zone"].unique())] if "zone" in rows else ["all"]
    out = []
    for lead in sorted(rows["lead"].unique()):
        at_lead = rows["lead"].to_numpy() == lead
        for zone in zones:
            out.append((int(lead), zone, at_lead if zone == "all" else at_lead & (rows["zone"].to_numpy() == zone)))
    return out


def _as_dataset(cells: dict, metrics: tuple[str, ...], models: list[str], subsets) -> xr.Dataset:
    leads = sorted({s[0] for s in subsets})
    zones = list(dict.fromkeys(s[1] for s in subsets))
    shape = (len(metrics), len(leads), len(models), len(zones))
    data = {name: np.full(shape, np.nan) for name in ("score", "ci_low", "ci_high")}
    for (lead, zone, model), result in cells.items():
        for name, values in data.items():
            values[:, leads.index(lead), models.index(model), zones.index(zone)] = result[name]
    dims = ("metric", "lead", "model", "zone")
    return xr.Dataset({name: (dims, values) for name, values in data.items()},
                      coords={"metric": list(metrics), "lead": leads, "model": models, "zone": zones})


def flood_backtest_scores(rows: pd.DataFrame, models: list[str], *, reference: str, threshold: float,
                          row_thresholds: dict[str, str] | None = None, n_boot: int, block_days: int,
                          seed: int, confidence: float = 0.9) -> xr.Dataset:
    """Flood scores (FLOOD_METRICS) of each model column of `rows`, dims (metric, lead, model, zone).

    `rows` has issue_date, lead, observed (0/1), weight (sampling weights) and a probability
    column per model; `zone` optional. Brier skill is against the `reference` column. Alerts
    are prob >= `threshold`, or >= the per-row column named in `row_thresholds` for a model
    (the rain rule alerts where it warns). Also `reliability_*` (model, lead, zone, bin) and
    `roc_hit_rate` (model, lead, zone, false_alarm_rate) for the report, on all rows of a subset.
    """
    row_thresholds = row_thresholds or {}
    block, counts = block_counts(rows["issue_date"], block_days=block_days, n_boot=n_boot, seed=seed)
    subsets = _subsets(rows)
    cells, curves = {}, {}
    for lead, zone, mask in subsets:
        part = rows[mask]
        observed, weight = part["observed"].to_numpy(float), part["weight"].to_numpy(float)
        reference_prob = part[reference].to_numpy(float)
        for model in models:
            prob = part[model].to_numpy(float)
            limit = part[row_thresholds[model]].to_numpy(float) if model in row_thresholds else threshold

            def score(index, factor, prob=prob, limit=limit, observed=observed, weight=weight,
                      reference_prob=reference_prob):
                if len(index) == 0:  # a replicate that drew none of this subset's blocks
                    return {}
                w = weight[index] * (1 if factor is None else factor)
                cut = limit if np.isscalar(limit) else limit[index]
                return _flood_metrics(prob[index], observed[index], w, reference_prob[index], cut)

            result = _with_ci(score, len(part), block[mask], counts if zone == "all" else counts[:0],
                              FLOOD_METRICS, confidence)
            cells[(lead, zone, model)] = result
            curves[(lead, zone, model)] = (result["point"]["reliability"],
                                           _roc_hit_rates(prob, observed, weight))
    scores = _as_dataset(cells, FLOOD_METRICS, models, subsets)
    return scores.merge(_curves_dataset(curves, scores))


def _roc_hit_rates(prob: np.ndarray, observed: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Hit rate at each of FALSE_ALARM_RATES along the weighted ROC curve; NaN without both classes."""
    if not 0 < observed.sum() < len(observed):
        return np.full(len(FALSE_ALARM_RATES), np.nan)
    far, hit, _ = roc_curve(observed, prob, sample_weight=weight)
    return np.interp(FALSE_ALARM_RATES, far, hit)


def _curves_dataset(curves: dict, scores: xr.Dataset) -> xr.Dataset:
    dims = ("model", "lead", "zone")
    shape = tuple(scores.sizes[d] for d in dims)
    table = {name: np.full((*shape, _MAX_BINS), np.nan)
             for name in ("reliability_forecast", "reliability_observed", "reliability_weight")}
    roc = np.full((*shape, len(FALSE_ALARM_RATES)), np.nan)
    for (lead, zone, model), (reliability, hits) in curves.items():
        at = (list(scores.model.values).index(model), list(scores.lead.values).index(lead),
              list(scores.zone.values).index(zone))
        n = len(reliability["forecast_mean"])
        table["reliability_forecast"][at][:n] = reliability["forecast_mean"]
        table["reliability_observed"][at][:n] = reliability["observed_frequency"]
        table["reliability_weight"][at][:n] = reliability["weight"]
        roc[at] = hits
    data = {name: ((*dims, "bin"), values) for name, values in table.items()}
    data["roc_hit_rate"] = ((*dims, "false_alarm_rate"), roc)
    return xr.Dataset(data, coords={"false_alarm_rate": FALSE_ALARM_RATES, "bin": np.arange(_MAX_BINS)})


def heat_backtest_scores(rows: pd.DataFrame, points: list[str], quantiles: dict[float, str], *,
                         hot_threshold_degC: float, n_boot: int, block_days: int, seed: int,
                         confidence: float = 0.9) -> xr.Dataset:
    """Heat scores (HEAT_METRICS, degC) of the quantile model and point baselines, dims (metric, lead, model, zone).

    `rows` has issue_date, lead, observed (tasmax, degC) and the forecast columns: `quantiles`
    maps each level to its column (scored as 'model', CRPS from the quantiles), `points` names
    point forecasts (their CRPS is their MAE). Hot-day POD/FAR/CSI are for tasmax (the median
    for the model) >= `hot_threshold_degC`.
    """
    block, counts = block_counts(rows["issue_date"], block_days=block_days, n_boot=n_boot, seed=seed)
    subsets = _subsets(rows)
    models = ["model", *points]
    cells = {}
    for lead, zone, mask in subsets:
        part = rows[mask]
        observed = part["observed"].to_numpy(float)
        for model in models:
            columns = {q: part[c].to_numpy(float) for q, c in quantiles.items()} if model == "model" else None
            point = columns[0.5] if columns else part[model].to_numpy(float)

            def score(index, factor, columns=columns, point=point, observed=observed):
                index = index if factor is None else np.repeat(index, factor)
                obs = observed[index]
                if len(obs) == 0:
                    return {}
                out = (quantile_scores({q: v[index] for q, v in columns.items()}, obs) if columns
                       else point_scores(point[index], obs))
                hot = contingency_scores(point[index], (obs >= hot_threshold_degC).astype(float),
                                         np.ones(len(obs)), hot_threshold_degC)
                return out | {f"hot_day_{k}": v for k, v in hot.items()}

            cells[(lead, zone, model)] = _with_ci(score, len(part), block[mask],
                                                  counts if zone == "all" else counts[:0], HEAT_METRICS, confidence)
    return _as_dataset(cells, HEAT_METRICS, models, subsets)
