"""How complete a flood inventory is: its report rate, measured against surveyed flood extents."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree
from scipy.stats import norm

from models.tables import cells_near_reports

INTERVAL = 0.9  # coverage of the interval reported with the rate


@dataclass(frozen=True)
class SurveyReportRate:
    """The share of flooded cell-days (a surveyed flood within the label radius) that have a report.

    `low`, `high`: the 90 % Wilson score interval on `cell_days / cells_per_disk` independent
    trials (see `report_rate_from_surveys`). `per_event`: one row per surveyed date with
    `event_date`, `cell_days`, `reported_cell_days` and `rate`.
    """

    rate: float
    low: float
    high: float
    events: int
    cell_days: int
    reported_cell_days: int
    cells_per_disk: float
    per_event: pd.DataFrame


def report_rate_from_surveys(
    extents: gpd.GeoDataFrame, reports: pd.DataFrame, cells: pd.DataFrame, label_radius_m: float
) -> SurveyReportRate:
    """The inventory's report rate on the surveyed events: `flood.report_rate`, measured.

    `extents`: surveyed flooded polygons with `event_date` (local day), in the CRS of the cells'
    `x_m`, `y_m`; `reports`: the inventory with `date`, `x_m`, `y_m`; `cells`: land cells
    (`cell`, `x_m`, `y_m`, as `models.tables.land_cells`). A land cell whose centre lies inside a
    surveyed polygon flooded that day; the cell-days within `label_radius_m` of one are the floods,
    and a flood counts as reported when the training labels (`cells_near_reports`) mark it.
    The interval treats the cells of one label disk (land cells within `label_radius_m` of a
    cell, `cells_per_disk` on average) as one trial, since one report labels them all: wider
    than a binomial interval on cell-days, still narrow when events differ (see `per_event`).
    """
    if label_radius_m <= 0:
        raise ValueError(f"`label_radius_m` must be > 0, got {label_radius_m}")
    missing = {"event_date", "geometry"} - set(extents.columns)
    if missing:
        raise ValueError(f"`extents` lacks column(s) {', '.join(sorted(missing))}")
    if extents.empty:
        raise ValueError("`extents` holds no surveyed flood extents")
    floods, labelled = _surveyed_and_reported(extents, reports, cells, label_radius_m)
    x, y = cells["x_m"].to_numpy(), cells["y_m"].to_numpy()
    hit = floods.merge(labelled.assign(reported=1), on=["date", "cell"], how="left")["reported"].fillna(0)
    per_event = (floods.assign(reported=hit.to_numpy()).groupby("date")["reported"].agg(["size", "sum"])
                 .rename(columns={"size": "cell_days", "sum": "reported_cell_days"}).astype(int))
    per_event = per_event.assign(rate=per_event["reported_cell_days"] / per_event["cell_days"])
    per_event = per_event.rename_axis("event_date").reset_index()
    n, k = int(per_event["cell_days"].sum()), int(per_event["reported_cell_days"].sum())
    tree = cKDTree(np.column_stack([x, y]))
    cells_per_disk = float(np.mean(tree.query_ball_point(tree.data, r=label_radius_m, return_length=True)))
    low, high = _wilson(k / n, n / cells_per_disk)
    return SurveyReportRate(rate=k / n, low=low, high=high, events=len(per_event), cell_days=n,
                            reported_cell_days=k, cells_per_disk=cells_per_disk, per_event=per_event)


def _surveyed_and_reported(extents: gpd.GeoDataFrame, reports: pd.DataFrame, cells: pd.DataFrame,
                           label_radius_m: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(date, cell) pairs within `label_radius_m` of a surveyed flooded cell, and of a report."""
    dates = pd.to_datetime(extents["event_date"]).dt.normalize()
    x, y = cells["x_m"].to_numpy(), cells["y_m"].to_numpy()
    flooded = []
    for date, polygons in extents.geometry.groupby(dates.to_numpy()):
        inside = shapely.contains_xy(polygons.union_all(), x, y)
        flooded.append(cells.loc[inside, ["x_m", "y_m"]].assign(date=date))
    flooded = pd.concat(flooded, ignore_index=True)
    if flooded.empty:
        raise ValueError(f"no land cell centre lies inside the {len(extents)} surveyed flood extents: "
                         "are they in the cells' CRS?")
    floods = cells_near_reports(flooded, cells, label_radius_m)
    labelled = cells_near_reports(reports.assign(date=pd.to_datetime(reports["date"]).dt.normalize()),
                                  cells, label_radius_m)
    floods["date"] = pd.to_datetime(floods["date"])
    labelled["date"] = pd.to_datetime(labelled["date"])
    return floods, labelled


def area_report_rate_from_surveys(extents: gpd.GeoDataFrame, reports: pd.DataFrame, cells: pd.DataFrame,
                                  label_radius_m: float, membership) -> dict:
    """The share of surveyed area floods with a report in the area: the report rate of area events.

    An area (a row of `membership`, (area, land cell) 0/1 over `cells`' order) flooded on a surveyed
    date when one of its cells lies within `label_radius_m` of a surveyed flooded cell, and that
    flood is reported when one of its cells is labelled by a report of that day. Returns the rate,
    its 90 % Wilson interval (area-days as trials) and the counts.
    """
    floods, labelled = _surveyed_and_reported(extents, reports, cells, label_radius_m)
    at = pd.Series(np.arange(len(cells)), index=cells["cell"].to_numpy())
    flooded_days = reported_days = 0
    for date, pairs in floods.groupby("date"):
        def touched(frame: pd.DataFrame) -> np.ndarray:
            mark = np.zeros(len(cells))
            mark[at[frame["cell"].to_numpy()].to_numpy()] = 1
            return membership.dot(mark) > 0
        flooded = touched(pairs)
        reported = touched(labelled[labelled["date"] == date]) & flooded
        flooded_days, reported_days = flooded_days + int(flooded.sum()), reported_days + int(reported.sum())
    if flooded_days == 0:
        raise ValueError("no area holds a surveyed flood")
    low, high = _wilson(reported_days / flooded_days, flooded_days)
    return {"rate": reported_days / flooded_days, "interval_90": [low, high], "area_days": flooded_days,
            "reported_area_days": reported_days, "events": int(floods["date"].nunique())}


def _wilson(rate: float, trials: float) -> tuple[float, float]:
    """The Wilson score interval of coverage INTERVAL around `rate` from `trials` (may be fractional)."""
    z = norm.ppf(0.5 + INTERVAL / 2)
    centre = (rate + z**2 / (2 * trials)) / (1 + z**2 / trials)
    half = z / (1 + z**2 / trials) * np.sqrt(rate * (1 - rate) / trials + z**2 / (4 * trials**2))
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))
