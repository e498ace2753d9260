"""Factories for the alert-state and delivery tests: one asset's levels per issue date, built by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from models.assets import asset_alert_levels
from pipelines.alerts.run import issue_run
from pipelines.config import AlertConfig
from tests.pipelines.conftest_publish import small_assets

FIRST_DAY = dt.date(2024, 12, 26)
CONFIG = AlertConfig(sender="warisan-test@example.org", sender_name="Warisan test", status="Test")
VERSIONS = {"flood_model_version": "flood-test-1", "heat_model_version": "heat-test-1"}
DRIVERS = {"rain_24h_mm": 86.0, "rain_max_1h_mm": 20.0, "sea_level_max_m": 1.3, "hand_m": 0.4,
           "hurs_mean_pct": 80.0}


def day_levels(flood: list[float], heat: list[float] | None = None) -> pd.DataFrame:
    """Levels of asset 'hot' (flood threshold 0.3, heat 35 degC) over len(flood) lead days."""
    heat = heat if heat is not None else [30.0] * len(flood)
    risk = pd.DataFrame({
        "asset_id": "hot", "lead": np.arange(len(flood)), "flood_probability_max": flood,
        "flood_probability_mean": flood, "tasmax_q50_max": heat, "tasmax_q90_max": np.add(heat, 1.5),
        "n_cells": 1, "cells_from": "buffer", "on_water": False, **DRIVERS,
    })
    return asset_alert_levels(risk, small_assets(), default_flood_threshold=0.3, default_heat_threshold_degC=35.0)


def issue_time(day: dt.date) -> dt.datetime:
    """Local midnight of `day` in Penang, in UTC."""
    return dt.datetime.combine(day - dt.timedelta(days=1), dt.time(16), tzinfo=dt.UTC)


def run_day(store: Path, day: dt.date, levels: pd.DataFrame, alert: AlertConfig = CONFIG):
    """issue_run for `day` into store/forecasts/<day>/ (the issue date's folder)."""
    return issue_run(store, store / "forecasts" / day.isoformat(), levels, small_assets(), issue_time=issue_time(day),
                     city_slug="test-city", city_name="Test City", timezone="Asia/Kuala_Lumpur", alert=alert,
                     model_versions=VERSIONS)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
