"""The demo world's observations, sampled from its truth: flood reports and station temperatures.

Flood reports come from people: a flooded day gets more reports the more flooded cells lie in
built-up places near streets, floods in empty places often go unreported, positions are off by
about 20 m, depths are guesses, about one report in six carries the wrong date (mostly the next
day's, as people report the morning after), and a few reports a year are false (on heavy-rain days).
Temperature stations sit next to some heritage assets and across the grid; they read the
cell's true tasmax with a small calibration offset and 0.3 degC sensor noise, and miss about
5 % of days. Two of them are faulty, as low-cost networks are: one logger gets stuck on its
last reading for a long stretch, one sensor stands in the sun without a shield and reads 2-5
degC too warm on sunny days. Training has to find and drop them (models/heat/qc.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyproj import Transformer

from pipelines.demo_world.truth import DailyRegional, Truth

REPORT_SOURCE = "demo-report"
_POSITION_NOISE_M = 20.0
_FALSE_REPORTS_PER_KM2_YEAR = 0.1  # about 3 a year over George Town's 30 km2 of land
_REPORTS_PER_EXPOSED_CELL = 0.08  # a flooded street block (exposure 1) is reported about 1 time in 12
_MAX_REPORTS_PER_DAY = 80.0  # a city-wide flood: the hotline and social media saturate
_DATE_ERRORS = {-1: 0.03, 1: 0.12, 2: 0.02}  # days off the flood's date: share of reports
STATION_NIGHT_HEAT_SHARE = 0.6  # a station's tasmin: the regional one plus this share of its cell's urban heat
STATION_DRYING_PCT_PER_DEGC = 2.0  # its mean humidity: the regional one less this many % per degC of urban heat


def _lonlat(x: np.ndarray, y: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)


def flood_reports(
    truth: Truth, cell_x: np.ndarray, cell_y: np.ndarray, exposure: np.ndarray, daily: DailyRegional,
    dates: pd.DatetimeIndex, resolution_m: float, crs: str, rng: np.random.Generator,
) -> pd.DataFrame:
    """Reports of flooded land cells on the days `dates` (local); columns of obs/flood_events.csv.

    `exposure` (land cells, > 0) weighs where people see and report floods.
    """
    n_days = dates.size
    seen = truth.flood_day < n_days
    day, cell, depth = truth.flood_day[seen], truth.flood_cell[seen], truth.flood_depth_cm[seen]
    weight = exposure[cell]
    rows = []
    for d in np.unique(day):  # one pass per flooded day, never per cell
        on_day = np.flatnonzero(day == d)
        expected = min(_MAX_REPORTS_PER_DAY, 0.5 + _REPORTS_PER_EXPOSED_CELL * weight[on_day].sum())
        count = rng.poisson(expected)
        if count:
            pick = rng.choice(on_day, size=count, p=weight[on_day] / weight[on_day].sum())
            rows.append((np.full(count, d), cell[pick], depth[pick] * rng.lognormal(0, 0.3, count)))

    heavy_days = np.flatnonzero(daily.rain_mm[:n_days].mean(axis=1) > 20)
    land_km2 = exposure.size * resolution_m**2 / 1e6
    n_false = rng.poisson(_FALSE_REPORTS_PER_KM2_YEAR * land_km2 * n_days / 365.25) if heavy_days.size else 0
    if n_false:
        false_cells = rng.choice(exposure.size, size=n_false, p=exposure / exposure.sum())
        rows.append((rng.choice(heavy_days, n_false), false_cells, rng.uniform(5, 20, n_false)))
    if not rows:
        return pd.DataFrame({"date": [], "lon": [], "lat": [], "depth_cm": [], "source": []})

    day, cell, depth = (np.concatenate(column) for column in zip(*rows, strict=True))
    shifts = np.array([0, *_DATE_ERRORS])
    shares = np.array([1 - sum(_DATE_ERRORS.values()), *_DATE_ERRORS.values()])
    day = np.clip(day + rng.choice(shifts, size=day.size, p=shares), 0, n_days - 1)
    offset = (rng.uniform(-0.5, 0.5, (2, day.size)) * resolution_m  # anywhere in the cell
              + rng.normal(0, _POSITION_NOISE_M, (2, day.size)))
    lon, lat = _lonlat(cell_x[cell] + offset[0], cell_y[cell] + offset[1], crs)
    reports = pd.DataFrame({
        "date": dates[day].strftime("%Y-%m-%d"), "lon": np.round(lon, 6), "lat": np.round(lat, 6),
        "depth_cm": np.maximum(5, np.round(depth / 5) * 5).astype(int), "source": REPORT_SOURCE,
    })
    return reports.sort_values(["date", "lon", "lat"], kind="stable").reset_index(drop=True)


def station_cells(
    asset_cells: np.ndarray, elevation_m: np.ndarray, row: np.ndarray, col: np.ndarray,
    shape: tuple[int, int], rng: np.random.Generator,
) -> np.ndarray:
    """Land-cell indices of 8-22 stations: up to 4 beside assets, two per ninth of the grid
    (below 150 m), topped up at random to at least 8 where land allows."""
    chosen = list(rng.choice(np.unique(asset_cells), size=min(4, np.unique(asset_cells).size), replace=False))
    block = (row * 3 // shape[0]) * 3 + col * 3 // shape[1]
    for b in range(9):
        candidates = np.flatnonzero((block == b) & (elevation_m < 150))
        candidates = np.setdiff1d(candidates, chosen)
        chosen += list(rng.choice(candidates, size=min(2, candidates.size), replace=False))
    spare = np.setdiff1d(np.arange(elevation_m.size), chosen)
    top_up = max(0, min(8 - len(chosen), spare.size))
    chosen += list(rng.choice(spare, size=top_up, replace=False))
    return np.array(chosen, dtype=int)


def _with_faults(tasmax: np.ndarray, rsds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`tasmax` (days, stations) with one stuck logger and one sun-exposed sensor, stations at random."""
    n_days = tasmax.shape[0]
    stuck, sunny = rng.choice(tasmax.shape[1], size=2, replace=False)
    out = tasmax.copy()
    length = int(n_days * rng.uniform(0.3, 0.45))
    start = rng.integers(1, n_days - length)
    out[start:start + length, stuck] = out[start - 1, stuck]  # the last good reading, repeated
    sun = np.clip(rsds[:, sunny] / rsds[:, sunny].mean(), 0.3, 1.5)
    out[:, sunny] += 1.0 + 2.5 * sun + rng.normal(0, 0.5, n_days)  # radiation error grows with sunshine
    return out


def station_temperatures(
    truth: Truth, stations: np.ndarray, station_ids: list[str], cell_x: np.ndarray, cell_y: np.ndarray,
    daily: DailyRegional, to_stations: np.ndarray, dates: pd.DatetimeIndex, crs: str,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Daily tasmax, tasmin and mean humidity at the stations; columns of obs/temperature.csv.

    `to_stations` is the (points, stations) interpolation matrix from the regional grid. With 6
    or more stations, two are faulty (see the module's docstring).
    """
    n_days, n_stations = dates.size, stations.size
    shape = (n_days, n_stations)
    heat = np.maximum(truth.urban_heat_degC[stations], 0)
    calibration = rng.normal(0, 0.1, n_stations)
    tasmax = truth.tasmax_centi[:n_days, stations] / 100 + calibration + rng.normal(0, 0.3, shape)
    if n_stations >= 6:
        tasmax = _with_faults(tasmax, daily.rsds_mean[:n_days] @ to_stations, rng)
    tasmin = daily.tasmin[:n_days] @ to_stations + STATION_NIGHT_HEAT_SHARE * heat + rng.normal(0, 0.3, shape)
    hurs = np.clip(daily.hurs_mean[:n_days] @ to_stations - STATION_DRYING_PCT_PER_DEGC * heat
                   + rng.normal(0, 2.0, shape), 0, 100)
    present = rng.random(shape) > 0.03
    outage_start = rng.integers(0, n_days, n_stations)
    outage_days = np.arange(n_days)[:, None] - outage_start[None, :]
    present &= ~((outage_days >= 0) & (outage_days < max(1, n_days // 50)))  # one 2 % outage each
    lon, lat = _lonlat(cell_x[stations] + rng.uniform(-10, 10, n_stations),
                       cell_y[stations] + rng.uniform(-10, 10, n_stations), crs)
    day, station = np.nonzero(present)
    table = pd.DataFrame({
        "station_id": np.asarray(station_ids)[station], "lon": np.round(lon[station], 6),
        "lat": np.round(lat[station], 6), "date": dates[day].strftime("%Y-%m-%d"),
        "tasmax": np.round(tasmax[day, station], 1), "tasmin": np.round(tasmin[day, station], 1),
        "hurs_mean": np.round(hurs[day, station], 1),
    })
    return table.sort_values(["station_id", "date"], kind="stable").reset_index(drop=True)
