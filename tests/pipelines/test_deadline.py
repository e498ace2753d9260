"""Deadlines and late runs: the deadline check tells the operators once, one run of a city publishes
at a time, and a run with nothing left to do steps aside without touching the alerts."""

import datetime as dt
import subprocess
import sys
import time

import pytest
from filelock import FileLock

from pipelines import flows
from pipelines.alerts.run import STORE_FILE
from pipelines.alerts.state import open_store
from pipelines.bundle import readers
from pipelines.config import load_city_config
from pipelines.flows.deploy import deadline_deployment
from pipelines.flows.forecast import PUBLISH_LOCK, deadline_check
from pipelines.storage import PublishError, run_lock
from tests.pipelines.test_alerts_delivery import Webhook, free_port


def _own_store(city, tmp_path, extra: str = ""):
    """The test city's config with its bundle, a store of its own under `tmp_path` and `extra` YAML."""
    config = tmp_path / "city.yaml"
    config.write_text(city.read_text().replace("bundle: port/bundle", f"bundle: {city.parent / 'port' / 'bundle'}")
                      .replace("store: store", f"store: {tmp_path / 'store'}") + extra)
    return config


@pytest.fixture
def webhook():
    hook = Webhook(free_port())
    hook.start()
    yield hook
    hook.stop()


def test_a_missed_deadline_tells_the_operators_once_and_a_published_day_tells_nobody(run, city, tmp_path, webhook):
    config = _own_store(city, tmp_path, "output: {publish_by: '05:30'}\n").read_text().replace(
        "status: Test}", f"status: Test, channels: {{ops: {{url: 'json://127.0.0.1:{webhook.port}/ops'}}}}, "
                         "operators: [ops]}")
    path = tmp_path / "deadline.yaml"
    path.write_text(config)
    day = readers.forecast_dates(load_city_config(path).bundle_dir)[-1]
    assert deadline_check(path) is False
    assert deadline_check(path) is False  # checked again: nothing is sent twice
    (post,) = webhook.posts
    assert post[0]["X-Warisan-Message"] == f"notice.late.{day}"
    assert f"the forecast of {day} is late" in post[1]["title"] and "05:30 (Asia/Kuching)" in post[1]["message"]
    (tmp_path / "store" / "port-test" / "forecasts" / day.isoformat()).mkdir(parents=True)
    assert deadline_check(path) is True and len(webhook.posts) == 1
    with open_store(tmp_path / "store" / "port-test" / STORE_FILE) as store:
        notices = store.notices()
    assert list(notices["status"]) == ["sent"] and list(notices["channel"]) == ["ops"]


def test_the_deadline_check_is_scheduled_at_publish_by_local_time_only_when_named(city, tmp_path):
    assert deadline_deployment(city) is None
    deployment = deadline_deployment(_own_store(city, tmp_path, "output: {publish_by: '05:30'}\n"))
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "30 5 * * *" and schedule.schedule.timezone == "Asia/Kuching"


def test_an_operator_channel_must_be_one_of_the_alert_channels(city, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(city.read_text().replace("status: Test}", "status: Test, operators: [pager]}"))
    with pytest.raises(ValueError, match=r"alerts.operators names channels not in alerts.channels: \['pager'\]"):
        load_city_config(path)


def test_a_run_that_waited_while_another_published_its_date_has_nothing_to_do(run, city, tmp_path):
    path = _own_store(city, tmp_path)
    config = load_city_config(path)
    day = readers.forecast_dates(config.bundle_dir)[-1]
    held = tmp_path / "held"
    other = subprocess.Popen([sys.executable, "-c", (  # another run: holds the lock, publishes the day, ends
        "import pathlib, sys, time\nfrom filelock import FileLock\n"
        f"lock = FileLock({str(config.city_store / PUBLISH_LOCK)!r})\nlock.acquire()\n"
        f"pathlib.Path({str(held)!r}).touch()\ntime.sleep(6)\n"
        f"pathlib.Path({str(config.city_store / 'forecasts' / day.isoformat())!r}).mkdir(parents=True)\n"
        "lock.release()\n")])
    while not held.exists():
        assert other.poll() is None, "the other run ended before it held the lock"
        time.sleep(0.1)
    assert flows.daily_forecast(path) == {}  # waited, then found its date published by the other run
    assert other.wait(timeout=60) == 0
    with open_store(config.city_store / STORE_FILE) as store:
        assert not store.recorded(day)  # no alert of this run: the other one issued the day's


def test_a_late_scheduled_run_steps_aside_when_its_date_is_already_published(run, city, tmp_path):
    path = _own_store(city, tmp_path)
    config = load_city_config(path)
    day = readers.forecast_dates(config.bundle_dir)[-1]
    (config.city_store / "forecasts" / (day + dt.timedelta(days=1)).isoformat()).mkdir(parents=True)
    assert flows.daily_forecast(path, scheduled=True) == {}
    assert not (config.city_store / STORE_FILE).exists()  # nothing issued, no alert state written


def test_a_lock_held_too_long_fails_naming_its_file(tmp_path):
    lock_path = tmp_path / "city" / PUBLISH_LOCK
    lock_path.parent.mkdir()
    other = FileLock(lock_path, thread_local=False)
    other.acquire()
    try:
        with (pytest.raises(PublishError, match=r"\.publish\.lock: another run has held this lock for more than 0 s"),
              run_lock(lock_path, wait_s=0.2)):
            pass
    finally:
        other.release()
    with run_lock(lock_path, wait_s=0.2) as waited:
        assert waited is False
