"""How past warnings fared: each warning area's level on each day against the floods reported in it.

A day counts once per area: the warning is the level the forecast issued that morning gave the day
(lead 0), the event a flood report inside the area that day. Levels at or above `min_level` warn.
Days after the observations end are not counted: their reports may not be in yet.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from models.backtest import OUTCOMES
from models.verification import ratio_or_nan

VERIFICATION_WINDOWS_DAYS = (30, 365)  # the periods, ending on the last verified day, that the page sums


def reports_in_areas(reports: pd.DataFrame, areas: gpd.GeoDataFrame) -> pd.DataFrame:
    """(area_id, date) of each flood report (`date`, `lon`, `lat` in degrees) inside an area of `areas`
    (`area_id` and polygons in any CRS), once per area and day."""
    for name, frame, columns in (("reports", reports, {"date", "lon", "lat"}), ("areas", areas, {"area_id"})):
        if missing := columns - set(frame.columns):
            raise ValueError(f"`{name}` lacks the columns {sorted(missing)}")
    points = gpd.GeoDataFrame({"date": pd.DatetimeIndex(reports["date"]).normalize()},
                              geometry=gpd.points_from_xy(reports["lon"], reports["lat"]), crs="EPSG:4326")
    inside = gpd.sjoin(points.to_crs(areas.crs), areas[["area_id", "geometry"]], predicate="within")
    return inside[["area_id", "date"]].drop_duplicates().sort_values(["area_id", "date"]).reset_index(drop=True)


def warning_outcomes(warned: pd.DataFrame, reported: pd.DataFrame, *, observed_until: pd.Timestamp,
                     min_level: int = 1) -> pd.DataFrame:
    """`warned` up to `observed_until` with `warning` (level >= `min_level`), `event` (a report in the
    area that day) and `outcome` (a name of models.backtest.OUTCOMES).

    `warned` has area_id, date (the day the level is for) and level (0: none), one row per area and
    day; `reported` the (area_id, date) of the days with a report in the area (reports_in_areas).
    """
    if missing := {"area_id", "date", "level"} - set(warned.columns):
        raise ValueError(f"`warned` lacks the columns {sorted(missing)}")
    if warned.duplicated(["area_id", "date"]).any():
        raise ValueError("`warned` holds an area twice on one day")
    days = warned[pd.DatetimeIndex(warned["date"]) <= observed_until].reset_index(drop=True)
    key = pd.MultiIndex.from_arrays([days["area_id"], pd.DatetimeIndex(days["date"])])
    event = key.isin(pd.MultiIndex.from_arrays([reported["area_id"], pd.DatetimeIndex(reported["date"])]))
    warning = days["level"].to_numpy() >= min_level
    outcome = np.select([warning & event, event, warning], ["hit", "miss", "false_alarm"], "correct_negative")
    return days.assign(warning=warning, event=event, outcome=outcome)


def outcome_counts(outcomes: pd.DataFrame, *, end: pd.Timestamp,
                   windows_days: tuple[int, ...] = VERIFICATION_WINDOWS_DAYS) -> pd.DataFrame:
    """Per area_id of `outcomes` and window (the `window_days` days ending on `end`): the days verified,
    the count of each outcome, the probability of detection (`pod`, hits over events) and the false
    alarm ratio (`far`, false alarms over warnings); NaN where there was no event, or no warning."""
    areas = pd.Index(outcomes["area_id"].unique(), name="area_id")
    tables = []
    for window in windows_days:
        since = end - pd.Timedelta(days=window - 1)
        dates = pd.DatetimeIndex(outcomes["date"])
        inside = outcomes[(dates >= since) & (dates <= end)]
        counts = (pd.crosstab(inside["area_id"], inside["outcome"])
                  .reindex(index=areas, columns=list(OUTCOMES), fill_value=0))
        hits, misses, false_alarms = (counts[name].to_numpy(float) for name in ("hit", "miss", "false_alarm"))
        tables.append(counts.assign(window_days=window, days=counts.sum(axis=1),
                                    pod=ratio_or_nan(hits, hits + misses),
                                    far=ratio_or_nan(false_alarms, hits + false_alarms)).reset_index())
    return pd.concat(tables, ignore_index=True)
