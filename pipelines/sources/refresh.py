"""One function per live source: fetch, stage, check, commit; return the provenance entries written.

Each raises on failure after removing its stage, so the bundle keeps its last good files.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
import xarray as xr

from pipelines.bundle.assets import heritage_assets, heritage_zones, read_asset_table
from pipelines.bundle.checks import DEM, FORECASTS, HISTORY, VECTOR_LAYERS
from pipelines.bundle.readers import forecast_dates, read_provenance
from pipelines.bundle.writers import write_gpkg
from pipelines.config import DemConfig, OpenMeteoConfig, OsmConfig
from pipelines.progress import log
from pipelines.sources import copernicus_dem, open_meteo, osm
from pipelines.sources.feed_faults import FeedFaultError, forecast_faults
from pipelines.sources.staging import (
    GENERATOR,
    LiveCity,
    backfill_plan,
    call_budget,
    check_staged,
    commit,
    discard,
    empty_obs,
    empty_obs_names,
    issued_url,
    new_stage,
    template_of,
    utc_now,
)
from pipelines.sources.weather import (
    WeatherSettings,
    fetch_backfill,
    fetch_weather,
    forecast_dataset,
    forecast_requests,
    history_forecasts,
    history_requests,
    marine_hours,
    merge_history,
    read_history,
    write_forecast,
    write_history,
)
from pipelines.tide import MIN_AGREEMENT_HOURS, TideConstants, m2_agreement, read_tide_constants
from pipelines.timezones import local_midnight_utc

_YEAR_HOURS = 8784  # the sea point's M2 is checked on at most the last year of marine hours
_ASSET_DEDUP_M = 50.0  # an OSM heritage feature this close to a listed asset is that asset
STAND_IN_ERRORS = "pipelines.demo_world.forecasts.forecast_values"  # the stated error model of stand-in forecasts


def _entry(source: str, url: str, retrieved: str, sha256: str, licence: str, **extra) -> dict:
    return {"source": source, "url": url, "retrieved": retrieved, "sha256": sha256, "licence": licence, **extra}


def refresh_weather(bundle: Path, city: LiveCity, settings: WeatherSettings,
                    source: OpenMeteoConfig, issue_date: dt.date, now: pd.Timestamp, client=None,
                    limiter: open_meteo.RateLimiter | None = None) -> dict:
    """New hours of history.nc, the forecast of `issue_date` and one for each training day the bundle
    lacks (archived from `forecast_archive_from` on, else a stand-in from the history when
    `history_forecasts`); provenance entries of both files.

    Requests are paced by weight against `source`'s call budgets (`limiter`, by default on the
    real clock); with `source.api_key_env`, they carry the key from that environment variable. A
    forecast with a feed fault (empty, incomplete, frozen, the last forecast served again, old:
    `feed_faults`) raises FeedFaultError naming each, and nothing is written.
    """
    client = client or open_meteo.open_meteo_client(
        source.cache_dir, retries=source.retries, backoff_s=source.backoff_s,
        forecast_url=settings.forecast_url, marine_url=settings.marine_url,
        api_key=open_meteo.api_key_from_env(source.api_key_env), ensemble_url=settings.ensemble_url or None)
    limiter = limiter or open_meteo.RateLimiter(call_budget(source), source.requests_per_minute,
                                                retries_on_429=source.retries)
    issue = local_midnight_utc(issue_date, city.timezone)
    tide = read_tide_constants(settings.tide_constants) if settings.tide_constants else None
    old, last, archive_until = read_history(bundle / HISTORY)
    if tide is not None and old is not None and pd.Timestamp(old.time.values[0]) > pd.Timestamp(city.start):
        log(f"open-meteo: history.nc starts at {pd.Timestamp(old.time.values[0])}, after source.start "
            f"{city.start}; fetched again from the start, the tide filling what the marine API lacks")
        old, last, archive_until = None, None, None
    pairs, new_archive_until = history_requests(settings, city.start, issue, now, last,
                                                             archive_until)
    kept = None if last is None else min(last, archive_until)
    failed_sea_level = [] if tide is not None else None
    history = merge_history(
        old, kept, fetch_weather(client, pairs, settings, limiter, source.timeout_s, failed_sea_level), tide)
    tide_fill = None if tide is None else _tide_fill(history["zos"].attrs, tide.gauge, source.tide_constants,
                                                         failed_sea_level)
    if tide_fill is not None and tide_fill["hours"]:
        log(f"open-meteo: {tide_fill['hours']} hours of sea level ({tide_fill['first_hour']} .. "
            f"{tide_fill['last_hour']}) filled from the astronomical tide at {tide_fill['gauge']}, "
            + (f"shifted by {tide_fill['offset_m']:+.3f} m to the marine datum" if tide_fill["offset_from_hours"]
               else "not shifted to the marine datum (under 720 hours of both to estimate the offset)")
            + "".join(f"; marine request failed, {failure}" for failure in failed_sea_level))
    sea_point_check = None if tide is None else _sea_point_check(history["zos"], tide, settings.sea_point)
    forecast_weather = fetch_weather(
        client, [forecast_requests(settings, issue, city.forecast_days)], settings, limiter,
        source.timeout_s)
    run_time = open_meteo.model_run_time(issued_url(source), settings.issued_model, source.timeout_s)
    forecast = forecast_dataset(forecast_weather, issue, settings.issued_model, run_time)
    name = _forecast_name(issue_date)
    faults = forecast_faults(forecast, _previous_forecast(bundle, issue_date), source="open-meteo", file=name,
                             issue_time=issue, run_time=pd.Timestamp(run_time).tz_localize(None) if run_time else None,
                             first_hour_sent=pd.Timestamp(forecast_weather.attrs["first_hour_sent"]),
                             max_age_h=source.max_forecast_age_h)
    if faults:
        raise FeedFaultError("; ".join(map(str, faults)))
    lacking, planned = backfill_plan(bundle, city, settings, issue_date)
    backfilled, skipped, failed = _backfilled(client, planned, settings, limiter, source, tide, city)
    unarchived = [day for day in lacking if settings.forecast_archive_from is None
                  or day < settings.forecast_archive_from]
    stand_ins = _stand_ins(history, unarchived, settings, city) if settings.history_forecasts else {}
    backfilled |= stand_ins

    stage = new_stage(bundle, "open-meteo")
    try:
        write_history(stage / HISTORY, history, new_archive_until, settings.archive_model, settings.model)
        write_forecast(stage / name, forecast, issue)
        for day, archived in backfilled.items():
            write_forecast(stage / _forecast_name(day), archived, local_midnight_utc(day, city.timezone))
        for file in (HISTORY, name, *map(_forecast_name, backfilled)):  # read back: a truncated file fails here
            with xr.open_dataset(stage / file, engine="netcdf4") as check:
                check.load()
    except BaseException:
        discard(stage)
        raise
    written = [HISTORY, name, *map(_forecast_name, backfilled)]
    hashes = commit(stage, bundle, written)
    retrieved = utc_now()
    old_entry = read_provenance(bundle, missing_ok=True).get("files", {}).get(f"{FORECASTS}/", {})
    stood_in = {_forecast_name(day) for day in stand_ins}
    archived = sorted({*old_entry.get("archived", {}).get("files", []),
                       *(Path(f).name for f in written[2:] if f not in stood_in)})
    stand_in_files = sorted({*old_entry.get("stand_ins", {}).get("files", []), *(Path(f).name for f in stood_in)})
    without = [day for day in unarchived if day not in stand_ins]
    return {
        HISTORY: _entry("open-meteo", settings.archive_url, retrieved, hashes[HISTORY],
                        open_meteo.licence(settings.archive_model, settings.model), model=settings.archive_model,
                        first_hour=str(pd.Timestamp(history.time.values[0])),
                        archive_until=str(min(new_archive_until, pd.Timestamp(history.time.values[-1]))),
                        recent_hours_from=settings.forecast_url, sea_level_from=settings.marine_url,
                        points={"lat": [float(v) for v in settings.lat], "lon": [float(v) for v in settings.lon]},
                        sea_point=list(settings.sea_point),
                        **({} if tide_fill is None else {"sea_level_tide_fill": tide_fill}),
                        **({} if sea_point_check is None else {"sea_point_tide_check": sea_point_check})),
        f"{FORECASTS}/": _entry("open-meteo", settings.issued_url, retrieved, None,
                                open_meteo.licence(settings.issued_model, settings.model), model=settings.issued_model,
                                members=settings.ensemble_members if settings.ensemble_model else 1, model_run=run_time,
                                files={**old_entry.get("files", {}), **{Path(f).name: hashes[f] for f in written[1:]}},
                                archived={"url": settings.previous_runs_url, "model": settings.model, "files": archived,
                                          "left_out": skipped, "failed_requests": failed},
                                stand_ins={"files": stand_in_files, "from": f"{HISTORY} ({settings.archive_model})",
                                           "error_model": STAND_IN_ERRORS, "seed": city.start.toordinal()},
                                training_days_without_forecast=len(without),
                                first_without_forecast=str(without[0]) if without else None),
    }


def _forecast_name(day: dt.date) -> str:
    return f"{FORECASTS}/{day:%Y-%m-%d}.nc"


def _backfilled(client, planned: list, settings: WeatherSettings, limiter: open_meteo.RateLimiter,
                source: OpenMeteoConfig, tide, city: LiveCity
                ) -> tuple[dict[dt.date, xr.Dataset], dict[str, str], list[str]]:
    """The archived forecasts of `planned` (`backfill_plan`) in the forecast layout, file -> feed faults of
    the days left out, and the errors of requests that failed: a faulty day or a failed request is
    skipped (asked again next run), never the whole source."""
    failed = []
    weather = fetch_backfill(client, planned, settings, limiter, source.timeout_s, tide, city.timezone,
                             city.forecast_days, failed)
    forecasts, skipped = {}, {}
    for day, hours in weather.items():
        issue, name = local_midnight_utc(day, city.timezone), _forecast_name(day)
        forecast = forecast_dataset(hours, issue, settings.model, None).assign_attrs(
            source=f"Open-Meteo previous-runs API, model {settings.model}",
            model_run="lead day L from the runs made 24 (L + 1) to 24 (L + 1) + 23 h before each valid hour")
        faults = forecast_faults(forecast, None, source="open-meteo", file=name, issue_time=issue, run_time=None,
                                 first_hour_sent=issue, max_age_h=source.max_forecast_age_h)
        if faults:
            skipped[name] = "; ".join(map(str, faults))
        else:
            forecasts[day] = forecast
    if planned:
        log(f"open-meteo: {len(forecasts)} archived forecasts backfilled"
            + (f", {len(skipped)} left out for feed faults: " + "; ".join(skipped.values()) if skipped else "")
            + "".join(f"; archive request failed (asked again next run), {failure}" for failure in failed))
    return forecasts, skipped, failed


def _stand_ins(history: xr.Dataset, days: list[dt.date], settings: WeatherSettings, city: LiveCity
               ) -> dict[dt.date, xr.Dataset]:
    """Stand-in forecasts of `days` from the history (`history_forecasts`), in the forecast layout and marked."""
    stand_ins = {}
    for day, hours in history_forecasts(history, days, city.timezone, city.forecast_days, city.start.toordinal()).items():
        stand_ins[day] = forecast_dataset(hours, local_midnight_utc(day, city.timezone), "none", None).assign_attrs(
            source=f"stand-in, not a forecast: {HISTORY} (Open-Meteo archive, model {settings.archive_model}) "
                   f"plus the stated forecast errors of {STAND_IN_ERRORS}", model_run="none")
    if stand_ins:
        log(f"open-meteo: {len(stand_ins)} training days no archive holds get a stand-in forecast from the history "
            f"({min(stand_ins)} .. {max(stand_ins)})")
    return stand_ins


def _previous_forecast(bundle: Path, issue_date: dt.date) -> xr.Dataset | None:
    """The bundle's last forecast issued before `issue_date`, loaded; None when there is none."""
    earlier = [day for day in forecast_dates(bundle) if day < issue_date]
    if not earlier:
        return None
    with xr.open_dataset(bundle / FORECASTS / f"{earlier[-1]:%Y-%m-%d}.nc", engine="netcdf4", decode_coords="all",
                         decode_timedelta=True) as previous:
        return previous.load()


def _sea_point_check(zos: xr.DataArray, tide: TideConstants, sea_point: tuple[float, float]) -> dict:
    """M2 of the last year of marine hours at `sea_point` against `tide`'s gauge (`tide.m2_agreement`),
    `checked` False under a month of them; the log warns when it drifts beyond the tolerances."""
    marine = marine_hours(zos)
    times = pd.DatetimeIndex(zos.time.values)[marine][-_YEAR_HOURS:]
    level = zos.values[:, 0, 0][marine][-_YEAR_HOURS:]
    if level.size < MIN_AGREEMENT_HOURS:
        log(f"open-meteo: sea point {sea_point}: {level.size} marine hours, under the {MIN_AGREEMENT_HOURS} that "
            f"the M2 check against {tide.gauge} needs: not checked")
        return {"checked": False, "hours": int(level.size)}
    check = m2_agreement(times, level, tide)
    if not check["within_tolerance"]:
        log(f"WARNING open-meteo: the marine sea level at sea point {sea_point} drifts from the {tide.gauge} gauge's "
            f"tide: M2 {check['m2_amplitude_m']} m at {check['m2_phase_deg']} deg against "
            f"{check['gauge_m2_amplitude_m']} m at {check['gauge_m2_phase_deg']} deg (ratio "
            f"{check['amplitude_ratio']}, {check['phase_difference_deg']:+} deg; {check['tolerance']}): choose "
            "`open_meteo.sea_point` again (docs/live-city.md, 'The sea point')")
    return {"checked": True, **check}


def _tide_fill(zos_attrs: dict, gauge: str, constants: str, failed_requests: list[str]) -> dict:
    """The provenance of the sea-level hours filled from the tide (`hours` 0: none)."""
    return {"hours": int(zos_attrs.get("tide_filled_hours", 0)), "first_hour": zos_attrs.get("tide_filled_first"),
            "last_hour": zos_attrs.get("tide_filled_last"), "ranges": zos_attrs.get("tide_filled_ranges", ""),
            "gauge": gauge, "constants": constants,
            "datum": zos_attrs.get("tide_datum"), "offset_m": float(zos_attrs.get("tide_offset_m", 0.0)),
            "offset_from_hours": int(zos_attrs.get("tide_offset_from_hours", 0)),
            "failed_marine_requests": failed_requests}


def refresh_dem(bundle: Path, city: LiveCity, source: DemConfig) -> dict:
    """static/dem.tif from the GLO-30 tiles over the city: bare earth (the bundle's buildings lowered to
    the ground around them) above local mean sea level, on the city grid.

    Raises DemError, nothing written, when `source.msl_above_egm2008_m` is unknown or the bundle has no
    static/buildings.gpkg (the OSM or files step writes it first).
    """
    if source.msl_above_egm2008_m is None:
        raise copernicus_dem.DemError(
            "source.copernicus_dem.msl_above_egm2008_m is null in the city config: GLO-30's heights are above "
            f"the {copernicus_dem.SURFACE_DATUM} and the bundle's DEM must be above {source.msl_datum}; set the "
            "height of that mean sea level above EGM2008 in m (docs/live-city.md, 'Elevation'; 0 takes the "
            "geoid as sea level), or put a surveyed terrain model in the user files as static/dem.tif")
    footprints = bundle / VECTOR_LAYERS["buildings"].path
    if not footprints.is_file():
        raise copernicus_dem.DemError(f"{footprints} is missing: the buildings to remove from the GLO-30 surface "
                                      "model come from the osm source or the user files")
    template = template_of(city)
    urls = [copernicus_dem.tile_url(source.base_url, n) for n in copernicus_dem.tile_names(city.lonlat_bounds)]
    surface = copernicus_dem.dem_on_grid(urls, city.crs, template.rio.transform(), template.shape,
                                         source.retries)
    terrain, lowered = copernicus_dem.bare_earth_on_msl(surface, template, gpd.read_file(footprints),
                                                        source.msl_above_egm2008_m)
    log(f"copernicus-dem: {lowered} building cells lowered to the ground around them; heights on "
        f"{source.msl_datum}: GLO-30 (above the {copernicus_dem.SURFACE_DATUM}) - {source.msl_above_egm2008_m:g} m")
    stage = new_stage(bundle, "copernicus-dem")
    try:
        copernicus_dem.write_dem(stage / DEM, terrain, source.msl_datum)
        check_staged(stage, [DEM], city.city)
    except BaseException:
        discard(stage)
        raise
    hashes = commit(stage, bundle, [DEM])
    return {DEM: _entry("copernicus-dem", ", ".join(urls), utc_now(), hashes[DEM], copernicus_dem.LICENCE,
                        tiles=[u.rsplit("/", 1)[1] for u in urls],
                        surface_datum=copernicus_dem.SURFACE_DATUM, datum=source.msl_datum,
                        msl_above_egm2008_m=source.msl_above_egm2008_m,
                        bare_earth={"buildings": VECTOR_LAYERS["buildings"].path, "cells_lowered": lowered,
                                    "min_building_cover": copernicus_dem.BUILDING_CELL_COVER,
                                    "method": "features.terrain.bare_earth_m: linear interpolation of the "
                                              "cells around the buildings, never above the surface"})}


def refresh_osm(bundle: Path, city: LiveCity, source: OsmConfig, keep: frozenset[str] = frozenset()) -> dict:
    """Buildings, waterways, sea, heritage assets and the heritage zone from OpenStreetMap, except
    the files in `keep` (the bundle's own: the zone then grows around the bundle's assets); nothing
    is requested when the bundle brought every required layer."""
    if {layer.path for layer in VECTOR_LAYERS.values() if layer.required} <= keep:
        return {}
    with osm.overpass(source.overpass_url, source.timeout_s):
        found = {layer: osm.features(city.lonlat_bounds, tags) for layer, tags in osm.QUERIES.items()}
    layers = {
        "buildings": _valid(osm.buildings(found["buildings"])),
        "waterways": osm.waterways(found["waterways"]),
        "sea": osm.sea(found["coastline"], city.lonlat_bounds),
        "heritage_assets": _assets(city, osm.heritage(found["heritage"])),
    }
    assets = VECTOR_LAYERS["heritage_assets"].path
    if assets in keep:
        layers["heritage_assets"] = gpd.read_file(bundle / assets)
    layers = {name: frame.to_crs(city.crs) for name, frame in layers.items()}
    if layers["sea"].geometry.is_empty.all():
        del layers["sea"]
    land = shapely.box(*city.bounds)
    if "sea" in layers:
        land = land.difference(shapely.union_all(layers["sea"].geometry.to_numpy()))
    layers["heritage_zone"] = heritage_zones(layers["heritage_assets"], land, city.bounds)
    layers = {name: frame for name, frame in layers.items() if VECTOR_LAYERS[name].path not in keep}
    stage = new_stage(bundle, "osm")
    try:
        files = [write_gpkg(stage / VECTOR_LAYERS[name].path, frame, name).relative_to(stage).as_posix()
                 for name, frame in layers.items()]
        check_staged(stage, files, city.city)
    except BaseException:
        discard(stage)
        raise
    if "sea" not in layers and VECTOR_LAYERS["sea"].path not in keep:
        (bundle / VECTOR_LAYERS["sea"].path).unlink(missing_ok=True)
    hashes = commit(stage, bundle, files)
    retrieved, url = utc_now(), source.overpass_url.rstrip("/") + "/interpreter"
    entries = {file: _entry("osm", url, retrieved, hashes[file], osm.LICENCE, bbox=list(city.lonlat_bounds))
               for file in files}
    zone = VECTOR_LAYERS["heritage_zone"].path
    if zone in entries:
        entries[zone] |= {"generator": "pipelines.bundle.assets.heritage_zones",
                          "note": "synthetic core and buffer grown around the assets; the UNESCO outline is not "
                                  "public. Put the official zones in the user files to replace it."}
    return entries


def _valid(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Polygons repaired with make_valid, keeping only their polygon parts."""
    repaired = frame.geometry.make_valid()
    polygons = repaired.map(lambda g: g if g.geom_type in ("Polygon", "MultiPolygon") else
                            shapely.union_all([p for p in shapely.get_parts(g)
                                               if p.geom_type in ("Polygon", "MultiPolygon")]))
    frame = frame.set_geometry(polygons)
    return frame[~frame.geometry.is_empty].reset_index(drop=True)


def _assets(city: LiveCity, from_osm: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The listed assets (`city.assets`) plus OSM heritage features farther than 50 m from all of them;
    only the OSM features when `city.assets` is 'osm'."""
    from_osm = from_osm.to_crs(city.crs)
    from_osm = from_osm[from_osm.geometry.intersects(shapely.box(*city.bounds))]
    if city.assets == "osm":
        return from_osm.reset_index(drop=True)
    table, prefix = read_asset_table(city.assets, city.slug)
    listed = heritage_assets(table, prefix, city.crs, city.bounds, progress=lambda message: None)
    near = from_osm.geometry.distance(shapely.union_all(listed.geometry.to_numpy())) <= _ASSET_DEDUP_M
    merged = pd.concat([listed, from_osm[~near.to_numpy()]], ignore_index=True)
    return gpd.GeoDataFrame(merged, geometry="geometry", crs=city.crs)


def fill_missing_obs(bundle: Path, city: LiveCity) -> dict:
    """Header-only obs CSVs where the bundle has none (no public source; user files fill them)."""
    missing = [f for f in empty_obs_names() if not (bundle / f).is_file()]
    if not missing:
        return {}
    stage = new_stage(bundle, "obs")
    empty_obs(stage, missing)
    hashes = commit(stage, bundle, missing)
    retrieved = utc_now()
    return {f: {"source": "none", "generator": GENERATOR, "retrieved": retrieved, "sha256": hashes[f],
                "note": "no public source: header only; put observations in the user files"} for f in missing}
