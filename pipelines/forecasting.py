"""The daily_forecast flow: the day's forecast -> features -> predictions -> published files -> alerts."""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import xarray as xr
from prefect import flow, task
from prefect.artifacts import (
    create_image_artifact,
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)

from features.grid import cell_lonlat
from features.heat import (
    direct_beam_fraction,
    heat_index,
    humidity_at_daily_max,
    observed_daily_max,
    solar_noon_cos_zenith,
    wet_bulb_globe_temperature,
)
from features.weather import DRIVER_NAMES, DRIVERS, bilinear_weights, sample_bilinear
from models.assets import asset_alert_levels, asset_risk
from models.calibration import Calibration
from models.flood import FloodModel, flood_drivers, predict_flood
from models.heat import VARIABLES, predict_heat, quantile_name
from models.heat_levels import RULE_FLAGS, band_level, combined_level, sustained_level
from models.tables import land_cells, with_flood_interactions
from pipelines import bundle as bundle_io
from pipelines.alerts_run import deliver_run, issue_run
from pipelines.config import CityConfig, load_city_config
from pipelines.drivers import drivers_for_dates, issue_time_utc
from pipelines.featurize import build_static_features
from pipelines.flow_common import FLOOD_FEATURES, HEAT_FEATURES, city_template
from pipelines.ingest import validate_bundle
from pipelines.maps import Basemap, manager_crops, render_map
from pipelines.page import write_page
from pipelines.publish import (
    valid_day,
    with_levels,
    write_cogs,
    write_forecast_netcdf,
    write_forecast_zarr,
)
from pipelines.registry import RegistryError, load_latest
from pipelines.stac import forecast_item, link_latest, write_catalog, write_item
from pipelines.storage import new_version_folder, publish_folder
from pipelines.tiles import join_tiles, static_tiles

ASSET_REACH_M = 400.0  # an asset over water (a jetty) reads the land cells this close


Layers = dict[str, tuple[np.ndarray, dict]]  # name -> (one value per row of the frame, CF attrs)


def _feature_frame(config: CityConfig, static: xr.Dataset, issue_date: dt.date) -> pd.DataFrame:
    """One row per land cell and lead, lead by lead: static features, then the day's drivers at the cell.

    The drivers are interpolated at the land cells only, every driver and lead in one pass.
    """
    with bundle_io.read_history(config.bundle_dir) as history:
        drivers = drivers_for_dates(config.bundle_dir, history.load(), [issue_date],
                                    lead_days=config.lead_days, timezone=config.city.timezone).isel(issue_date=0)
    cells = land_cells(static)
    lon, lat = (a.values.ravel()[cells["cell"].to_numpy()] for a in cell_lonlat(city_template(config)))
    regional = np.stack([drivers[name].transpose("lead", "y", "x").values for name in DRIVER_NAMES])
    at_cells = sample_bilinear(regional, bilinear_weights(drivers.y.values, drivers.x.values, lat, lon))
    lead = np.repeat(np.arange(config.lead_days, dtype=np.int8), len(cells))  # int8: the features stay float32
    columns = {name: np.tile(values.to_numpy(), config.lead_days) for name, values in cells.items()}
    columns |= {"lead": lead, "lead_days": lead.copy()}
    columns |= {name: at_cells[k].astype("float32").ravel() for k, name in enumerate(DRIVER_NAMES)}  # (lead, cell)
    return pd.DataFrame(columns, copy=False)  # a block per column: no consolidating copy


def flood_layers(config: CityConfig, frame: pd.DataFrame) -> tuple[Layers, str]:
    """Flood probability and its top three drivers per row from the latest flood model; its version.

    `flood_driver_<k>` holds the index of the k-th strongest driver into the model's features
    (named in `flag_meanings`), `flood_driver_<k>_contribution` its log-odds contribution.
    """
    boosters, card = load_latest(config.city_store / "models", "flood", FLOOD_FEATURES)
    model = FloodModel(boosters["classifier"], Calibration.from_dict(card["calibration"]))
    frame = with_flood_interactions(frame)
    event = "a flood" if config.flood.report_rate < 1 else "a flood reported"
    attrs = {"units": "1", "long_name": f"probability of {event} within {config.flood.label_radius_m:g} m "
             "of the cell during the local day", "report_rate": config.flood.report_rate}
    layers = {"flood_probability": (predict_flood(model, frame), attrs)}
    index, contribution = flood_drivers(model.booster, frame, top=3)
    flags = {"flag_values": list(range(len(FLOOD_FEATURES))), "flag_meanings": " ".join(FLOOD_FEATURES)}
    for k in range(3):
        layers[f"flood_driver_{k + 1}"] = (index[:, k].astype("float32"), {
            "units": "1", "long_name": f"feature raising the flood score most, rank {k + 1}", **flags})
        layers[f"flood_driver_{k + 1}_contribution"] = (contribution[:, k], {
            "units": "1", "long_name": f"log-odds contribution of flood_driver_{k + 1} (LightGBM pred_contrib)"})
    return layers, card["version"]


def _recent_tasmax(config: CityConfig, issue_date: dt.date, frame: pd.DataFrame, q50: np.ndarray,
                   lonlat: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """tasmax (degC) of each land cell on the sustained_days - 1 days before issue, (cells, days).

    The observed regional maximum (history.nc) at the cell plus the cell's urban offset today
    (its lead-0 q50 minus the regional forecast there). `lonlat` holds the lead-0 rows' cells.
    """
    n_days = config.heat.sustained_days - 1
    lead0 = frame["lead"].to_numpy() == 0
    if n_days == 0:
        return np.full((int(lead0.sum()), 0), np.nan)
    with bundle_io.read_history(config.bundle_dir) as history:
        end = issue_time_utc([issue_date], config.city.timezone)[0]
        daily = observed_daily_max(history["tas"].load(), end.to_datetime64(), n_days)
    lon, lat = lonlat
    weights = bilinear_weights(daily.y.values, daily.x.values, lat, lon)
    regional = sample_bilinear(daily.transpose("day", "y", "x").values, weights)  # (days, cells)
    offset = q50[lead0] - frame["tasmax_regional_degC"].to_numpy()[lead0]
    return (regional + offset).T


def _on_rows(values, units: str) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, dtype=float), dims="row", attrs={"units": units})


def heat_layers(config: CityConfig, frame: pd.DataFrame, issue_date: dt.date) -> tuple[Layers, str]:
    """tasmax and tasmin quantiles, heat index and WBGT (degC) and heat levels per row; the heat model's version.

    One layer per variable of the latest heat model (`tasmin_q50`, ...: tasmin where it was
    trained). Heat stress is read at the cell's q50 tasmax with the humidity of that hour (the
    regional daily mean air's dew point held) and the day's mean wind; WBGT in the day's midday
    sun, as NEA measures it: the day's largest hourly radiation (`rsds_max_W_m2`, so clouds
    lower it) with the sun as high as at solar noon and the direct share estimated from the
    sky's clearness. The MET Malaysia rule needs tasmax held for `sustained_days`: lead L counts
    the days L-2 .. L, the days before issue from _recent_tasmax (observed regionally, shifted
    by the cell's offset); WBGT bands hold daily.
    """
    boosters, card = load_latest(config.city_store / "models", "heat", HEAT_FEATURES)
    if "interval_widening_degC" not in card:
        raise RegistryError(f"heat model {card['version']}: card.json has no `interval_widening_degC` (registered "
                            "before the conformal intervals); retrain with `warisan train`")
    widening = {v: {int(lead): w for lead, w in by_lead.items()} for v, by_lead in card["interval_widening_degC"].items()}

    def predict(variable: str) -> dict[float, np.ndarray]:
        return predict_heat({q: boosters[quantile_name(variable, q)] for q in card["quantiles"]}, frame,
                            widening[variable])

    predicted = {"tasmax": predict("tasmax")}
    with ThreadPoolExecutor(max_workers=1) as beside:  # the other variables' boosters run beside heat stress
        others = {v: beside.submit(predict, v) for v in card["variables"] if v != "tasmax"}
        stress = _heat_stress(config, frame, issue_date, predicted["tasmax"][0.5])
        predicted |= {v: future.result() for v, future in others.items()}
    return {
        quantile_name(v, q): (values, {
            "standard_name": "air_temperature", "units": "degC", "cell_methods": f"time: {VARIABLES[v]}",
            "long_name": f"daily {VARIABLES[v]} air temperature, quantile {q:g}", "quantile": q})
        for v, by_quantile in predicted.items() for q, values in by_quantile.items()
    } | stress, card["version"]


def _heat_stress(config: CityConfig, frame: pd.DataFrame, issue_date: dt.date, q50: np.ndarray) -> Layers:
    """Heat index, WBGT (degC), the heat level and its rule per row, from the tasmax median `q50` (degC)."""
    leads = config.lead_days
    lon, lat = (a.values.ravel()[frame["cell"].to_numpy()] for a in cell_lonlat(city_template(config)))
    lead = frame["lead"].to_numpy()
    day_of_year = _on_rows((pd.Timestamp(issue_date) + pd.to_timedelta(np.arange(leads), unit="D"))
                           .day_of_year.to_numpy()[lead], "1")
    tasmax = _on_rows(q50, "degC")
    hurs = humidity_at_daily_max(tasmax, _on_rows(frame["tasmin_regional_degC"], "degC"),
                                 _on_rows(frame["hurs_mean_pct"], "%"))
    hi = heat_index(tasmax, hurs)
    rsds = _on_rows(frame["rsds_max_W_m2"], "W m-2")
    cos_zenith = solar_noon_cos_zenith(_on_rows(lat, "degrees_north"), day_of_year)
    wbgt = wet_bulb_globe_temperature(tasmax, hurs, _on_rows(frame["wind_mean_m_s"], "m s-1"), rsds, cos_zenith,
                                      direct_beam_fraction(rsds, cos_zenith, day_of_year))
    recent = _recent_tasmax(config, issue_date, frame, q50, (lon[lead == 0], lat[lead == 0]))
    days = np.concatenate([recent, q50.reshape(leads, -1).T], axis=1)  # (cells, past + leads)
    tasmax_level = sustained_level(days, config.heat.tasmax_levels_degC, days=config.heat.sustained_days)
    wbgt_level = band_level(wbgt.values.reshape(leads, -1).T, config.heat.wbgt_bands_degC)
    level, rule = combined_level(tasmax_level[:, -leads:], wbgt_level)
    return {
        "heat_index_max": (hi.values, {"units": "degC", "long_name": "heat index at the daily maximum "
                                       "temperature (NWS), from tasmax q50"}),
        "wbgt_max": (wbgt.values, {"units": "degC", "long_name": "wet bulb globe temperature in the day's midday "
                                   "sun at the daily maximum temperature (Liljegren), from tasmax q50"}),
        "heat_level": (level.T.ravel(), {
            "units": "1", "long_name": "heat level: MET Malaysia tasmax held "
            f"{config.heat.sustained_days} days or Singapore NEA WBGT band, the higher",
            "flag_values": [0, 1, 2, 3], "flag_meanings": "none alert heatwave extreme_heatwave"}),
        "heat_level_rule": (rule.T.ravel(), {"units": "1", "long_name": "rules setting the heat level",
                                             **RULE_FLAGS}),
    }


@task
def predict_grid(config: CityConfig, static_path: Path, issue_date: dt.date) -> xr.Dataset:
    """Flood and heat layers per lead and cell for one issue date, dims (lead, y, x); sea is NaN."""
    static = xr.load_dataset(static_path)
    frame = _feature_frame(config, static, issue_date)
    with ThreadPoolExecutor(max_workers=1) as beside:  # LightGBM and numpy release the GIL: the two overlap
        flooding = beside.submit(flood_layers, config, frame)
        heat, heat_version = heat_layers(config, frame, issue_date)
        flood, flood_version = flooding.result()
    drivers = {name: (frame[name].values, {"units": units, "long_name": long_name})
               for name, (units, long_name) in DRIVERS.items()}
    template = city_template(config)
    land = frame["cell"].values[frame["lead"].values == 0]
    data = {}
    for name, (values, attrs) in (flood | heat | drivers).items():
        full = np.full((config.lead_days, template.size), np.nan, "float32")
        full[:, land] = values.reshape(config.lead_days, -1)
        data[name] = (("lead", "y", "x"), full.reshape(config.lead_days, *template.shape), attrs)
    forecast = xr.Dataset(
        data, coords={"lead": np.arange(config.lead_days), "y": template.y, "x": template.x,
                      "forecast_reference_time": issue_time_utc([issue_date], config.city.timezone)[0]},
    )
    forecast["land"] = static["land"].astype(bool)
    forecast["hand_m"] = static["hand_m"]
    forecast.rio.write_crs(config.grid.crs, inplace=True)
    forecast.attrs = {"issue_date": issue_date.isoformat(), "city": config.city.slug,
                      "city_name": config.city.name, "timezone": config.city.timezone,
                      "flood_model_version": flood_version, "heat_model_version": heat_version}
    return forecast


@task
def issue_alerts(config: CityConfig, forecast: xr.Dataset, out: Path,
                 drill: bool = False) -> tuple[pd.DataFrame, list[Path]]:
    """Per-asset risk and levels, then the CAP messages and digests of the issue date (pipelines.alerts_run).

    The state in <store>/<city>/alerts.sqlite decides Alert, Update or Cancel; a rerun rewrites the
    recorded messages. `drill` sends every message with status Test. Returns the levels and CAP files.
    """
    assets = bundle_io.read_vector(config.bundle_dir, "heritage_assets")
    built_up = [name for name in ("impervious_frac", "building_frac") if name not in forecast]
    if built_up:  # the heat drivers name a dense built-up block
        with xr.open_dataset(build_static_features.fn(config)) as static:
            forecast = forecast.assign({name: static[name].load() for name in built_up if name in static})
    reach = max(3, round(ASSET_REACH_M / config.grid.resolution_m))
    risk = asset_risk(forecast, assets, nearest_land_cells=reach)
    levels = asset_alert_levels(risk, assets, default_flood_threshold=config.flood.default_threshold,
                                default_heat_threshold_degC=config.heat.default_threshold_degC)
    alert = config.alerts.model_copy(update={"drill": config.alerts.drill or drill})
    issued = issue_run(
        config.city_store, out, levels, assets,
        issue_time=pd.Timestamp(forecast.forecast_reference_time.values).to_pydatetime().replace(tzinfo=dt.UTC),
        city_slug=config.city.slug, city_name=config.city.name, timezone=config.city.timezone, alert=alert,
        model_versions={k: forecast.attrs[k] for k in ("flood_model_version", "heat_model_version")},
        note=forecast.attrs.get("stale", ""),
    )
    if issued.messages:
        create_table_artifact(
            key=f"{config.city.slug}-alerts",
            table=[{"identifier": m.identifier, "msg_type": m.msg_type, "asset_id": m.asset_id, "hazard": m.hazard,
                    "level": m.level, "onset": m.onset} for m in issued.messages],
            description=f"CAP messages ({issued.mode} run), issue date {forecast.attrs['issue_date']}",
        )
    return levels, [path for path in issued.paths if path.name.endswith(".cap.xml")]


@task
def deliver_alerts(config: CityConfig) -> dict[str, int]:
    """Send the outbox (this run's messages and any left from earlier runs); rewrite the Atom feed."""
    return deliver_run(config.city_store, config.alerts, city_slug=config.city.slug, city_name=config.city.name)


@task
def publish_grids(config: CityConfig, forecast: xr.Dataset, levels: pd.DataFrame,
                  out: Path) -> dict[str, list[Path]]:
    """Fill the issue date's folder `out`: the grid (forecast.nc or .zarr) with risk levels, COGs,
    a briefing map per lead, index.html and item.json (listing every file, alerts included)."""
    forecast = with_levels(forecast, flood_bands=config.output.flood_level_bands,
                           heat_bands_degC=config.heat.tasmax_levels_degC)
    # Three writers at once (the netCDF and GDAL libraries release the GIL while they compress); only
    # one of them touches netCDF, whose C library is not thread-safe. The maps read their own big layers.
    assets, zone = (bundle_io.read_vector(config.bundle_dir, name) for name in ("heritage_assets", "heritage_zone"))

    def paint() -> list[Path]:
        basemap = Basemap.from_layers(forecast.rio.crs, zone=zone, assets=assets,
                                      buildings=bundle_io.read_vector(config.bundle_dir, "buildings"),
                                      waterways=bundle_io.read_vector(config.bundle_dir, "waterways"))
        return ([render_map(forecast, lead, basemap=basemap, levels=levels, path=out / f"map_d{lead}.png")
                 for lead in range(config.lead_days)]
                + manager_crops(config.alerts.managers, forecast, levels, basemap, out / "digests"))

    with ThreadPoolExecutor(max_workers=2) as writers:
        write_grid, name = ((write_forecast_zarr, "forecast.zarr") if config.output.format == "zarr"
                            else (write_forecast_netcdf, "forecast.nc"))
        grid = writers.submit(write_grid, forecast, out / name)
        maps = writers.submit(paint)
        written = {
            "cog": write_cogs(forecast, out),
            "page": [write_page(forecast, out / "index.html", assets=assets, zone=zone, levels=levels,
                                alerts_dir=out / "alerts")],
        }
        painted = maps.result()
        written |= {config.output.format: [grid.result()], "map": painted[:config.lead_days],
                    "digest_map": painted[config.lead_days:]}
    files = [p for paths in written.values() for p in paths] + sorted((out / "alerts").glob("*.cap.xml"))
    written["stac"] = [write_item(forecast_item(forecast, out, files), out)]
    return written


def _publish_artifacts(config: CityConfig, forecast: xr.Dataset, written: dict[str, list[Path]]) -> None:
    """The day at a glance in the Prefect UI: a summary table per hazard and lead, the map, the page."""
    slug, issue_date = config.city.slug, forecast.attrs["issue_date"]
    forecast = with_levels(forecast, flood_bands=config.output.flood_level_bands,
                           heat_bands_degC=config.heat.tasmax_levels_degC)
    land = forecast["land"].values.astype(bool)
    rows = []
    for lead in forecast.lead.values:
        at = forecast.sel(lead=lead)
        flood, heat = at["flood_probability"].values[land], at["tasmax_q50"].values[land]
        flood_level, heat_level = at["flood_level"].values[land], at["heat_level"].values[land]
        day = valid_day(forecast, lead).isoformat()
        rows += [
            {"hazard": "flood", "lead": int(lead), "valid_date": day, "max": round(float(np.nanmax(flood)), 4),
             "mean": round(float(np.nanmean(flood)), 4), "cells_level_1_plus": int((flood_level >= 1).sum()),
             "cells_level_3": int((flood_level >= 3).sum())},
            {"hazard": "heat", "lead": int(lead), "valid_date": day, "max": round(float(np.nanmax(heat)), 2),
             "mean": round(float(np.nanmean(heat)), 2), "cells_level_1_plus": int((heat_level >= 1).sum()),
             "cells_level_3": int((heat_level >= 3).sum())},
        ]
    create_table_artifact(key=f"{slug}-summary", table=rows,
                          description=f"flood probability (1) and tasmax q50 (degC) over land, issue date {issue_date}")
    create_link_artifact(key=f"{slug}-page", link=written["page"][0].resolve().as_uri(),
                         link_text=f"interactive map, issue date {issue_date}")
    create_image_artifact(key=f"{slug}-map", image_url=written["map"][0].resolve().as_uri(),
                          description=f"briefing map, lead 0, issue date {issue_date}")


def _stale_sources(config: CityConfig) -> str:
    """What ingest marked stale in provenance.json (a source that failed), in words; '' if none."""
    stale = json.loads((config.bundle_dir / "provenance.json").read_text()).get("stale_sources") or {}
    return "; ".join(f"{source} data is stale (last success {entry.get('last_success', 'unknown')})"
                     for source, entry in sorted(stale.items()))


@flow(name="daily_forecast", log_prints=True)
def daily_forecast(config_path: Path, issue_date: dt.date | None = None,
                   today: bool = False, drill: bool = False) -> dict[str, list[Path]]:
    """For one issue date (default: the bundle's last, or with `today` the city's local date):
    forecast -> features -> predict -> publish -> alerts. `drill` sends the alerts with CAP
    status Test, as `alerts.drill` in the config does.

    With no weather forecast for `issue_date`, the run fails naming the missing file, or, with
    `output.on_missing_forecast: stale`, publishes the last earlier forecast under `issue_date`
    marked stale (its own issue date stays in the files, so lead days keep their valid days).
    """
    config = load_city_config(config_path)
    validate_bundle(config)
    available = bundle_io.forecast_dates(config.bundle_dir)
    if issue_date is None and today:
        issue_date = dt.datetime.now(ZoneInfo(config.city.timezone)).date()
    issue_date = issue_date or available[-1]
    source_date, stale = issue_date, ""
    if issue_date not in available:
        missing = f"{config.bundle_dir / 'weather' / 'forecasts'}: no forecast issued on {issue_date}"
        earlier = [d for d in available if d < issue_date]
        if config.output.on_missing_forecast != "stale" or not earlier:
            raise ValueError(missing)
        source_date = earlier[-1]
        stale = f"no forecast issued on {issue_date}; published from the forecast of {earlier[-1]}"
        print(f"STALE: {stale}")
    static_path = build_static_features(config)
    tiles = [predict_grid.submit(tile, path, source_date) for tile, path in static_tiles(config, static_path)]
    forecast = join_tiles(tiles, config)  # on Dask, the tiles ran on the workers
    stale = "; ".join(filter(None, [stale, _stale_sources(config)]))
    if stale:
        forecast.attrs |= {"stale": stale, "stale_for": issue_date.isoformat()}
    final = config.city_store / "forecasts" / issue_date.isoformat()
    version = new_version_folder(final)  # filled whole, then swapped in: readers never see half a day
    levels, messages = issue_alerts(config, forecast, version, drill=drill)
    written = publish_grids(config, forecast, levels, version) | {"cap": messages}
    publish_folder(version, final)
    deliver_alerts(config)  # after publishing: the feed and messages point at files now visible
    link_latest(config.city_store)
    written = {kind: [final / p.relative_to(version) for p in paths] for kind, paths in written.items()}
    written["stac"].append(write_catalog(config.city_store, config.city.slug, config.city.name))
    flood_max = float(forecast["flood_probability"].max())
    lines = [f"# Forecast {config.city.name}, issued {issue_date}" + (" (STALE)" if stale else ""), "",
             (f"Highest flood probability: {flood_max:.2f}; hottest q50 tasmax: "
             f"{float(forecast['tasmax_q50'].max()):.1f} degC; CAP alerts: {len(written['cap'])}"), ""]
    if stale:
        lines += [f"**Stale:** {stale}", ""]
    lines += [f"- {kind}: " + ", ".join(f"`{p}`" for p in paths) for kind, paths in written.items()]
    create_markdown_artifact(key=f"{config.city.slug}-forecast", markdown="\n".join(lines),
                             description=f"daily forecast {issue_date}")
    _publish_artifacts(config, forecast, written)
    return written
