"""The build_features flow: static layers once per bundle version, daily drivers per issue date."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from pipelines.bundle.validate import require_city_bundle, warnings_markdown
from pipelines.config import load_city_config
from pipelines.feature_cache.build import build_driver_history, build_static_features


@flow(name="build_features", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=1))
def build_features(config_path: Path) -> dict[str, Path]:
    """Static features once per bundle version, daily drivers per issue date and lead.

    The two are independent: on a Dask runner they build on two workers at once; locally one
    after the other (threads of one process would share the netCDF library, which is not
    thread-safe, and add up their memory).
    """
    config = load_city_config(config_path)
    warned = require_city_bundle(config)
    builds = {"static": build_static_features.submit(config), "drivers": build_driver_history.submit(config)}
    paths = {name: build.result() for name, build in builds.items()}
    create_markdown_artifact(
        key=f"{config.city.slug}-features",
        markdown="# Features\n\n" + warnings_markdown(warned) + "\n".join(f"- {k}: `{v}`" for k, v in paths.items()),
        description="feature files",
    )
    return paths
