"""What every flow shares: the feature lists, the city grid, provenance and logging."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import xarray as xr
from prefect import get_run_logger

from features.grid import grid_template
from features.weather import DRIVER_NAMES, DRIVERS
from models.tables import FLOOD_INTERACTIONS, STATIC_FLOOD_FEATURES, STATIC_HEAT_FEATURES
from pipelines.config import CityConfig

FLOOD_DRIVERS = [n for n in DRIVER_NAMES if DRIVERS[n][0] in ("mm", "m")]  # water, not heat: fewer day fingerprints
FLOOD_FEATURES = [*STATIC_FLOOD_FEATURES, *FLOOD_DRIVERS, *FLOOD_INTERACTIONS, "lead_days"]
HEAT_FEATURES = [*STATIC_HEAT_FEATURES, "tasmax_regional_degC", "tasmin_regional_degC", "hurs_mean_pct",
                 "wind_mean_m_s", "rsds_mean_W_m2", "rain_24h_mm", "lead_days"]
FEATURES_VERSION = "5"  # bump when feature code changes what it computes


def log(message: str) -> None:
    """Log to the current Prefect run (shown on the command line and in the Prefect UI)."""
    get_run_logger().info(message)


def provenance(bundle: Path) -> dict:
    """The bundle's provenance.json."""
    return json.loads((bundle / "provenance.json").read_text())


def short_hash(text: str) -> str:
    """First 16 hex digits of the SHA-256 of `text`."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def city_template(config: CityConfig) -> xr.DataArray:
    """The city's (y, x) grid."""
    return grid_template(config.grid.crs, config.grid.bounds, config.grid.resolution_m)
