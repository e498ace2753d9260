"""Compiled trees (treelite + tl2cgen): LightGBM's numbers to the bit, beside the model, or LightGBM."""

from __future__ import annotations

import logging
import shutil

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from models.boosting import CompiledBooster, fit_booster, predict_trees, threshold_rows
from pipelines.forecast import compiled_trees
from pipelines.forecast.compiled_trees import library_path, with_compiled_trees
from pipelines.storage import sha256_file

FEATURES = ["rain_24h_mm", "hand_m", "impervious_frac"]
PARAMS = {"num_leaves": 7, "min_data_in_leaf": 5, "learning_rate": 0.3, "num_threads": 1, "deterministic": True,
          "force_row_wise": True, "verbose": -1, "seed": 1}


def fitted(objective: str, **params) -> lgb.Booster:
    """A 20-tree booster on values in steps of 0.1 (so its thresholds, midpoints in float64, are no float32)."""
    rng = np.random.default_rng(4)
    X = pd.DataFrame((rng.integers(0, 50, (400, 3)) * 0.1).astype(np.float32), columns=FEATURES)
    X.loc[::7, "hand_m"] = np.nan  # NaN in training: LightGBM sends it its own way at these splits
    y = X["rain_24h_mm"] - X["hand_m"].fillna(1) + rng.normal(0, 0.5, 400) > 1.5
    return fit_booster({**PARAMS, "objective": objective, **params}, X, y.astype(float), num_boost_round=20)


def registered(booster: lgb.Booster, folder, name: str = "classifier") -> tuple[dict, dict]:
    booster.save_model(folder / f"{name}.txt")
    return {name: lgb.Booster(model_file=str(folder / f"{name}.txt"))}, {name: sha256_file(folder / f"{name}.txt")}


def with_float32_thresholds(booster: lgb.Booster) -> lgb.Booster:
    """`booster` with every split threshold rounded to float32, as a float32 tree compiler would hold them."""
    def rounded(line: str) -> str:
        if not line.startswith("threshold="):
            return line
        values = [float(t) for t in line.removeprefix("threshold=").split()]
        return "threshold=" + " ".join(repr(float(np.float32(t))) if abs(t) < 1e30 else repr(t) for t in values)

    lines = booster.model_to_string().splitlines()  # tree_sizes (bytes per tree) would no longer hold: dropped
    return lgb.Booster(model_str="\n".join(rounded(line) for line in lines if not line.startswith("tree_sizes=")))


@pytest.mark.parametrize("objective", ["binary", "regression"])
def test_compiled_trees_give_lightgbms_numbers_on_rows_at_every_threshold(tmp_path, objective):
    booster = fitted(objective)
    rows = threshold_rows(booster, 3000, seed=2)
    # the rows tell float32 thresholds from LightGBM's float64 ones: these send some values the other way
    assert (with_float32_thresholds(booster).predict(rows) != booster.predict(rows)).any()
    compiled = compiled_trees.compiled_booster(booster, tmp_path / "classifier.so")
    assert isinstance(compiled, CompiledBooster)
    for raw_score in (False, True):
        expected = booster.predict(rows, raw_score=raw_score)
        np.testing.assert_array_equal(predict_trees(compiled, rows, raw_score=raw_score), expected)
    assert np.isnan(rows).any() and len(np.unique(predict_trees(compiled, rows))) > 20


def test_the_library_sits_beside_the_model_named_by_its_hash_and_is_compiled_once(tmp_path, caplog):
    boosters, hashes = registered(fitted("binary"), tmp_path)
    with caplog.at_level(logging.INFO, logger="pipelines"):
        first = with_compiled_trees(boosters, tmp_path, hashes, "flood")
        second = with_compiled_trees(boosters, tmp_path, hashes, "flood")
    library = library_path(tmp_path / "classifier.txt", hashes["classifier"])
    assert library.exists() and [p.name for p in tmp_path.iterdir()] == sorted(["classifier.txt", library.name])
    assert all(isinstance(b["classifier"], CompiledBooster) for b in (first, second))
    compiled = [r.message for r in caplog.records if r.message.startswith(f"compiled 20 trees to {library.name} in ")]
    assert len(compiled) == 1 and len(caplog.records) == 1
    _, new_hashes = registered(fitted("binary", learning_rate=0.2), tmp_path)
    assert library_path(tmp_path / "classifier.txt", new_hashes["classifier"]) != library


def test_linear_trees_stay_lightgbms_with_one_log_line(tmp_path, caplog):
    boosters, hashes = registered(fitted("quantile", alpha=0.5, linear_tree=True), tmp_path, "tasmax_q50")
    with caplog.at_level(logging.INFO, logger="pipelines"):
        out = with_compiled_trees(boosters, tmp_path, hashes, "heat")
    assert type(out["tasmax_q50"]) is lgb.Booster
    assert [r.message for r in caplog.records] == [
        "heat: LightGBM evaluates tasmax_q50 (linear trees, which treelite cannot read)"]


def test_without_a_compiler_the_forecast_predicts_with_lightgbm_and_says_so(tmp_path, caplog, monkeypatch):
    boosters, hashes = registered(fitted("binary"), tmp_path)
    monkeypatch.setattr(compiled_trees, "TOOLCHAIN", "no-such-gcc")
    with caplog.at_level(logging.INFO, logger="pipelines"):
        out = with_compiled_trees(boosters, tmp_path, hashes, "flood")
    rows = threshold_rows(boosters["classifier"], 500, seed=3)
    assert type(out["classifier"]) is lgb.Booster
    np.testing.assert_array_equal(predict_trees(out["classifier"], rows), boosters["classifier"].predict(rows))
    assert [r.message for r in caplog.records] == [(
        "flood: LightGBM evaluates classifier (ValueError: Toolchain no-such-gcc not found. Ensure that it is "
        "installed and that it is a variant of GCC or Clang.)")]
    assert [p.name for p in tmp_path.iterdir()] == ["classifier.txt"]  # no half-written library


def test_a_library_that_gives_other_numbers_is_refused(tmp_path):
    boosters, hashes = registered(fitted("binary"), tmp_path)
    other = compiled_trees.compile_trees(fitted("binary", learning_rate=0.2), tmp_path / "other.so")
    shutil.move(other, library_path(tmp_path / "classifier.txt", hashes["classifier"]))
    out = with_compiled_trees(boosters, tmp_path, hashes, "flood")
    assert type(out["classifier"]) is lgb.Booster


def test_the_daily_forecast_keeps_its_flood_classifier_compiled_beside_it_and_no_heat_model(run):
    models = run["store"] / "models"
    compiled = {folder: sorted(p.name for p in folder.glob("*.so")) for folder in (models / "flood").iterdir()
                if (folder / "card.json").exists()}
    expected = {folder: [library_path(folder / "classifier.txt", sha256_file(folder / "classifier.txt")).name]
                for folder, names in compiled.items() if names}
    assert expected and {folder: compiled[folder] for folder in expected} == expected
    assert all("-refit-" in folder.name for folder in expected)  # only the production refits forecast
    assert not list((models / "heat").glob("*/*.so"))
