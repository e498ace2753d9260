"""The build_features flow: static layers once per bundle version, daily drivers per issue date."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import xarray as xr
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from features.static import static_features
from pipelines import bundle as bundle_io
from pipelines.config import CityConfig, load_city_config
from pipelines.drivers import drivers_for_dates
from pipelines.flow_common import FEATURES_VERSION, city_template, log, provenance, short_hash
from pipelines.ingest import validate_bundle
from pipelines.storage import write_atomic


def _feature_file(config: CityConfig, kind: str, inputs: list) -> Path:
    """Content-addressed path of a feature file: a rerun with unchanged inputs finds it and stops."""
    identity = json.dumps([inputs, FEATURES_VERSION], sort_keys=True, default=str)
    return config.city_store / "features" / f"{kind}-{short_hash(identity)}.nc"


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
    files = provenance(root)["files"]
    static_hashes = {name: e["sha256"] for name, e in sorted(files.items()) if name.startswith("static/")}
    out = _feature_file(config, "static", [static_hashes, config.grid.model_dump()])
    impervious = root / "static" / "impervious.tif"
    sea = root / "static" / "sea.gpkg"
    return _build_once(out, lambda: static_features(
        bundle_io.read_dem(root), bundle_io.read_vector(root, "buildings"),
        bundle_io.read_vector(root, "waterways"),
        bundle_io.read_vector(root, "sea") if sea.exists() else None,
        bundle_io.read_raster(root, "impervious") if impervious.exists() else None,
        city_template(config),
    ))


@task
def build_driver_history(config: CityConfig) -> Path:
    """Daily drivers for every issue date in the bundle, dims (issue_date, lead, y, x), regional grid."""
    root = config.bundle_dir
    files = provenance(root)["files"]
    out = _feature_file(config, "drivers", [files["weather/history.nc"]["sha256"], files["weather/forecasts/"],
                                            config.lead_days, config.city.timezone])

    def build() -> xr.Dataset:
        with bundle_io.read_history(root) as history:
            return drivers_for_dates(root, history.load(), bundle_io.forecast_dates(root),
                                     lead_days=config.lead_days, timezone=config.city.timezone, progress=log)

    return _build_once(out, build)


@flow(name="build_features", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=1))
def build_features(config_path: Path) -> dict[str, Path]:
    """Static features once per bundle version, daily drivers per issue date and lead.

    The two are independent: on a Dask runner they build on two workers at once; locally one
    after the other (threads of one process would share the netCDF library, which is not
    thread-safe, and add up their memory).
    """
    config = load_city_config(config_path)
    validate_bundle(config)
    builds = {"static": build_static_features.submit(config), "drivers": build_driver_history.submit(config)}
    paths = {name: build.result() for name, build in builds.items()}
    create_markdown_artifact(
        key=f"{config.city.slug}-features",
        markdown="# Features\n\n" + "\n".join(f"- {k}: `{v}`" for k, v in paths.items()),
        description="feature files",
    )
    return paths
