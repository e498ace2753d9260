"""The demo truth is read by evaluation code only: training and forecasting never import its reader."""

import json
import subprocess
import sys

from pipelines.config import load_city_config
from pipelines.flows.evaluate import evaluate

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
