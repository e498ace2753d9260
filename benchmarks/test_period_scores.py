"""The headline scores: the backtest of the sealed test period, by lead, with the rows and events behind them.

Usage: .venv/bin/python benchmarks/test_period_scores.py [--config configs/demo.yaml]

Reads the scores of the backtest over the config's `evaluation.test` period (run it first:
`make backtest`), prints the model's and the baselines' headline scores by lead, and appends them
with the git commit to benchmarks/results/test_period_scores.csv, which docs/evaluation.md quotes.
"""

from __future__ import annotations

import math

import xarray as xr
from results_csv import ROOT, append_rows, test_period_backtest

HEADLINE = {  # (hazard, target, metric, count of its events)
    ("flood", "truth", "roc_auc", "n_positive"), ("flood", "truth", "brier_skill_score", "n_positive"),
    ("flood", "observations", "roc_auc", "n_positive"), ("flood", "observations", "brier_skill_score", "n_positive"),
    ("heat", "observations", "mae_degC", "n_rows"), ("heat", "observations", "interval_coverage", "n_rows"),
    ("heat", "observations", "rmse_degC", "n_rows"),
    ("heat", "observations", "crps_degC", "n_rows"),
}


def main() -> None:
    _, folder, stamp = test_period_backtest(__doc__.splitlines()[0])
    path = folder / "scores.nc"
    if not path.exists():
        raise SystemExit(f"{path}: no backtest of the test period {stamp['test_period']}; run `make backtest` first")
    rows = []
    with xr.open_dataset(path) as scores:
        at = {"zone": "all", "period": "all", "days": "all"}
        for hazard, target, metric, count in sorted(HEADLINE):
            if target not in scores.target.values:
                continue
            for model in scores.model.values:
                for lead in scores.lead.values:
                    pick = {**at, "hazard": hazard, "target": target, "model": model, "lead": lead}
                    value = float(scores["score"].sel(metric=metric, **pick))
                    if math.isnan(value):  # a baseline this hazard has not
                        continue
                    rows.append(stamp | {"hazard": hazard, "target": target, "metric": metric, "model": str(model),
                                         "lead": int(lead), "score": round(value, 4),
                                         "ci_low": round(float(scores["ci_low"].sel(metric=metric, **pick)), 4),
                                         "ci_high": round(float(scores["ci_high"].sel(metric=metric, **pick)), 4),
                                         count: int(scores["score"].sel(metric=count, **pick))})
    for row in rows:
        if row["model"] == "model":
            print(f"{row['hazard']} {row['target']} {row['metric']} lead {row['lead']}: {row['score']} "
                  f"[{row['ci_low']}, {row['ci_high']}] ({row.get('n_positive', row.get('n_rows'))} events/rows)")
    fields = list(stamp) + ["hazard", "target", "metric", "model", "lead", "score", "ci_low", "ci_high",
                            "n_positive", "n_rows"]
    append_rows(ROOT / "benchmarks" / "results" / "test_period_scores.csv", fields, rows)


if __name__ == "__main__":
    main()
