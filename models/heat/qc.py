"""Quality control of station temperatures before training, in the manner of CrowdQC.

Napoly, Grassmann and Meier (2018), Front. Earth Sci. 6:118: flag implausible values, values
stuck for days, and values far from what the other stations read that day (robust z-score
against the day's median and MAD); drop a station whose flags pass a share of its days, or
whose series does not follow the others (low correlation with the daily median). Flagged values
of the stations kept are dropped too. Every rejection carries a reason a person can read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_MAD_TO_SD = 1.4826  # MAD of a normal sample times this is its standard deviation


@dataclass(frozen=True)
class StationQC:
    """Thresholds of the station checks; the defaults follow CrowdQC where it gives one."""

    valid_range_degC: tuple[float, float] = (10.0, 48.0)  # a daily tasmax or tasmin outside is a gross error
    stuck_days: int = 4  # this many equal readings in a row are a stuck sensor
    outlier_z: float = 3.0  # |robust z| above this against the other stations that day
    max_flagged_share: float = 0.2  # a station with more flagged days is dropped whole
    min_correlation: float = 0.8  # of a station's kept days with the daily median of all stations
    min_days: int = 30  # fewer valid days: too short to judge or to learn from


def _stuck(values: pd.Series, run: int) -> np.ndarray:
    """True on readings inside a run of `run` or more equal consecutive values (NaN breaks runs)."""
    change = values.ne(values.shift()).cumsum()
    length = values.groupby(change).transform("size").to_numpy()
    return (length >= run) & values.notna().to_numpy()


def station_quality(obs: pd.DataFrame, qc: StationQC = StationQC(), *,
                    variable: str = "tasmax") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of `obs` whose `variable` passes, and one report row per station with its flags and verdict.

    `obs` has `station_id`, `date` and the column `variable` (degC, e.g. `tasmax` or `tasmin`),
    one row a station-day; each variable is checked on its own (a sensor in the sun reads warm
    afternoons, not warm nights). Rows without a value of `variable` are dropped. The report has
    `station_id`, `n_days`, `range_share`, `stuck_share`, `outlier_share`, `correlation`,
    `rejected` (bool) and `reason` ('' when kept). Robust z-scores need 3 or more stations on the
    day; with fewer the outlier check passes everyone.
    """
    for column in ("station_id", "date", variable):
        if column not in obs:
            raise ValueError(f"`obs` has no column {column!r}")
    frame = obs.sort_values(["station_id", "date"], kind="stable")
    values = frame[variable]
    low, high = qc.valid_range_degC
    out_of_range = values.notna() & ((values < low) | (values > high))
    stuck = frame.groupby("station_id", sort=False)[variable].transform(
        lambda s: pd.Series(_stuck(s, qc.stuck_days), index=s.index)).astype(bool)
    usable = values.where(values.notna() & ~out_of_range & ~stuck)
    by_day = usable.groupby(frame["date"])
    median = by_day.transform("median")
    spread = _MAD_TO_SD * (usable - median).abs().groupby(frame["date"]).transform("median")
    enough = by_day.transform("count") >= 3
    z = (usable - median) / spread.where(spread > 0.1, 0.1)  # floor: a calm day is not a tight day
    outlier = (enough & (z.abs() > qc.outlier_z)).fillna(False)
    flagged = out_of_range | stuck | outlier

    rows = []
    for station, index in frame.groupby("station_id", sort=True).groups.items():
        present = values[index].notna()
        n_days = int(present.sum())
        shares = {name: float(flag[index][present].mean()) if n_days else 0.0
                  for name, flag in (("range", out_of_range), ("stuck", stuck), ("outlier", outlier))}
        keep = present & ~flagged[index]
        own, reference = usable[index][keep], median[index][keep]
        correlation = float(np.corrcoef(own, reference)[0, 1]) if keep.sum() > 2 else float("nan")
        reasons = [f"{shares[n] * 100:.0f}% of days {label}" for n, label in (
            ("range", f"outside {low:g}-{high:g} degC"), ("stuck", f"stuck (>= {qc.stuck_days} equal readings in a row)"),
            ("outlier", f"more than {qc.outlier_z:g} robust SD from the other stations"))
            if shares[n] > qc.max_flagged_share]
        if np.isfinite(correlation) and correlation < qc.min_correlation:
            reasons.append(f"correlation {correlation:.2f} with the other stations' median below {qc.min_correlation:g}")
        if int(keep.sum()) < qc.min_days:
            reasons.append(f"only {int(keep.sum())} valid days (< {qc.min_days})")
        rows.append({"station_id": station, "n_days": n_days, "range_share": shares["range"],
                     "stuck_share": shares["stuck"], "outlier_share": shares["outlier"],
                     "correlation": correlation, "rejected": bool(reasons), "reason": "; ".join(reasons)})
    report = pd.DataFrame(rows)
    rejected = set(report.loc[report["rejected"], "station_id"])
    passed = frame[~flagged & values.notna() & ~frame["station_id"].isin(rejected)]
    return passed.sort_index(), report
