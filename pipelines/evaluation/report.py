"""The backtest report: one self-contained HTML file, its plots as embedded PNGs, drawn from scores.nc.

Every plot reads the scores Dataset (pipelines.evaluation.verify.score), never the rows: what the
report shows, a researcher can rescore or replot from scores.nc. Beside each score in a table stand
the rows and events it rests on (models.backtest_scores.events_metric); a score on fewer than
MIN_EVENTS events is greyed and marked in the tables, and drawn as a hollow marker in the plots.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from models.backtest import OUTCOMES
from models.backtest_scores import MONTHS, events_metric, level_metrics
from models.verification import MIN_EVENTS, too_few_events
from pipelines.config import CityConfig
from pipelines.storage import write_text_atomic
from pipelines.templating import render
from pipelines.training.figures import MODEL_COLOURS, RELIABILITY_LINEAR_BELOW, reliability_axes

SECTIONS = ("summary", "headline", "warning-areas", "by-lead", "levels", "by-period", "reliability", "roc", "maps", "calendar",
            "reproducibility")
_BY_LEAD = {"flood": ("roc_auc", "pr_auc", "brier_skill_score", "csi"),
            "heat": ("mae_degC", "rmse_degC", "crps_degC", "bias_degC")}
_HEADLINE = {"flood": ("roc_auc", "pr_auc", "brier", "brier_skill_score", "pod", "far", "csi", "frequency_bias"),
             "heat": ("mae_degC", "rmse_degC", "bias_degC", "crps_degC", "interval_coverage",
                      "rmse_hottest_10pct_degC")}
_BY_PERIOD = {"flood": "brier_skill_score", "heat": "mae_degC"}
_AREA_METRICS = ("brier_skill_score", "roc_auc", "reliability_error", "pod_level_1", "far_level_1", "csi_level_2",
                 "far_level_3")
_AREA_ZONES = ("city", "zone-core", "zone-buffer", "site")  # the warning areas with a table each, when scored
_LEVEL_SCORES = ("pod", "far", "csi", "frequency_bias")
_ALL = {"zone": "all", "period": "all"}
_OUTCOME_COLOURS = {"correct_negative": "#f0f0f0", "hit": "#1a9850", "miss": "#d73027", "false_alarm": "#fdae61"}
# What each metric id of models.backtest_scores is called in the report; levels are appended by metric_name.
METRIC_NAMES = {
    "roc_auc": "area under the ROC curve", "pr_auc": "area under the precision-recall curve",
    "brier": "Brier score", "brier_skill_score": "Brier skill score", "reliability_error": "reliability error",
    "pod": "probability of detection", "far": "false alarm ratio", "csi": "critical success index",
    "frequency_bias": "frequency bias", "hot_day_pod": "probability of detection, hot days",
    "hot_day_far": "false alarm ratio, hot days", "hot_day_csi": "critical success index, hot days",
    "mae_degC": "mean absolute error (degC)", "rmse_degC": "root mean square error (degC)",
    "bias_degC": "mean error (degC)", "crps_degC": "continuous ranked probability score (degC)",
    "rmse_hottest_10pct_degC": "root mean square error, hottest 10% of days (degC)",
    "interval_coverage": "share of days inside the forecast interval",
}


def metric_name(metric: str) -> str:
    """The report's name of the metric id `metric` ('pod_level_2': 'probability of detection, level 2');
    the id itself where it has none."""
    name, _, level = metric.partition("_level_")
    return f"{METRIC_NAMES.get(name, name)}, level {level}" if level else METRIC_NAMES.get(metric, metric)


def _png(figure: Figure) -> str:
    """The figure as a PNG data URI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _colour(scores: xr.Dataset, model: str) -> str:
    """One colour per model in every plot."""
    return MODEL_COLOURS[list(scores.model.values).index(model) % len(MODEL_COLOURS)]


def _models(scores: xr.Dataset, hazard: str, target: str) -> list[str]:
    values = scores["score"].sel(hazard=hazard, target=target, **_ALL, days="all")
    return [m for m in scores.model.values if np.isfinite(values.sel(model=m)).any()]


def _days(scores: xr.Dataset, hazard: str, target: str) -> list[str]:
    """'all', and 'wet' where that hazard and target were scored on wet days."""
    values = scores["score"].sel(hazard=hazard, target=target, **_ALL)
    return [d for d in scores.days.values if np.isfinite(values.sel(days=d)).any()]


def _too_few(scores: xr.Dataset, at: dict) -> xr.DataArray:
    """True where the score at `at` (a metric and more) rests on fewer than MIN_EVENTS events; never
    for a score on rows alone."""
    point = scores["score"].sel(**at)
    name = events_metric(at["metric"])
    if name is None or name not in scores.metric:
        return xr.zeros_like(point, dtype=bool)
    return too_few_events(scores["score"].sel(**at | {"metric": name}))


def _hollow(ax, x, values: xr.DataArray, few: xr.DataArray, colour: str) -> None:
    """Hollow markers over the points of `values` at `x` that rest on too few events."""
    few = np.asarray(few, bool)
    ax.plot(np.asarray(x)[few], np.asarray(values)[few], marker="o", linestyle="none", color=colour,
            markerfacecolor="white")


def _at_leads(scores: xr.Dataset, hazard: str) -> xr.Dataset:
    """`scores` at the leads `hazard` was scored at: flood looks fewer days ahead than heat, and its
    tables and panels stop at its last lead."""
    score = scores["score"].sel(hazard=hazard)
    scored = score.notnull().any([d for d in score.dims if d != "lead"])
    return scores.sel(lead=scores.lead.values[scored.values])


def _events_at(scores: xr.Dataset, at: dict) -> xr.DataArray | None:
    """The observed events (by lead) the score at `at` rests on, the same for every model; None for a
    score on rows alone or on alerts (a FAR: each model has its own)."""
    name = events_metric(at["metric"])
    if name is None or name not in scores.metric or "alerts" in name:
        return None
    return scores["score"].sel(**at | {"metric": name}).isel(model=0)


def _say(ax, text: str) -> None:
    """`text` across the middle of a panel, in grey: why it holds no line, or only hollow ones."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="grey", fontsize=8, wrap=True)


def _lines(ax, scores: xr.Dataset, at: dict, models: list[str]) -> None:
    """Score by lead of each model at `at`, with its confidence band; hollow where too few events. Each
    lead's tick gives the events its scores rest on; a panel with no score, or only scores on too few
    events, says so."""
    few = []
    for model in models:
        point, colour = scores["score"].sel(**at, model=model), _colour(scores, model)
        ax.plot(scores.lead, point, marker="o", label=model, color=colour)
        few.append(_too_few(scores, at | {"model": model}) | ~np.isfinite(point))
        _hollow(ax, scores.lead, point, few[-1], colour)
        ax.fill_between(scores.lead, scores["ci_low"].sel(**at, model=model),
                        scores["ci_high"].sel(**at, model=model), alpha=0.15, color=colour)
    events = _events_at(scores, at)
    ticks = [str(lead) for lead in scores.lead.values]
    if events is not None:
        ticks = [f"{lead}\n({n:.0f})" for lead, n in zip(ticks, events.values, strict=True)]
    ax.set_xticks(scores.lead.values, ticks, fontsize=7)
    ax.set_xlabel("lead (days)" if events is None else "lead (days), (events)", fontsize=8)
    if not np.isfinite(scores["score"].sel(**at, model=models)).any():
        _say(ax, "undefined: no event, no alert")
    elif np.all(few):
        _say(ax, f"fewer than {MIN_EVENTS} events:\nnot meaningful")


def _by_lead(scores: xr.Dataset, hazard: str, target: str) -> str:
    scores = _at_leads(scores, hazard)
    metrics, days = _BY_LEAD[hazard], _days(scores, hazard, target)
    figure = Figure(figsize=(3.6 * len(metrics), 3.0 * len(days)), layout="constrained")
    axes = np.array(figure.subplots(len(days), len(metrics), squeeze=False))
    for row, day in zip(axes, days, strict=True):
        for ax, metric in zip(row, metrics, strict=True):
            at = {"hazard": hazard, "target": target, "metric": metric, **_ALL, "days": day}
            _lines(ax, scores, at, _models(scores, hazard, target))
            ax.set_title(f"{metric_name(metric)} ({day} days)", fontsize=8)
            _clip_skill(ax, metric)
    _legend(figure, axes[0, 0])
    figure.suptitle(f"{hazard} against {target}: score by lead, {_level(scores)}% confidence bands")
    return _png(figure)


def _clip_skill(ax, metric: str) -> None:
    """A skill score's axis stops at -1: below, a replicate without events, whose reference scores
    almost perfectly, would squash the rest into a line."""
    if "skill" in metric:
        low, high = ax.get_ylim()
        ax.set_ylim(max(low, -1.0), min(max(high, 0.05), 1.0))


def _legend(figure: Figure, ax) -> None:
    """The models' legend in one row under the panels."""
    handles, labels = ax.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8, frameon=False)


def _level(scores: xr.Dataset) -> int:
    return round(100 * float(scores.attrs.get("confidence", 0.9)))


def _levels(scores: xr.Dataset, hazard: str, target: str, day: str) -> str:
    """POD, FAR, CSI and frequency bias at each alert level by lead, with confidence bands."""
    scores = _at_leads(scores, hazard)
    starts = scores.attrs["flood_level_bands" if hazard == "flood" else "heat_levels_degC"]
    unit = "" if hazard == "flood" else " degC"
    figure = Figure(figsize=(3.2 * len(starts), 2.5 * len(_LEVEL_SCORES)), layout="constrained")
    axes = np.array(figure.subplots(len(_LEVEL_SCORES), len(starts), squeeze=False, sharey="row"))
    for i, name in enumerate(_LEVEL_SCORES):
        for k, start in enumerate(starts, 1):
            at = {"hazard": hazard, "target": target, "metric": f"{name}_level_{k}", **_ALL, "days": day}
            _lines(axes[i, k - 1], scores, at, _models(scores, hazard, target))
            axes[i, k - 1].set_title(f"{metric_name(at['metric'])} (from {start:g}{unit})", fontsize=8)
    _legend(figure, axes[0, 0])
    figure.suptitle(f"{hazard} alert levels against {target} ({day} days): {_level(scores)}% confidence bands")
    return _png(figure)


def _by_period(scores: xr.Dataset, hazard: str, target: str) -> str:
    """The headline metric per period (x, each with the events its scores rest on) and zone scored
    (panels) at lead 0, one line per model; hollow where too few events."""
    metric = _BY_PERIOD[hazard]
    scored = scores["score"].sel(hazard=hazard, target=target, metric=metric, lead=scores.lead[0], days="all")
    zones = [z for z in scores.zone.values if np.isfinite(scored.sel(zone=z)).any()]
    figure = Figure(figsize=(3.8 * len(zones), 3.2), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(zones), sharey=True))
    periods, models = list(scores.period.values), _models(scores, hazard, target)
    x = np.arange(len(periods))
    for ax, zone in zip(axes, zones, strict=True):
        for k, model in enumerate(models):
            at = {"hazard": hazard, "target": target, "metric": metric, "lead": scores.lead[0], "model": model,
                  "zone": zone, "days": "all"}
            values, colour, shifted = scores["score"].sel(**at), _colour(scores, model), x + (k - (len(models) - 1) / 2) * 0.12
            ax.plot(shifted, values, marker="o", linestyle="none", label=model, color=colour)
            _hollow(ax, shifted, values, _too_few(scores, at), colour)
        for edge in (0.5, 0.5 + sum(p not in MONTHS for p in periods[1:])):  # all | seasons | months
            ax.axvline(edge, color="grey", linewidth=0.6)
        events = _events_at(scores, {"hazard": hazard, "target": target, "metric": metric, "lead": scores.lead[0],
                                     "zone": zone, "days": "all"})
        ticks = periods if events is None else [f"{p} ({n:.0f})" if np.isfinite(n) else p
                                                for p, n in zip(periods, events.values, strict=True)]
        ax.set_xticks(x, ticks, rotation=60, fontsize=7)
        ax.set_title(f"zone {zone}" + ("" if events is None else " (events)"), fontsize=9)
        _clip_skill(ax, metric)
    axes[0].set_ylabel(metric_name(metric))
    _legend(figure, axes[0])
    figure.suptitle(f"{hazard} {metric_name(metric)} against {target} by season and month, lead {int(scores.lead[0])}")
    return _png(figure)


def _flooded(scores: xr.Dataset, target: str, lead: int, day: str) -> str:
    """'<n> flooded of <rows> rows': what a flood curve at `lead` rests on (zone and period all)."""
    at = {"hazard": "flood", "target": target, "lead": lead, "days": day, "model": scores.model[0], **_ALL}
    return f"{_count(scores, at, 'n_positive')} flooded of {_count(scores, at, 'n_rows')} rows"


def _reliability(scores: xr.Dataset, target: str, day: str) -> str:
    scores = _at_leads(scores, "flood")
    leads = scores.lead.values
    figure = Figure(figsize=(4 * len(leads), 3.6), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(leads)))
    at = {"hazard": "flood", "target": target, "days": day}
    top = 1.5 * max(float(np.nanmax(scores["reliability_observed"].sel(**at))),
                    float(np.nanmax(scores["reliability_forecast"].sel(**at))), 1e-3)
    for ax, lead in zip(axes, leads, strict=True):
        for model in _models(scores, "flood", target):
            ax.plot(scores["reliability_forecast"].sel(**at, model=model, lead=lead),
                    scores["reliability_observed"].sel(**at, model=model, lead=lead),
                    marker="o", label=model, color=_colour(scores, model))
        reliability_axes(ax, top, f"lead {lead} ({_flooded(scores, target, lead, day)})")
    _legend(figure, axes[0])
    figure.suptitle(f"flood reliability against {target}, {day} days (axes logarithmic above {RELIABILITY_LINEAR_BELOW:g})")
    return _png(figure)


def _roc(scores: xr.Dataset, target: str, day: str) -> str:
    scores = _at_leads(scores, "flood")
    leads = scores.lead.values
    figure = Figure(figsize=(3.6 * len(leads), 3.6), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(leads)))
    for ax, lead in zip(axes, leads, strict=True):
        for model in _models(scores, "flood", target):
            at = {"hazard": "flood", "target": target, "model": model, "lead": lead, "days": day}
            auc = float(scores["score"].sel(**at, **_ALL, metric="roc_auc"))
            ax.plot(scores.false_alarm_rate, scores["roc_hit_rate"].sel(**at), label=f"{model} ({auc:.2f})",
                    color=_colour(scores, model))
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
        ax.set(title=f"lead {lead} ({_flooded(scores, target, lead, day)})", xlabel="false alarm rate",
               ylabel="hit rate")
        ax.legend(fontsize=7)
    figure.suptitle(f"flood ROC curves against {target}, {day} days (ROC AUC in brackets)")
    return _png(figure)


def _extent(layer: xr.DataArray) -> tuple[float, float, float, float]:
    dx, dy = float(abs(layer.x[1] - layer.x[0])), float(abs(layer.y[1] - layer.y[0]))
    return (float(layer.x.min()) - dx / 2, float(layer.x.max()) + dx / 2,
            float(layer.y.min()) - dy / 2, float(layer.y.max()) + dy / 2)


def _map_panel(ax, layer: xr.DataArray, land: xr.DataArray, norm, cmap: str, label: str, figure: Figure) -> None:
    """A (y, x) layer on a grey land mask; drawn as dots where it covers only a few cells (stations)."""
    extent = _extent(layer)
    ax.imshow(np.where(land.values, 0.85, np.nan), extent=extent, cmap="gray", vmin=0, vmax=1, origin="upper")
    finite = np.isfinite(layer.values)
    if finite.sum() > 200:
        shown = ax.imshow(layer.values, extent=extent, norm=norm, cmap=cmap, origin="upper")
    else:
        yy, xx = np.meshgrid(layer.y.values, layer.x.values, indexing="ij")
        shown = ax.scatter(xx[finite], yy[finite], c=layer.values[finite], norm=norm, cmap=cmap, s=40,
                           edgecolors="black", linewidths=0.5)
    ax.set(xticks=[], yticks=[], aspect="equal")
    figure.colorbar(shown, ax=ax, shrink=0.8, label=label)


def _maps(scores: xr.Dataset) -> str | None:
    """Per-cell flood Brier score (log colours) and heat bias (diverging), one panel per target; None
    without per-cell scores."""
    panels = [(name, target) for name in ("brier_map", "heat_bias_map") if name in scores
              for target in scores[name].target.values if np.isfinite(scores[name].sel(target=target)).any()]
    if not panels:
        return None
    land = np.isfinite(scores["brier_map"]).any("target") if "brier_map" in scores else None
    figure = Figure(figsize=(4.6 * len(panels), 4.2), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(panels)))
    for ax, (name, target) in zip(axes, panels, strict=True):
        layer = scores[name].sel(target=target)
        values = layer.values[np.isfinite(layer.values)]
        if name == "brier_map":
            low = max(float(np.percentile(values[values > 0], 2)) if (values > 0).any() else 1e-6, 1e-6)
            norm, cmap = LogNorm(vmin=low, vmax=max(float(values.max()), low * 10)), "viridis"
            label, title = "Brier score", f"flood Brier score per cell against {target}"
        else:
            reach = max(float(np.percentile(np.abs(values), 98)), 0.1)
            norm, cmap = TwoSlopeNorm(0.0, -reach, reach), "RdBu_r"
            label, title = "q50 minus observed (degC)", f"heat bias per cell against {target}"
        _map_panel(ax, layer, land if land is not None else np.isfinite(layer), norm, cmap, label, figure)
        ax.set_title(title, fontsize=9)
    figure.suptitle("per-cell scores over all issue dates and leads")
    return _png(figure)


def _calendar(scores: xr.Dataset, hazard: str, target: str, lead: int) -> str:
    """Per asset (rows) and day (columns): hit, miss, false alarm or correct negative at `lead`."""
    codes = scores["asset_outcome"].sel(hazard=hazard, target=target, lead=lead).dropna("date", how="all")
    names = [f"{a} {n}"[:34] for a, n in zip(codes.asset.values, codes.asset_name.values, strict=True)]
    colours = ListedColormap([_OUTCOME_COLOURS[name] for name in OUTCOMES])
    norm = BoundaryNorm(np.arange(len(OUTCOMES) + 1) - 0.5, len(OUTCOMES))
    dates = pd.DatetimeIndex(codes.date.values)
    figure = Figure(figsize=(min(4 + len(dates) / 12, 20), 1.2 + 0.22 * len(names)), layout="constrained")
    ax = figure.subplots()
    ax.imshow(codes.values, aspect="auto", cmap=colours, norm=norm, interpolation="nearest")
    ticks = np.unique(np.linspace(0, len(dates) - 1, min(len(dates), 12)).round().astype(int))
    ax.set_xticks(ticks, [f"{d:%Y-%m-%d}" for d in dates[ticks]], rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    counts = {name: int((codes.values == code).sum()) for name, code in OUTCOMES.items()}
    ax.legend(handles=[Patch(color=_OUTCOME_COLOURS[n], label=f"{n.replace('_', ' ')} ({counts[n]})")
                       for n in OUTCOMES], fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(f"{hazard} alerts at each asset against {target}, lead {lead}: the day the forecast is for",
                 fontsize=9)
    return _png(figure)


def _calendars(scores: xr.Dataset, lead: int) -> list[str]:
    """The alert calendar at `lead` of every hazard and target with an asset both forecast and observed."""
    return [_calendar(scores, h, t, lead) for h in scores.hazard.values for t in scores.target.values
            if "asset_outcome" in scores
            and np.isfinite(scores["asset_outcome"].sel(hazard=h, target=t, lead=lead)).any()]


def _count(scores: xr.Dataset, at: dict, metric: str | None) -> int | None:
    """The count `metric` at `at`; None without one."""
    if metric is None or metric not in scores.metric:
        return None
    value = float(scores["score"].sel(**at | {"metric": metric}))
    return int(value) if np.isfinite(value) else None


def _table(scores: xr.Dataset, hazard: str, target: str, day: str, metrics: tuple[str, ...], zone: str = "all") -> dict:
    """`metrics` of each model by lead: per row metric (its id and `name`), model and cells, each cell
    its value (None where undefined) and confidence interval (None without one, or where it has no
    width: then `flat`, every replicate gave the value) as text, the rows (`n`) and events it rests on
    (`events`, None for a score on rows alone; `alerts` says they are alerts, for a FAR), and `few`:
    defined but on fewer than MIN_EVENTS events. The table's `few` and `flat`: any cell is. The leads are
    those the hazard was scored at."""
    scores = _at_leads(scores, hazard)
    rows = []
    for metric in metrics:
        counted = events_metric(metric)
        for model in _models(scores, hazard, target):
            at = {"hazard": hazard, "target": target, "metric": metric, "model": model, **_ALL, "zone": zone,
                  "days": day}
            cells = []
            for lead in scores.lead.values:
                value, low, high = (float(scores[v].sel(**at, lead=lead)) for v in ("score", "ci_low", "ci_high"))
                events = _count(scores, at | {"lead": lead}, counted)
                flat = bool(np.isfinite(value) and low == high)
                cells.append({"value": f"{value:.3g}" if np.isfinite(value) else None, "flat": flat,
                              "ci": f"[{low:.3g}, {high:.3g}]" if np.isfinite(low) and not flat else None,
                              "n": _count(scores, at | {"lead": lead}, "n_rows"), "events": events,
                              "alerts": counted is not None and "alerts" in counted,
                              "few": bool(np.isfinite(value) and events is not None and too_few_events(events))})
            rows.append({"metric": metric, "name": metric_name(metric), "model": str(model), "cells": cells})
    return {"hazard": hazard if zone == "all" else f"{hazard} {zone}", "target": target, "day": day,
            "leads": list(scores.lead.values), "rows": rows,
            "few": any(cell["few"] for row in rows for cell in row["cells"]),
            "flat": any(cell["flat"] for row in rows for cell in row["cells"])}


def _area_tables(scores: xr.Dataset) -> list[dict]:
    """The warning areas' scores by lead, one table per target, days and area of _AREA_ZONES scored."""
    if "flood_area" not in scores.hazard.values:
        return []
    zones = [z for z in _AREA_ZONES if z in scores.zone.values]
    per_day = _each(scores, lambda h, t, d: [_table(scores, h, t, d, _AREA_METRICS, zone) for zone in zones],
                    hazards=("flood_area",), by_day=True)
    return [table for tables in per_day for table in tables]


def _area_skill(scores: xr.Dataset, target: str) -> str:
    """Brier skill against each area's climatology by lead, per warning area of _AREA_ZONES (columns) and
    days (rows): the model and the area baselines, with confidence bands (zone 'all' only)."""
    scores = _at_leads(scores, "flood_area")
    zones = [z for z in _AREA_ZONES if z in scores.zone.values]
    days = _days(scores, "flood_area", target)
    figure = Figure(figsize=(3.4 * len(zones), 2.8 * len(days)), layout="constrained")
    axes = np.array(figure.subplots(len(days), len(zones), squeeze=False))
    for row, day in zip(axes, days, strict=True):
        for ax, zone in zip(row, zones, strict=True):
            at = {"hazard": "flood_area", "target": target, "metric": "brier_skill_score", "period": "all",
                  "zone": zone, "days": day}
            _lines(ax, scores, at, _models(scores, "flood_area", target))
            ax.set_title(f"{zone} ({day} days)", fontsize=9)
            _clip_skill(ax, "brier_skill_score")
    _legend(figure, axes[0, 0])
    figure.suptitle(f"warning areas against {target}: Brier skill by lead")
    return _png(figure)


def _area_extras(scores: xr.Dataset) -> dict:
    """The flip-flop index of the area levels (with the pairs of issues it rests on, where scores.nc
    has them) and the fractions skill score of the cell layer, as text rows."""
    out = {"flip_flop": [], "fss": []}
    if "flip_flop_index" in scores:
        for group in scores.area_group.values:
            issued, held = (float(scores["flip_flop_index"].sel(area_group=group, area_levels=k))
                            for k in ("issued", "hysteresis"))
            pairs = (int(scores["flip_flop_pairs"].sel(area_group=group, area_levels="issued"))
                     if "flip_flop_pairs" in scores else None)  # scores.nc written before the pairs were kept
            out["flip_flop"].append({"group": str(group), "issued": f"{issued:.3f}", "hysteresis": f"{held:.3f}",
                                     "pairs": pairs})
    if "fractions_skill_score" in scores:
        fss = scores["fractions_skill_score"]
        for target in fss.target.values:
            for scale in fss.fss_scale_m.values:
                out["fss"].append({"target": str(target), "scale_m": int(scale), "leads": [
                    f"{float(v):.3f}" for v in fss.sel(target=target, fss_scale_m=scale).dropna("lead").values]})
    return out


def _site_heat_levels(scores: xr.Dataset) -> dict:
    """Per target and heritage site, the hit rate and false alarm ratio of each MET Malaysia heat level
    with the site-days they rest on (events, alerts), as text; and the flip-flop index of the sites' heat
    levels with its pairs. Empty where scores.nc has none (written before, or no target sees a site's heat)."""
    out = {"levels": [], "flip_flop": []}
    if "site_heat_level_hit_rate" in scores:
        names = dict(zip(scores.asset.values, scores["asset_name"].values, strict=True)) if "asset_name" in scores else {}
        for target in scores.target.values:
            at = scores.sel(target=target)
            if not np.isfinite(at["site_heat_level_events"]).any():
                continue
            for asset in at.asset.values:
                cells = []
                for level in at.heat_level.values:
                    pick = {"asset": asset, "heat_level": level}
                    hit, false, events, alerts = (float(at[name].sel(**pick)) for name in (
                        "site_heat_level_hit_rate", "site_heat_level_false_alarm_ratio", "site_heat_level_events",
                        "site_heat_level_alerts"))
                    cells.append({"hit": f"{hit:.2f}" if np.isfinite(hit) else "–",
                                  "false": f"{false:.2f}" if np.isfinite(false) else "–",
                                  "events": int(events) if np.isfinite(events) else 0,
                                  "alerts": int(alerts) if np.isfinite(alerts) else 0,
                                  "few": bool(np.isfinite(hit) and too_few_events(events))})
                out["levels"].append({"target": str(target), "asset": str(asset),
                                      "name": str(names.get(asset, asset)), "cells": cells})
    if "heat_level_flip_flop_index" in scores:
        for site in scores.flip_flop_site.values:
            value = float(scores["heat_level_flip_flop_index"].sel(flip_flop_site=site))
            out["flip_flop"].append({"site": str(site), "index": f"{value:.3f}" if np.isfinite(value) else "–",
                                     "pairs": int(scores["heat_level_flip_flop_pairs"].sel(flip_flop_site=site))})
    return out


def _level_table(scores: xr.Dataset, hazard: str, target: str, day: str) -> dict:
    """POD, FAR, CSI and frequency bias at each alert level by lead, as `_table`."""
    n_levels = len(scores.attrs["flood_level_bands" if hazard == "flood" else "heat_levels_degC"])
    return _table(scores, hazard, target, day, level_metrics(n_levels))


def _each(scores: xr.Dataset, draw, hazards=("flood", "heat"), by_day: bool = False) -> list:
    """What `draw(hazard, target[, day])` returns for every hazard and target scored (and day subset)."""
    out = []
    for hazard in (h for h in hazards if h in scores.hazard.values):
        for target in scores.target.values:
            if not _models(scores, hazard, target):
                continue
            days = _days(scores, hazard, target) if by_day else [None]
            out += [draw(hazard, target, *([day] if by_day else [])) for day in days]
    return out


_RECORD_GROUPS = {"libraries": "Library versions", "input_sha256": "Inputs: SHA-256 of each file or folder",
                  "config": "Configuration"}  # titles of the record's nested fields (pipelines.evaluation.record)


def _flat(values: dict, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted field, text) of every leaf of `values`: lists of plain values joined by commas, others as JSON."""
    rows = []
    for key, value in values.items():
        if isinstance(value, dict) and value:
            rows += _flat(value, f"{prefix}{key}.")
        elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            rows.append((f"{prefix}{key}", ", ".join(map(str, value))))
        else:
            rows.append((f"{prefix}{key}", value if isinstance(value, str) else json.dumps(value)))
    return rows


def _record_tables(record: dict) -> list[dict]:
    """The run record as titled tables of (field, text) rows: its plain fields, its origins, then each
    nested group (those of _RECORD_GROUPS first, in its order) flattened to dotted fields."""
    tables = [{"title": "Run", "rows": _flat({k: v for k, v in record.items() if not isinstance(v, dict | list)})}]
    if record.get("origins"):
        tables.append({"title": "Origins: each retrains on the data before it, then hindcasts to its last issue date",
                       "rows": [(first, f"to {last}") for first, last in record["origins"]]})
    groups = sorted((key for key, value in record.items() if isinstance(value, dict)),
                    key=lambda key: list(_RECORD_GROUPS).index(key) if key in _RECORD_GROUPS else len(_RECORD_GROUPS))
    return tables + [{"title": _RECORD_GROUPS.get(key, key), "rows": _flat(record[key])} for key in groups]


def write_report(scores: xr.Dataset, record: dict, path: Path) -> Path:
    """One HTML file (plots embedded as base64 PNGs) with a section per name in SECTIONS, from
    pipelines/templates/report.html.j2."""
    lead = int(scores.lead.values[0])
    return write_text_atomic(path, render(
        "report.html.j2", record=record, record_tables=_record_tables(record),
        targets=[str(t) for t in scores.target.values], bootstrap=scores.attrs["bootstrap"],
        flood_bands=", ".join(f"{b:g}" for b in scores.attrs["flood_level_bands"]),
        heat_levels=", ".join(f"{t:g}" for t in scores.attrs["heat_levels_degC"]),
        min_events=MIN_EVENTS,
        tables=_each(scores, lambda h, t, d: _table(scores, h, t, d, _HEADLINE[h]), by_day=True),
        area_tables=_area_tables(scores), area_extras=_area_extras(scores), site_heat=_site_heat_levels(scores),
        area_skill=_each(scores, lambda h, t: _area_skill(scores, t), hazards=("flood_area",)),
        level_tables=_each(scores, lambda h, t, d: _level_table(scores, h, t, d), by_day=True),
        by_lead=_each(scores, lambda h, t: _by_lead(scores, h, t)),
        alert_levels=_each(scores, lambda h, t, d: _levels(scores, h, t, d), by_day=True),
        by_period=_each(scores, lambda h, t: _by_period(scores, h, t)),
        reliability=_each(scores, lambda h, t, d: _reliability(scores, t, d), hazards=("flood",), by_day=True),
        roc=_each(scores, lambda h, t, d: _roc(scores, t, d), hazards=("flood",), by_day=True),
        maps=_maps(scores), calendar_lead=lead, calendars=_calendars(scores, lead)))


def summary_markdown(config: CityConfig, scores: xr.Dataset, written: dict[str, list[Path]]) -> str:
    """Headline table for the Prefect UI: ROC AUC and BSS (flood), MAE (heat) by lead and model, marked †
    where they rest on fewer than MIN_EVENTS events."""
    lines = [f"# Backtest {config.city.name}, {scores.attrs['start']} to {scores.attrs['end']}", "",
             "| hazard | target | metric | model | " + " | ".join(f"lead {v}" for v in scores.lead.values) + " |",
             "|---|---|---|---|" + "---|" * scores.sizes["lead"]]
    for hazard, metric in (("flood", "roc_auc"), ("flood", "brier_skill_score"), ("heat", "mae_degC")):
        for target in scores.target.values:
            at = {"hazard": hazard, "target": target, "metric": metric, "zone": "all", "period": "all", "days": "all"}
            table, few = scores["score"].sel(**at), _too_few(scores, at)
            for model in table.model.values:
                row = table.sel(model=model).values
                if np.isfinite(row).any():
                    lines.append(f"| {hazard} | {target} | {metric} | {model} | " + " | ".join(
                        ("–" if np.isnan(v) else f"{v:.3f}") + ("†" if flag else "")  # –: past the hazard's leads
                        for v, flag in zip(row, few.sel(model=model).values, strict=True)) + " |")
    if any("†" in line for line in lines):
        lines += ["", f"† rests on fewer than {MIN_EVENTS} events: not meaningful"]
    lines += ["", *(f"- {kind}: `{paths[0]}`" for kind, paths in written.items() if paths)]
    return "\n".join(lines)
