"""Bad models, configs and bundles met by a whole flow: refused naming file and field, store unchanged.

Flow cases run against the session city's published store (`run`): the broken input is a copy
(bundle, config, or the store itself for models), and the store's bytes are hashed before and after.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import re
import shutil

import lightgbm as lgb
import numpy as np
import pytest
import xarray as xr

from pipelines import flows
from pipelines.bundle.validate import BundleError
from pipelines.config import ConfigError
from pipelines.registry import RegistryError, load_latest, register
from pipelines.storage import PublishError
from tests.reliability.store_state import store_hashes

FEATURES = ["rain_24h_mm", "hand_m"]


@pytest.fixture
def models(tmp_path):
    """A registry holding one tiny flood model trained on FEATURES; its folder."""
    rng = np.random.default_rng(0)
    data = lgb.Dataset(rng.random((200, 2)), rng.integers(0, 2, 200), feature_name=FEATURES)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1}, data, num_boost_round=3)
    card = {"hazard": "flood", "version": "flood-test-1", "features": FEATURES, "booster_files": ["classifier"]}
    folder = register(tmp_path / "models", card, {"classifier": booster})
    return tmp_path / "models", folder


def test_a_registered_model_loads(models):
    models_dir, _ = models
    boosters, card = load_latest(models_dir, "flood", FEATURES)
    assert boosters["classifier"].feature_name() == FEATURES and card["version"] == "flood-test-1"


def test_a_model_from_another_feature_set_is_refused(models):
    models_dir, folder = models
    with pytest.raises(RegistryError, match=f"{folder / 'card.json'}: features: the model was trained on"):
        load_latest(models_dir, "flood", [*FEATURES, "sea_level_max_m"])


def test_a_truncated_model_file_is_refused_before_lightgbm_aborts(models):
    models_dir, folder = models
    path = folder / "classifier.txt"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # LightGBM would kill the process
    with pytest.raises(RegistryError, match=f"{path}: the flood model file is cut short"):
        load_latest(models_dir, "flood", FEATURES)


def test_a_model_file_changed_after_registering_is_refused(models):
    models_dir, folder = models
    path = folder / "classifier.txt"
    path.write_text(path.read_text().replace("shrinkage=", "shrinkage=0", 1))
    with pytest.raises(RegistryError, match=f"{path}: bytes do not match booster_sha256 in card.json"):
        load_latest(models_dir, "flood", FEATURES)


def test_a_missing_model_file_is_refused(models):
    models_dir, folder = models
    (folder / "classifier.txt").unlink()
    with pytest.raises(RegistryError, match="classifier.txt: cannot load the flood model"):
        load_latest(models_dir, "flood", FEATURES)


@pytest.mark.parametrize("damage", ["corrupt card", "dangling LATEST"])
def test_an_unreadable_model_card_is_refused(models, damage):
    models_dir, folder = models
    if damage == "corrupt card":
        (folder / "card.json").write_text('{"hazard": "flood", "featu')
    else:
        (models_dir / "flood" / "LATEST").write_text("flood-gone\n")
    with pytest.raises(RegistryError, match="card.json: cannot read the model card"):
        load_latest(models_dir, "flood", FEATURES)


# --- whole flows against the published store ---

def config_for(city, tmp_path, *, bundle, store, change=lambda text: text):
    """The session city's config pointing at `bundle` and `store` (the store's parent), changed by `change`."""
    config = tmp_path / "broken.yaml"
    config.write_text(change(city.read_text().replace("bundle: port/bundle", f"bundle: {bundle}")
                             .replace("store: store", f"store: {store}")))
    return config


@pytest.fixture
def published(run):
    """The session store's hashes before the test; asserts them unchanged after it."""
    before = store_hashes(run["store"])
    assert any(name.endswith("forecast.nc") for name in before)
    yield run
    assert store_hashes(run["store"]) == before, "a refused run changed the published store"


def _break_newest_forecast(bundle):
    """Rain of 900 mm in one hour in the newest forecast; the file named and the field."""
    newest = max((bundle / "weather" / "forecasts").glob("*.nc"))
    with xr.open_dataset(newest, decode_timedelta=True) as ds:
        broken = ds.load()
    broken["pr"][3, 0, 0] = 900.0
    newest.unlink()
    broken.to_netcdf(newest)
    return f"weather/forecasts/{newest.name}: pr: 1 values outside 0..500"


def _drop_assets(bundle):
    (bundle / "static" / "heritage_assets.gpkg").unlink()
    return "static/heritage_assets.gpkg: missing (required)"


@pytest.mark.parametrize("damage", [_break_newest_forecast, _drop_assets], ids=["absurd-rain", "no-assets"])
def test_a_broken_bundle_copy_is_refused_by_the_forecast_flow(published, city, tmp_path, damage):
    broken = shutil.copytree(published["bundle"], tmp_path / "bundle")
    message = damage(broken)
    config = config_for(city, tmp_path, bundle=broken, store=published["store"].parent)
    with pytest.raises(BundleError, match=re.escape(message)):
        flows.daily_forecast(config)


def test_a_missing_bundle_is_refused(published, city, tmp_path):
    config = config_for(city, tmp_path, bundle=tmp_path / "nowhere", store=published["store"].parent)
    with pytest.raises(BundleError, match="nowhere does not exist: build it with `warisan ingest --config"):
        flows.daily_forecast(config)


def test_a_date_without_a_weather_forecast_is_refused(published, city, tmp_path):
    config = config_for(city, tmp_path, bundle=published["bundle"], store=published["store"].parent)
    with pytest.raises(ValueError, match=r"weather/forecasts: no forecast issued on 2024-01-05 \(forecasts run "
                       r"\d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2}\)"):
        flows.daily_forecast(config, dt.date(2024, 1, 5))


def test_a_config_with_a_typo_is_refused(published, city, tmp_path):
    config = config_for(city, tmp_path, bundle=published["bundle"], store=published["store"].parent,
                        change=lambda text: text.replace("heat: {lead_days: 3", "heat: {lead_dyas: 3"))
    with pytest.raises(ConfigError, match=f"{config}: heat.lead_dyas: Extra inputs are not permitted"):
        flows.daily_forecast(config)


def test_a_corrupt_model_in_the_store_is_refused_and_nothing_published(run, city, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(run["store"], store / "port-test", symlinks=True)
    flood = store / "port-test" / "models" / "flood"
    model = flood / (flood / "LATEST").read_text().strip() / "classifier.txt"
    model.write_bytes(model.read_bytes()[:5000])
    before = store_hashes(store)
    config = config_for(city, tmp_path, bundle=run["bundle"], store=store)
    with pytest.raises(RegistryError, match=f"{model}: the flood model file is cut short"):
        flows.daily_forecast(config)
    assert store_hashes(store) == before


def test_a_model_card_of_another_feature_set_is_refused(run, city, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(run["store"], store / "port-test", symlinks=True)
    heat = store / "port-test" / "models" / "heat"
    card_path = heat / (heat / "LATEST").read_text().strip() / "card.json"
    card = json.loads(card_path.read_text())
    card["features"] = card["features"][:-1]  # an older code version built one feature fewer
    card_path.write_text(json.dumps(card))
    before = store_hashes(store)
    config = config_for(city, tmp_path, bundle=run["bundle"], store=store)
    with pytest.raises(RegistryError, match=f"{card_path}: features: the model was trained on"):
        flows.daily_forecast(config)
    assert store_hashes(store) == before


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "forecast.nc")


def _read_only(final):
    raise OSError(errno.EROFS, "Read-only file system", str(final.parent / ".versions"))


@pytest.mark.parametrize("fault", ["disk full while writing", "read-only store"])
def test_a_full_disk_or_a_read_only_store_keeps_the_published_day(run, city, tmp_path, monkeypatch, fault):
    store = tmp_path / "store"
    shutil.copytree(run["store"], store / "port-test", symlinks=True)
    forecasts = store / "port-test" / "forecasts"
    before = store_hashes(forecasts)
    if fault == "read-only store":
        monkeypatch.setattr("pipelines.flows.forecast.new_version_folder", _read_only)
    else:
        monkeypatch.setattr("pipelines.publish.day.write_forecast_netcdf", _no_space)
    config = config_for(city, tmp_path, bundle=run["bundle"], store=store)
    message = "No space left on device" if fault == "disk full while writing" else "Read-only file system"
    with pytest.raises(PublishError, match=rf"cannot publish the forecast of \d{{4}}-\d{{2}}-\d{{2}}: {message}; "
                                           r".* is as it was and no alert was sent"):
        flows.daily_forecast(config)
    assert store_hashes(forecasts) == before  # the published day as it was, no half-filled version left


def test_a_file_missing_while_publishing_is_not_called_a_store_fault(run, city, tmp_path, monkeypatch):
    store = tmp_path / "store"
    shutil.copytree(run["store"], store / "port-test", symlinks=True)
    forecasts = store / "port-test" / "forecasts"
    before = store_hashes(forecasts)

    def gone(*args, **kwargs):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "weather/history.nc")

    monkeypatch.setattr("pipelines.publish.day.write_forecast_netcdf", gone)
    with pytest.raises(FileNotFoundError, match="weather/history.nc"):
        flows.daily_forecast(config_for(city, tmp_path, bundle=run["bundle"], store=store))
    assert store_hashes(forecasts) == before  # the half-filled version is removed all the same
