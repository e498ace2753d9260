"""Figures that go beside a model card: the flood model's reliability diagram, drawn from the card."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure

RELIABILITY_LINEAR_BELOW = 1e-4  # reliability axes: linear below this probability, logarithmic above
MODEL_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def reliability_axes(ax, top: float, title: str) -> None:
    """Finish a reliability diagram on `ax`: the diagonal of a perfectly reliable forecast, both axes
    from 0 to `top`, linear below RELIABILITY_LINEAR_BELOW and logarithmic above."""
    ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=0.8)
    ax.set_xscale("symlog", linthresh=RELIABILITY_LINEAR_BELOW)
    ax.set_yscale("symlog", linthresh=RELIABILITY_LINEAR_BELOW)
    ax.set(xlim=(0, top), ylim=(0, top), title=title, xlabel="forecast probability", ylabel="observed frequency")


def flood_reliability_png(evaluation: dict) -> bytes:
    """PNG of the flood card's reliability tables: one row per target and subset (reports / truth,
    all / wet days), one column per lead, one line per forecaster (forecast mean against observed
    frequency per probability bin), the diagonal for a perfectly reliable forecast.

    `evaluation` is the card's `scores.evaluation`: {target: {subset: {forecaster: {lead: scores}}}}.
    """
    panels = [(target, subset, forecasters) for target, subsets in evaluation.items()
              for subset, forecasters in subsets.items()]
    names = list(dict.fromkeys(name for _, _, forecasters in panels for name in forecasters))
    leads = [lead for lead in next(iter(panels[0][2].values())) if lead != "all"]
    figure = Figure(figsize=(3.6 * len(leads), 3.2 * len(panels)), layout="constrained")
    axes = np.atleast_2d(figure.subplots(len(panels), len(leads), squeeze=False))
    for row, (target, subset, forecasters) in zip(axes, panels, strict=True):
        tables = [forecasters[name][lead]["reliability"] for name in forecasters for lead in leads]
        top = 1.5 * max([1e-3, *(np.nanmax(np.r_[t["forecast_mean"], t["observed_frequency"], 0.0]) for t in tables)])
        for ax, lead in zip(row, leads, strict=True):
            for name in forecasters:
                table = forecasters[name][lead]["reliability"]
                ax.plot(table["forecast_mean"], table["observed_frequency"], marker="o", label=name,
                        color=MODEL_COLOURS[names.index(name) % len(MODEL_COLOURS)])
            reliability_axes(ax, top, f"against {target}, {subset} days, lead {lead}")
            ax.title.set_fontsize(9)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    figure.suptitle(f"Flood reliability on the held-out period and blocks "
                    f"(axes logarithmic above {RELIABILITY_LINEAR_BELOW:g})")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    return buffer.getvalue()
