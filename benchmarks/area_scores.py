"""The warning areas on the sealed test period: scores by area and lead, levels on flood days, flip-flop, FSS.

Usage: .venv/bin/python benchmarks/area_scores.py [--config configs/demo.yaml]

Reads the backtest of the config's `evaluation.test` period (run it first: `make backtest`): its
scores.nc (hazard `flood_area`, the flip-flop index, the fractions skill score) and its hindcasts
(the levels the heritage core had on the truth's flood days, and how many distinct values the cell
layer takes on the biggest flood day). Prints them and appends them with the git commit to
benchmarks/results/area_scores.csv, which docs/flood-skill.md quotes beside the ideal forecaster
(benchmarks/ideal_area_forecaster.py).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from results_csv import ROOT, append_rows, test_period_backtest

from pipelines.evaluation.truth import truth_flood_near
from pipelines.forecast.areas import city_areas

METRICS = ("brier_skill_score", "roc_auc", "reliability_error", *(f"{m}_level_{k}" for k in (1, 2, 3, 4)
                                                                   for m in ("pod", "far", "csi")))
CORE = "zone-core"


def _score_rows(scores: xr.Dataset, stamp: dict) -> list[dict]:
    rows = []
    areas = scores.sel(hazard="flood_area", period="all")
    for target in areas.target.values:
        for zone in areas.zone.values:
            for days in areas.days.values:
                for model in areas.model.values:
                    for lead in areas.lead.values:
                        at = {"target": target, "zone": zone, "days": days, "model": model, "lead": lead}
                        n_events = float(areas["score"].sel(metric="n_positive", **at))
                        if math.isnan(n_events):
                            continue
                        row = {"kind": "score", "target": str(target), "zone": str(zone), "days": str(days),
                               "model": str(model), "lead": int(lead), "n_events": int(n_events),
                               "n_rows": int(areas["score"].sel(metric="n_rows", **at))}
                        for metric in METRICS:
                            value = float(areas["score"].sel(metric=metric, **at))
                            if not math.isnan(value):
                                rows.append(stamp | row | {"metric": metric, "value": round(value, 4)})
    return rows


def _level_rows(config, folder: Path, stamp: dict) -> list[dict]:
    """Levels of the core at each lead on the truth's core flood days, and the cell layer's distinct values."""
    grids = [xr.load_dataset(p) for p in sorted((folder / "hindcasts").glob("*.nc"))]
    level = xr.concat([g["area_flood_level"] for g in grids], "issue_date")
    chance = xr.concat([g["flood_probability"] for g in grids], "issue_date")
    issue_dates = pd.DatetimeIndex(level.issue_date.values)
    ids = list(grids[0]["area_id"].values)
    days, near = truth_flood_near(config)
    template_land = grids[0]["flood_probability"].isel(issue_date=0, lead=0).notnull().values
    areas = city_areas(config, template_land)
    core = np.asarray(areas.membership[[areas.ids.index(CORE)]].todense()).ravel() > 0
    flooded_core = pd.Series(near[:, core].any(axis=1), index=days)
    rows = []
    for lead in level.lead.values:
        valid = issue_dates + pd.Timedelta(days=int(lead))
        on_flood_days = flooded_core.reindex(valid).fillna(False).to_numpy(bool)
        core_levels = level.sel(lead=lead).values[on_flood_days, ids.index(CORE)]
        top = max((k for k in range(1, 5) if np.isfinite(level.attrs.get("level_thresholds", [np.nan] * 4)[k - 1])),
                  default=1)
        for k in range(5):
            rows.append(stamp | {"kind": "core_levels_on_flood_days", "target": "truth", "zone": CORE, "lead": int(lead),
                                 "metric": f"days_at_level_{k}", "value": int((core_levels == k).sum()),
                                 "n_events": int(on_flood_days.sum())})
        rows.append(stamp | {"kind": "core_levels_on_flood_days", "target": "truth", "zone": CORE, "lead": int(lead),
                             "metric": f"share_at_or_above_level_{top}",
                             "value": round(float((core_levels >= top).mean()) if len(core_levels) else math.nan, 3),
                             "n_events": int(on_flood_days.sum())})
    city = np.asarray(areas.membership.sum(axis=0)).ravel() > 0
    scored = issue_dates[issue_dates.isin(days)]
    biggest = scored[np.argmax([near[days.get_loc(d)][city].sum() for d in scored])]
    if len(scored):
        values = chance.sel(issue_date=biggest, lead=0).values
        rows.append(stamp | {"kind": "cell_layer", "target": "truth", "zone": "city", "lead": 0,
                             "metric": f"distinct_values_{biggest.date()}", "value": int(np.unique(values[np.isfinite(values)]).size)})
    return rows


def _markdown(rows: list[dict], city: str) -> str:
    """The docs' table: the model's Brier skill and CSI at level 2 against the truth on wet days by area
    group and lead, beside the ideal forecaster's of the same `city` (benchmarks/results/ideal_area_forecaster.csv;
    '-' where it has not been run for that city)."""
    ideal_path = ROOT / "benchmarks" / "results" / "ideal_area_forecaster.csv"
    ideal = pd.read_csv(ideal_path) if ideal_path.exists() else pd.DataFrame(columns=["commit", "city"])
    ideal = ideal[ideal["city"] == city]
    ideal = ideal[ideal["commit"] == ideal["commit"].iloc[-1]] if len(ideal) else ideal
    got = pd.DataFrame([r for r in rows if r["kind"] == "score" and r["target"] == "truth" and r["days"] == "wet"
                        and r["model"] == "model"])
    lines = ["| area | lead | events | Brier skill | CSI level 2 | ideal, issued rain | ideal, observed rain |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for zone in ("city", "district-timur-laut", "zone-core", "zone-buffer", "site"):
        for lead in (0, 1, 2):
            at = got[(got["zone"] == zone) & (got["lead"] == lead)]
            if at.empty:
                continue
            value = dict(zip(at["metric"], at["value"], strict=True))

            bounds = []
            for weather in ("issued_rain", "observed_rain"):
                pick = ideal[(ideal["area_group"] == zone) & (ideal["lead"] == lead) & (ideal["days"] == "wet")
                             & (ideal["weather"] == weather)] if len(ideal) else ideal
                bounds.append(f"{pick['bss'].iloc[-1]:.2f}" if len(pick) else "-")
            lines.append(f"| {zone} | {lead} | {int(at['n_events'].iloc[0])} | {value['brier_skill_score']:.2f} | "
                         f"{value.get('csi_level_2', math.nan):.2f} | {bounds[0]} | {bounds[1]} |")
    return "\n".join(lines)


def main() -> None:
    config, folder, stamp = test_period_backtest(__doc__.splitlines()[0])
    if not (folder / "scores.nc").exists():
        raise SystemExit(f"{folder / 'scores.nc'}: no backtest of the test period {stamp['test_period']}; "
                         "run `make backtest`")
    with xr.open_dataset(folder / "scores.nc") as scores:
        rows = _score_rows(scores, stamp)
        for (group, levels), value in scores["flip_flop_index"].to_series().items():
            rows.append(stamp | {"kind": "flip_flop_index", "zone": group, "model": levels, "metric": "flip_flop_index",
                                 "value": round(float(value), 4)})
        for (target, lead, scale), value in scores["fractions_skill_score"].to_series().items():
            rows.append(stamp | {"kind": "cell_fss", "target": target, "lead": int(lead), "zone": "city",
                                 "metric": f"fss_{int(scale)}m", "value": round(float(value), 4)})
    if truth_flood_near(config) is not None:
        rows += _level_rows(config, folder, stamp)
    for row in rows:
        if row["kind"] != "score" or (row["model"] == "model" and row["metric"] in ("brier_skill_score", "csi_level_2")):
            print(" ".join(f"{k}={row[k]}" for k in ("kind", "target", "zone", "days", "model", "lead", "metric",
                                                      "value", "n_events") if k in row))
    print(_markdown(rows, config.city.slug))
    fields = list(stamp) + ["kind", "target", "zone", "days", "model", "lead", "metric", "value", "n_events", "n_rows"]
    append_rows(ROOT / "benchmarks" / "results" / "area_scores.csv", fields, rows)


if __name__ == "__main__":
    main()
