"""The backtest flow: rolling-origin retraining, hindcasts as issued, baselines, scores and a report.

For each origin the flood and heat models are refitted on what was known before it (issue
dates whose every lead ends before the origin, reports and station records dated before it),
then every issue date up to the next origin is hindcast from its drivers alone: the forecasts
issued that day and the observed hours before it. Outputs go to
<store>/<city>/backtests/<start>_<end>/: hindcasts/<origin>.nc, scores.nc, backtest.json, report.html.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from features.urban import cover_fraction
from models.backtest import (
    flood_backtest_scores,
    flood_climatology,
    flood_persistence,
    heat_backtest_scores,
    heat_climatology,
    heat_persistence,
    origin_split,
    rolling_origins,
)
from models.card import library_versions
from models.flood import FloodModel, RainRule, fit_rain_rule, predict_flood, train_flood_model
from models.heat import REGIONAL, fit_heat_quantiles, predict_heat
from models.heat_qc import station_quality
from models.split import blocked_split, held_out_blocks, spatial_blocks
from models.tables import (
    STATIC_FLOOD_FEATURES,
    STATIC_HEAT_FEATURES,
    attach_features,
    cells_near_reports,
    flood_rows,
    heat_rows,
    with_flood_interactions,
)
from pipelines import bundle as bundle_io
from pipelines.backtest_report import write_report
from pipelines.config import CityConfig, load_city_config
from pipelines.featurize import build_features
from pipelines.flow_common import FLOOD_FEATURES, HEAT_FEATURES, city_template, log
from pipelines.storage import sha256_file, write_atomic, write_text_atomic
from pipelines.training import training_inputs, with_xy
from pipelines.truth import truth_flooded_pairs, truth_tasmax_at

FLOOD_MODELS = ["model", "climatology", "persistence", "rain_rule", "static_susceptibility"]
HEAT_POINTS = ["regional", "climatology", "persistence"]
_FLOOD_GRIDS = {  # hindcast variable: (units, long_name)
    "flood_probability": ("1", "flood model: chance of a flood reported near the cell that day"),
    "flood_climatology": ("1", "baseline: the cell's rate of reported floods in the calendar month"),
    "flood_persistence": ("1", "baseline: 1 where a flood was reported near the cell the day before issue"),
    "flood_rain_rule": ("1", "baseline: the rain-threshold warning rule as a probability"),
    "flood_static_susceptibility": ("1", "baseline: flood model on static features only"),
    "tasmax_regional": ("degC", "baseline: the raw regional forecast of daily maximum air temperature"),
}
_FLOOD_COLUMNS = {"model": "flood_probability", "climatology": "flood_climatology",
                  "persistence": "flood_persistence", "rain_rule": "flood_rain_rule",
                  "static_susceptibility": "flood_static_susceptibility"}


@dataclass(frozen=True)
class BacktestInputs:
    """What a backtest reads, loaded once: static cells, daily drivers, observations, zones."""

    drivers: xr.Dataset  # (issue_date, lead, y, x) on the regional grid
    cells: pd.DataFrame  # land cells with static features
    lonlat: tuple[np.ndarray, np.ndarray]
    flooded: pd.DataFrame  # (date, cell) within the label radius of a flood report
    temperature: pd.DataFrame  # station records with x_m, y_m, before quality control
    zone: np.ndarray  # 'core', 'buffer' or 'rest' per land cell

    @property
    def issue_dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.drivers.issue_date.values)


@dataclass(frozen=True)
class Fitted:
    """The models and baselines refitted at one origin on what was known before it."""

    origin: dt.date
    flood: FloodModel
    static: FloodModel
    rule: RainRule
    climatology: np.ndarray  # (12, land cells) flood chance
    heat: dict
    heat_obs: pd.DataFrame  # station records before the origin that passed quality control


def _zones(config: CityConfig, cells: pd.DataFrame) -> np.ndarray:
    """'core', 'buffer' or 'rest' per land cell: the heritage zone covering most of the cell."""
    zone = np.full(len(cells), "rest", dtype=object)
    polygons = bundle_io.read_vector(config.bundle_dir, "heritage_zone")
    template = city_template(config)
    for name in ("buffer", "core"):  # core wins where both cover a cell
        shapes = polygons.geometry[polygons["zone"] == name]
        if len(shapes):
            covered = cover_fraction(shapes, template).values.ravel()[cells["cell"].to_numpy()] >= 0.5
            zone[covered] = name
    return zone.astype(str)


@task(cache_policy=NO_CACHE)
def load_inputs(config: CityConfig, paths: dict[str, Path]) -> BacktestInputs:
    """Cells, drivers, flood labels, station records and heritage zones, as the train flow reads them."""
    _, drivers, cells, lonlat = training_inputs(config, paths)
    reports = with_xy(bundle_io.read_flood_events(config.bundle_dir), config.grid.crs)
    flooded = cells_near_reports(reports, cells, config.flood.label_radius_m)
    temperature = with_xy(bundle_io.read_temperature_obs(config.bundle_dir), config.grid.crs)
    return BacktestInputs(drivers, cells, lonlat, flooded, temperature, _zones(config, cells))


def _known_before(inputs: BacktestInputs, origin: dt.date, lead_days: int) -> int:
    """How many leading issue dates have every lead's day before `origin`."""
    last = pd.Timestamp(origin) - pd.Timedelta(days=lead_days)
    return int((inputs.issue_dates <= last).sum())


@task(cache_policy=NO_CACHE)
def retrain(config: CityConfig, inputs: BacktestInputs, origin: dt.date) -> Fitted:
    """Flood classifier, static-susceptibility model, rain rule, climatology and heat quantile
    regressors, fitted as the train flow fits them on the issue dates and observations before `origin`.

    The last `flood.calibration_days` calibrate the flood model and `train.validation_days` before
    them stop early (the heat models stop early on the last `train.validation_days`).
    """
    n = _known_before(inputs, origin, config.lead_days)
    if n == 0:
        raise ValueError(f"backtest origin {origin}: no issue date before it to train on")
    issue_dates, drivers = inputs.issue_dates[:n], inputs.drivers.isel(issue_date=slice(0, n))
    cells, seed, rounds = inputs.cells, config.train.seed, config.train.num_boost_round
    before = pd.Timestamp(origin)
    flooded = inputs.flooded[pd.DatetimeIndex(inputs.flooded["date"]) < before]
    rows = flood_rows(issue_dates, config.lead_days, cells, flooded,
                      negatives_per_positive=config.flood.negatives_per_positive, rng=np.random.default_rng(seed))
    table = with_flood_interactions(attach_features(rows, cells, drivers, inputs.lonlat, STATIC_FLOOD_FEATURES))
    blocks = spatial_blocks(cells["x_m"].to_numpy(), cells["y_m"].to_numpy(), block_m=config.flood.block_size_m)
    held = held_out_blocks(blocks, share=config.flood.holdout_block_share, seed=seed)
    row_cell = pd.Series(np.arange(len(cells)), index=cells["cell"].to_numpy())[rows["cell"].to_numpy()].to_numpy()
    periods = origin_split(issue_dates, rows["issue_index"].to_numpy(), rows["lead"].to_numpy(),
                           validation_days=config.train.validation_days,
                           calibration_days=config.flood.calibration_days)
    split = blocked_split(periods, np.isin(blocks[row_cell], held))
    model, _ = train_flood_model(table, FLOOD_FEATURES, split, num_boost_round=rounds, seed=seed)
    static, _ = train_flood_model(table, list(STATIC_FLOOD_FEATURES), split, num_boost_round=rounds, seed=seed)
    train_rows = table[split == "train"]
    rule = fit_rain_rule(train_rows["rain_24h_mm"].to_numpy(), train_rows["label"].to_numpy(),
                         train_rows["weight"].to_numpy())
    days = pd.date_range(issue_dates[0], before - pd.Timedelta(days=1))
    climatology = flood_climatology(flooded, days, cells["cell"].to_numpy())

    heat_obs, _ = station_quality(inputs.temperature[pd.DatetimeIndex(inputs.temperature["date"]) < before])
    heat = heat_rows(heat_obs, issue_dates, config.lead_days, cells)
    heat_table = attach_features(heat, cells, drivers, inputs.lonlat, STATIC_HEAT_FEATURES)
    part = origin_split(issue_dates, heat["issue_index"].to_numpy(), heat["lead"].to_numpy(),
                        validation_days=config.train.validation_days)
    boosters = fit_heat_quantiles(heat_table[part == "train"], heat_table[part == "valid"], HEAT_FEATURES,
                                  quantiles=config.heat.quantiles, num_boost_round=rounds, seed=seed)
    return Fitted(origin, model, static, rule, climatology, boosters, heat_obs)


def _gridded(config: CityConfig) -> dict[str, tuple[str, str]]:
    """Every hindcast variable: the flood grids and one tasmax grid per quantile of the heat model."""
    return _FLOOD_GRIDS | {_quantile_name(q): ("degC", f"heat model: daily maximum air temperature, quantile {q:g}")
                           for q in config.heat.quantiles}


def _quantile_name(q: float) -> str:
    return f"tasmax_q{round(q * 100):02d}"


@task(cache_policy=NO_CACHE)
def hindcast(config: CityConfig, inputs: BacktestInputs, fitted: Fitted, issue_dates: pd.DatetimeIndex,
             path: Path) -> xr.Dataset:
    """Every gridded forecast of `issue_dates` from `fitted` (_gridded), dims (issue_date, lead, y, x).

    Each issue date reads only its own drivers (the forecast issued that day and the observed
    hours before it) and, for persistence, the reports of the day before. Written to `path`.
    """
    cells, lead_days, names = inputs.cells, config.lead_days, _gridded(config)
    land = cells["cell"].to_numpy()
    positions = inputs.issue_dates.get_indexer(issue_dates)
    static_names = tuple(dict.fromkeys((*STATIC_FLOOD_FEATURES, *STATIC_HEAT_FEATURES)))
    values = {name: np.empty((len(issue_dates), lead_days, len(land)), "float32") for name in names}
    values["flood_persistence"][:] = flood_persistence(inputs.flooded, issue_dates, land)[:, None, :]
    lead = np.repeat(np.arange(lead_days), len(land))
    for i, position in enumerate(positions):
        rows = pd.DataFrame({"issue_index": position, "lead": lead, "cell": np.tile(land, lead_days)})
        frame = with_flood_interactions(attach_features(rows, cells, inputs.drivers, inputs.lonlat, static_names))
        month = (issue_dates[i] + pd.to_timedelta(np.arange(lead_days), unit="D")).month.to_numpy()
        flat = {"flood_probability": predict_flood(fitted.flood, frame),
                "flood_static_susceptibility": predict_flood(fitted.static, frame),
                "flood_rain_rule": fitted.rule(frame["rain_24h_mm"].to_numpy()),
                "tasmax_regional": frame[REGIONAL].to_numpy(),
                **{_quantile_name(q): v for q, v in predict_heat(fitted.heat, frame).items()}}
        for name, value in flat.items():
            values[name][i] = np.asarray(value).reshape(lead_days, -1)
        values["flood_climatology"][i] = fitted.climatology[month - 1]
    template = city_template(config)
    data = {}
    for name, (units, long_name) in names.items():
        full = np.full((len(issue_dates), lead_days, template.size), np.nan, "float32")
        full[:, :, land] = values[name]
        data[name] = (("issue_date", "lead", "y", "x"), full.reshape(*full.shape[:2], *template.shape),
                      {"units": units, "long_name": long_name})
    grid = xr.Dataset(data, coords={"issue_date": issue_dates, "lead": np.arange(lead_days),
                                    "y": template.y, "x": template.x})
    grid.attrs = {"Conventions": "CF-1.8", "city": config.city.slug, "origin": fitted.origin.isoformat(),
                  "rain_rule_threshold_mm": fitted.rule.threshold_mm,
                  "rain_rule_prob_warned": fitted.rule.prob_warned}
    encoding = {name: {"zlib": True, "complevel": 1} for name in names}
    write_atomic(path, lambda tmp: grid.to_netcdf(tmp, encoding=encoding), suffix=".nc")
    return grid


@task(cache_policy=NO_CACHE)
def verification_rows(config: CityConfig, inputs: BacktestInputs,
                      issue_dates: pd.DatetimeIndex) -> dict[tuple[str, str], pd.DataFrame]:
    """Rows to score per (hazard, target), target 'observations' or (demo) 'truth'.

    Columns issue_index (into the drivers), issue_date, lead, cell, zone, observed and, for
    flood, weight: every flooded cell-day and a seeded weighted sample of the others, as the
    training tables draw them; for heat, every station-day that passes quality control.
    """
    cells, lead_days = inputs.cells, config.lead_days
    positions = inputs.issue_dates.get_indexer(issue_dates)
    zone = pd.Series(inputs.zone, index=cells["cell"].to_numpy())
    rng = np.random.default_rng(config.train.seed)

    def finish(rows: pd.DataFrame) -> pd.DataFrame:
        rows = rows.assign(issue_index=positions[rows["issue_index"].to_numpy()])
        return rows.assign(issue_date=inputs.issue_dates[rows["issue_index"].to_numpy()],
                           zone=zone[rows["cell"].to_numpy()].to_numpy()).reset_index(drop=True)

    def flood(pairs: pd.DataFrame) -> pd.DataFrame:
        rows = flood_rows(issue_dates, lead_days, cells, pairs,
                          negatives_per_positive=config.flood.negatives_per_positive, rng=rng)
        return finish(rows.rename(columns={"label": "observed"}))

    out = {("flood", "observations"): flood(inputs.flooded)}
    days = pd.date_range(issue_dates[0], issue_dates[-1] + pd.Timedelta(days=lead_days - 1))
    truth = truth_flooded_pairs(config, cells, days)
    if truth is not None:
        out[("flood", "truth")] = flood(truth)
    obs, _ = station_quality(inputs.temperature)
    heat = finish(heat_rows(obs, issue_dates, lead_days, cells).rename(columns={"tasmax": "observed"}))
    out[("heat", "observations")] = heat
    target = pd.DatetimeIndex(heat["issue_date"]) + pd.to_timedelta(heat["lead"].to_numpy(), unit="D")
    truth_tasmax = truth_tasmax_at(config, heat, target)
    if truth_tasmax is not None:
        out[("heat", "truth")] = heat.assign(observed=truth_tasmax).dropna(subset=["observed"])
    return out


def _forecasts_at(config: CityConfig, inputs: BacktestInputs, fitted: Fitted, grid: xr.Dataset,
                  hazard: str, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of `rows` issued in `grid`'s dates, with a column per forecast read from `grid`."""
    at = grid.get_index("issue_date").get_indexer(rows["issue_date"])
    rows = rows[at >= 0]
    index = (at[at >= 0], rows["lead"].to_numpy(), rows["cell"].to_numpy())

    def read(name: str) -> np.ndarray:
        return grid[name].values.reshape(*grid[name].shape[:2], -1)[index].astype(float)

    if hazard == "flood":
        return rows.assign(**{model: read(name) for model, name in _FLOOD_COLUMNS.items()},
                           rain_rule_threshold=fitted.rule.prob_warned)
    target = pd.DatetimeIndex(rows["issue_date"]) + pd.to_timedelta(rows["lead"].to_numpy(), unit="D")
    climatology = heat_climatology(fitted.heat_obs, rows["station_id"].to_numpy(), target.month.to_numpy())
    persistence = heat_persistence(inputs.temperature, rows["station_id"].to_numpy(),
                                   pd.DatetimeIndex(rows["issue_date"]), climatology)
    return rows.assign(regional=read("tasmax_regional"), climatology=climatology, persistence=persistence,
                       **{_quantile_name(q): read(_quantile_name(q)) for q in config.heat.quantiles})


@task(cache_policy=NO_CACHE)
def score(config: CityConfig, rows: dict[tuple[str, str], pd.DataFrame]) -> xr.Dataset:
    """Scores of every model and baseline, dims (hazard, target, metric, lead, model, zone)."""
    options = {"n_boot": config.backtest.bootstrap_samples, "block_days": config.backtest.block_days,
               "seed": config.train.seed, "confidence": config.backtest.confidence}
    parts = []
    for (hazard, target), frame in rows.items():
        if hazard == "flood":
            scores = flood_backtest_scores(frame, FLOOD_MODELS, reference="climatology",
                                           threshold=config.flood.default_threshold,
                                           row_thresholds={"rain_rule": "rain_rule_threshold"}, **options)
        else:
            scores = heat_backtest_scores(frame, HEAT_POINTS, {q: _quantile_name(q) for q in config.heat.quantiles},
                                          hot_threshold_degC=config.heat.default_threshold_degC, **options)
        parts.append(scores.expand_dims(hazard=[hazard], target=[target]))
        log(f"scored {hazard} against {target}: {len(frame)} rows")
    return xr.merge(parts, join="outer", compat="no_conflicts")


def _code_version() -> str:
    """`git describe` of the code's checkout, else the installed warisan version."""
    root = Path(__file__).resolve().parents[1]
    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=root, capture_output=True,
                              text=True, timeout=10, check=True)
        return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"warisan {library_versions()['warisan']}"


def _record(config: CityConfig, start: dt.date, end: dt.date, windows, paths: dict[str, Path]) -> dict:
    """What the scores depend on: config, seed, origins, code and library versions, input hashes."""
    inputs = {"static_features": sha256_file(paths["static"]), "drivers": sha256_file(paths["drivers"]),
              "provenance.json": sha256_file(config.bundle_dir / "provenance.json")}
    inputs |= {f"obs/{name}": sha256_file(config.bundle_dir / "obs" / name)
               for name in ("flood_events.csv", "temperature.csv")}
    inputs |= {f"truth/{name}": sha256_file(config.truth_dir / name)
               for name in ("flood.nc", "tasmax.nc") if (config.truth_dir / name).exists()}
    return {"city": config.city.slug, "start": start.isoformat(), "end": end.isoformat(),
            "origins": [[o.isoformat(), e.isoformat()] for o, e in windows], "seed": config.train.seed,
            "code_version": _code_version(), "libraries": library_versions(), "input_sha256": inputs,
            "config": json.loads(config.model_dump_json())}


@flow(name="backtest", log_prints=True)
def backtest(config_path: Path, start: dt.date, end: dt.date) -> dict[str, list[Path]]:
    """Rolling-origin retraining and hindcasts from `start` to `end`, baselines, scores and a report."""
    config = load_city_config(config_path)
    paths = build_features(config_path)
    inputs = load_inputs(config, paths)
    dates = inputs.issue_dates
    period = dates[(dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))]
    if period.empty:
        raise ValueError(f"{config.bundle_dir}: no forecast issued between {start} and {end} "
                         f"(issue dates run {dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d})")
    windows = rolling_origins(start, end, every=config.backtest.origin_every)
    out = config.city_store / "backtests" / f"{start}_{end}"
    targets = verification_rows(config, inputs, period)
    scored = {key: [] for key in targets}
    hindcasts = []
    for k, (origin, last) in enumerate(windows, 1):
        began = time.perf_counter()
        window = period[(period >= pd.Timestamp(origin)) & (period <= pd.Timestamp(last))]
        if window.empty:
            log(f"origin {k}/{len(windows)} {origin}: no issue date until {last}, skipped")
            continue
        fitted = retrain(config, inputs, origin)
        hindcasts.append(out / "hindcasts" / f"{origin}.nc")
        grid = hindcast(config, inputs, fitted, window, hindcasts[-1])
        for (hazard, target), rows in targets.items():
            scored[(hazard, target)].append(_forecasts_at(config, inputs, fitted, grid, hazard, rows))
        log(f"origin {k}/{len(windows)} {origin}: retrained, hindcast {len(window)} issue dates to {last} "
            f"in {time.perf_counter() - began:.1f} s")
    scores = score(config, {key: pd.concat(parts, ignore_index=True) for key, parts in scored.items()})
    record = _record(config, start, end, windows, paths)
    scores.attrs = {"city": config.city.slug, "start": start.isoformat(), "end": end.isoformat(),
                    "seed": config.train.seed, "confidence": config.backtest.confidence,
                    "code_version": record["code_version"],
                    "record": json.dumps(record, sort_keys=True)}
    written = {
        "scores": [write_atomic(out / "scores.nc", lambda tmp: scores.to_netcdf(tmp), suffix=".nc")],
        "record": [write_text_atomic(out / "backtest.json", json.dumps(record, indent=2, sort_keys=True))],
        "report": [write_report(scores, record, out / "report.html")],
        "hindcasts": hindcasts,
    }
    create_markdown_artifact(key=f"{config.city.slug}-backtest", markdown=_summary(config, scores, written),
                             description=f"backtest {start} to {end}")
    return written


def _summary(config: CityConfig, scores: xr.Dataset, written: dict[str, list[Path]]) -> str:
    """Headline table for the Prefect UI: ROC AUC and BSS (flood), MAE (heat) by lead and model."""
    lines = [f"# Backtest {config.city.name}, {scores.attrs['start']} to {scores.attrs['end']}", "",
             "| hazard | target | metric | model | " + " | ".join(f"lead {v}" for v in scores.lead.values) + " |",
             "|---|---|---|---|" + "---|" * scores.sizes["lead"]]
    for hazard, metric in (("flood", "roc_auc"), ("flood", "brier_skill_score"), ("heat", "mae_degC")):
        for target in scores.target.values:
            table = scores["score"].sel(hazard=hazard, target=target, metric=metric, zone="all")
            for model in table.model.values:
                row = table.sel(model=model).values
                if np.isfinite(row).any():
                    lines.append(f"| {hazard} | {target} | {metric} | {model} | "
                                 + " | ".join(f"{v:.3f}" for v in row) + " |")
    lines += ["", *(f"- {kind}: `{paths[0]}`" for kind, paths in written.items() if paths)]
    return "\n".join(lines)
