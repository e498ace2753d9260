"""Why the heat interval under-covers on the second demo city: the conformal scores, varied (issue #25).

Usage: .venv/bin/python benchmarks/heat_coverage.py [--config PATH] [--variable tasmax|tasmin]

Builds the evaluation fit's heat table once (the train flow's functions, the config's settings),
fits the quantile models without the held-out stations as the train flow does, and widens their
0.1-0.9 interval by the conformal scores of six calibration sets:

- rows: 'all' known rows (today's), or 'held-out' stations' rows only (places no model fitted);
- scores from 'two-sided' folds (each block of days forecast by models fitted on the blocks before
  and after it), 'forward' folds (each block by models fitted on the earlier blocks: what a forecast
  sees), 'station-and-day' folds (by models fitted on neither the row's block of days nor its group
  of stations), or the 'last year' before the test period (the validation year, forecast by the models).

Prints per variant and lead the widening (degC) and the test-year coverage on unseen days (seen
stations) and unseen stations. Then, to tell a miscalibration from a year unlike the others: per
year and lead, the mean and spread (standard deviation) of the regional forecast's error and of the
model median's (out of fold before the test year), and each year before the test period covered at
the held-out stations by its out-of-fold interval widened on the other years' scores. Appends every
figure to benchmarks/results/heat_coverage.csv with the git commit and date. Reads the config's
bundle and feature files (build them first).
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
from results_csv import ROOT, append_rows, git_commit

from models.heat.regression import (
    MEDIAN,
    conformal_widening,
    fit_heat_quantiles,
    out_of_fold_quantiles,
    predict_heat,
    regional_column,
)
from models.tables import HEAT_FEATURES
from pipelines.config import load_city_config
from pipelines.feature_cache.build import build_driver_history, build_static_features
from pipelines.training.heat import checked_station_records, heat_table
from pipelines.training.inputs import training_inputs

RESULTS = ROOT / "benchmarks" / "results" / "heat_coverage.csv"
FIELDS = ["commit", "date", "city", "variable", "variant", "lead", "quantity", "value"]


def _coverage(quantiles: dict[float, np.ndarray], observed: np.ndarray) -> float:
    """Share of `observed` inside the outer interval of `quantiles`."""
    low, high = quantiles[min(quantiles)], quantiles[max(quantiles)]
    return float(np.mean((observed >= low) & (observed <= high)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "second_city.yaml")
    parser.add_argument("--variable", default="tasmax", choices=("tasmax", "tasmin"))
    args = parser.parse_args()
    config = load_city_config(args.config)
    variable = args.variable
    paths = {"static": build_static_features.fn(config), "drivers": build_driver_history.fn(config)}
    _, drivers, cells, lonlat = training_inputs(config, paths)
    issue_dates = pd.DatetimeIndex(drivers.issue_date.values)
    records, held_ids = checked_station_records(config)
    obs, _, scored = records[variable]
    table, split, held_out = heat_table(config, variable, (obs, scored), drivers, cells, lonlat, issue_dates,
                                        held_ids)
    fit = {"features": HEAT_FEATURES, "quantiles": config.heat.quantiles, "seed": config.train.seed,
           "variable": variable}
    boosters = fit_heat_quantiles(table[(split == "train") & ~held_out], table[(split == "valid") & ~held_out],
                                  num_boost_round=config.train.num_boost_round, **fit)
    best = {q: b.best_iteration or config.train.num_boost_round for q, b in boosters.items()}
    known = np.isin(split, ["train", "valid"])
    observed, lead = table[variable].to_numpy(), table["lead"].to_numpy()
    scores = {kind: out_of_fold_quantiles(table, known, ~held_out, num_boost_round=best, forward=kind == "forward",
                                          by_station=kind == "station-and-day", **fit)
              for kind in ("two-sided", "forward", "station-and-day")}
    valid = split == "valid"
    scores["last year"] = {q: np.where(valid, v, np.nan) for q, v in predict_heat(boosters, table).items()}

    test = split == "test"
    plain = predict_heat(boosters, table[test])
    stamp = {"commit": git_commit(), "date": dt.date.today().isoformat(), "city": config.city.slug,
             "variable": variable}
    rows = []
    print(f"{config.city.slug} {variable}: {known.sum()} known rows ({(known & held_out).sum()} held-out stations), "
          f"{test.sum()} test rows ({(test & held_out).sum()} held-out stations)")
    print(f"{'variant':34s} lead  widening  n_calib  cover days  cover stations")
    for kind, quantiles in scores.items():
        for rows_name, chosen in (("all", known), ("held-out", known & held_out)):
            at = chosen & ~np.isnan(quantiles[min(quantiles)])
            widening = conformal_widening({q: v[at] for q, v in quantiles.items()}, observed[at], lead[at])
            widened = predict_heat(boosters, table[test], widening)
            variant = f"{kind} folds, {rows_name} rows" if kind != "last year" else f"last year, {rows_name} rows"
            for ld, w in widening.items():
                figures = {"widening_degC": w, "n_calibration": int((at & (lead == ld)).sum())}
                for holdout, place in (("unseen_days", ~held_out), ("unseen_stations", held_out)):
                    sel = place[test] & (lead[test] == ld)
                    figures[f"coverage_{holdout}"] = _coverage({q: v[sel] for q, v in widened.items()},
                                                               observed[test][sel])
                    figures[f"coverage_{holdout}_unwidened"] = _coverage({q: v[sel] for q, v in plain.items()},
                                                                         observed[test][sel])
                print(f"{variant:34s} {ld:4d}  {w:+8.2f}  {figures['n_calibration']:7d}  "
                      f"{figures['coverage_unseen_days']:10.3f}  {figures['coverage_unseen_stations']:14.3f}")
                rows += [stamp | {"variant": variant, "lead": ld, "quantity": k, "value": v} for k, v in figures.items()]

    print("\ntest year at unseen stations: RMSE (degC) of the median and of the raw regional forecast")
    for ld in np.unique(lead[test]):
        sel = held_out[test] & (lead[test] == ld)
        truth = observed[test][sel]
        figures = {"rmse_unseen_stations_degC": float(np.sqrt(np.mean((plain[MEDIAN][sel] - truth) ** 2))),
                   "regional_rmse_unseen_stations_degC": float(np.sqrt(np.mean(
                       (table[regional_column(variable)].to_numpy()[test][sel] - truth) ** 2)))}
        print(f"lead {ld}: model {figures['rmse_unseen_stations_degC']:.2f}, regional "
              f"{figures['regional_rmse_unseen_stations_degC']:.2f} "
              f"({1 - figures['rmse_unseen_stations_degC'] / figures['regional_rmse_unseen_stations_degC']:.0%} below)")
        rows += [stamp | {"variant": "test year", "lead": int(ld), "quantity": k, "value": v} for k, v in figures.items()]

    year = (issue_dates[table["issue_index"].to_numpy()] + pd.to_timedelta(lead, unit="D")).year
    median = np.where(test, np.nan, scores["two-sided"][0.5])
    median[test] = plain[0.5]
    errors = pd.DataFrame({"year": year, "lead": lead, "regional": observed - table[regional_column(variable)].to_numpy(),
                           "median": observed - median})
    print("\nerror (observed - forecast, degC) by target year; the median out of fold before the test year")
    print(f"{'year':>4s} lead  regional mean  sd   median mean  sd     n")
    for (y, ld), part in errors.groupby(["year", "lead"]):
        figures = {f"{name}_error_{stat}_degC": float(getattr(part[name], stat)())
                   for name in ("regional", "median") for stat in ("mean", "std")}
        print(f"{y:4d} {ld:4d}  {figures['regional_error_mean_degC']:+13.2f} {figures['regional_error_std_degC']:4.2f}"
              f"  {figures['median_error_mean_degC']:+11.2f} {figures['median_error_std_degC']:4.2f}  {len(part):5d}")
        rows += [stamp | {"variant": f"year {y}", "lead": ld, "quantity": k, "value": v} for k, v in figures.items()]
    print("\neach known year's coverage at held-out stations, its out-of-fold interval widened on the other years")
    print(f"{'variant':44s} year  " + "  ".join(f"lead {ld}" for ld in np.unique(lead)))
    for kind in ("two-sided", "station-and-day"):
        quantiles = scores[kind]
        for rows_name, chosen in (("all", known), ("held-out", known & held_out)):
            variant = f"{kind} folds, {rows_name} rows, other years"
            for y in np.unique(year[known]):
                at = chosen & (year != y)
                widening = conformal_widening({q: v[at] for q, v in quantiles.items()}, observed[at], lead[at])
                cover = {}
                for ld, w in widening.items():
                    sel = known & held_out & (year == y) & (lead == ld)
                    cover[ld] = _coverage({q: v[sel] + (w if q > MEDIAN else -w) for q, v in quantiles.items()},
                                          observed[sel])
                print(f"{variant:44s} {y:4d}  " + "  ".join(f"{c:6.3f}" for c in cover.values()))
                rows += [stamp | {"variant": f"{variant}, year {y}", "lead": ld, "quantity": "coverage_unseen_stations",
                                  "value": c} for ld, c in cover.items()]
    append_rows(RESULTS, FIELDS, rows)
    print(f"\nappended {len(rows)} rows to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
