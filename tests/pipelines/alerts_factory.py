"""Factories for the alert-state and delivery tests: one asset's levels per issue date, built by hand,
and warning areas (models.warning.areas) added to the small forecast of conftest_publish."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
import xarray as xr

from models.assets import asset_alert_levels, asset_risk
from models.warning.areas import AreaForecast, forecast_areas
from pipelines.alerts.run import issue_run
from pipelines.config import AlertConfig
from tests.pipelines.conftest_publish import small_assets, small_forecast, small_zone

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


AREA_THRESHOLDS = (0.2, 0.4, 0.6, 0.8)  # levels 1-4 start at these chances
SITE_RADIUS_M = 60.0


def with_areas(forecast: xr.Dataset, chance: dict[str, list[float]], *, default: float = 0.05,
               thresholds: tuple[float, ...] = AREA_THRESHOLDS, names: dict[str, str] | None = None) -> xr.Dataset:
    """`forecast` with warning areas as pipelines.forecast.predict writes them: the city (the grid),
    the heritage core and buffer zones (conftest_publish.small_zone), a district over the western half
    and each on-grid site's neighbourhood (SITE_RADIUS_M); each area's chance per lead from
    `chance` (area_id: one value per lead), else `default`; levels from `thresholds`."""
    x, y = forecast.x.values, forecast.y.values
    half = (x[1] - x[0]) / 2
    frame = shapely.box(x.min() - half, y.min() - half, x.max() + half, y.max() + half)
    west = shapely.box(x.min() - half, y.min() - half, x[len(x) // 2], y.max() + half)
    zones = small_zone()
    rows = [("city", "Test City", "city", frame),
            *[(f"zone-{zone}", f"heritage {zone} zone", "zone", geometry)
              for zone, geometry in zip(zones["zone"], zones.geometry, strict=True)],
            ("district-timur-laut", "Timur Laut", "district", west)]
    for asset in small_assets().to_crs(forecast.rio.crs).itertuples():
        around = asset.geometry.buffer(SITE_RADIUS_M).intersection(frame)
        if not around.is_empty:
            rows.append((f"site-{asset.asset_id}", f"around {asset.name}", "site", around))
    names = names or {}
    ids = [row[0] for row in rows]
    n_lead = forecast.sizes["lead"]
    values = np.array([chance.get(area_id, [default] * n_lead) for area_id in ids], float).T  # (lead, area)
    level = sum((values >= t).astype("int8") for t in thresholds).astype("int8")
    return forecast.assign_coords(
        area_id=("area", ids), area_name=("area", [names.get(r[0], r[1]) for r in rows]),
        area_kind=("area", [row[2] for row in rows]), area_geometry=("area", shapely.to_wkt([r[3] for r in rows])),
    ).assign(area_flood_probability=(("lead", "area"), values.astype("float32")),
             area_flood_level=(("lead", "area"), level, {"level_thresholds": list(thresholds)}))


def area_day(chance: dict[str, list[float]], **kwargs) -> tuple[pd.DataFrame, AreaForecast]:
    """The small forecast with areas (`with_areas`): the assets' levels and the forecast's areas."""
    forecast = with_areas(small_forecast(), chance, **kwargs)
    areas = forecast_areas(forecast)
    levels = asset_alert_levels(asset_risk(forecast, small_assets()), small_assets(), default_flood_threshold=0.3,
                                default_heat_threshold_degC=35.0, area_thresholds=areas.thresholds)
    return levels, areas


def issue_time(day: dt.date) -> dt.datetime:
    """Local midnight of `day` in Penang, in UTC."""
    return dt.datetime.combine(day - dt.timedelta(days=1), dt.time(16), tzinfo=dt.UTC)


def run_day(store: Path, day: dt.date, levels: pd.DataFrame, alert: AlertConfig = CONFIG,
            areas: AreaForecast | None = None):
    """issue_run for `day` into store/forecasts/<day>/ (the issue date's folder)."""
    return issue_run(store, store / "forecasts" / day.isoformat(), levels, small_assets(), issue_time=issue_time(day),
                     city_slug="test-city", city_name="Test City", timezone="Asia/Kuala_Lumpur", alert=alert,
                     model_versions=VERSIONS, areas=areas)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
