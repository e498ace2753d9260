"""Shared factories (tiny layers on a real projected grid, built in memory) and the session's flow city.

The flow fixtures live here, not in tests/pipelines, so tests/pipelines and tests/reliability
share one Prefect backend and one run of the test city per session.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # offline: no telemetry
from prefect.testing.utilities import prefect_test_harness

from features.grid import grid_template
from pipelines import flows
from tests.pipelines.conftest import ASSETS, CONFIG

CRS = "EPSG:32647"  # UTM 47N, George Town's grid; any projected CRS would do
ORIGIN = (600_000.0, 600_000.0)  # (xmin, ymax) of every factory grid, m


def template(ny: int, nx: int, resolution_m: float = 30) -> xr.DataArray:
    """An all-NaN (y, x) layer of ny x nx cells anchored at ORIGIN, CRS and transform written."""
    xmin, ymax = ORIGIN
    bounds = (xmin, ymax - ny * resolution_m, xmin + nx * resolution_m, ymax)
    return grid_template(CRS, bounds, resolution_m)


def grid(values, name: str, units: str | None, resolution_m: float = 30) -> xr.DataArray:
    """`values` (a 2-D array, rows north to south) as a (y, x) layer named `name` with `units`.

    Booleans stay boolean and carry no units when `units` is None.
    """
    values = np.asarray(values)
    layer = template(*values.shape, resolution_m=resolution_m).copy(data=values)
    layer.attrs = {} if units is None else {"units": units}
    return layer.rename(name)


@pytest.fixture(scope="session")
def prefect_api():
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def city(tmp_path_factory) -> Path:
    """Config path of a second synthetic city, unlike George Town: UTM 50N, 50 m, its own assets."""
    root = tmp_path_factory.mktemp("port-test")
    (root / "assets.csv").write_text(ASSETS)
    config = root / "port.yaml"
    config.write_text(CONFIG.format(assets=root / "assets.csv"))
    return config


@pytest.fixture(scope="session")
def run(city, prefect_api):
    """The second city through ingest, train and daily_forecast once per session; what they returned."""
    bundle = flows.ingest(city)
    cards = flows.train(city)
    written = flows.daily_forecast(city)
    return {"bundle": bundle, "cards": cards, "written": written, "store": city.parent / "store" / "port-test"}
