"""The bundle contract as tables, and the checks of its static files and CSVs.

Every check returns a list of Problems and never raises for a bad file: the caller turns an
unreadable file into one Problem. docs/data-contract.md is the text these tables follow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import CRS, Transformer

DEM = "static/dem.tif"
IMPERVIOUS = "static/impervious.tif"
HISTORY = "weather/history.nc"
FORECASTS = "weather/forecasts"
FLOOD_EVENTS = "obs/flood_events.csv"
FLOOD_EXTENTS = "obs/flood_extents.gpkg"
TEMPERATURE = "obs/temperature.csv"
PROVENANCE = "provenance.json"
CONTROL_MEMBER = 0  # the `member` id of an ensemble forecast's control run (unperturbed)

@dataclass(frozen=True)
class Problem:
    """One way a bundle breaks the contract (an "error": refused) or looks implausible (a "warning":
    used, and said so): which file, which field in it, and what is wrong."""

    file: str  # path relative to the bundle root
    field: str  # variable, column, attribute, or "" for the file itself
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{'warning: ' if self.severity == 'warning' else ''}{where}: {self.message}"


def errors_of(problems: list[Problem]) -> list[Problem]:
    """The problems that refuse a bundle."""
    return [p for p in problems if p.severity == "error"]


def warnings_of(problems: list[Problem]) -> list[Problem]:
    """The problems a bundle is used with, and said so."""
    return [p for p in problems if p.severity == "warning"]


@dataclass(frozen=True)
class Variable:
    """A weather variable of history.nc and the forecasts."""

    units: str
    standard_name: str
    valid_range: tuple[float, float]
    long_name: str
    cell_methods: str = ""  # "time: mean" where a value is the mean over its hour

    @property
    def attrs(self) -> dict[str, str]:
        """The CF attributes a writer gives the variable (the checks read `units`)."""
        attrs = {"units": self.units, "standard_name": self.standard_name, "long_name": self.long_name}
        return attrs | ({"cell_methods": self.cell_methods} if self.cell_methods else {})


WEATHER_VARIABLES: dict[str, Variable] = {
    "pr": Variable("mm h-1", "lwe_precipitation_rate", (0, 500), "precipitation rate, mean over the hour",
                   "time: mean"),
    "tas": Variable("degC", "air_temperature", (-10, 60), "air temperature at 2 m"),
    "hurs": Variable("%", "relative_humidity", (0, 100), "relative humidity at 2 m"),
    "sfcWind": Variable("m s-1", "wind_speed", (0, 75), "wind speed at 10 m"),
    "rsds": Variable("W m-2", "surface_downwelling_shortwave_flux_in_air", (0, 1500),
                     "surface downwelling shortwave radiation, mean over the hour"),
    "zos": Variable("m", "sea_surface_height_above_mean_sea_level", (-10, 10),
                    "sea level above mean sea level (tide and surge)"),
}
VARIABLE_ATTRS = {name: spec.attrs for name, spec in WEATHER_VARIABLES.items()}


@dataclass(frozen=True)
class Column:
    """A column of a CSV or an attribute of a vector layer."""

    name: str
    kind: Literal["number", "text", "date", "choice"] = "number"
    required: bool = True  # the column must exist
    allow_missing: bool = False  # empty cells are allowed
    valid_range: tuple[float, float] | None = None  # values outside are errors
    open_range: bool = False  # the ends of `valid_range` are outside it too
    usual_range: tuple[float, float] | None = None  # valid values outside it are warnings
    choices: frozenset[str] = frozenset()
    unique: bool = False


@dataclass(frozen=True)
class Layer:
    """A vector file of static/ or obs/."""

    path: str
    geometry_types: frozenset[str]
    columns: tuple[Column, ...] = ()
    required: bool = True
    placed: bool = False  # each feature is a place checked against the city grid (else the layer's extent)


_POLYGONS = frozenset({"Polygon", "MultiPolygon"})
WATERWAY_KINDS = frozenset({"river", "drain", "canal"})
ZONES = frozenset({"core", "buffer"})


def _optional(name: str, valid_range: tuple[float, float] | None = None, kind="number", **limits) -> Column:
    return Column(name, kind, required=False, allow_missing=True, valid_range=valid_range, **limits)


VECTOR_LAYERS: dict[str, Layer] = {
    "buildings": Layer("static/buildings.gpkg", _POLYGONS, (_optional("height_m", (0, 1000)),)),
    "waterways": Layer(
        "static/waterways.gpkg", frozenset({"LineString", "MultiLineString"}),
        (Column("kind", "choice", choices=WATERWAY_KINDS), _optional("width_m", (0, 10_000))),
    ),
    "sea": Layer("static/sea.gpkg", _POLYGONS, required=False),
    "heritage_assets": Layer(
        "static/heritage_assets.gpkg", frozenset({"Point", "Polygon", "MultiPolygon"}), placed=True, columns=(
            Column("asset_id", "text", unique=True), Column("name", "text"), Column("kind", "text"),
            _optional("flood_threshold", (0, 1), open_range=True),  # a probability that can be crossed
            _optional("heat_threshold", (25, 45)),  # degC of tasmax: from a warm night to beyond any record
            _optional("floor_height_m", (-1, 10)),  # m: from a sunken floor to a raised hall or jetty
            _optional("district", kind="text"),
        ),
    ),
    "heritage_zone": Layer(
        "static/heritage_zone.gpkg", _POLYGONS, (Column("zone", "choice", choices=ZONES),)
    ),
}

FLOOD_EXTENTS_LAYER = Layer(  # surveyed flood extents of past events, optional
    FLOOD_EXTENTS, _POLYGONS, (Column("event_date", "date"), Column("source", "text")), required=False
)

_LON = Column("lon", valid_range=(-180, 180))
_LAT = Column("lat", valid_range=(-90, 90))
CSV_TABLES: dict[str, tuple[Column, ...]] = {
    FLOOD_EVENTS: (
        Column("date", "date"), _LON, _LAT, _optional("depth_cm", (0, 10_000), usual_range=(0, 500)),
        Column("source", "text", allow_missing=True),
    ),
    TEMPERATURE: (
        Column("station_id", "text"), _LON, _LAT, Column("date", "date"),
        Column("tasmax", allow_missing=True, valid_range=(-10, 60)),
        _optional("tasmin", (-10, 60)), _optional("hurs_mean", (0, 100)),
    ),
}


class City(NamedTuple):
    """The city grid's CRS and bounds (xmin, ymin, xmax, ymax, in that CRS)."""

    crs: CRS
    bounds: tuple[float, float, float, float]


def _overlaps(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def outside_city(bounds: tuple, crs: CRS | str, city: City, margin: float = 0.0) -> str | None:
    """Why `bounds` (in `crs`, widened by `margin`) miss the city, or None when they overlap it."""
    box = Transformer.from_crs(crs, city.crs, always_xy=True).transform_bounds(*bounds, densify_pts=21)
    if not np.isfinite(box).all():  # e.g. metres labelled as degrees: the CRS is wrong
        shown = ", ".join(f"{v:g}" for v in bounds)
        return f"extent ({shown}) is not a place in {CRS.from_user_input(crs).to_string()}: is the CRS right?"
    wide = (box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin)
    if _overlaps(wide, city.bounds):
        return None
    shown = ", ".join(f"{v:.0f}" for v in box)
    return f"extent ({shown}) in {city.crs.to_string()} does not overlap the city bounds {city.bounds}"


_GEOMETRY_NAMES = np.array([
    "Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
    "MultiPolygon", "GeometryCollection", "null",
])  # in the order of shapely.get_type_id


def feature_of(i: int) -> str:
    return f"feature {i + 1}"  # GeoPackage feature ids start at 1


def line_of(i: int) -> str:
    return f"line {i + 2}"  # line 1 is the header


def tally(mask: np.ndarray, what: str, row: Callable[[int], str], values: pd.Series | None = None) -> str:
    """'3 <what>, first '<value>' at <row>' for the True entries of `mask`."""
    i = int(np.argmax(mask))
    example = f"{str(values.iloc[i])!r} " if values is not None else ""  # a number quoted, as text is
    return f"{mask.sum()} {what}, first {example}at {row(i)}"


def _column_problems(values: pd.Series, col: Column, file: str, row: Callable[[int], str]) -> list[Problem]:
    text = values.astype("str").str.strip()
    missing = (values.isna() | (text == "")).to_numpy()
    messages = [] if col.allow_missing or not missing.any() else [tally(missing, "empty values", row)]
    checks = []  # (bad rows, what is wrong with them)
    invalid = usual = np.zeros(len(values), bool)  # usual: valid values outside the usual range
    if col.kind == "number":
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        checks.append((np.isnan(numbers) & ~missing, "values are not numbers"))
        with np.errstate(invalid="ignore"):
            if col.valid_range:
                lo, hi = col.valid_range
                invalid = (numbers <= lo) | (numbers >= hi) if col.open_range else (numbers < lo) | (numbers > hi)
                what = f"values not strictly between {lo} and {hi}" if col.open_range else f"values outside {lo}..{hi}"
                checks.append((invalid, what))
            if col.usual_range:
                lo, hi = col.usual_range
                usual = ((numbers < lo) | (numbers > hi)) & ~invalid
    elif col.kind == "date":
        dates = pd.to_datetime(values, format="%Y-%m-%d", errors="coerce")
        checks.append((dates.isna().to_numpy() & ~missing, "values are not dates YYYY-MM-DD"))
    elif col.kind == "choice":
        allowed = ", ".join(sorted(col.choices))
        checks.append((~text.isin(col.choices).to_numpy() & ~missing, f"values not in {{{allowed}}}"))
    elif not (pd.api.types.is_string_dtype(values) or values.dtype == object):
        messages.append(f"values must be text, got dtype {values.dtype}")
    if col.unique:
        checks.append((text.duplicated(keep=False).to_numpy() & ~missing, "rows share a value"))
    messages += [tally(bad, what, row, values) for bad, what in checks if bad.any()]
    problems = [Problem(file, col.name, message) for message in messages]
    if usual.any():
        lo, hi = col.usual_range
        problems.append(Problem(file, col.name, tally(usual, f"values outside the usual {lo}..{hi}", row, values),
                                "warning"))
    return problems


def check_columns(
    frame: pd.DataFrame, columns: tuple[Column, ...], file: str, row: Callable[[int], str]
) -> list[Problem]:
    """Problems with the columns of `frame`; `row(i)` names the i-th row in messages."""
    problems = []
    for col in columns:
        if col.name in frame.columns:
            problems += _column_problems(frame[col.name], col, file, row)
        elif col.required:
            problems.append(Problem(file, col.name, "missing column"))
    return problems


def check_raster(
    root: Path, file: str, *, valid_range: tuple[float, float], projected: bool, city: City | None
) -> list[Problem]:
    """Problems with a one-band float GeoTIFF: CRS, overlap with the city, values."""
    problems = []
    with rasterio.open(root / file) as src:
        if src.count != 1:
            problems.append(Problem(file, "band", f"has {src.count} bands, expected 1"))
        if np.dtype(src.dtypes[0]).kind != "f":
            problems.append(Problem(file, "dtype", f"is {src.dtypes[0]}, expected float32"))
        if src.crs is None:
            problems.append(Problem(file, "crs", "no CRS"))
        elif projected and not src.crs.is_projected:
            problems.append(Problem(file, "crs", f"{src.crs.to_string()} is not a projected CRS"))
        elif city is not None and (why := outside_city(src.bounds, CRS.from_user_input(src.crs), city)):
            problems.append(Problem(file, "bounds", why))
        values = src.read(1, masked=True).astype("float64").filled(np.nan)
    valid = values[np.isfinite(values)]
    lo, hi = valid_range
    if valid.size == 0:
        problems.append(Problem(file, "values", "no valid cells (all nodata or NaN)"))
    elif (bad := (valid < lo) | (valid > hi)).any():
        span = f"min {valid.min():g}, max {valid.max():g}"
        problems.append(Problem(file, "values", f"{bad.sum()} cells outside {lo}..{hi} ({span})"))
    return problems


def check_vector(root: Path, layer: Layer, city: City | None) -> list[Problem]:
    """Problems with a vector layer: CRS, features, geometries, attributes, overlap."""
    return check_features(gpd.read_file(root / layer.path, engine="pyogrio"), layer, city)


def check_features(frame: gpd.GeoDataFrame, layer: Layer, city: City | None) -> list[Problem]:
    """Problems with the features of `layer` read into `frame`: CRS, geometries, attributes, overlap."""
    file = layer.path
    problems = []
    if frame.crs is None:
        problems.append(Problem(file, "crs", "no CRS"))
    if len(frame) == 0:
        return [*problems, Problem(file, "", "has no features")]
    geoms = frame.geometry.to_numpy()
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    types = pd.Series(_GEOMETRY_NAMES[shapely.get_type_id(geoms)])  # id -1 (null) picks the last name
    wrong = ~types.isin(layer.geometry_types).to_numpy() & ~empty
    invalid = ~shapely.is_valid(geoms) & ~empty
    reason = shapely.is_valid_reason(geoms[np.argmax(invalid)]) if invalid.any() else ""
    for bad, what, example in [
        (empty, "empty or null geometries", None),
        (wrong, f"geometries are not {' or '.join(sorted(layer.geometry_types))}", types),
        (invalid, f"invalid geometries ({reason})", None),
    ]:
        if bad.any():
            problems.append(Problem(file, "geometry", tally(bad, what, feature_of, example)))
    problems += check_columns(pd.DataFrame(frame.drop(columns="geometry")), layer.columns, file, feature_of)
    if frame.crs is not None and city is not None and not empty.all() and not layer.placed:
        bounds = tuple(shapely.total_bounds(geoms[~empty]))
        if why := outside_city(bounds, CRS(frame.crs), city):
            problems.append(Problem(file, "geometry", why))
    return problems


def check_flood_extents(root: Path, city: City | None, days: tuple[dt.date, dt.date] | None) -> list[Problem]:
    """Problems with obs/flood_extents.gpkg: those of any vector layer, and event dates outside
    `days` (the first and last local day of the bundle's history), when given."""
    frame = gpd.read_file(root / FLOOD_EXTENTS, engine="pyogrio")
    problems = check_features(frame, FLOOD_EXTENTS_LAYER, city)
    if days is None or len(frame) == 0 or "event_date" not in frame.columns:
        return problems
    dates = pd.to_datetime(frame["event_date"], format="%Y-%m-%d", errors="coerce")
    first, last = (pd.Timestamp(day) for day in days)
    outside = ((dates < first) | (dates.dt.normalize() > last)).to_numpy()  # NaT (not a date) is neither
    if outside.any():
        what = f"dates outside the bundle's history {days[0]}..{days[1]}"
        problems.append(Problem(FLOOD_EXTENTS, "event_date", tally(outside, what, feature_of, frame["event_date"])))
    return problems


def check_csv(root: Path, file: str) -> list[Problem]:
    """Problems with an observation CSV: columns, dates, coordinates, duplicate reports and station days."""
    frame = pd.read_csv(root / file, dtype=str, skipinitialspace=True)
    problems = check_columns(frame, CSV_TABLES[file], file, line_of)
    if file == FLOOD_EVENTS and {"date", "lon", "lat"} <= set(frame.columns):
        dup = frame.duplicated(["date", "lon", "lat"], keep=False).to_numpy()
        if dup.any():
            reports = frame["date"] + " " + frame["lon"] + ", " + frame["lat"]
            message = tally(dup, "rows repeat a report (same date and place)", line_of, reports)
            problems.append(Problem(file, "date, lon, lat", message))
    if {"station_id", "date"} <= set(frame.columns):
        dup = frame.duplicated(["station_id", "date"], keep=False).to_numpy()
        if dup.any():
            days = frame["station_id"] + " " + frame["date"]
            message = tally(dup, "rows repeat a station day", line_of, days)
            problems.append(Problem(file, "station_id, date", message))
    return problems
