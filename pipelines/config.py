"""City configuration: typed, validated once at the edge, then passed on as plain values."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pyproj import CRS
from pyproj.exceptions import CRSError


class ConfigError(ValueError):
    """A city config that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)  # a misspelt key is an error


class CityInfo(_Strict):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="folder name in the store")
    name: str = Field(min_length=1, description="name shown on maps and alerts")
    timezone: str = Field(description="IANA zone of the city's local day, e.g. Asia/Kuala_Lumpur")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r}") from err
        return value


class GridConfig(_Strict):
    crs: str = Field(pattern=r"^EPSG:\d+$", description="projected CRS of the city grid")
    resolution_m: float = Field(gt=0, le=1000, description="cell size in metres")
    bounds: tuple[float, float, float, float] = Field(description="xmin, ymin, xmax, ymax in the CRS, m")

    @field_validator("crs")
    @classmethod
    def _projected_crs(cls, value: str) -> str:
        try:
            crs = CRS.from_user_input(value)
        except CRSError as err:
            raise ValueError(f"unknown CRS {value!r}") from err
        if not crs.is_projected:
            raise ValueError(f"CRS {value!r} is not projected; the grid needs metres")
        return value

    @model_validator(mode="after")
    def _bounds_hold_cells(self) -> GridConfig:
        xmin, ymin, xmax, ymax = self.bounds
        if not all(math.isfinite(v) for v in self.bounds):
            raise ValueError(f"bounds {self.bounds} must be finite numbers")
        if xmin >= xmax or ymin >= ymax:
            raise ValueError(f"bounds {self.bounds} are inverted: need xmin < xmax and ymin < ymax")
        if min(xmax - xmin, ymax - ymin) < 4 * self.resolution_m:
            raise ValueError("bounds must span at least 4 cells in x and in y")
        return self


class DemoSource(_Strict):
    kind: Literal["demo"]
    seed: int = Field(ge=0)
    start: dt.date = Field(description="first local day of hourly history")
    end: dt.date = Field(description="last issue date; history runs to its start")
    coastline: Literal["penang", "synthetic"] = "synthetic"
    assets: str = Field(description="'george-town' for the packaged sites, or a CSV path")
    climate: Literal["bayan-lepas"] = "bayan-lepas"
    regional_spacing_deg: float = Field(0.05, gt=0, le=1, description="regional weather grid step")

    @model_validator(mode="after")
    def _period(self) -> DemoSource:
        if self.end <= self.start + dt.timedelta(days=30):
            raise ValueError("end must be more than 30 days after start")
        return self


class LiveSource(_Strict):
    kind: Literal["live"]
    weather: Literal["open-meteo"] = "open-meteo"
    vectors: Literal["osm"] = "osm"
    dem: Literal["copernicus-dem"] = "copernicus-dem"
    start: dt.date
    assets: str


class FloodConfig(_Strict):
    label_radius_m: float = Field(90, gt=0, le=5000, description="a report floods cells this close")
    negatives_per_positive: int = Field(20, ge=1, le=1000)
    default_threshold: float = Field(
        0.05, gt=0, lt=1, description="alert at this chance of a flood report within label_radius_m"
    )


class HeatConfig(_Strict):
    quantiles: tuple[float, float, float] = (0.1, 0.5, 0.9)
    default_threshold_degC: float = Field(35.0, ge=20, le=60, description="alert tasmax q50")

    @field_validator("quantiles")
    @classmethod
    def _ordered(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if not all(0 < q < 1 for q in value) or list(value) != sorted(set(value)):
            raise ValueError("quantiles must be increasing, distinct and inside (0, 1)")
        return value


class TrainConfig(_Strict):
    holdout_days: int = Field(365, ge=7, description="last days kept out of training for scores")
    validation_days: int = Field(180, ge=7, description="days before the holdout for early stopping")
    num_boost_round: int = Field(400, ge=1, le=10000)
    seed: int = Field(0, ge=0)


class AlertConfig(_Strict):
    sender: str = Field(pattern=r"^[^\s,<&]+$", description="CAP sender, e.g. warisan@example.org")
    sender_name: str = Field(min_length=1)
    status: Literal["Actual", "Exercise", "Test"] = "Actual"
    languages: tuple[Literal["en-GB", "ms-MY", "zh-CN"], ...] = ("en-GB", "ms-MY")


class PathsConfig(_Strict):
    bundle: Path = Field(description="city bundle folder; relative paths start at the config's folder")
    store: Path = Field(description="published store; relative paths start at the config's folder")


class CityConfig(_Strict):
    city: CityInfo
    grid: GridConfig
    source: Annotated[DemoSource | LiveSource, Field(discriminator="kind")]
    paths: PathsConfig
    lead_days: int = Field(3, ge=1, le=10, description="leads 0 .. lead_days-1 are forecast")
    flood: FloodConfig = FloodConfig()
    heat: HeatConfig = HeatConfig()
    train: TrainConfig = TrainConfig()
    alerts: AlertConfig
    schedule_cron: str = Field("0 5 * * *", description="daily_forecast schedule, local time")

    @property
    def bundle_dir(self) -> Path:
        return self.paths.bundle

    @property
    def truth_dir(self) -> Path:
        """The demo world's truth, beside the bundle and never read by training."""
        return self.paths.bundle.parent / "truth"

    @property
    def city_store(self) -> Path:
        return self.paths.store / self.city.slug


def load_city_config(path: Path | str) -> CityConfig:
    """Read and validate a city YAML; raise ConfigError naming the file and field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        config = CityConfig.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(f"{path}: {problems}") from err
    base = path.resolve().parent
    paths = PathsConfig(
        bundle=(base / config.paths.bundle).resolve(), store=(base / config.paths.store).resolve()
    )
    return config.model_copy(update={"paths": paths})
