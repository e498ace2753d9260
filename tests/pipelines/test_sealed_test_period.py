"""The sealed test period: nothing dated in it changes what the evaluation fits learn (docs/evaluation.md)."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from pipelines import flows
from pipelines.config import ConfigError, load_city_config
from pipelines.feature_cache.build import build_driver_history, build_static_features
from pipelines.storage import sha256_file
from pipelines.training.choices import score_flood_settings
from pipelines.training.inputs import inventory_report_rate, training_inputs


def _evaluation_boosters(store, hazard: str) -> dict[str, str]:
    """The model files of `hazard`'s evaluation fit (the version LATEST names), by file name."""
    folder = store / "models" / hazard / (store / "models" / hazard / "LATEST").read_text().strip()
    return {path.name: path.read_text() for path in sorted(folder.glob("*.txt"))}


def test_changing_every_record_in_the_test_period_changes_the_test_scores_and_not_the_fits(city, run, tmp_path):
    config = load_city_config(city)
    test_start = pd.Timestamp(config.protocol.test[0])
    bundle = tmp_path / "bundle"
    shutil.copytree(config.bundle_dir, bundle)
    reports = pd.read_csv(bundle / "obs" / "flood_events.csv")
    sealed = pd.to_datetime(reports["date"]) >= test_start
    assert sealed.any() and (~sealed).any()
    moved = reports[sealed].assign(lon=reports["lon"][sealed].sample(frac=1, random_state=0).to_numpy())
    pd.concat([reports[~sealed], moved]).to_csv(bundle / "obs" / "flood_events.csv", index=False)
    stations = pd.read_csv(bundle / "obs" / "temperature.csv")
    late = pd.to_datetime(stations["date"]) >= test_start
    stations.loc[late, "tasmax"] += 3.0  # a hot test period: a fit that read it would change
    stations.to_csv(bundle / "obs" / "temperature.csv", index=False)
    provenance = json.loads((bundle / "provenance.json").read_text())
    for name in ("obs/flood_events.csv", "obs/temperature.csv"):  # records changed by their keeper, honestly
        provenance["files"][name]["sha256"] = sha256_file(bundle / name)
    (bundle / "provenance.json").write_text(json.dumps(provenance))
    own = tmp_path / "sealed.yaml"
    own.write_text(city.read_text().replace("bundle: port/bundle", f"bundle: {bundle}")
                   .replace("store: store}", f"store: {tmp_path / 'store'}}}"))

    cards = flows.train(own)

    store = tmp_path / "store" / config.city.slug
    for hazard in ("flood", "heat"):
        assert _evaluation_boosters(store, hazard) == _evaluation_boosters(run["store"], hazard), hazard
    assert cards["flood"]["calibration"] == run["cards"]["flood"]["calibration"]
    # The choice code compares candidate settings on the validation period alone: the same scores.
    candidates = [{"learning_rate": 0.1, "num_leaves": 7, "min_data_in_leaf": 100}]
    chosen = {}
    for name, path in (("original", city), ("changed", own)):
        case = load_city_config(path)
        paths = {"static": build_static_features.fn(case), "drivers": build_driver_history.fn(case)}
        chosen[name] = score_flood_settings.fn(case, paths, candidates)
    pd.testing.assert_frame_equal(chosen["original"], chosen["changed"])
    # ...while the test period was read, and scored: the poisoned records change the test scores.
    assert not np.isclose(cards["heat"]["scores"]["test"]["mae_degC"], run["cards"]["heat"]["scores"]["test"]["mae_degC"])


def test_the_report_rate_is_estimated_from_the_surveys_of_the_training_years(city, run, tmp_path):
    config = load_city_config(city)
    surveyed = config.model_copy(update={"flood": config.flood.model_copy(update={"report_rate": "surveys"})})
    _, _, cells, _ = training_inputs(surveyed, {"static": build_static_features.fn(config),
                                                "drivers": build_driver_history.fn(config)})
    found = inventory_report_rate(surveyed, cells)
    assert found["source"] == "surveys" and 0 < found["rate"] <= 1 and found["events"] >= 1
    assert found["interval_90"][0] <= found["rate"] <= found["interval_90"][1]
    assert all(day < config.protocol.validation[0].isoformat() for day in found["event_dates"])
    bare = surveyed.model_copy(update={"paths": config.paths.model_copy(update={"bundle": tmp_path})})
    with pytest.raises(ConfigError, match="flood.report_rate is `surveys`, but the bundle has no .*flood_extents.gpkg"):
        inventory_report_rate(bare, cells)
