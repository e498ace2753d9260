"""Feature files, each built once and found again by its inputs: static layers, daily drivers."""

# Why a content-addressed file name and not a Prefect cache policy: the tasks pass paths, and the
# name is the cache key (hash of the inputs' sha256 from provenance.json, the grid or leads, and
# FEATURES_VERSION), so the cache lives beside the data it describes, in the city store. A deleted
# or moved feature file is simply rebuilt; Prefect's cache would hand back the stored Path to a
# file that is gone. And a cache_key_fn would have to read provenance.json just as _feature_file
# does, since the task's own inputs (the config) do not change when the bundle does.

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import xarray as xr
from prefect import task

from features.static import static_features
from pipelines.bundle import readers
from pipelines.config import CityConfig, city_template
from pipelines.feature_cache.drivers import drivers_for_dates
from pipelines.progress import log
from pipelines.storage import short_hash, write_atomic

FEATURES_VERSION = "7"  # bump when feature code changes what it computes


def _feature_file(config: CityConfig, kind: str, inputs: list) -> Path:
    """Content-addressed path of a feature file: a rerun with unchanged inputs finds it and stops."""
    identity = json.dumps([inputs, FEATURES_VERSION], sort_keys=True, default=str)
    return config.city_store / "features" / f"{kind}-{short_hash(identity)}.nc"


def climate_before(config: CityConfig) -> dt.date | None:
    """The day before which the history sets the rain climate: the sealed test period's first day (the
    climate reads nothing a test score is made of), or None (all of it) for a config without a protocol."""
    return config.evaluation.test[0] if config.evaluation else None


def _build_once(out: Path, build: Callable[[], xr.Dataset]) -> Path:
    if out.exists():
        log(f"inputs unchanged, reusing {out}")
        return out
    dataset = build()
    write_atomic(out, lambda tmp: dataset.to_netcdf(tmp), suffix=".nc")
    log(f"built {out}")
    return out


@task
def build_static_features(config: CityConfig) -> Path:
    """Static features on the city grid, cached on the static files' hashes and the grid."""
    root = config.bundle_dir
    files = readers.read_provenance(root)["files"]
    static_hashes = {name: e["sha256"] for name, e in sorted(files.items()) if name.startswith("static/")}
    out = _feature_file(config, "static", [static_hashes, config.grid.model_dump()])
    impervious = root / "static" / "impervious.tif"
    sea = root / "static" / "sea.gpkg"
    return _build_once(out, lambda: static_features(
        readers.read_dem(root), readers.read_vector(root, "buildings"),
        readers.read_vector(root, "waterways"),
        readers.read_vector(root, "sea") if sea.exists() else None,
        readers.read_raster(root, "impervious") if impervious.exists() else None,
        city_template(config),
    ))


def with_built_up(config: CityConfig, forecast: xr.Dataset) -> xr.Dataset:
    """`forecast` with the static `impervious_frac` and `building_frac` (y, x) it lacks, for the sites' heat."""
    missing = [name for name in ("impervious_frac", "building_frac") if name not in forecast]
    if not missing:
        return forecast
    with xr.open_dataset(build_static_features.fn(config)) as static:
        return forecast.assign({name: static[name].load() for name in missing if name in static})


@task
def build_driver_history(config: CityConfig) -> Path:
    """Daily drivers for every issue date in the bundle, dims (issue_date, lead, y, x), regional grid."""
    root = config.bundle_dir
    files = readers.read_provenance(root)["files"]
    out = _feature_file(config, "drivers", [files["weather/history.nc"]["sha256"], files["weather/forecasts/"],
                                            config.forecast_days, config.city.timezone, climate_before(config)])

    def build() -> xr.Dataset:
        with readers.read_history(root) as history:
            return drivers_for_dates(root, history.load(), readers.forecast_dates(root),
                                     lead_days=config.forecast_days, timezone=config.city.timezone,
                                     climate_before=climate_before(config), progress=log)

    return _build_once(out, build)

