"""Check a city bundle against the data contract (docs/data-contract.md), listing every problem.

`validate_bundle` never stops at the first problem and never raises for a bad file: a missing,
unreadable or wrong file becomes a Problem naming the file and the field. Contract tables and
the checks of static files and CSVs live in `pipelines.bundle.checks`, the plausibility of
records (positions, dates) in `pipelines.bundle.plausible`, the loaders in `pipelines.bundle.readers`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from prefect import task
from pyproj import CRS

from pipelines.bundle.checks import (
    CONTROL_MEMBER,
    CSV_TABLES,
    DEM,
    FLOOD_EXTENTS,
    FORECASTS,
    HISTORY,
    IMPERVIOUS,
    PROVENANCE,
    VECTOR_LAYERS,
    WEATHER_VARIABLES,
    City,
    Problem,
    check_csv,
    check_flood_extents,
    check_raster,
    check_vector,
    errors_of,
    outside_city,
    warnings_of,
)
from pipelines.bundle.plausible import check_feature_positions, check_report_dates, check_report_positions
from pipelines.config import CityConfig
from pipelines.progress import warn
from pipelines.storage import sha256_file
from pipelines.timezones import local_midnight_utc, local_today

_HOUR = np.timedelta64(1, "h")
_FORECAST_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})\.nc")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class BundleError(ValueError):
    """A bundle that breaks the contract; the message lists every error, one per line."""

    def __init__(self, problems: Sequence[Problem], root: Path | str | None = None):
        self.problems = list(problems)
        where = f"bundle {root}" if root is not None else "bundle"
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{where} breaks the data contract ({len(self.problems)} problems):\n{lines}")


def require_valid_bundle(root: Path, **kwargs) -> list[Problem]:
    """The warnings `validate_bundle(root, **kwargs)` finds; raise BundleError listing every error
    when there is one."""
    problems = validate_bundle(root, **kwargs)
    if errors := errors_of(problems):
        raise BundleError(errors, root)
    return warnings_of(problems)


def bundle_timezone(root: Path, timezone: str | None = None) -> str | None:
    """The IANA time zone of the bundle's local dates: `timezone` (the city config's `city.timezone`)
    when given, else the `timezone` recorded in provenance.json, else None (unknown)."""
    if timezone:
        return timezone
    try:
        recorded = json.loads((Path(root) / PROVENANCE).read_text(encoding="utf-8")).get("timezone")
    except (OSError, ValueError, AttributeError):
        return None  # an unreadable provenance.json is reported by its own check
    return None if recorded in (None, "") else str(recorded)  # a non-zone is reported by validate_bundle


def unchecked(root: Path, *, timezone: str | None = None) -> list[str]:
    """What `validate_bundle(root, timezone=timezone)` cannot check, and why: one line each, empty
    when it checks everything. Without a time zone, local midnight and local days are unknown."""
    if bundle_timezone(root, timezone) is not None or not Path(root).is_dir():
        return []  # a missing bundle is validate_bundle's problem
    what = f"{FORECASTS}/*.nc: forecast_reference_time not checked against local midnight of the file's date"
    if (Path(root) / FLOOD_EXTENTS).is_file():
        what += f", nor {FLOOD_EXTENTS}: event_date against the history's local days"
    why = f"the bundle's time zone is unknown (give --config CITY.yaml for its city.timezone, or record `timezone` in {PROVENANCE})"
    return [f"{what}: {why}"]


def validate_bundle(
    root: Path, *, city_crs: str | None = None, city_bounds: tuple | None = None,
    timezone: str | None = None, lead_days: int | None = None, check_forecasts: str = "last",
) -> list[Problem]:
    """Every way the bundle at `root` breaks the contract (severity "error") or looks implausible
    (severity "warning"); empty when it is valid and plausible.

    With `city_crs` and `city_bounds` the DEM, vectors and weather grid must overlap the city;
    reports, stations and sites are placed on its grid (without them, on the DEM's), and their
    dates against the history's days and the bundle's present (`pipelines.bundle.plausible`). The time zone of the local dates (`bundle_timezone`: `timezone`, IANA, else
    provenance.json's `timezone`) places each forecast's issue time at local midnight; with
    neither, the checks that need it are skipped, as `unchecked` says.
    `lead_days`, when given, fixes the forecast length. `check_forecasts="last"` reads only the
    newest forecast and checks the names of the others; "all" reads them all.
    """
    if check_forecasts not in ("last", "all"):
        raise ValueError(f"`check_forecasts` must be 'last' or 'all', got {check_forecasts!r}")
    if city_bounds is not None and city_crs is None:
        raise ValueError("`city_bounds` needs `city_crs`")
    root = Path(root)
    if timezone is not None:
        ZoneInfo(timezone)  # unknown zone: a caller's error
    if not root.is_dir():
        return [Problem(".", "", f"bundle folder {root} does not exist: build it with `warisan ingest --config "
                                 "CITY.yaml` (the demo city: `make demo`)")]
    city = City(CRS.from_user_input(city_crs), tuple(city_bounds)) if city_bounds is not None else None

    problems = []
    zone = None
    if (zone_name := bundle_timezone(root, timezone)) is not None:
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(Problem(PROVENANCE, "timezone", f"{zone_name!r} is not an IANA time zone "
                                    "(such as Asia/Kuala_Lumpur)"))
    for file, required in [(DEM, True), (IMPERVIOUS, False)]:
        if _present(root, file, required, problems):
            valid_range = (-500, 9000) if file == DEM else (0, 1)
            problems += _guarded(file, check_raster, root, file, valid_range=valid_range,
                                 projected=file == DEM, city=city)
    grid_city = city or _guarded_value(_dem_grid, root)  # where records must lie
    for layer in VECTOR_LAYERS.values():
        if _present(root, layer.path, layer.required, problems):
            problems += _guarded(layer.path, check_vector, root, layer, city)
            if layer.placed and grid_city is not None:
                problems += _guarded_value(check_feature_positions, root, layer, grid_city) or []
    for file in CSV_TABLES:
        if _present(root, file, True, problems):
            problems += _guarded(file, check_csv, root, file)
            if grid_city is not None:
                problems += _guarded_value(check_report_positions, root, file, grid_city) or []

    grid, days, period = None, None, None
    if _present(root, HISTORY, True, problems):
        try:
            with xr.open_dataset(root / HISTORY, engine="netcdf4", decode_coords="all") as history:
                time_problems = _check_time(history, HISTORY)
                problems += time_problems + _check_grid(history, HISTORY, city, None)
                problems += _check_variables(history, HISTORY, "time", members=False)
                if {"y", "x"} <= set(history.coords):
                    grid = (history["y"].values, history["x"].values)
                if not time_problems:
                    days = _local_days(history["time"].values, zone) if zone is not None else None
                    period = days or _any_local_days(history["time"].values)
        except Exception as err:  # noqa: BLE001  (any failure to read is a problem, not a crash)
            problems.append(_unreadable(HISTORY, err))
    if _present(root, FLOOD_EXTENTS, False, problems):
        problems += _guarded(FLOOD_EXTENTS, check_flood_extents, root, city, days)

    dates, name_problems = _forecast_names(root)
    problems += name_problems
    to_read = sorted(dates)[-1:] if check_forecasts == "last" else sorted(dates)
    newest = _guarded_value(_read_layout, root / FORECASTS / dates[to_read[-1]]) if to_read else None
    for issue in to_read:
        file = f"{FORECASTS}/{dates[issue]}"
        like = (f"{FORECASTS}/{dates[to_read[-1]]}", newest) if issue != to_read[-1] and newest else None
        problems += _guarded(file, _check_forecast, root / file, file, issue, zone, lead_days, city, grid, like)
    covered_days = lead_days or (math.ceil(newest.lead_steps / 24) if newest and newest.lead_steps else None)
    present = _present_day(zone, max(dates, default=None), covered_days)
    for file in CSV_TABLES:
        if (root / file).is_file():
            problems += _guarded_value(check_report_dates, root, file, period, present) or []
    problems += _check_provenance(root, set(dates.values()), {dates[d] for d in to_read})
    return problems


def _present(root: Path, file: str, required: bool, problems: list[Problem]) -> bool:
    if (root / file).is_file():
        return True
    if required:
        problems.append(Problem(file, "", "missing (required)"))
    return False


def _unreadable(file: str, err: Exception) -> Problem:
    first_line = (str(err).strip().splitlines() or [""])[0]
    return Problem(file, "", f"cannot read ({type(err).__name__}: {first_line})")


def _guarded(file: str, check: Callable[..., list[Problem]], *args, **kwargs) -> list[Problem]:
    try:
        return check(*args, **kwargs)
    except Exception as err:  # noqa: BLE001  (any failure to read is a problem, not a crash)
        return [_unreadable(file, err)]


def _dem_grid(root: Path) -> City | None:
    """The DEM's CRS and bounds, when it is readable and projected: the grid records must lie on
    when no city config gives one."""
    with rasterio.open(root / DEM) as src:
        if src.crs is None or not src.crs.is_projected:
            return None
        return City(CRS.from_user_input(src.crs), tuple(src.bounds))


def _guarded_value(read: Callable, *args):
    """`read(*args)`, or None when it fails: a file that cannot be read is reported by its own check."""
    try:
        return read(*args)
    except Exception:  # noqa: BLE001  (the file's own check names the failure)
        return None


def _local_days(times: np.ndarray, zone: ZoneInfo) -> tuple[dt.date, dt.date]:
    """The first and last local day that the UTC `times` (increasing) touch."""
    ends = pd.DatetimeIndex(times[[0, -1]]).tz_localize("UTC").tz_convert(zone.key)
    return ends[0].date(), ends[1].date()


def _any_local_days(times: np.ndarray) -> tuple[dt.date, dt.date]:
    """The first and last day that the UTC `times` (increasing) touch in some time zone: their
    UTC days, a day wider on each side."""
    first, last = (pd.Timestamp(t).date() for t in times[[0, -1]])
    return first - dt.timedelta(days=1), last + dt.timedelta(days=1)


def _present_day(zone: ZoneInfo | None, newest: dt.date | None, lead_days: int | None) -> tuple[dt.date, str]:
    """The last day a record of the bundle can be of, and why: today (in `zone`, else anywhere), or
    the last day the `newest` forecast covers (`lead_days` from its issue date) when earlier."""
    today = local_today(zone.key) if zone is not None else (dt.datetime.now(dt.UTC) + dt.timedelta(hours=14)).date()
    if newest is not None and lead_days and (last := newest + dt.timedelta(days=lead_days - 1)) < today:
        return last, f"the last day the newest forecast, {FORECASTS}/{newest}.nc, covers"
    return today, f"today in {zone.key}" if zone is not None else "today anywhere on Earth"


def _when(value) -> str:
    """A time step as people read it: an ISO time, a lead in hours, or an index."""
    if isinstance(value, np.timedelta64):
        return f"lead {value / _HOUR:g} h"
    if isinstance(value, int | np.integer):
        return f"step {value}"
    return pd.Timestamp(value).isoformat()


def _check_time_coord(ds: xr.Dataset, file: str, name: str, dim: str) -> list[Problem]:
    """A 1-D datetime coordinate `name` along `dim`, in timezone-naive UTC."""
    if name not in ds.coords:
        return [Problem(file, name, "missing coordinate")]
    coord = ds[name]
    if coord.dims != (dim,) or not np.issubdtype(coord.dtype, np.datetime64):
        found = f"dims {coord.dims}, dtype {coord.dtype}, units {coord.attrs.get('units')!r}"
        return [Problem(file, name, f"must be datetimes along {dim!r} (CF units such as "
                        f"'hours since 2019-01-01'), got {found}")]
    units = str(coord.encoding.get("units", ""))
    reference = units.partition(" since ")[2]
    try:
        offset = pd.Timestamp(reference).utcoffset() if reference else None
    except ValueError:
        offset = None
    if offset:
        return [Problem(file, name, f"units {units!r} carry a UTC offset; times must be timezone-naive UTC")]
    return []


def _check_time(ds: xr.Dataset, file: str) -> list[Problem]:
    """History time: hourly, on the hour, strictly increasing, no duplicates, no gaps."""
    if problems := _check_time_coord(ds, file, "time", "time"):
        return problems
    times = ds["time"].values.astype("datetime64[s]")
    if times.size < 2:
        return [Problem(file, "time", f"has {times.size} steps; hourly history needs at least 2")]
    step = np.diff(times).astype("int64")  # seconds
    problems = []
    for bad, what in [
        (step < 0, "steps go back in time"), (step == 0, "duplicate times"),
        ((step > 0) & (step % 3600 != 0), "steps are not whole hours"),
        ((step > 3600) & (step % 3600 == 0), f"gaps ({(step[step > 3600] // 3600 - 1).sum()} missing hours)"),
    ]:
        if bad.any():
            i = int(np.argmax(bad))
            first = f"first from {_when(times[i])} to {_when(times[i + 1])}"
            problems.append(Problem(file, "time", f"{bad.sum()} {what}, {first}"))
    if times[0].astype("int64") % 3600:
        problems.append(Problem(file, "time", f"starts at {_when(times[0])}, not on the hour"))
    return problems


def _check_grid(ds: xr.Dataset, file: str, city: City | None, grid: tuple | None) -> list[Problem]:
    """1-D monotonic `y`, `x` with a CRS, overlapping the city (or equal to the history's `grid`)."""
    problems = []
    for name in ("y", "x"):
        coord = ds.coords.get(name)
        if coord is None or coord.dims != (name,) or coord.dtype.kind not in "fiu":
            problems.append(Problem(file, name, "missing 1-D numeric coordinate"))
        elif coord.size > 1 and not (np.all(np.diff(coord.values) > 0) or np.all(np.diff(coord.values) < 0)):
            problems.append(Problem(file, name, "values are not strictly monotonic"))
    crs = ds.rio.crs
    if crs is None:
        problems.append(Problem(file, "spatial_ref", "no CRS (write it with rioxarray's write_crs)"))
    if problems:
        return problems
    y, x = ds["y"].values, ds["x"].values
    if grid is not None:
        same = all(a.shape == b.shape and np.allclose(a, b) for a, b in zip((y, x), grid, strict=True))
        if not same:
            problems.append(Problem(file, "y, x", f"grid differs from {HISTORY}'s"))
    elif city is not None and max(y.size, x.size) > 1:
        margin = max(np.abs(np.diff(v)).max() for v in (y, x) if v.size > 1)  # one grid step
        bounds = (x.min() - margin, y.min() - margin, x.max() + margin, y.max() + margin)
        if why := outside_city(bounds, CRS.from_user_input(crs), city):
            problems.append(Problem(file, "y, x", why))
    return problems


def _check_variables(ds: xr.Dataset, file: str, time_dim: str, *, members: bool) -> list[Problem]:
    """Every weather variable: units, dims (a leading `member` dim when `members` allows one and the
    file has it), float dtype, NaN-free, inside its valid range."""
    dims = ("member", time_dim, "y", "x") if members and "member" in ds.dims else (time_dim, "y", "x")
    problems = []
    for name, spec in WEATHER_VARIABLES.items():
        if name not in ds.data_vars:
            problems.append(Problem(file, name, "missing variable"))
            continue
        var = ds[name]
        units = var.attrs.get("units")
        if units != spec.units:
            found = f"units are {units!r}" if units is not None else "no units attribute"
            problems.append(Problem(file, name, f"{found}, expected {spec.units!r}"))
        if var.dims != dims:
            problems.append(Problem(file, name, f"dims are {var.dims}, expected {dims}"))
            continue
        if var.dtype.kind != "f":
            problems.append(Problem(file, name, f"dtype is {var.dtype}, expected float32"))
        values = var.transpose(time_dim, ...).values.astype("float64").reshape(ds.sizes[time_dim], -1)
        steps = ds[time_dim].values
        nan = np.isnan(values)
        if nan.any():
            first = _when(steps[np.argmax(nan.any(axis=1))])
            message = f"{nan.sum()} NaN values (hourly weather must be complete), first at {first}"
            problems.append(Problem(file, name, message))
        lo, hi = spec.valid_range
        with np.errstate(invalid="ignore"):
            out = (values < lo) | (values > hi)
        if out.any():
            first = _when(steps[np.argmax(out.any(axis=1))])
            span = f"{lo}..{hi} (min {np.nanmin(values):g}, max {np.nanmax(values):g})"
            problems.append(Problem(file, name, f"{out.sum()} values outside {span}, first at {first}"))
    return problems


def _forecast_names(root: Path) -> tuple[dict[dt.date, str], list[Problem]]:
    """Issue date -> file name of every forecast, and problems with the names."""
    folder = root / FORECASTS
    if not folder.is_dir():
        return {}, [Problem(f"{FORECASTS}/", "", "missing (required)")]
    dates, problems = {}, []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            match = _FORECAST_NAME.fullmatch(entry.name)
            try:
                dates[dt.date.fromisoformat(match[1])] = entry.name
            except (TypeError, ValueError):
                problems.append(Problem(f"{FORECASTS}/{entry.name}", "", "name is not a date YYYY-MM-DD.nc"))
    if not dates:
        problems.append(Problem(f"{FORECASTS}/", "", "no forecast files"))
    return dates, problems


class _Layout(NamedTuple):
    """What every forecast of a bundle shares: grid, lead steps, variables and ensemble members."""

    grid: tuple[np.ndarray, np.ndarray] | None  # y, x values
    lead_steps: int | None
    variables: frozenset[str]
    members: tuple[int, ...] | None  # the `member` ids (positions without a coordinate), None without the dim


def _layout(ds: xr.Dataset) -> _Layout:
    grid = (ds["y"].values, ds["x"].values) if {"y", "x"} <= set(ds.coords) else None
    members = None
    if "member" in ds.dims:
        ids = ds["member"].values if "member" in ds.coords else np.arange(ds.sizes["member"])
        members = tuple(int(m) for m in ids)
    return _Layout(grid, ds.sizes.get("lead_time"), frozenset(map(str, ds.data_vars)), members)


def _members_text(ids: tuple[int, ...]) -> str:
    """'51 members (0..50)', or the ids themselves when they are not consecutive."""
    consecutive = ids == tuple(range(ids[0], ids[0] + len(ids))) if ids else True
    shown = f"{ids[0]}..{ids[-1]}" if consecutive and len(ids) > 2 else ", ".join(map(str, ids[:6]))
    return f"{len(ids)} members ({shown}{', ...' if not consecutive and len(ids) > 6 else ''})"


def _read_layout(path: Path) -> _Layout:
    """The layout of the forecast at `path`, from its coordinates and metadata only."""
    with xr.open_dataset(path, engine="netcdf4", decode_coords="all", decode_timedelta=True) as ds:
        return _layout(ds)


def _check_layout(ds: xr.Dataset, file: str, like: tuple[str, _Layout], *, grid: bool, leads: bool) -> list[Problem]:
    """How the forecast `ds` differs from `like` (the newest forecast's name and layout): its `grid`
    and number of `leads` when asked, its variables and ensemble members."""
    name, expected = like
    found = _layout(ds)
    problems = []
    if grid and found.grid is not None and expected.grid is not None and not all(
            a.shape == b.shape and np.allclose(a, b) for a, b in zip(found.grid, expected.grid, strict=True)):
        problems.append(Problem(file, "y, x", f"grid differs from {name}'s"))
    if leads and found.lead_steps != expected.lead_steps:
        problems.append(Problem(file, "lead_time", f"has {found.lead_steps} steps, {name} has {expected.lead_steps}"))
    only_here = sorted(found.variables - expected.variables)
    only_there = sorted(expected.variables - found.variables - set(WEATHER_VARIABLES))  # else "missing variable"
    if only_here or only_there:
        what = [f"{', '.join(names)} only {where}" for names, where in ((only_here, "here"), (only_there, "there"))
                if names]
        problems.append(Problem(file, "variables", f"differ from {name}'s: {'; '.join(what)}"))
    if found.members is not None and expected.members is not None and found.members != expected.members:
        message = f"has {_members_text(found.members)}, {name} has {_members_text(expected.members)}"
        problems.append(Problem(file, "member", message))
    return problems


def _check_members(ds: xr.Dataset, file: str) -> list[Problem]:
    """A `member` dim, when there is one: integer ids, none repeated, the control (CONTROL_MEMBER)
    among them, and no member whose values of a variable are all NaN."""
    if "member" not in ds.dims:
        return []
    if ds.sizes["member"] == 0:
        return [Problem(file, "member", f"is empty: a member dim holds at least the control, member {CONTROL_MEMBER}")]
    coord = ds.coords.get("member")
    if coord is None or coord.dims != ("member",) or coord.dtype.kind not in "iu":
        found = "none" if coord is None else f"dims {coord.dims}, dtype {coord.dtype}"
        return [Problem(file, "member", f"needs an integer coordinate along 'member' (the member ids), got {found}")]
    ids = coord.values.astype("int64")
    problems = []
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        problems.append(Problem(file, "member", f"{int((counts > 1).sum())} ids repeat, first {unique[counts > 1][0]} "
                                f"({counts[counts > 1][0]} times): each member once"))
    if CONTROL_MEMBER not in ids:
        problems.append(Problem(file, "member", f"no control among its {_members_text(tuple(ids.tolist()))}: the "
                                f"control is member {CONTROL_MEMBER}"))
    empty = {name: ds[name].isnull().all([d for d in ds[name].dims if d != "member"]).values
             for name in WEATHER_VARIABLES if name in ds.data_vars and "member" in ds[name].dims}
    if empty and (hollow := np.any(list(empty.values()), axis=0)).any():
        first = int(np.argmax(hollow))
        names = ", ".join(name for name, nan in empty.items() if nan[first])
        problems.append(Problem(file, "member", f"{int(hollow.sum())} members hold only NaN in a variable, first "
                                f"member {ids[first]} ({names})"))
    return problems


def _check_forecast(
    path: Path, file: str, issue: dt.date, zone: ZoneInfo | None, lead_days: int | None,
    city: City | None, grid: tuple | None, like: tuple[str, _Layout] | None,
) -> list[Problem]:
    """One forecast file read in full: grid, variables, lead times, issue and valid times; and,
    unless it is the newest, its layout against `like` (the newest's name and layout)."""
    with xr.open_dataset(path, engine="netcdf4", decode_coords="all", decode_timedelta=True) as ds:
        problems = _check_grid(ds, file, city, grid) + _check_variables(ds, file, "lead_time", members=True)
        problems += _check_members(ds, file)
        if like is not None:  # the grid against the history's, the leads against lead_days, when known
            problems += _check_layout(ds, file, like, grid=grid is None, leads=lead_days is None)
        lead = ds.coords.get("lead_time")
        if lead is None or lead.dims != ("lead_time",) or not np.issubdtype(lead.dtype, np.timedelta64):
            return [*problems, Problem(file, "lead_time", "missing timedelta coordinate along 'lead_time'")]
        hours = lead.values / _HOUR
        if lead_days is not None and hours.size != 24 * lead_days:
            message = f"has {hours.size} steps, expected 24 x {lead_days} lead days"
            problems.append(Problem(file, "lead_time", message))
        if hours.size == 0:
            problems.append(Problem(file, "lead_time", "is empty"))
        elif not np.array_equal(hours, np.arange(hours.size)):
            i = int(np.argmax(hours != np.arange(hours.size)))
            message = f"must be hourly from 0 h; step {i} is {hours[i]:g} h"
            problems.append(Problem(file, "lead_time", message))
        problems += _check_issue_time(ds, file, issue, zone)
        problems += _check_time_coord(ds, file, "time", "lead_time")
    return problems


def _check_issue_time(ds: xr.Dataset, file: str, issue: dt.date, zone: ZoneInfo | None) -> list[Problem]:
    """forecast_reference_time is local midnight of the name's date, in UTC (when the `zone` is known);
    time = it + lead."""
    frt = ds.coords.get("forecast_reference_time")
    if frt is None or frt.size != 1 or not np.issubdtype(frt.dtype, np.datetime64):
        return [Problem(file, "forecast_reference_time", "missing scalar datetime coordinate")]
    found = pd.Timestamp(frt.values.ravel()[0])
    if zone is not None and found != (expected := local_midnight_utc(issue, zone.key)):
        return [Problem(file, "forecast_reference_time", f"is {_when(found)}, expected {_when(expected)} "
                        f"(local midnight of {issue} in {zone.key}, as UTC)")]
    time = ds.coords.get("time")
    if time is not None and time.dims == ("lead_time",) and np.issubdtype(time.dtype, np.datetime64):
        valid = np.datetime64(found) + ds["lead_time"].values
        if not np.array_equal(time.values.astype("datetime64[s]"), valid.astype("datetime64[s]")):
            return [Problem(file, "time", "valid time is not forecast_reference_time + lead_time")]
    return []


def _bundle_files(root: Path) -> list[str]:
    """Every file of the bundle outside the forecasts, provenance.json and hidden files."""
    files = []
    for folder, subdirs, names in os.walk(root):
        rel = Path(folder).relative_to(root)
        subdirs[:] = [d for d in subdirs if not d.startswith(".") and (rel / d).as_posix() != FORECASTS]
        files += [(rel / n).as_posix() for n in names if not n.startswith(".")]
    return sorted(f for f in files if f != PROVENANCE)


def _check_provenance(root: Path, forecasts: set[str], hashed: set[str]) -> list[Problem]:
    """An entry with a sha256 for every file; hashes checked for all but the unread forecasts."""
    if not (root / PROVENANCE).is_file():
        return [Problem(PROVENANCE, "", "missing (required)")]
    try:
        record = json.loads((root / PROVENANCE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return [_unreadable(PROVENANCE, err)]
    if not isinstance(record, dict):
        return [Problem(PROVENANCE, "", "must be a JSON object")]
    required = ("bundle_version", "city", "source", "created", "files")
    problems = [Problem(PROVENANCE, key, "missing") for key in required if key not in record]
    entries = record.get("files")
    if not isinstance(entries, dict):
        return [*problems, Problem(PROVENANCE, "files", "must be an object of path -> entry")]
    on_disk = _bundle_files(root)
    for file in on_disk:
        problems += _check_entry(root, file, entries.get(file), f"files.{file}")
    for file in sorted(set(entries) - set(on_disk) - {f"{FORECASTS}/"}):
        problems.append(Problem(PROVENANCE, f"files.{file}", "lists a file that is not in the bundle"))
    if forecasts:
        key = f"{FORECASTS}/"
        listed = entries.get(key, {}).get("files") if isinstance(entries.get(key), dict) else None
        if not isinstance(listed, dict):
            message = "missing entry with a 'files' map of name -> sha256"
            return [*problems, Problem(PROVENANCE, f"files.{key}", message)]
        for name in sorted(forecasts ^ set(listed)):
            message = "no sha256 for this forecast" if name in forecasts else "lists a forecast not on disk"
            problems.append(Problem(PROVENANCE, f"files.{key}files.{name}", message))
        for name in sorted(hashed & set(listed)):
            problems += _check_hash(root, f"{FORECASTS}/{name}", listed[name], f"files.{key}files.{name}")
    return problems


def _check_entry(root: Path, file: str, entry, field: str) -> list[Problem]:
    if not isinstance(entry, dict):
        return [Problem(PROVENANCE, field, "no entry for this file")]
    problems = [Problem(PROVENANCE, f"{field}.{key}", "missing") for key in ("source", "retrieved")
                if key not in entry]
    if not (entry.get("url") or entry.get("generator")):
        problems.append(Problem(PROVENANCE, field, "needs a 'url' or a 'generator'"))
    return problems + _check_hash(root, file, entry.get("sha256"), f"{field}.sha256")


def _check_hash(root: Path, file: str, recorded, field: str) -> list[Problem]:
    if not isinstance(recorded, str) or not _SHA256.fullmatch(recorded):
        return [Problem(PROVENANCE, field, f"must be 64 lowercase hex digits, got {recorded!r}")]
    actual = sha256_file(root / file)
    if actual != recorded:
        return [Problem(file, "sha256", f"bytes do not match {PROVENANCE}: recorded {recorded[:12]}..., "
                        f"file hashes to {actual[:12]}...")]
    return []


def warnings_markdown(warned: list[str]) -> str:
    """The bundle's warnings (one line each) as a Markdown section of a run's artifact; '' if none."""
    if not warned:
        return ""
    return "**The bundle was used with these warnings:**\n\n" + "".join(f"- {line}\n" for line in warned) + "\n"


@task
def require_city_bundle(config: CityConfig) -> list[str]:
    """Refuse a bundle that breaks the contract, listing every error with its file and field; log
    each warning (terminal, the run's log and the Prefect UI) and return them, one line each, for the
    run's outputs."""
    found = require_valid_bundle(
        config.bundle_dir, city_crs=config.grid.crs, city_bounds=config.grid.bounds,
        timezone=config.city.timezone, lead_days=config.forecast_days,
    )
    for problem in found:
        warn(f"bundle {config.bundle_dir}: {problem}")
    return [str(problem) for problem in found]
