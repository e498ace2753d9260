"""The demo truth is read by evaluation code only: training and forecasting never import its reader."""

import json
import shutil
import subprocess
import sys

import pytest

from pipelines.config import load_city_config
from pipelines.flows.evaluate import evaluate
from pipelines.registry import RegistryError

TRUTH_READER = "pipelines.evaluation.truth"


def test_importing_the_train_and_forecast_flows_does_not_import_the_truth_reader():
    code = ("import sys, pipelines.flows.train, pipelines.flows.forecast, pipelines.flows; "
            "print(sorted(m for m in sys.modules if m.startswith('pipelines.evaluation')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert TRUTH_READER not in done.stdout, done.stdout


def test_evaluate_adds_the_truth_scores_to_the_latest_flood_card(city, run):
    truth = evaluate(city)
    config = load_city_config(city)
    folder = config.city_store / "models" / "flood"
    card = json.loads((folder / (folder / "LATEST").read_text().strip() / "card.json").read_text())
    assert set(card["scores"]["evaluation"]) == {"reports", "truth"}
    assert set(truth["wet"]) == {"model", "rain_rule", "static_susceptibility"}
    assert card["scores"]["evaluation"]["truth"]["all"]["model"]["all"]["n_rows"] > 0


def test_evaluate_refuses_a_flood_model_registered_without_its_static_baseline(city, run, tmp_path):
    config = load_city_config(city)
    own = city.parent / "port-old-model.yaml"
    own.write_text(city.read_text().replace("store: store}", "store: store-old-model}"))
    models = load_city_config(own).city_store / "models"
    shutil.copytree(config.city_store / "models", models)
    flood = models / "flood"
    folder = flood / (flood / "LATEST").read_text().strip()
    card = json.loads((folder / "card.json").read_text())
    card["booster_files"] = ["classifier"]
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(RegistryError, match="no static_susceptibility booster .* retrain with `warisan train`"):
        evaluate(own)
