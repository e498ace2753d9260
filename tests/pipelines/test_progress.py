"""The terminal's status line and the run's log file (pipelines.progress)."""

from __future__ import annotations

import io
import logging

from rich.console import Console

from models.boosting import fit_booster
from pipelines import progress
from tests.models.test_boosting import PARAMS, table


def test_the_status_line_shows_the_latest_log_message_and_lightgbm_round():
    terminal = Console(file=io.StringIO(), force_terminal=True)
    X, y = table(100, seed=2)
    with progress.step_status("train", terminal):
        logging.getLogger("pipelines").warning("heat table tasmax: 120 rows")
        fit_booster(PARAMS, X, y, num_boost_round=4, callbacks=[progress.show_boosting_round])
        shown = progress._ACTIVE.progress.tasks[0].description
    assert shown == "heat table tasmax: 120 rows · LightGBM fit 1, round 4/4"
    assert progress._ACTIVE is None  # the step has ended: rounds go nowhere
    progress.show_boosting_round(type("Env", (), {"iteration": 0, "begin_iteration": 0, "end_iteration": 1}))


def test_the_status_line_stays_off_a_pipe():
    piped = io.StringIO()
    with progress.step_status("ingest", Console(file=piped)):
        logging.getLogger("pipelines").warning("bundle written")
    assert piped.getvalue() == ""


def test_the_run_log_keeps_info_lines_and_tracebacks(tmp_path):
    logger = logging.getLogger("tests.progress")
    logger.setLevel(logging.INFO)
    with progress.run_log(tmp_path / "logs", "forecast") as path:
        logger.info("forecast for 2024-12-31")
        try:
            raise ValueError("no forecast issued on 2030-01-01")
        except ValueError:
            logger.exception("failed")
    logger.info("after the command")
    text = path.read_text()
    assert path.parent == tmp_path / "logs" and path.name.startswith("warisan-forecast-")
    assert "forecast for 2024-12-31" in text and "Traceback" in text and "ValueError: no forecast" in text
    assert "after the command" not in text
