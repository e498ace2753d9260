"""The daily deployments: daily_forecast on Prefect's scheduler at the config's cron, local time, and
with `output.publish_by` the deadline_check at that time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from cronsim import CronSim
from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from pipelines.config import load_city_config
from pipelines.flows.forecast import daily_forecast, deadline_check


def daily_deployment(config_path: Path) -> RunnerDeployment:
    """The deployment `<city>-daily` of daily_forecast for `config_path`, scheduled by its
    `schedule_cron` (default 05:00) in the city's time zone (George Town: Asia/Kuala_Lumpur).

    A live city's runs forecast for today (local date): a late upstream with no forecast for
    today fails loudly or publishes the last one marked stale, as `output.on_missing_forecast`
    says; they are `scheduled` runs, so when several pile up late (the machine was off) the first
    publishes today and the rest step aside. The demo world is frozen in time, so its runs take the
    bundle's last forecast and publish it again.
    """
    config = load_city_config(config_path)
    live = config.source.kind != "demo"
    return daily_forecast.to_deployment(
        name=f"{config.city.slug}-daily",
        schedule=Cron(config.schedule_cron, timezone=config.city.timezone),
        parameters={"config_path": str(Path(config_path).resolve()), "today": live, "scheduled": live},
        description=f"Daily flood and heat forecast for {config.city.name}",
        tags=["warisan", config.city.slug],
    )


def deadline_deployment(config_path: Path) -> RunnerDeployment | None:
    """The deployment `<city>-deadline` of deadline_check at `output.publish_by` (local time), or None
    when the config names no deadline."""
    config = load_city_config(config_path)
    if config.output.publish_by is None:
        return None
    return deadline_check.to_deployment(
        name=f"{config.city.slug}-deadline",
        schedule=Cron(daily_cron(config.output.publish_by), timezone=config.city.timezone),
        parameters={"config_path": str(Path(config_path).resolve()), "today": config.source.kind != "demo"},
        description=f"Operator notice when {config.city.name}'s forecast is not published by {config.output.publish_by}",
        tags=["warisan", config.city.slug],
    )


def daily_cron(local_time: str) -> str:
    """The cron of every day at `local_time` ('HH:MM')."""
    hour, minute = (int(part) for part in local_time.split(":"))
    return f"{minute} {hour} * * *"


def next_run(cron: str, timezone: str, now: dt.datetime) -> dt.datetime:
    """The first time after `now` (aware) at which `cron` fires in the IANA `timezone`, local time."""
    return next(CronSim(cron, now.astimezone(ZoneInfo(timezone))))


def serve_daily(config_path: Path) -> None:
    """Serve the daily deployment until interrupted (Prefect's `serve`: scheduler and runner), after
    saying what runs when."""
    config = load_city_config(config_path)
    deployment, deadline = daily_deployment(config_path), deadline_deployment(config_path)
    now = dt.datetime.now(dt.UTC)
    upcoming = next_run(config.schedule_cron, config.city.timezone, now)
    print(f"serving {deployment.name}: daily_forecast at '{config.schedule_cron}' ({config.city.timezone}); "
          f"next run {upcoming:%Y-%m-%d %H:%M %Z}.")
    if deadline is not None:
        check = next_run(daily_cron(config.output.publish_by), config.city.timezone, now)
        print(f"serving {deadline.name}: deadline_check at {config.output.publish_by} ({config.city.timezone}), "
              f"next {check:%Y-%m-%d %H:%M %Z}; operators told through {', '.join(config.alerts.operators) or 'the log only'}.")
    print("Stop with Ctrl-C. To watch the runs in Prefect's UI, start `prefect server start` in another shell and "
          "set PREFECT_API_URL=http://127.0.0.1:4200/api here.")
    serve(*[d for d in (deployment, deadline) if d is not None])
