"""Plausibility of a bundle's records against the city and the bundle they belong to: positions
against the city grid, observation dates against the bundle's history and its present.

A record outside the grid is a warning (used, and said so) with how far and which way it lies; a
record that an axis or CRS mix-up would put inside the grid, or a file with nothing inside it, is
an error. A date outside the history is a warning, a date in the future an error. Every check
returns Problems and never raises for a bad value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from pipelines.bundle.checks import City, Layer, Problem, feature_of, line_of, tally

_COMPASS = ("north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west")


def compass(dx: float, dy: float) -> str:
    """The 8-point compass direction of the offset (`dx` east, `dy` north)."""
    return _COMPASS[round(np.degrees(np.arctan2(dx, dy)) % 360 / 45) % 8]


def _in_grid(x: np.ndarray, y: np.ndarray, crs: CRS, city: City) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`x`, `y` (in `crs`) in the grid's CRS (inf where no place) and whether each lies in the grid."""
    gx, gy = Transformer.from_crs(crs, city.crs, always_xy=True).transform(x, y, errcheck=False)
    gx, gy = np.asarray(gx, dtype=float), np.asarray(gy, dtype=float)
    xmin, ymin, xmax, ymax = city.bounds
    with np.errstate(invalid="ignore"):
        inside = (gx >= xmin) & (gx <= xmax) & (gy >= ymin) & (gy <= ymax)
    return gx, gy, inside


def _mix_ups(x: np.ndarray, y: np.ndarray, crs: CRS, city: City) -> list[tuple[str, np.ndarray]]:
    """What each likely mix-up would make of the positions: (what it looks like, inside the grid)."""
    swapped = "lon/lat swapped" if crs.is_geographic else "x/y swapped"
    readings = [(swapped, y, x, crs)]
    if crs.is_geographic:
        readings.append((f"projected metres of {city.crs.to_string()} given as degrees", x, y, city.crs))
    else:
        readings.append(("degrees (EPSG:4326) given as projected metres", x, y, CRS.from_epsg(4326)))
    return [(what, _in_grid(a, b, c, city)[2]) for what, a, b, c in readings]


def check_positions(
    file: str, field: str, x: np.ndarray, y: np.ndarray, crs: CRS, city: City,
    row: Callable[[int], str], labels: pd.Series, what: str,
) -> list[Problem]:
    """Problems with the positions `x`, `y` (in `crs`; NaN skipped) of the `what` (rows, features)
    of `file` against the city grid; `labels` name each one in messages, `row(i)` its place.

    The distance off the grid is in km, measured in the grid's CRS (projected, in metres), from
    the first position outside to the nearest point of the grid's bounds."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    known = np.isfinite(x) & np.isfinite(y)
    gx, gy, inside = _in_grid(x, y, crs, city)
    outside = known & ~inside
    if not outside.any():
        return []
    for looks_like, fixed in _mix_ups(x, y, crs, city):
        if (fixed & outside).sum() * 2 >= outside.sum():
            message = tally(outside, f"{what} outside the city grid, looks like {looks_like}", row, labels)
            return [Problem(file, field, message)]
    message = tally(outside, f"{what} outside the city grid", row, labels)
    i = int(np.argmax(outside))
    if np.isfinite(gx[i]) and np.isfinite(gy[i]):
        xmin, ymin, xmax, ymax = city.bounds
        dx, dy = gx[i] - np.clip(gx[i], xmin, xmax), gy[i] - np.clip(gy[i], ymin, ymax)
        message += f", {np.hypot(dx, dy) / 1000:.1f} km {compass(dx, dy)} of the grid"
    else:
        message += f", not a place in {crs.to_string()}"
    if outside.sum() == known.sum():
        return [Problem(file, field, f"all {message}: none can be used")]
    return [Problem(file, field, message, "warning")]


def check_report_positions(root: Path, file: str, city: City) -> list[Problem]:
    """Problems with the `lon`, `lat` (WGS84 degrees) of an observation CSV against the city grid."""
    frame = pd.read_csv(root / file, dtype=str, skipinitialspace=True)
    if not {"lon", "lat"} <= set(frame.columns):
        return []  # reported by check_csv
    lon, lat = (pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float) for name in ("lon", "lat"))
    labels = frame["lon"] + ", " + frame["lat"]
    return check_positions(file, "lon, lat", lon, lat, CRS.from_epsg(4326), city, line_of, labels, "rows")


def check_feature_positions(root: Path, layer: Layer, city: City) -> list[Problem]:
    """Problems with the places (centroids) of a vector layer's features against the city grid."""
    frame = gpd.read_file(root / layer.path, engine="pyogrio")
    if frame.crs is None or len(frame) == 0:
        return []  # reported by check_features
    geoms = frame.geometry.to_numpy()
    centres = shapely.centroid(np.where(shapely.is_missing(geoms), shapely.Point(), geoms))
    x, y = shapely.get_x(centres), shapely.get_y(centres)  # NaN for empty geometries
    labels = frame["asset_id"] if "asset_id" in frame.columns else None
    return check_positions(layer.path, "geometry", x, y, CRS(frame.crs), city, feature_of, labels, "features")


def check_report_dates(
    root: Path, file: str, period: tuple[dt.date, dt.date] | None, present: tuple[dt.date, str],
) -> list[Problem]:
    """Problems with the `date` (local day) of an observation CSV: after `present` (the last day a
    record can be of, and why) an error; outside `period` (the history's first and last local day,
    when known) a warning."""
    frame = pd.read_csv(root / file, dtype=str, skipinitialspace=True)
    if "date" not in frame.columns:
        return []  # reported by check_csv
    dates = pd.to_datetime(frame["date"], format="%Y-%m-%d", errors="coerce")  # NaT: reported by check_csv
    last, why = present
    future = (dates > pd.Timestamp(last)).to_numpy()
    problems = []
    if future.any():
        message = tally(future, f"dates in the future (after {last}: {why})", line_of, frame["date"])
        problems.append(Problem(file, "date", message))
    if period is not None:
        first, end = (pd.Timestamp(day) for day in period)
        outside = ((dates < first) | (dates > end)).to_numpy() & ~future
        if outside.any():
            message = tally(outside, f"dates outside the bundle's history {period[0]}..{period[1]}", line_of,
                            frame["date"])
            problems.append(Problem(file, "date", message, "warning"))
    return problems
