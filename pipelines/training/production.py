"""The production models: refitted on everything known before an origin, on the config's cadence.

The evaluation fit (pipelines.training.flood and .heat) is scored once on the sealed test period;
the models that forecast are refits with the same settings (pipelines.training.refit.retrain, the
backtest's own refit) on every issue date and observation before the first day of the issue
date's cadence period (`train.refit`: the week, month or quarter). Each production card names its
data window and the evaluation fit whose test scores describe it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from models.heat.regression import VARIABLES, quantile_name
from models.tables import FLOOD_FEATURES, HEAT_FEATURES
from pipelines.config import CityConfig
from pipelines.feature_cache.build import build_driver_history
from pipelines.progress import log
from pipelines.registry import load_latest, production_version, register
from pipelines.training.refit import load_inputs, retrain

_CADENCE = {"weekly": "W-MON", "monthly": "MS", "quarterly": "QS"}  # pandas offsets of each period's first day


def refit_origin(cadence: str, issue_date: dt.date) -> dt.date:
    """The first day of the `cadence` period (weekly from Monday, monthly, quarterly) holding `issue_date`."""
    offset = pd.tseries.frequencies.to_offset(_CADENCE[cadence])
    day = pd.Timestamp(issue_date)
    return (day if offset.is_on_offset(day) else offset.rollback(day)).date()


def _production_card(config: CityConfig, evaluation: dict, origin: dt.date, window: dict, extra: dict) -> dict:
    """A production card: the evaluation card's identity and test scores, this refit's data window."""
    kept = ("features", "params", "label_radius_m", "alert_threshold", "block_size_m", "quantiles")
    return {"hazard": evaluation["hazard"], "version": production_version(evaluation["version"], origin),
            "role": "production", "city": config.city.slug, "trained_before": origin.isoformat(),
            "data_window": window, "refit": config.train.refit,
            "evaluation": {"version": evaluation["version"], "period": evaluation["period"],
                           "protocol": evaluation.get("protocol"), "test": evaluation["scores"]["test"]},
            "scores": {"test": evaluation["scores"]["test"]},
            **{key: evaluation[key] for key in kept if key in evaluation}, **extra}


@task(cache_policy=NO_CACHE, task_run_name="production-refit-{origin}")
def fit_production(config: CityConfig, paths: dict[str, Path], origin: dt.date, cards: dict[str, dict]) -> dict:
    """Refit the flood and heat models on everything known before `origin` and register them as
    production models beside the evaluation fits `cards` (hazard -> card); returns their cards."""
    inputs = load_inputs.fn(config, paths)
    variables = tuple(v for v in VARIABLES if v in cards["heat"]["variables"])
    log(f"production refit: flood and heat ({', '.join(variables)}) on everything known before {origin}")
    fitted = retrain.fn(config, inputs, origin, heat_variables=variables)
    used = inputs.issue_dates[inputs.issue_dates <= pd.Timestamp(origin) - pd.Timedelta(days=config.forecast_days)]
    window = {"first_issue_date": used[0].date().isoformat(), "last_issue_date": used[-1].date().isoformat(),
              "observations_before": origin.isoformat()}
    forecasters = fitted.forecasters
    flood = _production_card(config, cards["flood"], origin, window, {
        "booster_files": ["classifier", "static_susceptibility", "areas"],
        "calibration": forecasters.flood.calibration.to_dict(),
        "static_calibration": fitted.static.calibration.to_dict(),
        "best_iteration": int(forecasters.flood.booster.best_iteration),
        "area_warning": forecasters.areas.to_dict(), "door_depth": forecasters.door.to_dict()})
    heat = _production_card(config, cards["heat"], origin, window, {
        "variables": list(variables), "quantiles": list(config.heat.quantiles),
        "booster_files": [quantile_name(v, q) for v in variables for q in config.heat.quantiles],
        "interval_widening_degC": {v: {str(lead): w for lead, w in forecasters.heat_widening[v].items()}
                                   for v in variables}})
    models_dir = config.city_store / "models"
    register(models_dir, flood, {"classifier": forecasters.flood.booster, "static_susceptibility": fitted.static.booster,
                                 "areas": forecasters.areas.booster},
             latest=False)
    register(models_dir, heat, {quantile_name(v, q): b for v in variables for q, b in forecasters.heat[v].items()},
             latest=False)
    log(f"production models {flood['version']} and {heat['version']}: issue dates {window['first_issue_date']} to "
        f"{window['last_issue_date']}, observations before {origin}")
    return {"flood": flood, "heat": heat}


def ensure_production(config: CityConfig, static_path: Path, issue_date: dt.date) -> dt.date:
    """The origin of the production models that forecast `issue_date`, refitted first when the registry
    has none for it yet (the first forecast of each cadence period refits)."""
    origin = refit_origin(config.train.refit, issue_date)
    models_dir = config.city_store / "models"
    evaluation = {hazard: load_latest(models_dir, hazard, features)[1]
                  for hazard, features in (("flood", FLOOD_FEATURES), ("heat", HEAT_FEATURES))}
    if not all((models_dir / hazard / production_version(card["version"], origin) / "card.json").exists()
               for hazard, card in evaluation.items()):
        paths = {"static": static_path, "drivers": build_driver_history(config)}
        fit_production(config, paths, origin, evaluation)
    return origin
