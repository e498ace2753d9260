"""Feeds that lie: a freshly fetched forecast checked before it is written into the bundle.

A provider can answer with a healthy status and nothing usable: no hours, or a variable missing
in every hour (empty) or in some (incomplete); a variable held at one value through every lead
hour at a point (frozen); the previous issue's values again at the valid hours both cover (same
as before: an old run served again); or a run made long before the issue time (old). Pure:
arrays and times in, findings out, no file, network or clock. The ingest writes no forecast that
has a finding and marks its source stale with the findings as the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from pipelines.bundle.readers import control_run

FROZEN_TOLERANCE = 1e-3  # in each variable's unit: a smaller range over every lead hour is no change at all
SAME_TOLERANCE = 1e-3  # in each variable's unit: values this close at the same valid hour are the same values
MIN_FROZEN_HOURS = 24  # a variable is judged frozen only over at least a day's cycle
MIN_OVERLAP_HOURS = 12  # valid hours shared with the previous issue needed to call a forecast served again
# a value a variable may hold through every lead hour: no rain (a dry spell), no sunlight (polar night),
# saturated air (fog); any other value held that long is a frozen feed
STEADY_VALUES = {"pr": 0.0, "rsds": 0.0, "hurs": 100.0}
# sea level follows the tide, so two runs may agree on it: same-as-before is judged on the other variables
TIDE_LIKE = frozenset({"zos"})


class FeedFaultError(ValueError):
    """A forecast that answered but cannot be used; nothing is written from it."""


@dataclass(frozen=True)
class FeedFault:
    """Why a fetched forecast is not used: the source, the file it would have become, the variable
    (or coordinate) at fault, the kind of fault and what was seen."""

    source: str
    file: str
    variable: str
    kind: str  # empty, incomplete, frozen, same as before, old
    detail: str

    def __str__(self) -> str:
        return f"{self.source}: {self.file}: {self.variable}: {self.kind}: {self.detail}"


def forecast_faults(forecast: xr.Dataset, previous: xr.Dataset | None, *, source: str, file: str,
                    issue_time: pd.Timestamp, run_time: pd.Timestamp | None, first_hour_sent: pd.Timestamp,
                    max_age_h: float) -> list[FeedFault]:
    """Every fault of `forecast` (dims `lead_time`, y, x; valid `time` along `lead_time`); [] when usable.

    `previous` is the bundle's last earlier forecast (None: none). Age is the hours from the model
    run (`run_time`, UTC) to `issue_time`; with no run time (a blend such as best_match) from the
    first hour the provider sent; more than `max_age_h` is old. Frozen and same-as-before are not
    judged on a variable with missing values (empty or incomplete already names it).
    """
    def fault(variable: str, kind: str, detail: str) -> FeedFault:
        return FeedFault(source, file, variable, kind, detail)

    faults = [fault(*found) for found in _missing(forecast)]
    complete = [name for name in forecast.data_vars if not any(f.variable == name for f in faults)]
    faults += [fault(*found) for found in _frozen(forecast[complete])]
    if previous is not None and complete == list(forecast.data_vars):
        faults += [fault(*found) for found in _same_as(forecast, previous)]
    faults += [fault(*found) for found in _old(issue_time, run_time, first_hour_sent, max_age_h)]
    return faults


def _missing(forecast: xr.Dataset) -> list[tuple[str, str, str]]:
    hours = forecast.sizes.get("lead_time", 0)
    if hours == 0:
        return [("lead_time", "empty", "no time steps")]
    found = []
    for name, var in forecast.data_vars.items():
        lacking = (~np.isfinite(var)).any([d for d in var.dims if d != "lead_time"])
        count = int(lacking.sum())
        if count == hours:
            found.append((name, "empty", f"all {hours} lead hours missing"))
        elif count:
            first = int(np.argmax(lacking.values))
            found.append((name, "incomplete", f"{count} of {hours} lead hours missing, first at lead {first} h"))
    return found


def _frozen(forecast: xr.Dataset) -> list[tuple[str, str, str]]:
    """Variables constant through every lead hour at some point, other than at their STEADY_VALUES."""
    hours = forecast.sizes.get("lead_time", 0)
    if hours < MIN_FROZEN_HOURS:
        return []
    found = []
    for name, var in forecast.data_vars.items():
        low, high = var.min("lead_time"), var.max("lead_time")
        held = (high - low <= FROZEN_TOLERANCE)
        if name in STEADY_VALUES:
            held &= abs(low - STEADY_VALUES[name]) > FROZEN_TOLERANCE
        points = int(held.sum())
        if points:
            value = f"{float(low.where(held).max()):g} {var.attrs.get('units', '')}".strip()
            found.append((name, "frozen", f"{value} through all {hours} lead hours at {points} of {held.size} points"))
    return found


def _same_as(forecast: xr.Dataset, previous: xr.Dataset) -> list[tuple[str, str, str]]:
    """The forecast's variables (but TIDE_LIKE) when all equal `previous` at every valid hour both cover;
    of ensembles, their control members (an old run served again has the old control)."""
    new, old = (control_run(ds).swap_dims(lead_time="time") for ds in (forecast, previous))
    common = np.intersect1d(new.time.values, old.time.values)
    same_grid = all(new.sizes[d] == old.sizes.get(d) and np.allclose(new[d], old[d]) for d in ("y", "x"))
    judged = [name for name in new.data_vars if name not in TIDE_LIKE]
    if common.size < MIN_OVERLAP_HOURS or not same_grid or not judged or set(judged) - set(old.data_vars):
        return []
    new, old = new.sel(time=common), old.sel(time=common)
    if all(bool((abs(new[name].values - old[name].values) <= SAME_TOLERANCE).all()) for name in judged):
        issued = pd.Timestamp(previous.forecast_reference_time.values)
        detail = (f"every value of the {common.size} valid hours it shares with the forecast issued {issued} "
                  f"is that forecast's (within {SAME_TOLERANCE:g}): an old run served again")
        return [(", ".join(judged), "same as before", detail)]
    return []


def _old(issue_time: pd.Timestamp, run_time: pd.Timestamp | None, first_hour_sent: pd.Timestamp,
         max_age_h: float) -> list[tuple[str, str, str]]:
    since, what = (run_time, "the model run") if run_time is not None else (first_hour_sent, "the first hour sent")
    age_h = (issue_time - since) / pd.Timedelta(hours=1)
    if age_h <= max_age_h:
        return []
    detail = f"{what}, {since}, is {age_h:g} h before the issue time {issue_time} (more than {max_age_h:g} h)"
    return [("forecast_reference_time", "old", detail)]
