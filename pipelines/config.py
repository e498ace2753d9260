"""City configuration: typed, validated once at the edge, then passed on as plain values."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import xarray as xr
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pyproj import CRS
from pyproj.exceptions import CRSError

from features.grid import grid_template


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


class DemoClimate(_Strict):
    """The demo weather's climate: a station record shipped in pipelines/data, or one made up from it.

    With the defaults this is the record. Any other setting invents a climate that no station
    measured (pipelines/sources/demo_weather.py: `climatology`): seasons moved, rain scaled,
    temperatures offset.
    """

    record: Literal["bayan-lepas"] = Field("bayan-lepas", description="MetMalaysia Bayan Lepas, 2013-2022")
    shift_months: int = Field(0, ge=0, le=11, description="every season falls this many months later; "
                              "3 moves the record's Sep-Nov wet season to Dec-Feb")
    rain_scale: float = Field(1.0, gt=0, le=3, description="factor on each month's rain total (wet days "
                              "rain harder; their frequency is the record's)")
    tas_offset_degC: float = Field(0.0, ge=-5, le=5, description="added to every daily mean temperature")

    @model_validator(mode="before")
    @classmethod
    def _record_by_name(cls, value: object) -> object:
        return {"record": value} if isinstance(value, str) else value  # `climate: bayan-lepas`


_ASSET_KEYWORDS = ("george-town", "osm")  # source.assets values that name sites, not a CSV path
PACKAGED_TIDE_GAUGES = {"penang": "penang_tide_ticon4.json"}  # open_meteo.tide_constants keyword: pipelines/data


class DemoSource(_Strict):
    kind: Literal["demo"]
    seed: int = Field(ge=0)
    start: dt.date = Field(description="first local day of hourly history")
    end: dt.date = Field(description="last issue date; history runs to its start")
    coastline: Literal["penang", "synthetic"] = "synthetic"
    assets: str = Field(description="'george-town' for the packaged sites, or a CSV path")
    climate: DemoClimate = Field(DemoClimate(), description="'bayan-lepas', or a mapping that makes up a "
                                 "climate from that record (DemoClimate)")
    regional_spacing_deg: float = Field(0.05, gt=0, le=1, description="regional weather grid step")
    ensemble_members: int = Field(0, ge=0, le=100, description=(
        "perturbed members beside the control (member 0) in the member files; 0: single runs only"))
    ensemble_issues: tuple[dt.date, dt.date] | None = Field(None, description=(
        "first and last issue date of the member files; default the evaluation's validation and test periods"))

    @model_validator(mode="after")
    def _period(self) -> DemoSource:
        if self.end <= self.start + dt.timedelta(days=30):
            raise ValueError("end must be more than 30 days after start")
        if self.ensemble_issues and self.ensemble_issues[0] > self.ensemble_issues[1]:
            raise ValueError("ensemble_issues must start on or before its end")
        return self


class EnsembleConfig(_Strict):
    """The issued forecast from Open-Meteo's ensemble API: every member of one ensemble model."""

    url: str = Field("https://ensemble-api.open-meteo.com/v1/ensemble", pattern=r"^https?://")
    model: str = Field(pattern=r"^[a-z0-9_]+$", description=(
        "Open-Meteo ensemble model, e.g. ecmwf_ifs025_ensemble (ECMWF IFS ENS, 51 members) or "
        "ecmwf_aifs025_ensemble (ECMWF AIFS ENS, 51); credited in provenance.json"))
    members: int = Field(ge=2, le=256, description=(
        "members the model sends, the control (member 0) included: the response must hold them all, and "
        "each counts in the request's weight"))


class OpenMeteoConfig(_Strict):
    """Open-Meteo weather: hourly history (archive), forecasts and sea level (marine)."""

    archive_url: str = Field("https://archive-api.open-meteo.com/v1/archive", pattern=r"^https?://")
    forecast_url: str = Field("https://api.open-meteo.com/v1/forecast", pattern=r"^https?://")
    marine_url: str = Field("https://marine-api.open-meteo.com/v1/marine", pattern=r"^https?://")
    spacing_deg: float = Field(0.1, gt=0, le=1, description="step of the coarse points over the bbox")
    forecast_model: str = Field("best_match", pattern=r"^[a-z0-9_]+$", description="Open-Meteo model")
    ensemble: EnsembleConfig | None = Field(None, description=(
        "the issued forecast from the ensemble API instead of forecast_model (member files, docs/data-contract.md); "
        "training forecasts stay forecast_model's"))
    archive_model: str = Field("era5_seamless", pattern=r"^[a-z0-9_]+$", description=(
        "the archive API's model, asked for by name (its default blends ERA5, ERA5-Land and ECMWF IFS): era5, "
        "era5_land, era5_seamless (ERA5, ERA5-Land over land) or ecmwf_ifs; credited in provenance.json"))
    previous_runs_url: str = Field("https://previous-runs-api.open-meteo.com/v1/forecast", pattern=r"^https?://")
    forecast_archive_from: dt.date | None = Field(dt.date(2024, 1, 1), description=(
        "first issue date whose forecast the previous-runs API holds for forecast_model (January 2024 for most "
        "models): the ingest backfills a forecast for each training day from then on; none: no backfill"))
    history_forecasts: bool = Field(True, description=(
        "training days no archive holds get a stand-in forecast: the history's hours plus the stated forecast-error "
        "model (docs/live-city.md), marked as such; false: they have no forecast and train nothing"))
    sea_point: tuple[float, float] | None = Field(
        None, description=("lon, lat of the sea-level point: open water of the marine model (cells of 1/12 deg) "
                           "near the city's tide gauge (docs/live-city.md, 'The sea point'); default: the bbox centre")
    )
    archive_lag_days: int = Field(5, ge=0, le=30, description="ERA5 reaches to about this many days ago")
    cache_dir: Path | None = Field(None, description="requests-cache folder (default: beside the bundle)")
    requests_per_minute: float = Field(30, gt=0, le=600, description="requests a minute at most, spaced evenly")
    calls_per_minute: float = Field(600, gt=0, description="Open-Meteo's limit of weighted calls a clock minute")
    calls_per_hour: float = Field(5000, gt=0, description="Open-Meteo's limit of weighted calls a clock hour")
    calls_per_day: float = Field(10000, gt=0, description="Open-Meteo's limit of weighted calls a UTC day")
    budget_margin: float = Field(0.1, ge=0, lt=1, description=(
        "fraction of each calls_per_* limit left unused (other users of the same address, our own reruns)"))
    api_key_env: str | None = Field(None, description=(
        "name of the environment variable holding an Open-Meteo API key (never the key): customer endpoints"))
    retries: int = Field(4, ge=0, le=10)
    backoff_s: float = Field(2, ge=0, le=120, description="backoff factor of the retries, s")
    timeout_s: float = Field(60, gt=0, le=600)
    max_forecast_age_h: float = Field(30, gt=0, le=240, description=(
        "a forecast whose model run (unknown: whose first hour sent, the start of the issue time's UTC day, "
        "up to 23 h before it) is more than this many hours before the issue time is old: not written, the "
        "source marked stale"))
    tide_constants: str | None = Field(
        None, description=("harmonic constants of a tide gauge whose astronomical tide fills the sea-level hours "
                           "the marine API lacks: `penang` (packaged TICON-4) or a JSON path (docs/live-city.md); "
                           "none: history starts with the marine record and a gap is an error"))

    @field_validator("api_key_env")
    @classmethod
    def _a_name_not_a_key(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Z_][A-Z0-9_]*", value):
            raise ValueError("write the name of an environment variable in capitals (e.g. OPEN_METEO_API_KEY) "
                             "and set the key in that variable, never the key itself")
        return value

    @model_validator(mode="after")
    def _budgets_nest(self) -> OpenMeteoConfig:
        if not self.calls_per_minute <= self.calls_per_hour <= self.calls_per_day:
            raise ValueError(f"calls_per_minute ({self.calls_per_minute:g}) <= calls_per_hour "
                             f"({self.calls_per_hour:g}) <= calls_per_day ({self.calls_per_day:g}) must hold")
        return self


class OsmConfig(_Strict):
    """OpenStreetMap through osmnx and an Overpass API."""

    overpass_url: str = Field("https://overpass-api.de/api", pattern=r"^https?://",
                              description="base URL; osmnx appends /interpreter")
    timeout_s: float = Field(180, gt=0, le=3600)


class DemConfig(_Strict):
    """Copernicus GLO-30 Cloud-Optimized GeoTIFFs read by HTTP range requests: a surface model on
    EGM2008 heights, made bare earth on the local mean sea level (docs/live-city.md, "Elevation")."""

    base_url: str = Field("https://copernicus-dem-30m.s3.amazonaws.com", pattern=r"^https?://")
    retries: int = Field(4, ge=0, le=10)
    msl_above_egm2008_m: float | None = Field(ge=-3, le=3, description=(
        "height of the local mean sea level (msl_datum) above the EGM2008 geoid, m, subtracted from GLO-30's "
        "heights; a required key: null (unknown) stops the DEM step, 0 takes the geoid as mean sea level"))
    msl_datum: str = Field("local mean sea level", min_length=1,
                           description="name of that mean sea level (a gauge and epoch), for provenance")


class LiveSource(_Strict):
    kind: Literal["live"]
    start: dt.date = Field(description="first UTC day of hourly history")
    assets: str = Field(description="'george-town', a CSV path (name, lon, lat, category), or 'osm'")
    open_meteo: OpenMeteoConfig = OpenMeteoConfig()
    osm: OsmConfig = OsmConfig()
    copernicus_dem: DemConfig
    files: Path | None = Field(
        None, description="a user's files in the bundle layout; override fetched layers (docs/live-city.md)"
    )
    task_retries: int = Field(2, ge=0, le=10, description="Prefect retries of a source after its HTTP retries")
    task_retry_delay_s: float = Field(30, ge=0, le=3600, description="first delay, doubling after each")


class BundleSource(_Strict):
    """A city that brings its own complete bundle (paths.bundle): nothing is ingested, and every run
    validates it first."""

    kind: Literal["bundle"]


class AreasConfig(_Strict):
    """The warning areas whose flood chance the forecast gives (models.warning.areas)."""

    heritage_zones: bool = Field(True, description="the bundle's heritage_zone.gpkg zones (core, buffer)")
    districts: Literal["penang"] | None = Field(
        None, description="administrative districts shipped in pipelines/data, clipped to the grid")
    site_radius_m: float = Field(250, gt=0, le=5000, description="each heritage site's neighbourhood: this radius")
    min_events: int = Field(10, ge=1, le=100, description=(
        "events behind each step of the area calibration (10: models.verification.MIN_EVENTS, below which a "
        "score means nothing)"))


class FloodConfig(_Strict):
    lead_days: int = Field(3, ge=1, le=10, description="flood leads 0 .. lead_days-1 are forecast")
    areas: AreasConfig = AreasConfig()
    label_radius_m: float = Field(90, gt=0, le=5000, description="a report floods cells this close")
    negatives_per_positive: int = Field(20, ge=1, le=1000)
    default_threshold: float = Field(
        0.05, gt=0, lt=1, description="alert at this chance of a flood within label_radius_m"
    )
    calibration_days: int = Field(
        90, ge=0, description="a refit's last issue days, on which its probabilities are calibrated")
    block_size_m: float = Field(1000, gt=0, description="side of the square spatial validation blocks")
    holdout_block_share: float = Field(
        0.3, gt=0, lt=1, description="share of blocks kept out of training, scored in valid/test periods")
    wet_day_mm: float = Field(20, gt=0, description="regional observed 24 h rain of a 'wet day' for scores")
    report_rate: Annotated[float, Field(gt=0, le=1)] | Literal["surveys"] = Field(
        1.0, description=("share of floods (cell-days with a flooded cell within label_radius_m) that the inventory "
                          "reports: a number from a completeness check, or `surveys` to estimate it from the "
                          "bundle's obs/flood_extents.gpkg; 1 forecasts reported floods"))


class HeatConfig(_Strict):
    lead_days: int = Field(7, ge=1, le=10, description="heat leads 0 .. lead_days-1 are forecast")
    quantiles: tuple[float, float, float] = (0.1, 0.5, 0.9)
    default_threshold_degC: float = Field(35.0, ge=20, le=60, description="alert tasmax q50")
    tasmax_levels_degC: tuple[float, float, float] = Field(
        (35.0, 37.0, 40.0), description="tasmax q50 held for sustained_days: levels 1, 2, 3 (MET Malaysia)")
    sustained_days: int = Field(3, ge=1, le=7, description="days in a row a tasmax level must hold")
    wbgt_bands_degC: tuple[float, float] = Field(
        (31.0, 33.0), description="WBGT at which levels 1 (moderate) and 2 (high) start (Singapore NEA)")
    holdout_station_share: float = Field(
        0.25, gt=0, lt=1, description="share of stations left out of training to score unseen places")

    @field_validator("quantiles")
    @classmethod
    def _ordered(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if not all(0 < q < 1 for q in value) or list(value) != sorted(set(value)) or 0.5 not in value:
            raise ValueError("quantiles must be increasing, distinct, inside (0, 1) and hold 0.5")
        return value

    @field_validator("tasmax_levels_degC", "wbgt_bands_degC")
    @classmethod
    def _increasing(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if list(value) != sorted(set(value)):
            raise ValueError("heat level thresholds must be strictly increasing")
        return value


class TrainConfig(_Strict):
    early_stopping_days: int = Field(
        180, ge=7, description="issue days before the validation period (or a refit's calibration) that stop early")
    num_boost_round: int = Field(400, ge=1, le=10000)
    seed: int = Field(0, ge=0)
    refit: Literal["weekly", "monthly", "quarterly"] = Field(
        "monthly", description="how often the production models are refitted on everything known before")


class EvaluationConfig(_Strict):
    """The evaluation protocol: issue dates before `validation` train, every choice (hyperparameters,
    features, calibration, thresholds, report rate) is made on `validation`, and `test` is sealed:
    scored once by the evaluation fit and the backtest, never read by a fit or a choice."""

    validation: tuple[dt.date, dt.date] = Field(description="first and last issue date where choices are made")
    test: tuple[dt.date, dt.date] = Field(description="first and last issue date of the sealed test period")

    @model_validator(mode="after")
    def _ordered(self) -> EvaluationConfig:
        (v0, v1), (t0, t1) = self.validation, self.test
        if not v0 <= v1 < t0 <= t1:
            raise ValueError(f"the validation period ({v0}..{v1}) must end before the test period ({t0}..{t1}) "
                             "starts, and each must start on or before its end")
        return self


_ENV_SECRET = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")  # a password written as ${ENV_VAR}


class ChannelConfig(_Strict):
    url: str = Field(min_length=3, description="apprise URL; ${NAME} is replaced from the environment when sent")
    all_alerts: bool = Field(False, description="every CAP message, not only those of its managers' assets")

    @field_validator("url")
    @classmethod
    def _no_secret_in_file(cls, value: str) -> str:
        netloc = value.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0]
        userinfo = netloc.rpartition("@")[0]  # scheme://user:password@host
        if ":" in userinfo and not _ENV_SECRET.fullmatch(userinfo.split(":", 1)[1]):
            raise ValueError("the URL holds a password: write it as ${ENV_VAR} and set that variable")
        return value


Language = Literal["en-GB", "ms-MY", "zh-CN", "ta-MY"]  # each has its words in pipelines/alerts/words/


class ManagerConfig(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="file name of the manager's digest")
    name: str = Field(min_length=1)
    language: Language | None = Field(None, description="language of the digest they are sent (one of "
                                      "alerts.languages); default the first of alerts.languages")
    assets: tuple[str, ...] = Field(min_length=1, description="asset_id of each site they look after")
    channels: tuple[str, ...] = Field((), description="names in alerts.channels for their alerts and digest")


class DeliveryConfig(_Strict):
    attempts: int = Field(3, ge=1, le=10, description="tries per message and channel in one run")
    retry_delay_s: float = Field(2.0, ge=0, le=600, description="wait before the 2nd try, doubled after")


class CapSigningConfig(_Strict):
    key_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description=(
        "environment variable holding the PEM private key that signs each CAP message (never a file in the config)"))
    certificate: Path = Field(description="PEM X.509 certificate of that key, sent in each signature")


class AlertConfig(_Strict):
    sender: str = Field(pattern=r"^[^\s,<&]+$", description="CAP sender, e.g. warisan@example.org")
    sender_name: str = Field(min_length=1)
    status: Literal["Actual", "Exercise", "Test"] = "Actual"
    drill: bool = Field(False, description="a drill: every message goes out with status Test")
    languages: tuple[Language, ...] = Field(("en-GB", "ms-MY"), min_length=1, description=(
        "CAP <info>, digests and Atom feed in each; the first is the default"))
    advisories: Path | None = Field(None, description="advice table; default configs/advisories.yaml")
    channels: dict[str, ChannelConfig] = Field({}, description="apprise channels by name")
    managers: tuple[ManagerConfig, ...] = ()
    operators: tuple[str, ...] = Field((), description="names in alerts.channels for operator notices (a "
                                       "forecast late for output.publish_by, one published stale)")
    delivery: DeliveryConfig = DeliveryConfig()
    signing: CapSigningConfig | None = Field(None, description="sign every CAP message (XML signature)")

    @model_validator(mode="after")
    def _known_channels(self) -> AlertConfig:
        unknown = sorted(set(self.operators) - set(self.channels))
        if unknown:
            raise ValueError(f"alerts.operators names channels not in alerts.channels: {unknown}")
        for manager in self.managers:
            unknown = sorted(set(manager.channels) - set(self.channels))
            if unknown:
                raise ValueError(f"manager {manager.id!r} names channels not in alerts.channels: {unknown}")
            if manager.language is not None and manager.language not in self.languages:
                raise ValueError(f"manager {manager.id!r}: language {manager.language!r} is not in alerts.languages")
        ids = [manager.id for manager in self.managers]
        if len(set(ids)) != len(ids):
            raise ValueError(f"manager ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
        return self

    @property
    def effective_status(self) -> str:
        """The CAP status sent: Test in a drill, else `status`."""
        return "Test" if self.drill else self.status


class OutputConfig(_Strict):
    format: Literal["netcdf", "zarr"] = Field(
        "netcdf", description="grid file of an issue date: forecast.nc (CF-1.8) or forecast.zarr")
    flood_level_bands: tuple[float, float, float] = Field(
        (0.01, 0.05, 0.2), description="flood probability at which levels 1, 2, 3 start")
    on_missing_forecast: Literal["fail", "stale"] = Field(
        "fail", description="no weather forecast for the issue date: fail, or publish the last one marked stale")
    publish_by: str | None = Field(None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description=(
        "HH:MM local time by which the day's forecast must be published; `warisan serve` then checks at that "
        "time and sends an operator notice (alerts.operators) if it is not"))
    lock_wait_s: float = Field(1800.0, gt=0, le=86400, description=(
        "how long a forecast run waits for another run of the city to finish publishing before it fails"))

    @field_validator("flood_level_bands")
    @classmethod
    def _increasing_probabilities(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if not all(0 < v < 1 for v in value) or list(value) != sorted(set(value)):
            raise ValueError("flood level bands must be increasing, distinct and inside (0, 1)")
        return value


class PathsConfig(_Strict):
    bundle: Path = Field(description="city bundle folder; relative paths start at the config's folder")
    store: Path = Field(description="published store; relative paths start at the config's folder")


class BacktestConfig(_Strict):
    """Rolling-origin backtests (`warisan backtest`): origins, bootstrap and zones."""

    origin_every: str = Field("MS", description="pandas frequency of the retraining origins: MS monthly, "
                              "QS quarterly, 14D every two weeks; the first origin is the start")
    bootstrap_samples: int = Field(100, ge=0, le=10000, description="block-bootstrap replicates per score")
    block_days: int = Field(7, ge=1, le=366, description="bootstrap blocks: runs of this many issue days")
    confidence: float = Field(0.9, gt=0, lt=1, description="level of the bootstrap confidence intervals")

    @field_validator("origin_every")
    @classmethod
    def _known_frequency(cls, value: str) -> str:
        import pandas as pd

        try:
            offset = pd.tseries.frequencies.to_offset(value)
        except ValueError as err:
            raise ValueError(f"unknown pandas frequency {value!r}") from err
        if pd.Timestamp("2000-01-01") + offset <= pd.Timestamp("2000-01-01"):
            raise ValueError(f"frequency {value!r} must step forward")
        return value


class RunnerConfig(_Strict):
    """Where the flows' tasks run (docs/scaling.md): in the flow's process, or on a Dask cluster."""

    kind: Literal["local", "dask"] = Field("local", description="local: one task at a time in the flow's "
                                           "process; dask: prefect-dask's DaskTaskRunner, lightgbm.dask")
    address: str | None = Field(None, pattern=r"^[a-z]+://\S+$", description="scheduler of a running Dask "
                                "cluster, e.g. tcp://10.0.0.5:8786; default: a LocalCluster for the run")
    n_workers: int = Field(2, ge=1, le=512, description="worker processes of the LocalCluster")
    threads_per_worker: int = Field(1, ge=1, le=256, description="threads of each LocalCluster worker")
    tile_cells: int = Field(250_000, ge=100, description="city cells per forecast task: tiles of whole rows of "
                            "about this many cells, so that a worker's memory does not grow with the area")

    @model_validator(mode="after")
    def _settings_of_the_kind(self) -> RunnerConfig:
        given = self.model_fields_set - {"kind"}
        if self.kind == "local" and given:
            raise ValueError(f"{', '.join(sorted(given))} apply to kind: dask only")
        cluster = sorted(given & {"n_workers", "threads_per_worker"})
        if self.address and cluster:
            raise ValueError(f"{', '.join(cluster)} size the LocalCluster started when no address is given; "
                             "a cluster at an address is sized where it runs")
        return self


class CityConfig(_Strict):
    city: CityInfo
    grid: GridConfig
    source: Annotated[DemoSource | LiveSource | BundleSource, Field(discriminator="kind")]
    paths: PathsConfig
    flood: FloodConfig = FloodConfig()
    heat: HeatConfig = HeatConfig()
    train: TrainConfig = TrainConfig()
    evaluation: EvaluationConfig | None = Field(
        None, description="the evaluation protocol; training and backtests need it (docs/evaluation.md)")
    alerts: AlertConfig
    output: OutputConfig = OutputConfig()
    backtest: BacktestConfig = BacktestConfig()
    runner: RunnerConfig = RunnerConfig()
    schedule_cron: str = Field("0 5 * * *", description="daily_forecast schedule, local time")

    @model_validator(mode="after")
    def _protocol_inside_the_record(self) -> CityConfig:
        if not isinstance(self.source, DemoSource) or self.evaluation is None:
            return self  # only the demo world knows its record's end before it exists
        start, end, protocol = self.source.start, self.source.end, self.evaluation
        if not start < protocol.validation[0] <= protocol.test[1] <= end:
            raise ValueError(f"evaluation: the validation and test periods must lie inside the demo's record "
                             f"{start}..{end}, after some training days")
        return self

    @property
    def protocol(self) -> EvaluationConfig:
        """The evaluation protocol; ConfigError when the config names none."""
        if self.evaluation is None:
            raise ConfigError("the config has no `evaluation` section: training and backtests need its validation "
                              "and test periods (docs/evaluation.md)")
        return self.evaluation

    @property
    def forecast_days(self) -> int:
        """Days a weather forecast file carries (24 x forecast_days hours): the longer hazard's `lead_days`."""
        return max(self.flood.lead_days, self.heat.lead_days)

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
    config = config.model_copy(update={"paths": paths})
    if not isinstance(config.source, BundleSource) and config.source.assets not in _ASSET_KEYWORDS:
        # a CSV path, beside the config like the others
        config = config.model_copy(update={"source": config.source.model_copy(
            update={"assets": str((base / config.source.assets).resolve())})})
    if isinstance(config.source, LiveSource):
        weather = config.source.open_meteo
        cache = base / weather.cache_dir if weather.cache_dir else paths.bundle.parent / "cache"
        files = (base / config.source.files).resolve() if config.source.files else None
        tide = weather.tide_constants
        if tide is not None and tide not in PACKAGED_TIDE_GAUGES:  # a path, beside the config like the others
            tide = str((base / tide).resolve())
        source = config.source.model_copy(update={
            "open_meteo": weather.model_copy(update={"cache_dir": cache.resolve(), "tide_constants": tide}),
            "files": files,
        })
        config = config.model_copy(update={"source": source})
    if config.alerts.advisories is not None:
        advisories = (base / config.alerts.advisories).resolve()
        config = config.model_copy(update={"alerts": config.alerts.model_copy(update={"advisories": advisories})})
    if config.alerts.signing is not None:
        signing = config.alerts.signing.model_copy(update={"certificate": (base / config.alerts.signing.certificate).resolve()})
        config = config.model_copy(update={"alerts": config.alerts.model_copy(update={"signing": signing})})
    return config


def city_template(config: CityConfig) -> xr.DataArray:
    """The city's (y, x) grid."""
    return grid_template(config.grid.crs, config.grid.bounds, config.grid.resolution_m)
