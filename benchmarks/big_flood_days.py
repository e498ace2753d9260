"""Whether the flood forecast shrinks big events toward the average: on the test period's ten biggest
flood days of the demo truth, the forecast's expected area against the truth's, by lead.

The forecast's event is a flood within `flood.label_radius_m` of a cell, so its expected area is the
sum of `flood_probability` over land cells (cells) and the truth's is the number of land cells with
a truly flooded cell within that radius (pipelines.evaluation.truth.truth_flood_near). Reads the
hindcasts of the config's `evaluation.test` backtest (run it first: `make backtest`), prints a
table and appends it with the git commit to benchmarks/results/big_flood_days.csv.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from results_csv import ROOT, append_rows, test_period_backtest

from pipelines.evaluation.truth import truth_flood_near

N_DAYS = 10
LAYERS = {"model": "flood_probability", "climatology": "flood_climatology", "rain_rule": "flood_rain_rule"}


def expected_against_truth(chance: xr.DataArray, days: pd.DatetimeIndex, near: np.ndarray) -> pd.DataFrame:
    """Per valid day and lead: the expected number of cells (sum of `chance`, dims issue_date, lead, y, x)
    and the truth's number of cells (rows of `near`, one per day of `days`), on land cells only."""
    land = chance.isel(issue_date=0, lead=0).notnull().values.ravel()
    issue_dates = pd.DatetimeIndex(chance.issue_date.values)
    rows = []
    for lead in chance.lead.values:
        valid = issue_dates + pd.Timedelta(days=int(lead))
        known = valid.isin(days)
        expected = chance.sel(lead=lead).values.reshape(len(issue_dates), -1)[:, land].sum(axis=1)
        truth = near[days.get_indexer(valid[known])][:, land].sum(axis=1)
        rows.append(pd.DataFrame({"valid_date": valid[known], "lead": int(lead), "expected_cells": expected[known],
                                  "truth_cells": truth}))
    return pd.concat(rows, ignore_index=True)


def main() -> None:
    config, backtest, stamp = test_period_backtest(__doc__.splitlines()[0])
    folder, period = backtest / "hindcasts", stamp["test_period"]
    found = truth_flood_near(config)
    if found is None or not any(folder.glob("*.nc")):
        raise SystemExit(f"{folder}: needs the hindcasts of the test period {period} and a demo truth; "
                         "run the backtest first (`make backtest`)")
    days, near = found
    grids = [xr.open_dataset(p) for p in sorted(folder.glob("*.nc"))]
    tables = []
    for name, layer in LAYERS.items():
        table = expected_against_truth(xr.concat([g[layer] for g in grids], "issue_date"), days, near)
        tables.append(table.assign(forecast=name))
    table = everything = pd.concat(tables, ignore_index=True)
    lead0 = table[(table["lead"] == 0) & (table["forecast"] == "model")]
    biggest = lead0.nlargest(N_DAYS, "truth_cells")["valid_date"]
    table = table[table["valid_date"].isin(biggest)].assign(ratio=lambda t: t["expected_cells"] / t["truth_cells"])
    wide = table.pivot_table(index=["valid_date", "truth_cells"], columns=["forecast", "lead"], values="ratio")
    print(f"{config.city.slug}: expected / true flooded area (cells near a flood) on the {N_DAYS} biggest flood "
          f"days of {period}")
    print(wide.sort_index(level="truth_cells", ascending=False).round(2).to_string())
    for name, forecast in everything[everything["lead"] == 0].groupby("forecast"):
        top = forecast.nlargest(N_DAYS, "expected_cells")
        overall = forecast["expected_cells"].sum() / forecast["truth_cells"].sum()
        on_top = (f"{top['expected_cells'].sum() / top['truth_cells'].sum():.2f}" if top["truth_cells"].sum()
                  else "- (no flood on them)")
        print(f"{name}, lead 0: expected / true area over all {len(forecast)} days {overall:.2f}, "
              f"on its own {N_DAYS} largest forecasts {on_top}")
    model = table[table["forecast"] == "model"]
    within = model.groupby("lead")["ratio"].apply(lambda r: int(((r >= 0.5) & (r <= 2)).sum()))
    median = model.groupby("lead")["ratio"].median()
    for lead in within.index:
        print(f"lead {lead}: {within[lead]} of {N_DAYS} days within a factor of two; median ratio {median[lead]:.2f}")
    rows = [stamp | {"valid_date": r.valid_date.date().isoformat(), "forecast": r.forecast, "lead": r.lead,
                     "truth_cells": int(r.truth_cells), "expected_cells": round(float(r.expected_cells), 1),
                     "ratio": round(float(r.ratio), 3)} for r in table.itertuples()]
    append_rows(ROOT / "benchmarks" / "results" / "big_flood_days.csv", [*stamp, "valid_date", "forecast", "lead",
                                                                        "truth_cells", "expected_cells", "ratio"], rows)


if __name__ == "__main__":
    main()
