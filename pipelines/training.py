"""The train flow: training tables, LightGBM fits, held-out scores, registered models with cards."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from features.grid import cell_lonlat, project_points
from models.card import model_card
from models.flood import FloodModel, RainRule, evaluate_flood, fit_rain_rule, predict_flood, train_flood_model
from models.heat import VARIABLES, quantile_name, train_heat_models
from models.heat_qc import station_quality
from models.split import blocked_split, held_out_blocks, spatial_blocks, station_holdout, time_split
from models.tables import (
    STATIC_FLOOD_FEATURES,
    STATIC_HEAT_FEATURES,
    attach_features,
    cells_near_reports,
    evaluation_rows,
    flood_rows,
    heat_rows,
    land_cells,
    with_flood_interactions,
)
from pipelines import bundle as bundle_io
from pipelines.card_figures import flood_reliability_png
from pipelines.config import CityConfig, load_city_config
from pipelines.featurize import build_features
from pipelines.flow_common import FLOOD_FEATURES, HEAT_FEATURES, city_template, log
from pipelines.registry import register
from pipelines.runner import booster_fit, on_this_runner
from pipelines.storage import sha256_file
from pipelines.truth import truth_flood_near


def training_inputs(config: CityConfig, paths: dict[str, Path]):
    """Static features, drivers (issue_date, lead, y, x), land cells and their lon/lat arrays."""
    static = xr.load_dataset(paths["static"])
    drivers = xr.load_dataset(paths["drivers"])
    cells = land_cells(static)
    lon, lat = cell_lonlat(city_template(config))
    lonlat = (lon.values.ravel()[cells["cell"]], lat.values.ravel()[cells["cell"]])
    return static, drivers, cells, lonlat


def with_xy(frame: pd.DataFrame, crs: str) -> pd.DataFrame:
    """`frame` with x_m, y_m: its lon/lat projected to the grid CRS."""
    x, y = project_points(frame["lon"], frame["lat"], crs)
    return frame.assign(x_m=x, y_m=y)


def wet_days(config: CityConfig, days: pd.DatetimeIndex) -> np.ndarray:
    """True on the local `days` whose observed regional rain (mean over the regional grid) reaches
    `flood.wet_day_mm`; days the history does not cover are not wet."""
    with bundle_io.read_history(config.bundle_dir) as history:
        pr = history["pr"].mean(("y", "x")).to_series()
    local = pr.index.tz_localize("UTC").tz_convert(config.city.timezone).tz_localize(None).normalize()
    daily = pr.groupby(local).agg(["sum", "count"])
    rain = daily["sum"].where(daily["count"] == 24).reindex(days)
    return (rain >= config.flood.wet_day_mm).to_numpy()


def _truth_scores(config, forecasters, thresholds, drivers, cells, lonlat, issue_dates, test_issues,
                  held_cells, wet, split_rows, rng) -> dict | None:
    """Scores of each forecaster against the demo truth on held-out cells and test issue dates.

    The event is the forecast's own: a truly flooded cell within `label_radius_m`, on the target
    day. The reference climatology is the truth's rate over the training period's days (all, wet).
    None without a truth file (a real city).
    """
    found = truth_flood_near(config)
    if found is None:
        return None
    days, near = found
    land = near[:, cells["cell"].to_numpy()]
    train_days = pd.DatetimeIndex(np.unique(issue_dates[split_rows["issue_index"][split_rows["split"] == "train"]]))
    day_wet = pd.Series(wet_days(config, days), index=days)
    in_train = days.isin(train_days)
    climatology = {"all": float(land[in_train].mean()),
                   "wet": float(land[in_train & day_wet.to_numpy()].mean())}
    rows = evaluation_rows(test_issues, config.lead_days, held_cells, wet, dry_share=0.02, rng=rng)
    target = issue_dates[rows["issue_index"].to_numpy()] + pd.to_timedelta(rows["lead"].to_numpy(), unit="D")
    rows = rows[target.isin(days)].reset_index(drop=True)
    target = issue_dates[rows["issue_index"].to_numpy()] + pd.to_timedelta(rows["lead"].to_numpy(), unit="D")
    observed = near[days.get_indexer(target), rows["cell"].to_numpy()].astype(float)
    frame = with_flood_interactions(attach_features(rows, cells, drivers, lonlat, STATIC_FLOOD_FEATURES))
    forecasts = {name: forecast(frame) for name, forecast in forecasters.items()}
    return evaluate_flood(forecasts, frame, observed, climatology, threshold=config.flood.default_threshold,
                          thresholds=thresholds)


def flood_table(config: CityConfig, issue_dates: pd.DatetimeIndex, drivers: xr.Dataset, cells: pd.DataFrame,
                lonlat: tuple, flooded: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """(cell, issue, lead) training rows with their features: every flooded (`flooded`) cell-day and
    `flood.negatives_per_positive` weighted negatives drawn with `rng`."""
    rows = flood_rows(issue_dates, config.lead_days, cells, flooded,
                      negatives_per_positive=config.flood.negatives_per_positive, rng=rng)
    return with_flood_interactions(attach_features(rows, cells, drivers, lonlat, STATIC_FLOOD_FEATURES))


def flood_split(rows: pd.DataFrame, cells: pd.DataFrame, cell_blocks: np.ndarray, held: np.ndarray,
                periods: np.ndarray) -> np.ndarray:
    """The time `periods` of `rows` with the blocks `held` out of training (models.split.blocked_split);
    `cell_blocks` gives the spatial block of each of `cells`."""
    row_cell = pd.Series(np.arange(len(cells)), index=cells["cell"].to_numpy())[rows["cell"].to_numpy()].to_numpy()
    return blocked_split(periods, np.isin(cell_blocks[row_cell], held))


@dataclass(frozen=True)
class FloodForecasters:
    """The flood classifier, the static-susceptibility model and the rain rule, fitted on one table."""

    model: FloodModel
    fit: dict  # train_flood_model's description of `model`'s fit
    static: FloodModel
    rule: RainRule


def fit_flood_forecasters(config: CityConfig, table: pd.DataFrame, split: np.ndarray) -> FloodForecasters:
    """The classifier on FLOOD_FEATURES, static susceptibility on the static features alone and the rain
    rule, each a chance of a flood (report rates divided by `flood.report_rate`)."""
    fitting = {"num_boost_round": config.train.num_boost_round, "seed": config.train.seed,
               "report_rate": config.flood.report_rate, "trainer": booster_fit(config.runner)}
    model, fit = train_flood_model(table, FLOOD_FEATURES, split, **fitting)
    static, _ = train_flood_model(table, list(STATIC_FLOOD_FEATURES), split, **fitting)
    train_rows = table[split == "train"]
    rule = fit_rain_rule(train_rows["rain_24h_mm"].to_numpy(), train_rows["label"].to_numpy(),
                         train_rows["weight"].to_numpy(), report_rate=config.flood.report_rate)
    return FloodForecasters(model, fit, static, rule)


@task
def train_flood(config: CityConfig, paths: dict[str, Path]) -> dict:
    """Fit, calibrate, score and register the flood classifier; returns its card.

    Validation is time-ordered and spatially blocked: training rows come from the training
    period outside the held-out blocks, early stopping and test scores from the held-out blocks
    in the later periods, calibration from its own period. The card scores the model and two
    baselines (a rain-only warning rule, static susceptibility) on the held-out period and
    blocks, against the flood reports and, where the demo truth exists, against the truth.
    """
    flood = config.flood
    _, drivers, cells, lonlat = training_inputs(config, paths)
    issue_dates = pd.DatetimeIndex(drivers.issue_date.values)
    reports = with_xy(bundle_io.read_flood_events(config.bundle_dir), config.grid.crs)
    rng = np.random.default_rng(config.train.seed)
    rows = flood_table(config, issue_dates, drivers, cells, lonlat,
                       cells_near_reports(reports, cells, flood.label_radius_m), rng)
    cell_blocks = spatial_blocks(cells["x_m"].to_numpy(), cells["y_m"].to_numpy(), block_m=flood.block_size_m)
    held = held_out_blocks(cell_blocks, share=flood.holdout_block_share, seed=config.train.seed)
    periods = time_split(issue_dates, rows["issue_index"].values, rows["lead"].values,
                         holdout_days=config.train.holdout_days, validation_days=config.train.validation_days,
                         calibration_days=flood.calibration_days)
    split = flood_split(rows, cells, cell_blocks, held, periods)
    target = issue_dates[rows["issue_index"].to_numpy()] + pd.to_timedelta(rows["lead"].to_numpy(), unit="D")
    table = rows.assign(wet_day=wet_days(config, pd.DatetimeIndex(target)))
    log(f"flood table: {len(table)} rows, {int(table['label'].sum())} flooded; "
        f"{len(held)} of {len(np.unique(cell_blocks))} blocks held out")

    fitted = fit_flood_forecasters(config, table, split)
    model, fit, rule, train_rows = fitted.model, fitted.fit, fitted.rule, table[split == "train"]
    forecasters = {"model": lambda f: predict_flood(model, f), "rain_rule": lambda f: rule(f["rain_24h_mm"]),
                   "static_susceptibility": lambda f: predict_flood(fitted.static, f)}
    thresholds = {"rain_rule": rule.prob_warned}  # the rule alerts where it warns

    test = table[split == "test"]
    wet_train = train_rows["wet_day"].to_numpy(bool)
    if test.empty:
        raise ValueError("no rows in the held-out blocks of the test period: cannot score the flood model")
    climatology = {"all": fit["climatology"], "wet": float(np.average(
        train_rows["label"][wet_train], weights=train_rows["weight"][wet_train])) if wet_train.any() else np.nan}
    reported = flood.report_rate  # against reports, each forecast says the chance of a reported flood
    evaluation = {"reports": evaluate_flood({name: f(test) * reported for name, f in forecasters.items()}, test,
                                            test["label"].to_numpy(float), climatology,
                                            threshold=flood.default_threshold * reported,
                                            thresholds={k: v * reported for k, v in thresholds.items()})}
    test_issues = np.unique(rows["issue_index"][split == "test"])
    wet = wet_days(config, pd.DatetimeIndex(
        (issue_dates[test_issues].to_numpy()[:, None] + pd.to_timedelta(np.arange(config.lead_days), unit="D")
         .to_numpy()).ravel()
    )).reshape(len(test_issues), config.lead_days)
    truth = _truth_scores(config, forecasters, thresholds, drivers, cells, lonlat, issue_dates, test_issues,
                          cells["cell"].to_numpy()[np.isin(cell_blocks, held)], wet,
                          rows.assign(split=split), rng)
    if truth is not None:
        evaluation["truth"] = truth
    scores = {**fit, "test": evaluation["reports"]["all"]["model"]["all"],
              "test_by_lead": {k: v for k, v in evaluation["reports"]["all"]["model"].items() if k != "all"},
              "evaluation": evaluation,
              "rain_rule": {"threshold_mm": rule.threshold_mm, "prob_warned": rule.prob_warned,
                            "prob_calm": rule.prob_calm}}
    for line in _score_lines(evaluation):
        log(line)
    card = _card(config, "flood", FLOOD_FEATURES, model.booster.params, issue_dates, split, rows, scores, paths,
                 extra={"label_radius_m": flood.label_radius_m, "booster_files": ["classifier"],
                        "calibration": fit["calibration"], "held_out_blocks": held.tolist(),
                        "block_size_m": flood.block_size_m, "alert_threshold": flood.default_threshold,
                        "figures": ["reliability.png"]})
    folder = register(config.city_store / "models", card, {"classifier": model.booster},
                      figures={"reliability.png": flood_reliability_png(evaluation)})
    log(f"flood reliability diagram: {folder / 'reliability.png'}")
    return card


def _score_lines(evaluation: dict) -> list[str]:
    """One line per target, subset, forecaster and lead: the headline scores."""
    lines = []
    for target, subsets in evaluation.items():
        for subset, forecasters in subsets.items():
            for name, leads in forecasters.items():
                for lead, s in leads.items():
                    lines.append(
                        f"flood {target}/{subset} {name} lead {lead}: ROC AUC {s['roc_auc']:.3f} PR AUC "
                        f"{s['pr_auc']:.3f} Brier {s['brier']:.2e} BSS {s['brier_skill_vs_climatology']:.3f} "
                        f"POD {s['pod']:.2f} FAR {s['far']:.2f} CSI {s['csi']:.3f} "
                        f"rel.err {s['reliability_error']:.3f} (n={s['n_rows']}, +{s['n_positive']})")
    return lines


def _fit_heat_variable(config: CityConfig, variable: str, obs: pd.DataFrame, drivers: xr.Dataset,
                       cells: pd.DataFrame, lonlat: tuple, issue_dates: pd.DatetimeIndex,
                       held_ids: np.ndarray) -> tuple[dict, dict, dict, pd.DataFrame, np.ndarray]:
    """Quantile models of one variable, their table and time split: (boosters, widening, scores, rows, split).

    `obs` are the station-days that passed quality control; stations in `held_ids` are left out
    of the models that score unseen stations.
    """
    rows = heat_rows(obs, issue_dates, config.lead_days, cells, variable=variable)
    table = attach_features(rows, cells, drivers, lonlat, STATIC_HEAT_FEATURES)
    split = time_split(issue_dates, rows["issue_index"].values, rows["lead"].values,
                       holdout_days=config.train.holdout_days, validation_days=config.train.validation_days)
    held_out = rows["station_id"].isin(held_ids).to_numpy()
    log(f"heat table {variable}: {len(table)} rows from {rows['station_id'].nunique()} stations, "
        f"{rows['station_id'][held_out].nunique()} held out for validation")
    boosters, widening, scores = train_heat_models(
        table, HEAT_FEATURES, split, quantiles=config.heat.quantiles, num_boost_round=config.train.num_boost_round,
        seed=config.train.seed, held_out=held_out, variable=variable)
    log(f"heat {variable}: 0.1-0.9 interval widened by " + ", ".join(
        f"{w:+.2f} degC at lead {lead}" for lead, w in widening.items()) + " (cross-conformal, on the training and validation days)")
    for holdout, leads in scores.get("validation", {}).items():
        for lead, s in leads.items():
            log(f"heat {variable} {holdout} lead {lead}: RMSE model {s['model']['rmse_degC']:.2f}, regional "
                f"{s['regional']['rmse_degC']:.2f}, regional+station bias {s['regional_station_bias']['rmse_degC']:.2f}"
                f" degC; coverage {s['model']['interval_coverage']:.2f} (n={s['model']['n_rows']})")
    return boosters, widening, scores, rows, split


@task
def train_heat(config: CityConfig, paths: dict[str, Path]) -> dict:
    """Fit, score and register the daily tasmax and tasmin quantile regressors; returns their card.

    Each variable the station records hold (tasmax always, tasmin where the bundle has it) gets
    its own quality control (rejected stations logged with the reason) and its own models,
    split and scored alike. The stations held out to score unseen places are drawn from those
    whose tasmax passes, and are held out of every variable. The card's `scores` are tasmax's,
    the variable the heat levels read; `scores['tasmin']` holds tasmin's. Boosters are named
    `<variable>_q<NN>`, as the forecast layers they make.
    """
    _, drivers, cells, lonlat = training_inputs(config, paths)
    issue_dates = pd.DatetimeIndex(drivers.issue_date.values)
    raw = with_xy(bundle_io.read_temperature_obs(config.bundle_dir), config.grid.crs)
    variables = [v for v in VARIABLES if v == "tasmax" or (v in raw and raw[v].notna().any())]
    checked = {v: station_quality(raw, variable=v) for v in variables}
    for v, (obs, qc) in checked.items():
        for station in qc[qc["rejected"]].itertuples():
            log(f"heat QC {v}: station {station.station_id} rejected: {station.reason}")
        log(f"heat QC {v}: kept {len(obs)} of {raw[v].notna().sum()} station-days")
    stations = np.unique(checked["tasmax"][0]["station_id"])
    held_ids = stations[station_holdout(stations, share=config.heat.holdout_station_share, seed=config.train.seed)]
    fitted = {v: _fit_heat_variable(config, v, checked[v][0], drivers, cells, lonlat, issue_dates, held_ids)
              for v in variables}
    per_variable = {v: fitted[v][2] | {"qc": checked[v][1].to_dict("records")} for v in variables}
    scores = per_variable.pop("tasmax") | per_variable
    boosters, _, _, rows, split = fitted["tasmax"]
    files = {quantile_name(v, q): b for v in variables for q, b in fitted[v][0].items()}
    card = _card(config, "heat", HEAT_FEATURES, next(iter(boosters.values())).params, issue_dates, split,
                 rows, scores, paths,
                 extra={"variables": variables, "quantiles": list(config.heat.quantiles),
                        "booster_files": list(files), "held_out_stations": held_ids.tolist(),
                        "interval_widening_degC": {v: {str(lead): w for lead, w in fitted[v][1].items()}
                                                   for v in variables}})
    register(config.city_store / "models", card, files)
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
    if (split == "calib").any():
        period["calib_start"] = issued[split == "calib"].min().date().isoformat()
        period["calib_end"] = issued[split == "calib"].max().date().isoformat()
    clean = {k: v for k, v in params.items() if k not in ("metric",)}
    kind = "time-ordered, spatially blocked" if "held_out_blocks" in extra else "time-ordered"
    return model_card(hazard=hazard, features=features, params=clean, period=period, data_hashes=hashes,
                      scores=scores, extra={"city": config.city.slug, "split": kind, **extra})


@flow(name="train", log_prints=True)
def train(config_path: Path) -> dict[str, dict]:
    """Training tables from features and observations; fit, score on held-out days, register."""
    config = load_city_config(config_path)
    paths = on_this_runner(build_features)(config_path)  # on a Dask runner, on the same cluster
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
