"""Forecast runs SIGKILLed at random moments leave every published date whole and the alert state sound."""

import pytest

from tests.reliability.crash import fresh_store_config, kill_at_random

pytestmark = pytest.mark.usefixtures("prefect_api")

KILLS = 10


def test_random_kills_leave_no_partial_output_and_the_next_run_completes(run, city, tmp_path):
    config, city_store = fresh_store_config(city, run["bundle"], run["store"], tmp_path)
    dates = [f"2023-12-{day}" for day in range(18, 32)]
    report = kill_at_random(config, city_store, dates, kills=KILLS, seed=11, rerun=False)  # reruns: test_idempotence
    assert report.kills == KILLS and report.finished_before_kill <= KILLS - 3  # most kills land mid-run
