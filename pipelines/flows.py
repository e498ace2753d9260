"""Prefect flows: ingest, build_features, train, daily_forecast. Thin shells over features/ and models/."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from features.grid import cell_lonlat, grid_template, project_points
from features.static import static_features
from features.weather import DRIVER_NAMES, drivers_on_city_grid
from models.assets import asset_alert_levels, asset_risk
from models.card import model_card
from models.flood import predict_flood, train_flood_model
from models.heat import predict_heat, train_heat_models
from models.split import time_split
from models.tables import (
    STATIC_FLOOD_FEATURES,
    STATIC_HEAT_FEATURES,
    attach_features,
    cells_near_reports,
    flood_rows,
    heat_rows,
    land_cells,
)
from pipelines import bundle as bundle_io
from pipelines.alerts import cap_messages, write_cap_messages
from pipelines.config import CityConfig, load_city_config
from pipelines.drivers import drivers_for_dates, issue_time_utc
from pipelines.maps import render_map
from pipelines.publish import write_cogs, write_forecast_netcdf
from pipelines.registry import load_latest, register
from pipelines.sources.demo import generate_demo_bundle
from pipelines.storage import sha256_file, write_atomic

FLOOD_FEATURES = [*STATIC_FLOOD_FEATURES, *DRIVER_NAMES, "lead_days"]
HEAT_FEATURES = [*STATIC_HEAT_FEATURES, *DRIVER_NAMES, "lead_days"]
FEATURES_VERSION = "1"  # bump when feature code changes what it computes
ASSET_REACH_M = 400.0  # an asset over water (a jetty) reads the land cells this close


def _log(message: str) -> None:
    get_run_logger().info(message)


def _provenance(bundle: Path) -> dict:
    return json.loads((bundle / "provenance.json").read_text())


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _template(config: CityConfig) -> xr.DataArray:
    return grid_template(config.grid.crs, config.grid.bounds, config.grid.resolution_m)


# --- ingest -----------------------------------------------------------------------------------


@task
def generate_demo(config: CityConfig) -> Path:
    """Write the demo world's bundle and truth; skip when the bundle holds this exact world."""
    source = config.source
    arguments = {
        "city_slug": config.city.slug, "crs": config.grid.crs, "bounds": list(config.grid.bounds),
        "resolution_m": config.grid.resolution_m, "start": source.start.isoformat(),
        "end": source.end.isoformat(), "seed": source.seed, "timezone": config.city.timezone,
        "coastline": source.coastline, "assets": source.assets,
        "regional_spacing_deg": source.regional_spacing_deg, "lead_days": config.lead_days,
    }
    marker = config.bundle_dir / "provenance.json"
    if marker.exists() and _provenance(config.bundle_dir).get("generator_arguments") == arguments:
        _log(f"demo bundle {config.bundle_dir} is up to date; nothing to generate")
        return config.bundle_dir
    summary = generate_demo_bundle(  # records `arguments` and the time zone in provenance.json
        config.bundle_dir, config.truth_dir,
        **{**arguments, "bounds": config.grid.bounds, "start": source.start, "end": source.end},
        progress=_log,
    )
    _log(f"demo bundle written: {summary}")
    return config.bundle_dir


@task
def validate_bundle(config: CityConfig) -> Path:
    """Refuse a bundle that breaks the contract, listing every problem with its file and field."""
    bundle_io.require_valid_bundle(
        config.bundle_dir, city_crs=config.grid.crs, city_bounds=config.grid.bounds,
        timezone=config.city.timezone, lead_days=config.lead_days,
    )
    return config.bundle_dir


@flow(name="ingest", log_prints=True)
def ingest(config_path: Path) -> Path:
    """Fill or refresh the city's bundle from its configured source, then validate it."""
    config = load_city_config(config_path)
    if config.source.kind != "demo":
        raise NotImplementedError(
            f"{config_path}: source.kind: live sources (open-meteo, osm, copernicus-dem) are not "
            "implemented yet; place a bundle in the contract's layout at paths.bundle instead"
        )
    bundle = generate_demo(config)
    validate_bundle(config)
    files = _provenance(bundle)["files"]
    create_markdown_artifact(
        key=f"{config.city.slug}-ingest",
        markdown=f"# Ingest: {config.city.name}\n\nBundle `{bundle}` is valid, {len(files)} entries.\n",
        description="bundle ingested and validated",
    )
    return bundle


# --- features -----------------------------------------------------------------------------------


def _feature_file(config: CityConfig, kind: str, inputs: list) -> Path:
    """Content-addressed path of a feature file: a rerun with unchanged inputs finds it and stops."""
    identity = json.dumps([inputs, FEATURES_VERSION], sort_keys=True, default=str)
    return config.city_store / "features" / f"{kind}-{_short_hash(identity)}.nc"


def _build_once(out: Path, build: Callable[[], xr.Dataset]) -> Path:
    if out.exists():
        _log(f"inputs unchanged, reusing {out}")
        return out
    dataset = build()
    write_atomic(out, lambda tmp: dataset.to_netcdf(tmp), suffix=".nc")
    _log(f"built {out}")
    return out


@task
def build_static_features(config: CityConfig) -> Path:
    """Static features on the city grid, cached on the static files' hashes and the grid."""
    root = config.bundle_dir
    files = _provenance(root)["files"]
    static_hashes = {name: e["sha256"] for name, e in sorted(files.items()) if name.startswith("static/")}
    out = _feature_file(config, "static", [static_hashes, config.grid.model_dump()])
    impervious = root / "static" / "impervious.tif"
    sea = root / "static" / "sea.gpkg"
    return _build_once(out, lambda: static_features(
        bundle_io.read_dem(root), bundle_io.read_vector(root, "buildings"),
        bundle_io.read_vector(root, "waterways"),
        bundle_io.read_vector(root, "sea") if sea.exists() else None,
        bundle_io.read_raster(root, "impervious") if impervious.exists() else None,
        _template(config),
    ))


@task
def build_driver_history(config: CityConfig) -> Path:
    """Daily drivers for every issue date in the bundle, dims (issue_date, lead, y, x), regional grid."""
    root = config.bundle_dir
    files = _provenance(root)["files"]
    out = _feature_file(config, "drivers", [files["weather/history.nc"]["sha256"], files["weather/forecasts/"],
                                            config.lead_days, config.city.timezone])

    def build() -> xr.Dataset:
        with bundle_io.read_history(root) as history:
            return drivers_for_dates(root, history.load(), bundle_io.forecast_dates(root),
                                     lead_days=config.lead_days, timezone=config.city.timezone, progress=_log)

    return _build_once(out, build)


@flow(name="build_features", log_prints=True)
def build_features(config_path: Path) -> dict[str, Path]:
    """Static features once per bundle version, daily drivers per issue date and lead."""
    config = load_city_config(config_path)
    validate_bundle(config)
    paths = {"static": build_static_features(config), "drivers": build_driver_history(config)}
    create_markdown_artifact(
        key=f"{config.city.slug}-features",
        markdown="# Features\n\n" + "\n".join(f"- {k}: `{v}`" for k, v in paths.items()),
        description="feature files",
    )
    return paths


# --- train --------------------------------------------------------------------------------------


def _training_inputs(config: CityConfig, paths: dict[str, Path]):
    static = xr.load_dataset(paths["static"])
    drivers = xr.load_dataset(paths["drivers"])
    cells = land_cells(static)
    lon, lat = cell_lonlat(_template(config))
    lonlat = (lon.values.ravel()[cells["cell"]], lat.values.ravel()[cells["cell"]])
    return static, drivers, cells, lonlat


def _with_xy(frame: pd.DataFrame, crs: str) -> pd.DataFrame:
    x, y = project_points(frame["lon"], frame["lat"], crs)
    return frame.assign(x_m=x, y_m=y)


@task
def train_flood(config: CityConfig, paths: dict[str, Path]) -> dict:
    """Fit, score and register the flood classifier; returns its card."""
    _, drivers, cells, lonlat = _training_inputs(config, paths)
    issue_dates = pd.DatetimeIndex(drivers.issue_date.values)
    reports = _with_xy(bundle_io.read_flood_events(config.bundle_dir), config.grid.crs)
    flooded = cells_near_reports(reports, cells, config.flood.label_radius_m)
    rng = np.random.default_rng(config.train.seed)
    rows = flood_rows(issue_dates, config.lead_days, cells, flooded,
                      negatives_per_positive=config.flood.negatives_per_positive, rng=rng)
    table = attach_features(rows, cells, drivers, lonlat, STATIC_FLOOD_FEATURES)
    split = time_split(issue_dates, rows["issue_index"].values, rows["lead"].values,
                       holdout_days=config.train.holdout_days, validation_days=config.train.validation_days)
    _log(f"flood table: {len(table)} rows, {int(table['label'].sum())} flooded")
    booster, scores = train_flood_model(table, FLOOD_FEATURES, split,
                                        num_boost_round=config.train.num_boost_round, seed=config.train.seed)
    card = _card(config, "flood", FLOOD_FEATURES, booster.params, issue_dates, split, rows, scores, paths,
                 extra={"label_radius_m": config.flood.label_radius_m, "booster_files": ["classifier"]})
    register(config.city_store / "models", card, {"classifier": booster})
    return card


@task
def train_heat(config: CityConfig, paths: dict[str, Path]) -> dict:
    """Fit, score and register the tasmax quantile regressors; returns their card."""
    _, drivers, cells, lonlat = _training_inputs(config, paths)
    issue_dates = pd.DatetimeIndex(drivers.issue_date.values)
    obs = _with_xy(bundle_io.read_temperature_obs(config.bundle_dir), config.grid.crs)
    rows = heat_rows(obs, issue_dates, config.lead_days, cells)
    table = attach_features(rows, cells, drivers, lonlat, STATIC_HEAT_FEATURES)
    split = time_split(issue_dates, rows["issue_index"].values, rows["lead"].values,
                       holdout_days=config.train.holdout_days, validation_days=config.train.validation_days)
    _log(f"heat table: {len(table)} rows from {rows['station_id'].nunique()} stations")
    boosters, scores = train_heat_models(table, HEAT_FEATURES, split, quantiles=config.heat.quantiles,
                                         num_boost_round=config.train.num_boost_round, seed=config.train.seed)
    names = {q: f"q{round(q * 100):02d}" for q in boosters}
    card = _card(config, "heat", HEAT_FEATURES, next(iter(boosters.values())).params, issue_dates, split,
                 rows, scores, paths,
                 extra={"quantiles": list(config.heat.quantiles), "booster_files": list(names.values())})
    register(config.city_store / "models", card, {names[q]: b for q, b in boosters.items()})
    return card


def _card(config, hazard, features, params, issue_dates, split, rows, scores, paths, extra) -> dict:
    issued = issue_dates[rows["issue_index"].values]
    period = {"train_start": issued[split == "train"].min().date().isoformat(),
              "train_end": issued[split == "train"].max().date().isoformat(),
              "valid_end": issued[split == "valid"].max().date().isoformat(),
              "test_start": issued[split == "test"].min().date().isoformat(),
              "test_end": issued[split == "test"].max().date().isoformat()}
    hashes = {"static_features": sha256_file(paths["static"]), "drivers": sha256_file(paths["drivers"]),
              "obs": {name: sha256_file(config.bundle_dir / "obs" / name)
                      for name in ("flood_events.csv", "temperature.csv")}}
    clean = {k: v for k, v in params.items() if k not in ("metric",)}
    return model_card(hazard=hazard, features=features, params=clean, period=period, data_hashes=hashes,
                      scores=scores, extra={"city": config.city.slug, "split": "time-ordered", **extra})


@flow(name="train", log_prints=True)
def train(config_path: Path) -> dict[str, dict]:
    """Training tables from features and observations; fit, score on held-out days, register."""
    config = load_city_config(config_path)
    paths = build_features(config_path)
    cards = {"flood": train_flood(config, paths), "heat": train_heat(config, paths)}
    flood, heat = cards["flood"]["scores"]["test"], cards["heat"]["scores"]["test"]
    create_markdown_artifact(
        key=f"{config.city.slug}-train",
        markdown=(
            f"# Models trained for {config.city.name}\n\n"
            f"| model | version | held-out scores |\n|---|---|---|\n"
            f"| flood | `{cards['flood']['version']}` | ROC AUC {flood['roc_auc']:.3f}, PR AUC "
            f"{flood['pr_auc']:.3f}, Brier {flood['brier']:.5f}, BSS {flood['brier_skill_vs_climatology']:.3f} |\n"
            f"| heat | `{cards['heat']['version']}` | MAE {heat['mae_degC']:.2f} degC (regional "
            f"{heat['baseline_regional_mae_degC']:.2f}), 10-90% coverage {heat['interval_coverage']:.2f} |\n"
        ),
        description="held-out scores",
    )
    return cards


# --- daily forecast -----------------------------------------------------------------------------


@task
def predict_grid(config: CityConfig, static_path: Path, issue_date: dt.date) -> xr.Dataset:
    """Flood probability and tasmax quantiles per lead and cell for one issue date."""
    models_dir = config.city_store / "models"
    flood_boosters, flood_card = load_latest(models_dir, "flood", FLOOD_FEATURES)
    heat_boosters, heat_card = load_latest(models_dir, "heat", HEAT_FEATURES)
    static = xr.load_dataset(static_path)
    with bundle_io.read_history(config.bundle_dir) as history:
        drivers = drivers_for_dates(config.bundle_dir, history.load(), [issue_date],
                                    lead_days=config.lead_days, timezone=config.city.timezone)
    template = _template(config)
    lon, lat = cell_lonlat(template)
    on_grid = drivers_on_city_grid(drivers.isel(issue_date=0), lon, lat)
    cells = land_cells(static)
    frame = pd.concat(
        [cells.assign(lead=lead, lead_days=lead) for lead in range(config.lead_days)], ignore_index=True
    )
    for name in DRIVER_NAMES:
        frame[name] = on_grid[name].values.reshape(config.lead_days, -1)[:, cells["cell"]].ravel()
    quantiles = {float(name[1:]) / 100: b for name, b in heat_boosters.items()}
    outputs = {"flood_probability": predict_flood(flood_boosters["classifier"], frame,
                                                  flood_card["scores"]["negative_weight"])}
    outputs |= {f"tasmax_q{round(q * 100):02d}": v for q, v in predict_heat(quantiles, frame).items()}
    shape = (config.lead_days, *template.shape)
    data = {}
    for name, values in outputs.items():
        full = np.full((config.lead_days, template.size), np.nan, "float32")
        full[:, cells["cell"].values] = values.reshape(config.lead_days, -1)
        data[name] = (("lead", "y", "x"), full.reshape(shape))
    forecast = xr.Dataset(
        data, coords={"lead": np.arange(config.lead_days), "y": template.y, "x": template.x,
                      "forecast_reference_time": issue_time_utc([issue_date], config.city.timezone)[0]},
    )
    forecast["land"] = static["land"].astype(bool)
    forecast["flood_probability"].attrs = {"units": "1", "long_name": "probability of flooding in the cell"}
    for q in quantiles:
        forecast[f"tasmax_q{round(q * 100):02d}"].attrs = {
            "units": "degC", "long_name": f"daily maximum air temperature, quantile {q:g}"}
    forecast = forecast.rio.write_crs(config.grid.crs)
    forecast.attrs = {"issue_date": issue_date.isoformat(), "city": config.city.slug,
                      "city_name": config.city.name, "timezone": config.city.timezone,
                      "flood_model_version": flood_card["version"], "heat_model_version": heat_card["version"]}
    return forecast


@task
def publish(config: CityConfig, forecast: xr.Dataset, issue_date: dt.date) -> dict[str, list[Path]]:
    """Write forecast.nc, COGs, maps and CAP alerts under forecasts/<issue-date>/, each atomically."""
    out = config.city_store / "forecasts" / issue_date.isoformat()
    assets = bundle_io.read_vector(config.bundle_dir, "heritage_assets")
    zone = bundle_io.read_vector(config.bundle_dir, "heritage_zone")
    reach = max(3, round(ASSET_REACH_M / config.grid.resolution_m))
    risk = asset_risk(forecast, assets, nearest_land_cells=reach)
    levels = asset_alert_levels(risk, assets, default_flood_threshold=config.flood.default_threshold,
                                default_heat_threshold_degC=config.heat.default_threshold_degC)
    messages = cap_messages(
        levels, assets, issue_time=pd.Timestamp(forecast.forecast_reference_time.values).to_pydatetime()
        .replace(tzinfo=dt.UTC), city_name=config.city.name, timezone=config.city.timezone,
        alert=config.alerts, model_versions={k: forecast.attrs[k] for k in
                                             ("flood_model_version", "heat_model_version")},
    )
    written = {
        "netcdf": [write_forecast_netcdf(forecast, out / "forecast.nc")],
        "cog": write_cogs(forecast, out),
        "map": [render_map(forecast, lead, zone=zone, assets=assets, levels=levels, path=out / f"map_d{lead}.png")
                for lead in range(config.lead_days)],
        "cap": write_cap_messages(messages, out / "alerts"),
    }
    alerting = levels[levels["flood_alert"] | levels["heat_alert"]]
    if not alerting.empty:
        create_table_artifact(
            key=f"{config.city.slug}-alerts",
            table=alerting[["asset_id", "lead", "flood_probability_max", "tasmax_q50_max", "flood_alert",
                            "heat_alert"]].round(3).to_dict("records"),
            description=f"assets over their thresholds, issue date {issue_date}",
        )
    return written


@flow(name="daily_forecast", log_prints=True)
def daily_forecast(config_path: Path, issue_date: dt.date | None = None) -> dict[str, list[Path]]:
    """For one issue date (default: the bundle's last): forecast -> features -> predict -> publish -> alerts."""
    config = load_city_config(config_path)
    validate_bundle(config)
    available = bundle_io.forecast_dates(config.bundle_dir)
    issue_date = issue_date or available[-1]
    if issue_date not in available:
        raise ValueError(f"{config.bundle_dir / 'weather' / 'forecasts'}: no forecast issued on {issue_date}")
    static_path = build_static_features(config)
    forecast = predict_grid(config, static_path, issue_date)
    written = publish(config, forecast, issue_date)
    flood_max = float(forecast["flood_probability"].max())
    lines = [f"# Forecast {config.city.name}, issued {issue_date}", "",
             (f"Highest flood probability: {flood_max:.2f}; hottest q50 tasmax: "
             f"{float(forecast['tasmax_q50'].max()):.1f} degC; CAP alerts: {len(written['cap'])}"), ""]
    lines += [f"- {kind}: " + ", ".join(f"`{p}`" for p in paths) for kind, paths in written.items()]
    create_markdown_artifact(key=f"{config.city.slug}-forecast", markdown="\n".join(lines),
                             description=f"daily forecast {issue_date}")
    return written
