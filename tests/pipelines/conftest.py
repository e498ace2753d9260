"""One Prefect backend for every flow test of the session."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # offline: no telemetry
from prefect.testing.utilities import prefect_test_harness

from pipelines import flows


@pytest.fixture(scope="session")
def prefect_api():
    with prefect_test_harness(server_startup_timeout=120):
        yield


# A made-up port town in UTM zone 50N (Borneo), 50 m cells, five assets of its own.
ASSETS = """name,lon,lat,category
Old Customs House,117.9150,5.9790,Colonial Civic Heritage
Harbour Temple,117.9180,5.9760,Religious Heritage
Clock Tower,117.9120,5.9810,Colonial Heritage
Merchant Row,117.9140,5.9770,Urban Streetscape
Fishing Jetty,117.9230,5.9800,Maritime / Waterfront Heritage
"""

CONFIG = """
city: {{slug: port-test, name: Port Test, timezone: Asia/Kuching}}
grid: {{crs: "EPSG:32650", resolution_m: 50, bounds: [600000, 660000, 602500, 662000]}}
source:
  kind: demo
  seed: 7
  start: 2023-03-01
  end: 2023-12-31
  coastline: synthetic
  assets: {assets}
  regional_spacing_deg: 0.02
paths: {{bundle: port/bundle, store: store}}
lead_days: 2
flood: {{label_radius_m: 120, negatives_per_positive: 10, default_threshold: 0.05}}
heat: {{default_threshold_degC: 31.0}}
train: {{holdout_days: 45, validation_days: 45, num_boost_round: 60, seed: 1}}
alerts: {{sender: warisan-test@example.org, sender_name: Warisan test city, status: Test}}
"""


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
