"""The flood model's training: its table, split, fits (model and baselines), scores and registration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from prefect import task

from models.flood import FloodModel, RainRule, evaluate_flood, fit_rain_rule, predict_flood, train_flood_model
from models.split import blocked_split, held_out_blocks, protocol_split, spatial_blocks
from models.tables import (
    FLOOD_FEATURES,
    STATIC_FLOOD_FEATURES,
    attach_features,
    cells_near_reports,
    flood_rows,
    with_flood_interactions,
)
from pipelines.bundle import readers
from pipelines.config import CityConfig
from pipelines.progress import log
from pipelines.registry import register
from pipelines.runner import booster_fit
from pipelines.training.areas import fit_area_model, labelled_area_table
from pipelines.training.card import training_card
from pipelines.training.door import fit_door
from pipelines.training.figures import flood_reliability_png
from pipelines.training.inputs import (
    inventory_report_rate,
    sealed_periods,
    training_inputs,
    wet_days,
    with_xy,
)


def flood_table(config: CityConfig, issue_dates: pd.DatetimeIndex, drivers: xr.Dataset, cells: pd.DataFrame,
                lonlat: tuple, flooded: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """(cell, issue, lead) training rows with their features: every flooded (`flooded`) cell-day and
    `flood.negatives_per_positive` weighted negatives drawn with `rng`."""
    rows = flood_rows(issue_dates, config.flood.lead_days, cells, flooded,
                      negatives_per_positive=config.flood.negatives_per_positive, rng=rng)
    return with_flood_interactions(attach_features(rows, cells, drivers, lonlat, STATIC_FLOOD_FEATURES))


def sealed_flood_rows(config: CityConfig, issue_dates: pd.DatetimeIndex, drivers: xr.Dataset, cells: pd.DataFrame,
                      lonlat: tuple, flooded: pd.DataFrame, *, with_test: bool = True) -> pd.DataFrame:
    """An evaluation fit's flood table: the rows it may learn from and (`with_test`) the sealed test
    period's rows, built apart (each from its own reports and its own seeded draw of negatives), so that
    nothing dated in the test period can change what is fitted or chosen (evaluation.test)."""
    known, test = sealed_periods(config, issue_dates, config.flood.lead_days)
    seed, test_start = config.train.seed, pd.Timestamp(config.protocol.test[0])
    dated = pd.DatetimeIndex(flooded["date"])
    parts = []
    sealed = [(test, flooded[dated >= test_start], 1)] if with_test else []
    for part, reported, stream in [(known, flooded[dated < test_start], 0), *sealed]:
        rows = flood_table(config, issue_dates[part], drivers.isel(issue_date=part), cells, lonlat, reported,
                           np.random.default_rng([seed, stream]))
        parts.append(rows.assign(issue_index=rows["issue_index"] + part.start))
    return pd.concat(parts, ignore_index=True)


def _fit_area_warning(config: CityConfig, drivers: xr.Dataset, cells: pd.DataFrame, flooded: pd.DataFrame):
    """The evaluation fit's area warning on the issue dates and reports before the sealed test period:
    trained before early stopping, stopped early on the days before validation, calibrated and its
    levels chosen on validation. Returns it, its features and the area report rate."""
    known, _ = sealed_periods(config, pd.DatetimeIndex(drivers.issue_date.values), config.flood.lead_days)
    part = drivers.isel(issue_date=known)
    reported = flooded[pd.DatetimeIndex(flooded["date"]) < pd.Timestamp(config.protocol.test[0])]
    rows, features, areas = labelled_area_table(config, cells, part, reported)
    split = protocol_split(pd.DatetimeIndex(part.issue_date.values), rows["issue_index"].to_numpy(),
                           rows["lead"].to_numpy(), validation=config.protocol.validation, test=config.protocol.test,
                           early_stopping_days=config.train.early_stopping_days, calibrate=True)
    warning, rate = fit_area_model(config, rows, features, split, areas, cells)
    return warning, features, rate


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


def fit_flood_forecasters(config: CityConfig, table: pd.DataFrame, split: np.ndarray,
                          report_rate: float) -> FloodForecasters:
    """The classifier on FLOOD_FEATURES, static susceptibility on the static features alone and the rain
    rule, each a chance of a flood (report rates divided by `report_rate`)."""
    fitting = {"num_boost_round": config.train.num_boost_round, "seed": config.train.seed,
               "report_rate": report_rate, "trainer": booster_fit(config.runner)}
    model, fit = train_flood_model(table, FLOOD_FEATURES, split, **fitting)
    static, _ = train_flood_model(table, list(STATIC_FLOOD_FEATURES), split, **fitting)
    train_rows = table[split == "train"]
    rule = fit_rain_rule(train_rows["rain_24h_mm"].to_numpy(), train_rows["label"].to_numpy(),
                         train_rows["weight"].to_numpy(), report_rate=report_rate)
    return FloodForecasters(model, fit, static, rule)


@task
def train_flood(config: CityConfig, paths: dict[str, Path]) -> dict:
    """Fit, calibrate, score and register the flood classifier; returns its card.

    Validation is time-ordered and spatially blocked: training rows come from the training
    period outside the held-out blocks, early stopping and test scores from the held-out blocks
    in the later periods, calibration from its own period. The card scores the model and two
    baselines (a rain-only warning rule, static susceptibility) on the held-out period and
    blocks, against the flood reports (the demo truth's scores are added by evaluation code,
    pipelines.evaluation.card_truth). The static-susceptibility baseline is registered beside
    the classifier, so that evaluation scores the same baselines. The depth of water given a flood
    (models.warning.door, `door_depth`) is fitted on the reports before the sealed test period.
    """
    flood = config.flood
    _, drivers, cells, lonlat = training_inputs(config, paths)
    issue_dates = pd.DatetimeIndex(drivers.issue_date.values)
    reports = with_xy(readers.read_flood_events(config.bundle_dir), config.grid.crs)
    flooded = cells_near_reports(reports, cells, flood.label_radius_m)
    rows = sealed_flood_rows(config, issue_dates, drivers, cells, lonlat, flooded)
    cell_blocks = spatial_blocks(cells["x_m"].to_numpy(), cells["y_m"].to_numpy(), block_m=flood.block_size_m)
    held = held_out_blocks(cell_blocks, share=flood.holdout_block_share, seed=config.train.seed)
    periods = protocol_split(issue_dates, rows["issue_index"].values, rows["lead"].values,
                             validation=config.protocol.validation, test=config.protocol.test,
                             early_stopping_days=config.train.early_stopping_days, calibrate=True)
    split = flood_split(rows, cells, cell_blocks, held, periods)
    target = issue_dates[rows["issue_index"].to_numpy()] + pd.to_timedelta(rows["lead"].to_numpy(), unit="D")
    table = rows.assign(wet_day=wet_days(config, pd.DatetimeIndex(target)))
    log(f"flood table: {len(table)} rows, {int(table['label'].sum())} flooded; "
        f"{len(held)} of {len(np.unique(cell_blocks))} blocks held out")

    rate = inventory_report_rate(config, cells)
    fitted = fit_flood_forecasters(config, table, split, rate["rate"])
    areas, area_features, area_rate = _fit_area_warning(config, drivers, cells, flooded)
    door = fit_door(config, cells, reports, pd.Timestamp(config.protocol.test[0]))  # reports before the sealed test
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
    reported = rate["rate"]  # against reports, each forecast says the chance of a reported flood
    evaluation = {"reports": evaluate_flood({name: f(test) * reported for name, f in forecasters.items()}, test,
                                            test["label"].to_numpy(float), climatology,
                                            threshold=flood.default_threshold * reported,
                                            thresholds={k: v * reported for k, v in thresholds.items()})}
    scores = {**fit, "test": evaluation["reports"]["all"]["model"]["all"],
              "test_by_lead": {k: v for k, v in evaluation["reports"]["all"]["model"].items() if k != "all"},
              "evaluation": evaluation,
              "rain_rule": {"threshold_mm": rule.threshold_mm, "prob_warned": rule.prob_warned,
                            "prob_calm": rule.prob_calm}}
    for line in score_lines(evaluation):
        log(line)
    card = training_card(config, "flood", FLOOD_FEATURES, model.booster.params, issue_dates, split, rows, scores, paths,
                 extra={"label_radius_m": flood.label_radius_m,
                        "booster_files": ["classifier", "static_susceptibility"],
                        "calibration": fit["calibration"], "static_calibration": fitted.static.calibration.to_dict(), "held_out_blocks": held.tolist(),
                        "block_size_m": flood.block_size_m, "alert_threshold": flood.default_threshold,
                        "figures": ["reliability.png"], "report_rate": rate,
                        "area_warning": areas.to_dict(), "area_features": area_features,
                        "area_report_rate": area_rate, "door_depth": door.to_dict()})
    card["booster_files"].append("areas")
    folder = register(config.city_store / "models", card,
                      {"classifier": model.booster, "static_susceptibility": fitted.static.booster,
                       "areas": areas.booster},
                      figures={"reliability.png": flood_reliability_png(evaluation)})
    log(f"flood reliability diagram: {folder / 'reliability.png'}")
    return card


def score_lines(evaluation: dict) -> list[str]:
    """One line per target, subset, forecaster and lead: the headline scores, and "(too few events)"
    where they rest on fewer than MIN_EVENTS flooded rows."""
    lines = []
    for target, subsets in evaluation.items():
        for subset, forecasters in subsets.items():
            for name, leads in forecasters.items():
                for lead, s in leads.items():
                    lines.append(
                        f"flood {target}/{subset} {name} lead {lead}: ROC AUC {s['roc_auc']:.3f} PR AUC "
                        f"{s['pr_auc']:.3f} Brier {s['brier']:.2e} BSS {s['brier_skill_vs_climatology']:.3f} "
                        f"POD {s['pod']:.2f} FAR {s['far']:.2f} CSI {s['csi']:.3f} "
                        f"rel.err {s['reliability_error']:.3f} (n={s['n_rows']}, +{s['n_positive']})"
                        + (" (too few events)" if s["too_few_events"] else ""))
    return lines
