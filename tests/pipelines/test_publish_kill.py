"""A forecast run killed at any moment leaves the store holding only complete issue dates."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

pytestmark = pytest.mark.usefixtures("prefect_api")

DATES = ("2023-12-31", "2023-12-30")  # the date the session run published, and a new one
# When to kill a run: as its version folder appears, or once that folder holds this file (the date half
# written: the maps, page and item follow). By progress, not by time: a fast publish must not finish first.
KILL_WHEN = (None, "forecast.nc", "map_d0.png")
# Every complete date holds these, besides what its item.json lists.
REQUIRED = {"forecast.nc", "index.html", "item.json", "map_d0.png", "map_d1.png", "flood_probability_d1.tif",
            "heat_level_d1.tif"}


@pytest.fixture(scope="module")
def store_config(run, city, tmp_path_factory):
    """The test city's config writing to a copy of its store (models, features, the published date)."""
    root = tmp_path_factory.mktemp("killed")
    store = root / "store"
    shutil.copytree(run["store"], store / "port-test", symlinks=True)
    config = root / "port.yaml"
    config.write_text(city.read_text().replace("bundle: port/bundle", f"bundle: {run['bundle']}")
                      .replace("store: store", f"store: {store}"))
    return config, store / "port-test"


def start(config: Path, date: str) -> subprocess.Popen:
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_LOGGING_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", "forecast", "--config", str(config),
                             "--date", date], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def complete_dates(city_store: Path) -> list[str]:
    """The published dates, each checked complete: its files, its item's assets, no temp file."""
    forecasts = city_store / "forecasts"
    dates = sorted(p.name for p in forecasts.iterdir() if not p.name.startswith(".") and p.name != "latest")
    for date in dates:
        folder = forecasts / date
        names = {p.name for p in folder.iterdir()}
        assert REQUIRED <= names, (date, REQUIRED - names)
        assert not [n for n in names if n.startswith(".")], date
        item = json.loads((folder / "item.json").read_text())
        for asset in item["assets"].values():
            assert (folder / asset["href"]).is_file(), (date, asset["href"])
    catalog = city_store / "catalog.json"
    if catalog.exists():
        listed = [link["href"] for link in json.loads(catalog.read_text())["links"] if link["rel"] == "item"]
        assert all((city_store / href).is_file() for href in listed)
    latest = forecasts / "latest"
    if latest.is_symlink():
        assert latest.resolve().name.startswith(os.readlink(latest))
    return dates


def versions(city_store: Path, date: str) -> set[Path]:
    return set((city_store / "forecasts" / ".versions").glob(f"{date}-*"))


def kill_while_writing(config: Path, city_store: Path, date: str, written: str | None) -> None:
    """Start a forecast of `date`, wait until its version folder appears (holding `written`, if
    given), then SIGKILL it."""
    existing = versions(city_store, date)
    process = start(config, date)
    deadline = time.monotonic() + 300
    while not any(written is None or (folder / written).exists() for folder in versions(city_store, date) - existing):
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def test_a_killed_run_leaves_only_complete_dates(store_config):
    config, city_store = store_config
    published = (city_store / "forecasts" / DATES[0]).resolve()
    before = {p.name: p.read_bytes() for p in published.iterdir() if p.is_file()}
    assert complete_dates(city_store) == [DATES[0]]
    half_written = 0
    for i, written in enumerate(KILL_WHEN):
        date = DATES[i % 2]
        shown = (city_store / "forecasts" / date).resolve()
        kill_while_writing(config, city_store, date, written)
        dates = complete_dates(city_store)
        assert DATES[0] in dates
        if (city_store / "forecasts" / date).resolve() == shown:  # killed before the swap: nothing changed
            half_written += bool(versions(city_store, date) - {shown})
    assert half_written >= 2, "the kills should land while a date is half written"
    assert {p.name: p.read_bytes() for p in published.iterdir() if p.is_file()} == before
    final = start(config, DATES[1])
    assert final.wait(timeout=300) == 0, final.stderr.read().decode()[-2000:]
    assert complete_dates(city_store) == sorted(DATES)
    assert versions(city_store, DATES[1]) == {(city_store / "forecasts" / DATES[1]).resolve()}  # half-written swept
