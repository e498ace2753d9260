"""The live city's bundle: what each source would request, staging, commit, provenance, staleness.

A source writes its files into a hidden staging folder inside the bundle, they are checked
against the contract there, and only then renamed into place one by one (same filesystem,
so each rename is atomic). A source that fails leaves its previous files untouched; its
provenance entries are marked `stale` with `last_success` (the time of the last good fetch)
and the error, and `stale_sources` at the top of provenance.json names it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pyproj import CRS, Transformer

from features.grid import grid_template
from pipelines.bundle.checks import (
    CSV_TABLES,
    DEM,
    FORECASTS,
    PROVENANCE,
    VECTOR_LAYERS,
    City,
    check_csv,
    check_raster,
    check_vector,
    errors_of,
)
from pipelines.bundle.plausible import check_feature_positions, check_report_positions
from pipelines.bundle.readers import forecast_dates, read_provenance
from pipelines.config import PACKAGED_TIDE_GAUGES, CityConfig, OpenMeteoConfig
from pipelines.data import packaged_data
from pipelines.sources import copernicus_dem, open_meteo, osm
from pipelines.sources.open_meteo import coarse_points
from pipelines.sources.weather import (
    WeatherSettings,
    backfill_requests,
    forecast_requests,
    history_requests,
    training_issue_dates,
)
from pipelines.storage import sha256_file, write_text_atomic
from pipelines.tide import M2_AMPLITUDE_TOLERANCE, M2_PHASE_TOLERANCE_DEG, read_tide_constants
from pipelines.timezones import local_midnight_utc

GENERATOR = "pipelines.sources.staging"
LIVE_SOURCES = frozenset({"open-meteo", "copernicus-dem", "osm", "files", "none"})  # `source` of what ingest writes


@dataclass(frozen=True)
class LiveCity:
    """The plain values every live source needs, taken from the config once."""

    slug: str
    timezone: str
    crs: str
    bounds: tuple[float, float, float, float]
    resolution_m: float
    lonlat_bounds: tuple[float, float, float, float]
    forecast_days: int  # days of hourly leads a forecast file carries (CityConfig.forecast_days)
    start: dt.date
    assets: str

    @property
    def city(self) -> City:
        return City(CRS.from_user_input(self.crs), self.bounds)


def live_city(config: CityConfig) -> LiveCity:
    to_lonlat = Transformer.from_crs(config.grid.crs, "EPSG:4326", always_xy=True)
    lonlat = tuple(round(v, 6) for v in to_lonlat.transform_bounds(*config.grid.bounds, densify_pts=21))
    return LiveCity(config.city.slug, config.city.timezone, config.grid.crs, tuple(config.grid.bounds),
                    config.grid.resolution_m, lonlat, config.forecast_days, config.source.start,
                    config.source.assets)


def call_budget(source: OpenMeteoConfig) -> open_meteo.CallBudget:
    """Open-Meteo's call limits of `source` less its safety margin."""
    return open_meteo.CallBudget.with_margin(source.calls_per_minute, source.calls_per_hour, source.calls_per_day,
                                             source.budget_margin)


def weather_settings(config: CityConfig, city: LiveCity) -> WeatherSettings:
    """The weather requests' settings; on Open-Meteo's customer endpoints when an API key is configured."""
    source = config.source.open_meteo
    lat, lon = coarse_points(city.lonlat_bounds, source.spacing_deg)
    west, south, east, north = city.lonlat_bounds
    sea_point = source.sea_point or ((west + east) / 2, (south + north) / 2)
    tide = source.tide_constants
    tide_file = packaged_data(PACKAGED_TIDE_GAUGES[tide]) if tide in PACKAGED_TIDE_GAUGES else tide
    ensemble = source.ensemble
    urls = (source.archive_url, source.forecast_url, source.marine_url, source.previous_runs_url,
            ensemble.url if ensemble else "")
    if source.api_key_env:
        urls = tuple(open_meteo.customer_url(url) if url else url for url in urls)
    return WeatherSettings(*urls[:3], source.forecast_model, tuple(sea_point), lat, lon, source.archive_lag_days,
                           Path(tide_file) if tide_file else None, call_budget(source).per_minute,
                           archive_model=source.archive_model, previous_runs_url=urls[3],
                           forecast_archive_from=source.forecast_archive_from,
                           history_forecasts=source.history_forecasts, ensemble_url=urls[4],
                           ensemble_model=ensemble.model if ensemble else None,
                           ensemble_members=ensemble.members if ensemble else 1)


def issued_url(source: OpenMeteoConfig) -> str:
    """The public URL of the API the issued forecast comes from (its model metadata lies beside it)."""
    return source.ensemble.url if source.ensemble else source.forecast_url


def backfill_plan(bundle: Path, city: LiveCity, settings: WeatherSettings, issue_date: dt.date
                  ) -> tuple[list[dt.date], list]:
    """The training days before `issue_date` without a forecast in `bundle`, and the archived-forecast
    requests (`backfill_requests`) of those from `forecast_archive_from` on."""
    have = set(forecast_dates(bundle))
    lacking = [day for day in training_issue_dates(city.start, issue_date, city.timezone) if day not in have]
    return lacking, backfill_requests(settings, lacking, city.timezone, city.forecast_days)


def planned_requests(config: CityConfig, issue_date: dt.date, now: pd.Timestamp) -> list[str]:
    """Every request an ingest of `issue_date` would send now, one line each; nothing is sent.

    Each Open-Meteo request shows its weight in calls; a summary gives the plan's total and the
    least time the call budgets impose on it.
    """
    from pipelines.sources.weather import read_history

    city = live_city(config)
    source = config.source.open_meteo
    settings = weather_settings(config, city)
    issue = local_midnight_utc(issue_date, city.timezone)
    _, last, archive_until = read_history(config.bundle_dir / "weather/history.nc")
    pairs, _ = history_requests(settings, city.start, issue, now, last, archive_until)
    forecast = forecast_requests(settings, issue, city.forecast_days)
    west, south, east, north = city.lonlat_bounds
    lines = [(f"# city {city.slug}: bbox {west:.4f},{south:.4f},{east:.4f},{north:.4f} (W,S,E,N, EPSG:4326); "
              f"weather points {settings.lat.size} x {settings.lon.size}: lat {settings.lat.tolist()}, "
              f"lon {settings.lon.tolist()}; sea level at lon,lat {settings.sea_point}")]
    if source.api_key_env:
        found = "set" if os.environ.get(source.api_key_env, "").strip() else "NOT SET: the ingest would fail"
        lines.append(f"# open-meteo customer endpoints; apikey=*** from ${source.api_key_env} ({found}) "
                     "on every request")
    lines.append(f"# open-meteo history ({len(pairs)} request pairs; cached in {source.cache_dir})")
    lines += [_weighed(r) for pair in pairs for r in pair]
    members = (f"; ensemble {settings.ensemble_model}, {settings.ensemble_members} members (member 0 the control), "
               "each counted in the weight" if settings.ensemble_model else "")
    lines.append(f"# open-meteo forecast issued {issue_date} ({issue} UTC), leads 0..{24 * city.forecast_days - 1} h"
                 + members)
    budget = call_budget(source)
    forecast = [part for request in forecast for part in open_meteo.point_chunks(request, budget.per_minute)]
    lines += [_weighed(r) for r in forecast]
    lacking, backfill = backfill_plan(config.bundle_dir, city, settings, issue_date)
    lines.append(_backfill_summary(lacking, backfill, source))
    lines += [_weighed(r) for _, pair in backfill for r in pair]
    weights = [open_meteo.request_weight(r) for pair in [*pairs, forecast, *(p for _, p in backfill)] for r in pair]
    least = open_meteo.minimum_seconds(weights, budget, source.requests_per_minute)
    lines.append(f"# open-meteo plan: {len(weights)} requests weighing {sum(weights):.1f} calls in all; budgets "
                 f"{budget.per_minute:g} a minute, {budget.per_hour:g} an hour, {budget.per_day:g} a UTC day "
                 f"(calls_per_* less budget_margin {source.budget_margin:g}) take at least "
                 f"{least // 60:.0f} min {least % 60:.0f} s (uncached)")
    if settings.issued_model != "best_match":
        lines.append(f"GET {open_meteo.meta_url(issued_url(source), settings.issued_model)} (model run time)")
    dem = config.source.copernicus_dem
    lines.append("# copernicus-dem GLO-30 tiles (HTTP range requests through GDAL /vsicurl/)")
    lines += [f"GET {copernicus_dem.tile_url(dem.base_url, n)} (ranges)"
              for n in copernicus_dem.tile_names(city.lonlat_bounds)]
    lines += terrain_plan(config)
    lines += marine_plan(settings)
    lines.append(f"# osm through osmnx, bbox {west:.4f},{south:.4f},{east:.4f},{north:.4f}")
    url = config.source.osm.overpass_url.rstrip("/") + "/interpreter"
    lines += [f"POST {url} ({layer}: {tags})" for layer, tags in osm.QUERIES.items()]
    if config.source.files:
        lines.append(f"# user files (no request): {config.source.files}")
    return lines


def user_dtm(config: CityConfig) -> Path | None:
    """The user's terrain model (`source.files`/static/dem.tif), or None: it replaces GLO-30."""
    folder = config.source.files
    return folder / DEM if folder is not None and (folder / DEM).is_file() else None


def terrain_plan(config: CityConfig) -> list[str]:
    """The dry run's lines on static/dem.tif: where the terrain comes from, its datums and the offset applied."""
    dem = config.source.copernicus_dem
    if (users := user_dtm(config)) is not None:
        return [(f"# terrain: the user's {users} (bare earth, m above mean sea level, as the contract "
                "asks); the GLO-30 tiles above are not fetched")]
    offset = ("NOT SET (null): the DEM step would stop" if dem.msl_above_egm2008_m is None
              else f"{dem.msl_above_egm2008_m:g} m")
    return [(f"# terrain: GLO-30 is a surface model (roofs, trees); cells at least "
            f"{copernicus_dem.BUILDING_CELL_COVER:.0%} under the footprints of static/buildings.gpkg are "
            "lowered to the ground interpolated from the cells around them"),
            (f"# datums: GLO-30 heights above the {copernicus_dem.SURFACE_DATUM}; dem.tif above {dem.msl_datum} "
            f"= GLO-30 - msl_above_egm2008_m {offset}")]


def marine_plan(settings: WeatherSettings) -> list[str]:
    """The dry run's lines on sea level: the marine point, its datum and the check of its tide against the gauge."""
    lon, lat = settings.sea_point
    lines = [(f"# sea level: the marine API's cell nearest lon {lon}, lat {lat} that its model counts as sea "
             "(cell_selection=sea, cells of 1/12 deg, about 9 km); m above that model's mean sea level")]
    if settings.tide_constants:
        gauge = read_tide_constants(settings.tide_constants)
        m2 = gauge.names.index("M2")
        lines.append(f"# sea point check: its M2 against {gauge.gauge}'s ({gauge.amplitude_m[m2]:.3f} m, "
                     f"{gauge.phase_deg[m2]:.1f} deg) on up to a year of marine hours, within "
                     f"{M2_AMPLITUDE_TOLERANCE:.0%} and {M2_PHASE_TOLERANCE_DEG:g} deg, else a warning; tide-filled "
                     f"hours are {gauge.gauge}'s tide above its mean sea level plus tide_offset_m")
    return lines


def _backfill_summary(lacking: list[dt.date], backfill: list, source: OpenMeteoConfig) -> str:
    """One line: which training days lack a forecast, which the archive gives and which it cannot."""
    if not lacking:
        return "# open-meteo archived forecasts: every training day has its forecast"
    archived = [day for dates, _ in backfill for day in dates]
    years = sorted({day.year for day in archived})
    before = len(lacking) - len(archived)
    return (f"# open-meteo archived forecasts ({source.forecast_model}, previous-runs API) for {len(archived)} of the "
            f"{len(lacking)} training days without one" + (f", years {years[0]}-{years[-1]}" if years else "")
            + f", in {len(backfill)} request pairs"
            + (f"; {before} days " + (f"before forecast_archive_from ({source.forecast_archive_from})"
                                       if source.forecast_archive_from else "(no forecast_archive_from)")
               + " have no archived forecast: "
               + ("stand-ins from the history (history_forecasts)" if source.history_forecasts else "they train nothing")
               if before else ""))


def _weighed(request: open_meteo.Request) -> str:
    return f"{request.describe()}  (weight {open_meteo.request_weight(request):.1f} calls)"


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def new_stage(bundle: Path, source: str) -> Path:
    """An empty hidden folder inside the bundle (same filesystem) for one source's files."""
    bundle.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=bundle, prefix=f".staging-{source}-"))


def check_staged(stage: Path, files: list[str], city: City) -> None:
    """Raise ValueError listing the contract problems of the staged `files` (static layers, CSVs)."""
    layers = {layer.path: layer for layer in VECTOR_LAYERS.values()}
    problems = []
    for file in files:
        if file == DEM:
            problems += check_raster(stage, file, valid_range=(-500, 9000), projected=True, city=city)
        elif file in layers:
            problems += check_vector(stage, layers[file], city)
            if layers[file].placed:
                problems += check_feature_positions(stage, layers[file], city)
        elif file in CSV_TABLES:
            problems += check_csv(stage, file) + check_report_positions(stage, file, city)
    if errors := errors_of(problems):  # warnings are the bundle's validation's to report
        raise ValueError("staged files break the contract: " + "; ".join(map(str, errors)))


def commit(stage: Path, bundle: Path, files: list[str]) -> dict[str, str]:
    """Rename the staged `files` into the bundle; return file -> sha256. The stage is removed."""
    hashes = {}
    try:
        for file in files:
            target = bundle / file
            target.parent.mkdir(parents=True, exist_ok=True)
            hashes[file] = sha256_file(stage / file)
            os.replace(stage / file, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return hashes


def discard(stage: Path) -> None:
    shutil.rmtree(stage, ignore_errors=True)



def brought_files(bundle: Path) -> dict[str, str | None]:
    """The bundle's files that no live ingest wrote, each with the source provenance.json credits
    (None: no entry): the bundle brought them, and a live ingest keeps them and their entries.

    A file's origin is its provenance entry's `source` (a forecast's: the `weather/forecasts/`
    entry's, when its `files` list the file); only sources in LIVE_SOURCES are the ingest's own.
    """
    files = read_provenance(bundle, missing_ok=True).get("files", {})
    forecasts = files.get(f"{FORECASTS}/", {})
    brought = {}
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        name = path.relative_to(bundle).as_posix()
        if name == PROVENANCE or any(part.startswith(".") for part in path.relative_to(bundle).parts):
            continue  # the record itself, and staging folders
        in_forecasts = name.startswith(f"{FORECASTS}/") and path.name in forecasts.get("files", {})
        source = (files.get(name) or (forecasts if in_forecasts else {})).get("source")
        if source not in LIVE_SOURCES:
            brought[name] = source
    return brought


def write_provenance(bundle: Path, city: LiveCity, entries: dict[str, dict], failures: dict[str, str]) -> dict:
    """provenance.json: the new `entries` over the old ones; entries of failed sources marked stale.

    `failures` maps a source name to its error. Entries of files no longer in the bundle go. The
    credits are the licences of the entries, after the old record's credits while the bundle holds
    files it brought (`brought_files`); with nothing written and nothing failed, the record stays.
    """
    old = read_provenance(bundle, missing_ok=True)
    if old and not entries and not failures:
        return old
    files = {**old.get("files", {}), **entries}
    stale = {}
    for key, entry in files.items():
        if entry.get("source") in failures and key not in entries:
            files[key] = entry | {"stale": True, "last_success": entry.get("last_success", entry["retrieved"]),
                                  "error": failures[entry["source"]]}
            stale[entry["source"]] = {"last_success": files[key]["last_success"],
                                      "error": failures[entry["source"]]}
        elif key in entries:
            files[key] = {k: v for k, v in entry.items() if k not in ("stale", "error", "last_success")}
    for source, error in failures.items():
        stale.setdefault(source, {"last_success": None, "error": error})
    files = dict(sorted((k, v) for k, v in files.items() if k == f"{FORECASTS}/" or (bundle / k).is_file()))
    ours = not brought_files(bundle)
    licences = [entry["licence"] for entry in files.values() if entry.get("licence")]
    attribution = list(dict.fromkeys([*([] if ours else old.get("attribution", [])), *licences]))
    record = {**old, "bundle_version": 1, "city": city.slug, "source": "live" if ours else old.get("source", "bundle"),
              "created": utc_now(), "timezone": city.timezone, "attribution": attribution,
              "stale_sources": stale, "files": files}
    write_text_atomic(bundle / PROVENANCE, json.dumps(record, indent=2, sort_keys=True))
    return record


def template_of(city: LiveCity):
    return grid_template(city.crs, city.bounds, city.resolution_m)


def empty_obs_names() -> list[str]:
    return list(CSV_TABLES)


def empty_obs(stage: Path, files: list[str]) -> None:
    """Header-only observation CSVs `files` in `stage` (no public source: a user's files fill them)."""
    for file in files:
        (stage / file).parent.mkdir(parents=True, exist_ok=True)
        (stage / file).write_text(",".join(c.name for c in CSV_TABLES[file]) + "\n")
