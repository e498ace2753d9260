"""The demo world: a synthetic twin of a coastal heritage city, written as a city bundle with its truth.

`generate_demo_bundle` writes every file of docs/data-contract.md from a seed: the static world
(demo_static), hourly regional weather and tides (demo_weather), one forecast a day
(demo_forecasts), the truth beside the bundle (demo_truth) and observations sampled from it
(demo_obs). The same seed and arguments give the same bytes in every data file.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr
from prefect import task

from pipelines.bundle.assets import slug_initials
from pipelines.bundle.readers import read_provenance
from pipelines.bundle.writers import write_geotiff, write_gpkg
from pipelines.config import CityConfig
from pipelines.demo_world.forecasts import (
    ensemble_values,
    forecast_errors,
    forecast_with_errors,
    write_forecasts,
)
from pipelines.demo_world.grid import cell_lonlat, city_grid, regional_axes
from pipelines.demo_world.observations import flood_reports, station_cells, station_temperatures
from pipelines.demo_world.static import StaticWorld, build_static_world, land_cells, report_exposure
from pipelines.demo_world.surveys import flood_surveys
from pipelines.demo_world.truth import (
    CellLayers,
    DailyRegional,
    Truth,
    daily_regional,
    interpolation_matrix,
    simulate_truth,
)
from pipelines.demo_world.weather import (
    climatology,
    local_day,
    simulate_regional_weather,
)
from pipelines.demo_world.writers import write_history, write_truth
from pipelines.progress import log
from pipelines.storage import sha256_file, write_atomic, write_text_atomic
from pipelines.timezones import local_midnight_utc, local_midnights_utc

GENERATOR = "pipelines.demo_world.generate"
FIRST_ISSUE_AFTER_DAYS = 3  # forecasts start once three days of history exist
_ENSEMBLE_BLOCK = 32  # member files are drawn and written this many issues at a time, to bound memory
GENERATOR_VERSION = 6  # bump whenever the same arguments give a different world
# (2: report date errors; 3: the Penang gauge's tide, daily maxima like Bayan Lepas's; 4: floods routed
# over the truth's own ground, no code shared with features/ or models/; 5: surcharge from full drains
# spreads over the streets, kerb-confined flow, smaller drains in the old core)
# New streams go last: SeedSequence.spawn keeps the earlier ones as they were.
_STREAMS = ("coast", "terrain", "city", "weather", "forecasts", "truth", "observations", "surveys",
            "weather_beyond", "forecasts_beyond", "ensemble", "ensemble_beyond")  # new streams go last
ATTRIBUTION = (
    ("Climate calibration: MetMalaysia Bayan Lepas station record (daily 2021-2022, monthly 2013-2022). "
    "Source: MetMalaysia via data.gov.my, CC BY 4.0."),
    ("Coastline (coastline=penang): GSHHG 2.3.7 full resolution, GNU LGPL 3+. Wessel, P. and Smith, W. H. F. "
    "(1996), A global, self-consistent, hierarchical, high-resolution shoreline database, J. Geophys. Res. "
    "101(B4), 8741-8743."),
    "Districts: Source: Department of Statistics Malaysia (DOSM), data-open (DOSM Open Data License).",
    ("Sea level (zos): the astronomical tide of the Penang gauge predicted from its harmonic constants, plus a "
    "synthetic surge. Tide constants: TICON-4 (Hart-Davis, M. G., Dettmering, D., Seitz, F., SEANOE, "
    "https://www.seanoe.org/data/00980/109129/), from GESLA-4; Penang gauge data from UHSLC / JUPEM. CC BY 4.0."),
    "Heritage site names and positions (assets=george-town): github.com/wuuu1014/george-town-heritage.",
    ("static/heritage_zone.gpkg is synthetic: core (~109 ha) and buffer (~150 ha) zones grown around the "
    "assets approximate George Town's UNESCO zones, whose official outline is not public."),
    "Everything else (terrain, waterways, buildings, weather, surge, forecasts, observations) is synthetic.",
)
RECORD_CLIMATE = MappingProxyType({"record": "bayan-lepas"})  # the climate of the record itself


class _Stopwatch:
    """Seconds spent per stage, reported through `progress` as each stage ends."""

    def __init__(self, progress: Callable[[str], None]) -> None:
        self.progress, self.seconds = progress, {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - began, 2)
        self.progress(f"demo world: {name} done in {self.seconds[name]:.1f} s")


def generate_demo_bundle(
    bundle_dir: Path, truth_dir: Path, *, city_slug: str, crs: str,
    bounds: tuple[float, float, float, float], resolution_m: float,
    start: dt.date, end: dt.date, seed: int, timezone: str,
    coastline: Literal["penang", "synthetic"], assets: str,
    regional_spacing_deg: float, forecast_days: int, flood_lead_days: int,
    climate: Mapping[str, str | float] = RECORD_CLIMATE,
    survey_before: dt.date | None = None, ensemble_members: int = 0,
    ensemble_issues: tuple[dt.date, dt.date] | None = None, progress: Callable[[str], None] = lambda message: None,
) -> dict:
    """Write the demo world's bundle to `bundle_dir` and its truth to `truth_dir`; return a summary.

    History covers local days `start` .. `end` - 1 (hourly, to the issue time of `end`);
    forecasts of `forecast_days` days are issued at local midnight of every day from `start` + 3 to
    `end`; the truth covers `start` .. `end` + `flood_lead_days` - 1, so the last forecast's floods
    can be scored (heat is scored at the stations, whose records end with the history); observations
    cover the history's days. The weather runs on past the truth for the longer forecasts, from its
    own stream: the truth and the weather it is made of stay as they were with 3-day forecasts. `assets` is "george-town" or a CSV path (name, lon, lat,
    category, optional id). `climate` holds the keyword arguments of `climatology`:
    the record, or a climate made up from it. The largest floods before `survey_before`
    (default `end`) are surveyed (obs/flood_extents.gpkg). With `ensemble_members` > 0, the forecasts
    issued in `ensemble_issues` (first, last; default all) are member files: the control (member 0,
    the values a single run has) and that many perturbed members (forecasts.ensemble_values). The
    summary counts files, days, reports and stations, and gives the seconds per stage.
    """
    if end < start + dt.timedelta(days=FIRST_ISSUE_AFTER_DAYS):
        raise ValueError(f"`end` must be at least {FIRST_ISSUE_AFTER_DAYS} days after `start`")
    if not 1 <= flood_lead_days <= forecast_days:
        raise ValueError(f"`flood_lead_days` must be 1 .. `forecast_days` ({forecast_days}), got {flood_lead_days}")
    bundle_dir, truth_dir = Path(bundle_dir), Path(truth_dir)
    seeds = np.random.SeedSequence(seed).spawn(len(_STREAMS))
    streams = {name: np.random.default_rng(s) for name, s in zip(_STREAMS, seeds, strict=True)}
    clock = _Stopwatch(progress)
    monthly = climatology(**climate)  # a misspelt or invalid setting fails here, early
    template = city_grid(crs, bounds, resolution_m)
    history_days = (end - start).days
    truth_days = history_days + flood_lead_days  # the last forecast's flood lead days are scored too

    with clock.stage("static world"):
        world = build_static_world(template, city_slug=city_slug, coastline=coastline,
                                               assets=assets, streams=streams, progress=progress)
        written = _write_static(bundle_dir, world)

    with clock.stage("weather"):
        lon, lat = cell_lonlat(template)
        lat, lon = regional_axes((float(lon.min()), float(lon.max())),
                                              (float(lat.min()), float(lat.max())), regional_spacing_deg)
        weather = simulate_regional_weather(
            lat, lon, start, truth_days + 1, timezone, streams["weather"], monthly)
        if forecast_days > flood_lead_days:  # the longer forecasts' last hours, past the truth
            after = simulate_regional_weather(lat, lon, start + dt.timedelta(days=truth_days + 1),
                                              forecast_days - flood_lead_days, timezone, streams["weather_beyond"],
                                              monthly)
            weather = xr.concat([weather, after], dim="time")
        before_issue = weather.time < np.datetime64(local_midnight_utc(end, timezone))
        history = weather.sel(time=before_issue)
        written.append(write_history(bundle_dir / "weather/history.nc", history))

    with clock.stage("forecasts"):
        issue_dates = [start + dt.timedelta(days=d) for d in range(FIRST_ISSUE_AFTER_DAYS, history_days + 1)]
        issue_times = local_midnights_utc(issue_dates, timezone)
        issue_index = np.searchsorted(weather.time.values, issue_times.to_numpy())
        errors = forecast_errors(len(issue_dates), 24 * forecast_days, lat.size * lon.size, streams["forecasts"],
                                 streams["forecasts_beyond"])
        first, last = ensemble_issues or (issue_dates[0], issue_dates[-1])
        in_ensemble = np.array([ensemble_members > 0 and first <= day <= last for day in issue_dates])
        singles = np.flatnonzero(~in_ensemble)
        folder = bundle_dir / "weather/forecasts"
        forecast_hashes = write_forecasts(folder, forecast_with_errors(weather, issue_index[singles], errors.rows(singles)),
                                          [issue_dates[i] for i in singles], issue_times[singles], lat, lon)
        members = np.flatnonzero(in_ensemble)
        for block in (members[at:at + _ENSEMBLE_BLOCK] for at in range(0, members.size, _ENSEMBLE_BLOCK)):
            values = ensemble_values(weather, issue_index[block], errors.rows(block), ensemble_members,
                                     streams["ensemble"], streams["ensemble_beyond"])
            forecast_hashes |= write_forecasts(folder, values, [issue_dates[i] for i in block], issue_times[block],
                                               lat, lon)
        for stale in sorted({p.name for p in folder.glob("*.nc")} - set(forecast_hashes)):
            (folder / stale).unlink()  # left by an earlier world with other dates

    with clock.stage("truth"):
        day = local_day(weather.time.values, start, timezone)
        daily = daily_regional(weather, day, truth_days)
        cells = land_cells(world, template)
        row, col = cells.row, cells.col
        truth = simulate_truth(daily, weather, cells, truth_days, streams["truth"])
        write_truth(truth_dir, truth, template, row, col, start, truth_days)

    with clock.stage("observations"):
        dates = pd.date_range(pd.Timestamp(start), periods=history_days, freq="D")
        reports, temperatures = _observations(world, template, cells, row, col, truth, daily, weather, dates,
                                              city_slug, streams["observations"])
        for name, table in (("obs/flood_events.csv", reports), ("obs/temperature.csv", temperatures)):
            written.append(write_atomic(bundle_dir / name, lambda tmp, t=table: t.to_csv(tmp, index=False)))
        surveys = flood_surveys(truth, cells.x, cells.y, dates, survey_before or end, resolution_m, crs,
                                streams["surveys"])
        if len(surveys):
            written.append(write_gpkg(bundle_dir / "obs/flood_extents.gpkg", surveys, "flood_extents"))
        else:
            (bundle_dir / "obs/flood_extents.gpkg").unlink(missing_ok=True)  # an earlier world's surveys

    with clock.stage("provenance"):
        arguments = {
            "city_slug": city_slug, "crs": crs, "bounds": [float(b) for b in bounds],
            "resolution_m": float(resolution_m), "start": start.isoformat(), "end": end.isoformat(),
            "seed": seed, "timezone": timezone, "coastline": coastline, "assets": assets,
            "regional_spacing_deg": float(regional_spacing_deg), "forecast_days": forecast_days,
            "flood_lead_days": flood_lead_days,
            "climate": dict(climate),
            "survey_before": (survey_before or end).isoformat(),
        }
        if ensemble_members:  # absent otherwise: a bundle made before ensembles stays up to date
            arguments |= {"ensemble_members": ensemble_members,
                          "ensemble_issues": [first.isoformat(), last.isoformat()]}
        _write_provenance(bundle_dir, written, forecast_hashes, seed, arguments)

    return {
        "bundle": str(bundle_dir), "truth": str(truth_dir), "files": len(written) + len(forecast_hashes) + 1,
        "forecast_files": len(forecast_hashes), "member_files": int(in_ensemble.sum()), "history_days": history_days, "truth_days": truth_days,
        "regional_points": lat.size * lon.size, "assets": len(world.assets),
        "buildings": len(world.buildings), "waterways": len(world.waterways),
        "flood_days": int(np.unique(truth.flood_day).size),
        "flooded_cell_days": int(truth.flood_day.size), "flood_reports": len(reports),
        "surveyed_floods": int(surveys["event_date"].nunique()),
        "stations": int(temperatures["station_id"].nunique()), "temperature_rows": len(temperatures),
        "seconds": clock.seconds | {"total": round(sum(clock.seconds.values()), 2)},
    }


def _observations(
    world: StaticWorld, template: xr.DataArray, cells: CellLayers, row: np.ndarray,
    col: np.ndarray, truth: Truth, daily: DailyRegional, weather: xr.Dataset,
    dates: pd.DatetimeIndex, city_slug: str, rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flood reports and station temperatures over `dates`, sampled from the truth."""
    crs = str(template.rio.crs)
    exposure = report_exposure(world, template, row, col)
    reports = flood_reports(truth, cells.x, cells.y, exposure, daily, dates,
                                     abs(template.rio.transform().a), crs, rng)
    land_index = np.full(template.shape, -1)
    land_index[row, col] = np.arange(row.size)
    asset_col, asset_row = ~template.rio.transform() @ (world.assets.geometry.x.to_numpy(),
                                                        world.assets.geometry.y.to_numpy())
    asset_cells = land_index[asset_row.astype(int), asset_col.astype(int)]
    stations = station_cells(asset_cells[asset_cells >= 0], cells.elevation_m, row, col,
                                      template.shape, rng)
    prefix = slug_initials(city_slug)
    station_ids = [f"{prefix}-T{n + 1:02d}" for n in range(stations.size)]
    to_stations = interpolation_matrix(weather, cells.lon[stations], cells.lat[stations])
    temperatures = station_temperatures(truth, stations, station_ids, cells.x, cells.y, daily,
                                                 to_stations, dates, crs, rng)
    return reports, temperatures


def _write_static(bundle_dir: Path, world: StaticWorld) -> list[Path]:
    """The files of static/; sea.gpkg only when the grid holds some sea."""
    static = bundle_dir / "static"
    vectors = {"buildings": world.buildings, "waterways": world.waterways, "sea": world.sea,
               "heritage_assets": world.assets, "heritage_zone": world.zones}
    if world.sea.geometry.is_empty.all():
        del vectors["sea"]
        (static / "sea.gpkg").unlink(missing_ok=True)  # an earlier world's sea must not outlive it
    return [
        write_geotiff(static / "dem.tif", world.dem, "m", "elevation above mean sea level"),
        write_geotiff(static / "impervious.tif", world.impervious, "1", "impervious fraction"),
        *(write_gpkg(static / f"{name}.gpkg", frame, name) for name, frame in vectors.items()),
    ]


def _climate_note(climate: Mapping[str, str | float]) -> list[str]:
    """A line saying that the climate is made up, when `climate` transforms the record."""
    shift, scale, offset = (climate.get(name, default) for name, default in
                            (("shift_months", 0), ("rain_scale", 1.0), ("tas_offset_degC", 0.0)))
    if (shift, scale, offset) == (0, 1.0, 0.0):
        return []
    return [f"The weather's climate is made up: the {climate['record']} record with every season {shift} months "
            + f"later, rain x {scale:g} and daily mean temperature {offset:+g} degC. No station measured it."]


def _write_provenance(bundle_dir: Path, written: list[Path], forecast_hashes: dict[str, str], seed: int,
                      arguments: dict) -> None:
    """provenance.json: an entry with sha256 per file, the generator's arguments and attribution."""
    created = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    entry = {"source": "demo", "generator": GENERATOR, "seed": seed, "url": None, "retrieved": created}
    files = {path.relative_to(bundle_dir).as_posix(): entry | {"sha256": sha256_file(path)}
             for path in written}
    files["weather/forecasts/"] = entry | {"files": dict(sorted(forecast_hashes.items()))}
    record = {
        "bundle_version": 1, "generator_version": GENERATOR_VERSION, "city": arguments["city_slug"],
        "source": "demo", "created": created,
        "timezone": arguments["timezone"],
        "generator_arguments": arguments, "attribution": [*ATTRIBUTION, *_climate_note(arguments["climate"])],
        "files": dict(sorted(files.items())),
    }
    write_text_atomic(bundle_dir / "provenance.json", json.dumps(record, indent=2, sort_keys=True))


def _survey_before(config: CityConfig) -> dt.date:
    """Surveys map floods of the years training learns from: before the validation period (the end
    without an evaluation protocol)."""
    return config.evaluation.validation[0] if config.evaluation else config.source.end


def _ensemble_issues(config: CityConfig) -> tuple[dt.date, dt.date]:
    """First and last issue date of the demo's member files: source.ensemble_issues, else the
    evaluation's validation and test periods (where an ensemble is calibrated and scored), else all."""
    source = config.source
    if source.ensemble_issues:
        return source.ensemble_issues
    if config.evaluation:
        return config.evaluation.validation[0], config.evaluation.test[1]
    return source.start + dt.timedelta(days=FIRST_ISSUE_AFTER_DAYS), source.end


@task
def generate_demo(config: CityConfig) -> Path:
    """Write the demo world's bundle and truth; skip when the bundle holds this exact world.

    Raises ValueError for a bundle that provenance.json credits to another source: the demo world
    never writes over a bundle it did not make.
    """
    source = config.source
    arguments = {
        "city_slug": config.city.slug, "crs": config.grid.crs, "bounds": list(config.grid.bounds),
        "resolution_m": config.grid.resolution_m, "start": source.start.isoformat(),
        "end": source.end.isoformat(), "seed": source.seed, "timezone": config.city.timezone,
        "coastline": source.coastline, "assets": source.assets,
        "regional_spacing_deg": source.regional_spacing_deg, "forecast_days": config.forecast_days,
        "flood_lead_days": config.flood.lead_days,
        "climate": source.climate.model_dump(),
        "survey_before": _survey_before(config).isoformat(),
    }
    issues = _ensemble_issues(config)
    if source.ensemble_members:  # as generate_demo_bundle records them
        arguments |= {"ensemble_members": source.ensemble_members, "ensemble_issues": [d.isoformat() for d in issues]}
    marker = config.bundle_dir / "provenance.json"
    made = read_provenance(config.bundle_dir) if marker.exists() else {}
    if made and made.get("source") != "demo":
        raise ValueError(f"{marker}: source is {made.get('source')!r}, not 'demo': the demo world writes only a "
                         "bundle it made; give paths.bundle another folder, or `source: {kind: bundle}` for this one")
    if made.get("generator_arguments") == arguments and made.get("generator_version") == GENERATOR_VERSION:
        log(f"demo bundle {config.bundle_dir} is up to date; nothing to generate")
        return config.bundle_dir
    summary = generate_demo_bundle(  # records `arguments` and the time zone in provenance.json
        config.bundle_dir, config.truth_dir,
        **{**arguments, "bounds": config.grid.bounds, "start": source.start, "end": source.end,
           "survey_before": _survey_before(config), "ensemble_issues": issues},
        progress=log,
    )
    log(f"demo bundle written: {summary}")
    return config.bundle_dir
