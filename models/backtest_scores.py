"""Backtest scores as one Dataset: by metric, lead, model, zone, period and days, with bootstrap intervals.

Pure functions over pandas/xarray objects; the backtest flow (pipelines.flows.backtest) feeds them.
Scores follow weatherbench2: one Dataset with dims (metric, lead, model, zone, period, days), a
point value (`score`) and a block-bootstrap confidence interval (`ci_low`, `ci_high`).

Subsets: each lead; zone 'all' and each heritage zone of the rows; period 'all', each season
of `seasons` and each calendar month (of the day a forecast is valid for, issue date + lead);
days 'all' and, for flood rows with `wet_day`, 'wet' (dry days flatter every flood score).
Intervals are drawn for zone 'all' (every period and days), NaN in the other zones.

Beside the scores, the rows and events each rests on (metrics `n_*`, counts of the rows drawn,
unweighted, without intervals): `events_metric` names the count of each score. A score on fewer
than MIN_EVENTS events (models.verification) means nothing, and the report says so.

The bootstrap resamples blocks in time (runs of `block_days` issue days) and in space (the
rows' `space_block`) independently, with replacement, each replicate weighing a row by how often
its time block was drawn times how often its space block was: the two-way "pigeonhole"
bootstrap of Owen (2007), Ann. Appl. Stat. 1, 386-411, which keeps both the day-to-day and the
place-to-place correlation of errors. Every replicate scores every subset and model on the
same draw, and every metric is computed for all replicates at once (models.verification).

Why not `scores.processing.block_bootstrap`: it resamples dense arrays along their dims, in
moving (circular) blocks of consecutive positions, and nests the dims (each drawn time block
gets its own draw of station blocks), drawing from numpy's global generator. Ours are crossed
(one space draw per replicate serves every time block, as Owen's pigeonhole bootstrap needs),
over a table of sampled cell-days (rows weighted, any number per day and square, no dense
day x square array), with blocks fixed by the calendar and by labelled spatial squares, a
seeded generator, and replicates as row weights rather than copies of the data. On the one
case both can express, one-way blocks over days, tests/models/test_backtest_scores.py checks
that they agree.
"""

from __future__ import annotations

import calendar
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scores
import xarray as xr
from sklearn.metrics import roc_curve

from models.heat.scores import HOTTEST_SHARE, quantile_ensemble
from models.verification import (
    contingency_table,
    ratio_or_nan,
    reliability_table,
    weighted_average_precision,
    weighted_brier,
    weighted_contingency_counts,
    weighted_reliability_error,
    weighted_roc_auc,
)

MONTHS = tuple(calendar.month_abbr[1:])  # period labels of the calendar months: Jan .. Dec
_CONTINGENCY = ("pod", "far", "csi", "frequency_bias")
FALSE_ALARM_RATES = np.linspace(0, 1, 51)  # where ROC curves are read, for plots and rescoring
_MAX_BINS = 8  # reliability bins kept per model and lead (RELIABILITY_EDGES has 7)


def level_metrics(n_levels: int) -> tuple[str, ...]:
    """Names of POD, FAR, CSI and frequency bias at alert levels 1 .. `n_levels`: 'pod_level_1', ..."""
    return tuple(f"{name}_level_{k}" for k in range(1, n_levels + 1) for name in _CONTINGENCY)


def level_counts(n_levels: int) -> tuple[str, ...]:
    """Names of the observed events and the alerts at levels 1 .. `n_levels`: 'n_events_level_1', ..."""
    return tuple(f"n_{kind}_level_{k}" for k in range(1, n_levels + 1) for kind in ("events", "alerts"))


def flood_metrics(n_levels: int) -> tuple[str, ...]:
    """Flood metrics: ranking, Brier, reliability, contingency at the alert threshold and at each level,
    and the rows, flooded rows (`n_positive`) and alerts they rest on."""
    return ("roc_auc", "pr_auc", "brier", "brier_skill_score", "reliability_error", *_CONTINGENCY,
            *level_metrics(n_levels), "n_rows", "n_positive", "n_alerts", *level_counts(n_levels))


def heat_metrics(n_levels: int) -> tuple[str, ...]:
    """Heat metrics (degC where named so): errors, CRPS, interval coverage, hot days and each level, and
    the rows, hot days and alerts they rest on."""
    return ("mae_degC", "rmse_degC", "bias_degC", "crps_degC", "rmse_hottest_10pct_degC", "interval_coverage",
            "hot_day_pod", "hot_day_far", "hot_day_csi", *level_metrics(n_levels), "n_rows", "n_hot_days",
            "n_hot_day_alerts", *level_counts(n_levels))


# The count of events each score without a level rests on; see events_metric.
_EVENTS_OF = {"far": "n_alerts", "hot_day_far": "n_hot_day_alerts", "hot_day_pod": "n_hot_days",
              "hot_day_csi": "n_hot_days",
              **dict.fromkeys(("roc_auc", "pr_auc", "brier", "brier_skill_score", "reliability_error", "pod", "csi",
                               "frequency_bias"), "n_positive")}


def events_metric(metric: str) -> str | None:
    """The count metric of the events `metric` rests on; None for a score on rows alone (errors, CRPS,
    coverage) and for the counts themselves.

    A FAR rests on the alerts (rows forecast at or above the threshold or level), every other
    contingency score on the observed events (flooded rows, hot days, days at or above the level),
    and so do the flood ranking, Brier and reliability scores: of a rare event, they say nothing
    without events.
    """
    name, _, level = metric.partition("_level_")
    if level and not name.startswith("n_"):
        return f"n_{'alerts' if name == 'far' else 'events'}_level_{level}"
    return _EVENTS_OF.get(metric)


@dataclass(frozen=True)
class Bootstrap:
    """Replicate draws of a two-way block bootstrap over a table's rows (see the module)."""

    time_block: np.ndarray  # per row
    space_block: np.ndarray  # per row
    time_counts: np.ndarray  # (replicates, time blocks): how often each block was drawn
    space_counts: np.ndarray  # (replicates, space blocks)

    def weights(self, rows: np.ndarray) -> np.ndarray:
        """(replicates, rows) factor on each of `rows` (a mask or index into the table) per replicate."""
        return self.time_counts[:, self.time_block[rows]] * self.space_counts[:, self.space_block[rows]]


def block_bootstrap(issue_dates: pd.DatetimeIndex, space_block: np.ndarray, *, block_days: int, n_boot: int,
                    seed: int) -> Bootstrap:
    """Draw `n_boot` replicates: as many time blocks (runs of `block_days` issue days from the
    first) as there are and as many space blocks (labels in `space_block`) as there are, each
    with replacement, time first, from one generator seeded with `seed`."""
    if block_days < 1:
        raise ValueError(f"`block_days` must be >= 1, got {block_days}")
    dates = pd.DatetimeIndex(issue_dates)
    if len(space_block) != len(dates):
        raise ValueError(f"`space_block` has {len(space_block)} rows, `issue_dates` {len(dates)}")
    days = (dates - dates.min()).days.to_numpy() if len(dates) else np.zeros(0, int)
    rng = np.random.default_rng(seed)
    blocks, counts = [], []
    for labels in (days // block_days, np.asarray(space_block)):
        index = np.unique(labels, return_inverse=True)[1].reshape(-1)
        n = int(index.max()) + 1 if len(index) else 0
        draws = rng.integers(0, max(n, 1), (n_boot, n))
        blocks.append(index)
        counts.append(np.stack([np.bincount(d, minlength=n) for d in draws]).astype(float) if n_boot
                      else np.zeros((0, n)))
    return Bootstrap(blocks[0], blocks[1], counts[0], counts[1])


def _periods(valid: pd.DatetimeIndex, seasons: dict[str, tuple[int, ...]]) -> list[tuple[str, np.ndarray]]:
    """('all' | season | month label, row mask) of every period with rows, in that order."""
    bad = {name: months for name, months in seasons.items() if not set(months) <= set(range(1, 13))}
    if bad:
        raise ValueError(f"`seasons` must list months 1..12, got {bad}")
    clash = sorted(set(seasons) & {"all", *MONTHS})
    if clash:
        raise ValueError(f"`seasons` names clash with the period labels 'all' and Jan..Dec: {clash}")
    month = valid.month.to_numpy()
    periods = [("all", np.ones(len(valid), bool))]
    periods += [(name, np.isin(month, months)) for name, months in seasons.items()]
    periods += [(MONTHS[m - 1], month == m) for m in range(1, 13)]
    return [(name, mask) for name, mask in periods if mask.any()]


def _subsets(rows: pd.DataFrame, seasons: dict[str, tuple[int, ...]]) -> list[tuple[tuple, np.ndarray]]:
    """((lead, zone, period, days), row mask) of every non-empty subset (see the module)."""
    lead = rows["lead"].to_numpy()
    zone = rows["zone"].to_numpy() if "zone" in rows else np.full(len(rows), "all")
    zones = [("all", np.ones(len(rows), bool))] + [(z, zone == z) for z in sorted(set(zone) - {"all"})]
    valid = pd.DatetimeIndex(rows["issue_date"]) + pd.to_timedelta(lead, unit="D")
    days = [("all", np.ones(len(rows), bool))]
    if "wet_day" in rows:
        days.append(("wet", rows["wet_day"].to_numpy(bool)))
    out = []
    for at in sorted(np.unique(lead)):
        for z, in_zone in zones:
            for period, in_period in _periods(valid, seasons):
                for d, on_days in days:
                    mask = (lead == at) & in_zone & in_period & on_days
                    if mask.any():
                        out.append(((int(at), z, period, d), mask))
    return out


def _with_contingency(cases: list[tuple[dict, dict]], first: str | None) -> list[dict]:
    """Each case's replicate scores plus POD, FAR, CSI and frequency bias from its contingency counts
    ((replicates, thresholds) arrays), all cases in one call of scores: column 0 of the thresholds
    is named with the prefix `first` (None: not named), the others `<score>_level_<k>`."""
    depth = max(len(counts["tp_count"]) for _, counts in cases)
    stacked = {name: np.stack([np.pad(c[name], ((0, depth - len(c[name])), (0, 0)), constant_values=np.nan)
                               for _, c in cases]) for name in cases[0][1]}
    table = contingency_table(stacked, ("case", "replicate", "threshold"))
    with np.errstate(divide="ignore", invalid="ignore"):
        found = dict(zip(_CONTINGENCY, (table.probability_of_detection(), table.false_alarm_ratio(),
                                        table.critical_success_index(), table.frequency_bias()), strict=True))
    shift = 0 if first is None else 1
    out = []
    for i, (replicates, counts) in enumerate(cases):
        done = dict(replicates)
        for name, values in found.items():
            values = values.values[i, :len(counts["tp_count"])]
            values = np.where(np.isfinite(values), values, np.nan)  # no event: bias inf is undefined
            if first is not None:
                done[f"{first}{name}"] = values[:, 0]
            done |= {f"{name}_level_{k - shift + 1}": values[:, k] for k in range(shift, values.shape[1])}
        out.append(done)
    return out


def _event_counts(alerts: np.ndarray, events: np.ndarray, first: tuple[str, str]) -> dict[str, int]:
    """Rows (unweighted) with an event and with an alert in each row of `alerts` and `events`
    (thresholds, rows): the first threshold's named `first` (events, alerts), the others
    'n_events_level_<k>' and 'n_alerts_level_<k>'."""
    n_events, n_alerts = events.sum(axis=1), alerts.sum(axis=1)
    out = dict(zip(first, (int(n_events[0]), int(n_alerts[0])), strict=True))
    for k in range(1, len(alerts)):
        out |= {f"n_events_level_{k}": int(n_events[k]), f"n_alerts_level_{k}": int(n_alerts[k])}
    return out


def _flood_replicates(prob, observed, weights, reference, alert_at, bands, level=None) -> tuple[dict, dict]:
    """Every flood metric under each row of `weights` but the contingency scores (with the rows, events
    and alerts they rest on), and the contingency counts of alerts at prob >= `alert_at` (a number, or
    one per row) and at each of `bands` (or, given the `level` issued per row, at level >= k for the
    k-th band)."""
    brier = weighted_brier(prob, observed, weights)
    reference_brier = weighted_brier(reference, observed, weights)
    table = reliability_table(prob, observed, weights[0])
    at_level = [prob >= band for band in bands] if level is None else [level >= k for k in range(1, len(bands) + 1)]
    alerts = np.vstack([prob >= alert_at, *at_level])
    events = np.broadcast_to(observed == 1, alerts.shape)
    out = {"roc_auc": weighted_roc_auc(prob, observed, weights),
           "pr_auc": weighted_average_precision(prob, observed, weights),
           "brier": brier, "brier_skill_score": 1 - ratio_or_nan(brier, reference_brier),
           "reliability_error": weighted_reliability_error(prob, observed, weights, table["bin_low"].to_numpy()),
           "n_rows": len(observed), **_event_counts(alerts, events, ("n_positive", "n_alerts"))}
    return out, weighted_contingency_counts(alerts, events, weights)


def _heat_replicates(point, observed, weights, quantiles, hot_threshold, levels) -> tuple[dict, dict]:
    """Every heat metric (degC) under each row of `weights` but the contingency scores (with the rows,
    events and alerts they rest on), and the contingency counts at `hot_threshold` and each of
    `levels`; `quantiles` (level: values) or None for a point forecast, whose CRPS is its MAE. The
    hottest rows are those of the unweighted sample."""
    total = weights.sum(axis=1)
    error = point - observed
    hottest = (observed >= np.quantile(observed, 1 - HOTTEST_SHARE)).astype(float)
    out = {"mae_degC": ratio_or_nan(weights @ np.abs(error), total),
           "bias_degC": ratio_or_nan(weights @ error, total),
           "rmse_degC": np.sqrt(ratio_or_nan(weights @ error**2, total)),
           "rmse_hottest_10pct_degC": np.sqrt(ratio_or_nan(weights @ (error**2 * hottest),
                                                           weights @ hottest))}
    if quantiles:
        ensemble = xr.DataArray(quantile_ensemble(quantiles), dims=("row", "member"))
        crps = scores.probability.crps_for_ensemble(ensemble, xr.DataArray(observed, dims="row"), "member",
                                                    method="ecdf", preserve_dims="row").values
        low, high = quantiles[min(quantiles)], quantiles[max(quantiles)]
        out |= {"crps_degC": ratio_or_nan(weights @ crps, total),
                "interval_coverage": ratio_or_nan(weights @ ((observed >= low) & (observed <= high)), total)}
    else:
        out |= {"crps_degC": out["mae_degC"], "interval_coverage": np.full(len(weights), np.nan)}
    thresholds = np.array([hot_threshold, *levels])[:, None]
    alerts, events = point[None] >= thresholds, observed[None] >= thresholds
    out |= {"n_rows": len(observed), **_event_counts(alerts, events, ("n_hot_days", "n_hot_day_alerts"))}
    return out, weighted_contingency_counts(alerts, events, weights)


def _summarise(replicates: dict, metrics: tuple[str, ...], confidence: float) -> dict[str, np.ndarray]:
    """score, ci_low, ci_high over `metrics` from (replicates,) arrays whose row 0 is the point value;
    counts (plain numbers) have no interval, nor has anything without replicates."""
    depth = max(np.size(v) for v in replicates.values())
    values = np.full((len(metrics), depth), np.nan)
    for i, metric in enumerate(metrics):
        value = np.atleast_1d(replicates.get(metric, np.nan))
        values[i, :len(value)] = value
    low = high = np.full(len(metrics), np.nan)
    if depth > 1:
        tail = (1 - confidence) / 2 * 100
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a metric undefined in every replicate
            low, high = np.nanpercentile(values[:, 1:], [tail, 100 - tail], axis=1)
    return {"score": values[:, 0], "ci_low": low, "ci_high": high}


def _as_dataset(cells: dict, metrics: tuple[str, ...], models: list[str]) -> xr.Dataset:
    """score, ci_low, ci_high with dims (metric, lead, model, zone, period, days) from {(subset, model): ...}."""
    keys = [key for key, _ in cells]
    coords = {name: list(dict.fromkeys(k[i] for k in keys)) for i, name in enumerate(("lead", "zone", "period",
                                                                                       "days"))}
    coords["lead"] = sorted(coords["lead"])
    shape = (len(metrics), len(coords["lead"]), len(models), *(len(coords[d]) for d in ("zone", "period", "days")))
    data = {name: np.full(shape, np.nan) for name in ("score", "ci_low", "ci_high")}
    for ((lead, zone, period, days), model), result in cells.items():
        at = (slice(None), coords["lead"].index(lead), models.index(model), coords["zone"].index(zone),
              coords["period"].index(period), coords["days"].index(days))
        for name, values in data.items():
            values[at] = result[name]
    dims = ("metric", "lead", "model", "zone", "period", "days")
    return xr.Dataset({name: (dims, values) for name, values in data.items()},
                      coords={"metric": list(metrics), "model": models, **coords})


def _bootstrap_of(rows: pd.DataFrame, block_days: int, n_boot: int, seed: int) -> Bootstrap:
    space = rows["space_block"].to_numpy() if "space_block" in rows else np.zeros(len(rows), int)
    return block_bootstrap(rows["issue_date"], space, block_days=block_days, n_boot=n_boot, seed=seed)


def flood_backtest_scores(rows: pd.DataFrame, models: list[str], *, reference: str, threshold: float,
                          level_bands: tuple[float, ...], seasons: dict[str, tuple[int, ...]],
                          row_thresholds: dict[str, str] | None = None, level_columns: dict[str, str] | None = None,
                          n_boot: int, block_days: int, seed: int, confidence: float = 0.9) -> xr.Dataset:
    """Flood scores (flood_metrics) of each model column of `rows`, dims (metric, lead, model, zone, period, days).

    `rows` has issue_date, lead, observed (0/1), weight (sampling weights) and a probability
    column per model; zone, space_block and wet_day optional. Brier skill is against the
    `reference` column. Alerts are prob >= `threshold`, or >= the per-row column named in
    `row_thresholds` for a model (the rain rule alerts where it warns); level k alerts are prob
    >= `level_bands[k-1]`, or for a model of `level_columns` the named column (its level issued) >= k. Also `reliability_*` (model, lead, days, bin) and
    `roc_hit_rate` (model, lead, days, false_alarm_rate) of zone and period 'all', for the report.
    """
    row_thresholds = row_thresholds or {}
    metrics = flood_metrics(len(level_bands))
    draws = _bootstrap_of(rows, block_days, n_boot, seed)
    observed_all, weight_all = rows["observed"].to_numpy(float), rows["weight"].to_numpy(float)
    cases, curves = {}, {}
    for key, mask in _subsets(rows, seasons):
        observed, weight = observed_all[mask], weight_all[mask]
        weights = np.vstack([weight, weight * draws.weights(mask)]) if key[1] == "all" else weight[None]
        reference_prob = rows[reference].to_numpy(float)[mask]
        for model in models:
            prob = rows[model].to_numpy(float)[mask]
            alert_at = rows[row_thresholds[model]].to_numpy(float)[mask] if model in row_thresholds else threshold
            level = rows[level_columns[model]].to_numpy()[mask] if model in (level_columns or {}) else None
            cases[(key, model)] = _flood_replicates(prob, observed, weights, reference_prob, alert_at, level_bands, level)
            if key[1:3] == ("all", "all"):
                curves[(key[0], key[3], model)] = (reliability_table(prob, observed, weight),
                                                   _roc_hit_rates(prob, observed, weight))
    scored = _with_contingency(list(cases.values()), first="")
    cells = {case: _summarise(replicates, metrics, confidence) for case, replicates in zip(cases, scored, strict=True)}
    scores_ = _as_dataset(cells, metrics, models)
    return scores_.merge(_curves_dataset(curves, scores_))


def _roc_hit_rates(prob: np.ndarray, observed: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Hit rate at each of FALSE_ALARM_RATES along the weighted ROC curve; NaN without both classes."""
    if not 0 < observed.sum() < len(observed):
        return np.full(len(FALSE_ALARM_RATES), np.nan)
    far, hit, _ = roc_curve(observed, prob, sample_weight=weight)
    return np.interp(FALSE_ALARM_RATES, far, hit)


def _curves_dataset(curves: dict, scores_: xr.Dataset) -> xr.Dataset:
    dims = ("model", "lead", "days")
    index = {d: list(scores_[d].values) for d in dims}
    shape = tuple(len(index[d]) for d in dims)
    table = {name: np.full((*shape, _MAX_BINS), np.nan)
             for name in ("reliability_forecast", "reliability_observed", "reliability_weight")}
    roc = np.full((*shape, len(FALSE_ALARM_RATES)), np.nan)
    for (lead, days, model), (reliability, hits) in curves.items():
        at = (index["model"].index(model), index["lead"].index(lead), index["days"].index(days))
        n = len(reliability)
        table["reliability_forecast"][at][:n] = reliability["forecast_mean"]
        table["reliability_observed"][at][:n] = reliability["observed_frequency"]
        table["reliability_weight"][at][:n] = reliability["weight"]
        roc[at] = hits
    data = {name: ((*dims, "bin"), values) for name, values in table.items()}
    data["roc_hit_rate"] = ((*dims, "false_alarm_rate"), roc)
    return xr.Dataset(data, coords={"false_alarm_rate": FALSE_ALARM_RATES, "bin": np.arange(_MAX_BINS)})


def heat_backtest_scores(rows: pd.DataFrame, points: list[str], quantiles: dict[float, str], *,
                         hot_threshold_degC: float, levels_degC: tuple[float, ...],
                         seasons: dict[str, tuple[int, ...]], n_boot: int, block_days: int, seed: int,
                         confidence: float = 0.9) -> xr.Dataset:
    """Heat scores (heat_metrics, degC) of the quantile model and point baselines, dims (metric, lead,
    model, zone, period, days).

    `rows` has issue_date, lead, observed (tasmax, degC) and the forecast columns (zone and
    space_block optional): `quantiles` maps each level to its column (scored as 'model', CRPS
    from the quantiles), `points` names point forecasts (their CRPS is their MAE). Hot days are
    tasmax (the median for the model) >= `hot_threshold_degC`; level k is tasmax >=
    `levels_degC[k-1]` on the day (the levels' persistence over days is not scored here), and
    `pod_level_k` is the level's hit rate.
    """
    metrics = heat_metrics(len(levels_degC))
    draws = _bootstrap_of(rows, block_days, n_boot, seed)
    models = ["model", *points]
    cases = {}
    for key, mask in _subsets(rows, seasons):
        observed = rows["observed"].to_numpy(float)[mask]
        weights = (np.vstack([np.ones(len(observed)), draws.weights(mask)]) if key[1] == "all"
                   else np.ones((1, len(observed))))
        for model in models:
            columns = {q: rows[c].to_numpy(float)[mask] for q, c in quantiles.items()} if model == "model" else None
            point = columns[0.5] if columns else rows[model].to_numpy(float)[mask]
            cases[(key, model)] = _heat_replicates(point, observed, weights, columns, hot_threshold_degC, levels_degC)
    scored = _with_contingency(list(cases.values()), first="hot_day_")
    cells = {case: _summarise(replicates, metrics, confidence) for case, replicates in zip(cases, scored, strict=True)}
    return _as_dataset(cells, metrics, models)
