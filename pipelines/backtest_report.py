"""The backtest report: one self-contained HTML file, its plots as embedded PNGs, drawn from scores.nc."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from pipelines.storage import write_text_atomic

SECTIONS = ("summary", "headline", "by-lead", "reliability", "roc", "reproducibility")
_BY_LEAD = {"flood": ("roc_auc", "pr_auc", "brier_skill_score", "csi"),
            "heat": ("mae_degC", "rmse_degC", "crps_degC", "bias_degC")}
_HEADLINE = {"flood": ("roc_auc", "pr_auc", "brier", "brier_skill_score", "pod", "far", "csi"),
             "heat": ("mae_degC", "rmse_degC", "bias_degC", "crps_degC", "interval_coverage",
                      "rmse_hottest_10pct_degC")}


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _models(scores: xr.Dataset, hazard: str, target: str) -> list[str]:
    values = scores["score"].sel(hazard=hazard, target=target, zone="all")
    return [m for m in scores.model.values if np.isfinite(values.sel(model=m)).any()]


def _by_lead(scores: xr.Dataset, hazard: str, target: str) -> str:
    metrics = _BY_LEAD[hazard]
    figure = Figure(figsize=(4 * len(metrics), 3.2))
    axes = np.atleast_1d(figure.subplots(1, len(metrics)))
    for ax, metric in zip(axes, metrics, strict=True):
        at = {"hazard": hazard, "target": target, "metric": metric, "zone": "all"}
        for model in _models(scores, hazard, target):
            line = scores["score"].sel(**at, model=model)
            ax.plot(scores.lead, line, marker="o", label=model)
            ax.fill_between(scores.lead, scores["ci_low"].sel(**at, model=model),
                            scores["ci_high"].sel(**at, model=model), alpha=0.2)
        ax.set(title=metric, xlabel="lead (days)", xticks=scores.lead.values)
    axes[0].legend(fontsize=7)
    level = round(100 * float(scores.attrs.get("confidence", 0.9)))
    figure.suptitle(f"{hazard} against {target}: score by lead, {level}% confidence bands")
    return _png(figure)


def _reliability(scores: xr.Dataset, target: str) -> str:
    leads = scores.lead.values
    figure = Figure(figsize=(4 * len(leads), 3.6))
    axes = np.atleast_1d(figure.subplots(1, len(leads)))
    for ax, lead in zip(axes, leads, strict=True):
        for model in _models(scores, "flood", target):
            at = {"hazard": "flood", "target": target, "model": model, "lead": lead, "zone": "all"}
            ax.plot(scores["reliability_forecast"].sel(**at), scores["reliability_observed"].sel(**at),
                    marker="o", label=model)
        top = float(np.nanmax(scores["reliability_observed"].sel(hazard="flood", target=target)))
        top = max(top, float(np.nanmax(scores["reliability_forecast"].sel(hazard="flood", target=target))), 1e-3)
        ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=0.8)
        ax.set(title=f"lead {lead}", xlabel="forecast probability", ylabel="observed frequency",
               xscale="symlog", yscale="symlog", xlim=(0, top), ylim=(0, top))
        ax.xaxis.set_major_formatter(ScalarFormatter())
    axes[0].legend(fontsize=7)
    figure.suptitle(f"flood reliability against {target} (symlog axes)")
    return _png(figure)


def _roc(scores: xr.Dataset, target: str) -> str:
    leads = scores.lead.values
    figure = Figure(figsize=(3.6 * len(leads), 3.6))
    axes = np.atleast_1d(figure.subplots(1, len(leads)))
    for ax, lead in zip(axes, leads, strict=True):
        for model in _models(scores, "flood", target):
            at = {"hazard": "flood", "target": target, "model": model, "lead": lead, "zone": "all"}
            auc = float(scores["score"].sel(**at, metric="roc_auc"))
            ax.plot(scores.false_alarm_rate, scores["roc_hit_rate"].sel(**at), label=f"{model} ({auc:.2f})")
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
        ax.set(title=f"lead {lead}", xlabel="false alarm rate", ylabel="hit rate")
        ax.legend(fontsize=7)
    figure.suptitle(f"flood ROC curves against {target}")
    return _png(figure)


def _table(scores: xr.Dataset, hazard: str, target: str) -> str:
    head = "".join(f"<th>lead {lead}</th>" for lead in scores.lead.values)
    rows = []
    for metric in _HEADLINE[hazard]:
        for model in _models(scores, hazard, target):
            at = {"hazard": hazard, "target": target, "metric": metric, "model": model, "zone": "all"}
            cells = []
            for lead in scores.lead.values:
                value, low, high = (float(scores[v].sel(**at, lead=lead)) for v in ("score", "ci_low", "ci_high"))
                ci = f" <small>[{low:.3g}, {high:.3g}]</small>" if np.isfinite(low) else ""
                cells.append(f"<td>{value:.3g}{ci}</td>" if np.isfinite(value) else "<td>–</td>")
            rows.append(f"<tr><td>{metric}</td><td>{html.escape(str(model))}</td>{''.join(cells)}</tr>")
    return (f"<h3>{hazard} against {target}</h3><table><tr><th>metric</th><th>model</th>{head}</tr>"
            + "".join(rows) + "</table>")


def write_report(scores: xr.Dataset, record: dict, path: Path) -> Path:
    """One HTML file (plots embedded as base64 PNGs) with a section per name in SECTIONS."""
    targets = list(scores.target.values)
    hazards = [h for h in ("flood", "heat") if h in scores.hazard.values]
    origins = record["origins"]
    parts = [
        f"<h1>Backtest: {html.escape(record['city'])}, {record['start']} to {record['end']}</h1>",
        ('<section id="summary"><h2>Summary</h2>'
         f"<p>{len(origins)} origins (first {origins[0][0]}, last {origins[-1][0]}); each retrains the flood "
         "and heat models on data before it and hindcasts the issue dates up to the next. Scored against "
         f"{', '.join(targets)}. Intervals: block bootstrap over issue days. Code "
         f"{html.escape(record['code_version'])}, seed {record['seed']}.</p></section>"),
        '<section id="headline"><h2>Scores by lead (zone all)</h2>'
        + "".join(_table(scores, h, t) for h in hazards for t in targets) + "</section>",
        '<section id="by-lead"><h2>Score by lead</h2>'
        + "".join(_by_lead(scores, h, t) for h in hazards for t in targets) + "</section>",
        '<section id="reliability"><h2>Reliability</h2>'
        + "".join(_reliability(scores, t) for t in targets) + "</section>",
        '<section id="roc"><h2>ROC curves</h2>' + "".join(_roc(scores, t) for t in targets) + "</section>",
        '<section id="reproducibility"><h2>Reproducibility</h2><pre>'
        + html.escape(json.dumps(record, indent=2, sort_keys=True)) + "</pre></section>",
    ]
    style = ("body{font-family:sans-serif;max-width:1400px;margin:auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}img{max-width:100%}")
    page = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Backtest {record['city']}"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>")
    return write_text_atomic(path, page)
