"""The daily deployment: 05:00 in the city's zone; its flow runs and leaves its artifacts."""

import asyncio
import datetime as dt

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.flows import load_flow_from_entrypoint

from pipelines.flows.deploy import daily_deployment, in_words, next_run, schedule_lines

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_deployment_is_scheduled_daily_at_five_local_time(city):
    deployment = daily_deployment(city)
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "0 5 * * *" and schedule.schedule.timezone == "Asia/Kuching"
    assert deployment.name == "port-test-daily"
    assert deployment.parameters == {"config_path": str(city.resolve()), "today": False,  # the demo is frozen
                                     "scheduled": False}


def test_the_next_run_is_five_local_time_today_or_tomorrow():
    before = dt.datetime(2024, 12, 30, 20, 0, tzinfo=dt.UTC)  # 04:00 on 31 Dec in Kuala Lumpur (UTC+8)
    after = dt.datetime(2024, 12, 30, 22, 0, tzinfo=dt.UTC)  # 06:00 on 31 Dec there
    assert next_run("0 5 * * *", "Asia/Kuala_Lumpur", before).isoformat() == "2024-12-31T05:00:00+08:00"
    assert next_run("0 5 * * *", "Asia/Kuala_Lumpur", after).isoformat() == "2025-01-01T05:00:00+08:00"


async def _artifacts(keys: list[str]) -> dict[str, list]:
    async with get_client() as client:
        found = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)))
    return {key: [a for a in found if a.key == key] for key in keys}


def test_the_deployments_flow_runs_and_publishes_its_artifacts(run, city):
    deployment = daily_deployment(city)
    flow = load_flow_from_entrypoint(deployment.entrypoint)
    written = flow(**deployment.parameters)
    assert written["page"][0].name == "index.html"
    artifacts = asyncio.run(_artifacts(["port-test-summary", "port-test-page", "port-test-map", "port-test-forecast"]))
    assert all(artifacts.values()), {k: len(v) for k, v in artifacts.items()}
    summary = artifacts["port-test-summary"][-1]
    assert summary.type == "table" and '"hazard": "heat"' in summary.data and '"lead": 1' in summary.data
    assert artifacts["port-test-page"][-1].data.endswith("index.html)")
    assert "map_d0.png" in artifacts["port-test-map"][-1].data
    (areas,) = asyncio.run(_artifacts(["port-test-warning-areas"])).values()
    assert areas and areas[-1].type == "table" and "warning areas at level 1 or above" in areas[-1].description
    assert "Warning areas at level 1 or above: lead 0: " in artifacts["port-test-forecast"][-1].data


def test_a_run_for_today_without_todays_forecast_fails_naming_the_missing_file(run, city):
    from pipelines import flows

    with pytest.raises(ValueError, match=r"weather/forecasts: no forecast issued on \d{4}-\d{2}-\d{2}"):
        flows.daily_forecast(city, today=True)  # the test city's forecasts end in 2023


def test_serve_says_the_deployment_its_local_schedule_and_next_run(city):
    six_local = dt.datetime(2024, 12, 30, 22, 0, tzinfo=dt.UTC)  # 06:00 on 31 Dec in Kuching (UTC+8)
    lines = schedule_lines(city, six_local, api_url=None)
    assert lines[0] == ("Serving port-test-daily: daily_forecast every day at 05:00, Asia/Kuching time (UTC+8); "
                        "next run Wed 01 Jan 2025 05:00.")
    assert "start `warisan ui`" in lines[-2]
    watched = schedule_lines(city, six_local, api_url="http://127.0.0.1:4200/api")
    assert "Prefect's UI at http://127.0.0.1:4200/deployments" in watched[-2]


def test_a_daily_cron_reads_as_a_time_and_any_other_as_itself():
    assert in_words("30 5 * * *") == "every day at 05:30"
    assert in_words("0 5 * * 1") == "cron '0 5 * * 1'"
