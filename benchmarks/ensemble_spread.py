"""The demo world's ensemble against its truth: spread, skill and rank histograms by variable and lead day.

Usage: .venv/bin/python benchmarks/ensemble_spread.py [--config configs/demo.yaml] [--members 20]

Builds the config's demo world with `--members` perturbed members (`source.ensemble_members`) in
data/<city>-ensemble/ unless the config asks for members itself (then in its own bundle); nothing is
rebuilt when that world is up to date (`make demo-ensemble`). Reads its member files of the
`evaluation.test` period and scores them against the
bundle's hourly weather history, the truth the demo's forecasts are drawn around, per regional
point, for the daily maximum temperature (tasmax, degC) and the daily rain (mm) of each local lead
day (cases whose lead day the history does not cover are left out). Per variable and lead day:

- spread: the square root of the mean variance across the M members (the control among them);
- ensemble_mean_rmse: the RMSE of the members' mean;
- spread_skill_ratio: spread / ensemble_mean_rmse x sqrt((M + 1) / M), 1 for members and truth
  drawn alike (for M exchangeable members, the mean's expected squared error is the spread's
  variance x (M + 1) / M; Fortin et al. 2014, J. Hydrometeor. 15, 1708-1713);
- control_rmse: the RMSE of the control (member 0), the single run the models use today;
- rank_reliability_index: sum over the M + 1 ranks of |share of cases at that rank - 1 / (M + 1)|
  (Delle Monache et al. 2006, J. Geophys. Res. 111, D05308), 0 for a flat rank histogram;
  ties (dry days) are broken at random. With N independent cases a flat histogram's sampling
  noise alone gives about sqrt(2 M / (pi N)); the points of one issue share most of their errors,
  so N is nearer the issue count than the cases (366 issues: about 0.19 for M = 21).

Appends one row per variable and lead day with the git commit to benchmarks/results/ensemble_spread.csv.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import xarray as xr
from results_csv import ROOT, append_rows, git_commit

from pipelines.bundle.checks import FORECASTS
from pipelines.config import CityConfig, PathsConfig, load_city_config
from pipelines.demo_world.generate import generate_demo

RESULTS = ROOT / "benchmarks" / "results" / "ensemble_spread.csv"
FIELDS = ["commit", "date", "city", "test_period", "variable", "lead_day", "members", "cases", "spread",
          "ensemble_mean_rmse", "spread_skill_ratio", "control_rmse", "rank_reliability_index"]


def daily_cases(forecast: xr.Dataset, history: xr.Dataset) -> dict[str, tuple[xr.DataArray, xr.DataArray]]:
    """Per variable, the (member, lead_day, y, x) forecast and (lead_day, y, x) truth of one member file:
    tasmax in degC and rain in mm per local lead day (forecasts are issued at local midnight)."""
    truth = history[["tas", "pr"]].reindex(time=forecast["time"].values).rename(time="lead_time")
    truth = truth.assign_coords(lead_time=forecast["lead_time"])
    by_day = {"lead_time": ("lead_day", "hour")}
    runs, seen = (ds[["tas", "pr"]].coarsen(lead_time=24).construct(by_day) for ds in (forecast, truth))
    return {"tasmax": (runs["tas"].max("hour"), seen["tas"].max("hour", skipna=False)),
            "rain": (runs["pr"].sum("hour"), seen["pr"].sum("hour", skipna=False))}


def scores(runs: np.ndarray, truth: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    """Spread, ensemble-mean and control RMSE, the corrected ratio and the rank reliability index of
    `runs` (member, case), member 0 the control, against `truth` (case)."""
    members = runs.shape[0]
    spread = float(np.sqrt(runs.var(axis=0, ddof=1).mean()))
    mean_rmse = float(np.sqrt(((runs.mean(axis=0) - truth) ** 2).mean()))
    below, tied = (runs < truth).sum(axis=0), (runs == truth).sum(axis=0)
    rank = below + rng.integers(0, tied + 1)  # 0 .. members
    share = np.bincount(rank, minlength=members + 1) / truth.size
    return {"members": members, "cases": truth.size, "spread": spread, "ensemble_mean_rmse": mean_rmse,
            "spread_skill_ratio": float(spread / mean_rmse * np.sqrt((members + 1) / members)),
            "control_rmse": float(np.sqrt(((runs[0] - truth) ** 2).mean())),
            "rank_reliability_index": float(np.abs(share - 1 / (members + 1)).sum())}


def ensemble_world(config: CityConfig, members: int) -> CityConfig:
    """`config` as it builds a demo world with members: itself when it asks for them, else with
    `members` members and its bundle and truth in data/<city>-ensemble/."""
    if config.source.ensemble_members:
        return config
    folder = ROOT / "data" / f"{config.city.slug}-ensemble"
    return config.model_copy(update={
        "source": config.source.model_copy(update={"ensemble_members": members}),
        "paths": PathsConfig(bundle=folder / "bundle", store=config.paths.store)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.yaml")
    parser.add_argument("--members", type=int, default=20, help="perturbed members beside the control")
    args = parser.parse_args()
    config = ensemble_world(load_city_config(args.config), args.members)
    bundle = generate_demo.fn(config)
    start, end = config.protocol.test
    stamp = {"commit": git_commit(), "date": dt.date.today().isoformat(), "city": config.city.slug,
             "test_period": f"{start}..{end}"}
    days = [start + dt.timedelta(days=d) for d in range((end - start).days + 1)]
    paths = [bundle / FORECASTS / f"{day}.nc" for day in days]
    collected = {"tasmax": ([], []), "rain": ([], [])}
    with xr.open_dataset(bundle / "weather" / "history.nc") as history:
        history = history[["tas", "pr"]].load()
        for path in paths:
            with xr.open_dataset(path, decode_timedelta=True) as forecast:
                if "member" not in forecast.dims:
                    raise SystemExit(f"{path}: no `member` dim: source.ensemble_issues leaves out the test period")
                for name, (runs, truth) in daily_cases(forecast.load(), history).items():
                    collected[name][0].append(runs.transpose("member", "lead_day", "y", "x").values)
                    collected[name][1].append(truth.transpose("lead_day", "y", "x").values)
    rng = np.random.default_rng(0)
    rows = []
    print(f"{'variable':8} {'lead':>4} {'M':>3} {'cases':>6} {'spread':>7} {'mean_rmse':>9} {'ratio':>6} "
          f"{'control':>7} {'RI':>6}")
    for name, (runs, truths) in collected.items():
        runs, truths = np.stack(runs, axis=1), np.stack(truths)  # (member, issue, lead_day, y, x), (issue, ...)
        for lead_day in range(truths.shape[1]):
            seen = np.isfinite(truths[:, lead_day])
            row = stamp | {"variable": name, "lead_day": lead_day} | scores(
                runs[:, :, lead_day][:, seen], truths[:, lead_day][seen], rng)
            rows.append(row)
            print(f"{name:8} {lead_day:>4} {row['members']:>3} {row['cases']:>6} {row['spread']:>7.3f} "
                  f"{row['ensemble_mean_rmse']:>9.3f} {row['spread_skill_ratio']:>6.3f} {row['control_rmse']:>7.3f} "
                  f"{row['rank_reliability_index']:>6.3f}")
    append_rows(RESULTS, FIELDS, [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
                                  for r in rows])
    print(f"appended {len(rows)} rows to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
