"""The daily deployment: daily_forecast on Prefect's scheduler at the config's cron, local time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from cronsim import CronSim
from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from pipelines.config import load_city_config
from pipelines.flows.forecast import daily_forecast


def daily_deployment(config_path: Path) -> RunnerDeployment:
    """The deployment `<city>-daily` of daily_forecast for `config_path`, scheduled by its
    `schedule_cron` (default 05:00) in the city's time zone (George Town: Asia/Kuala_Lumpur).

    A live city's runs forecast for today (local date): a late upstream with no forecast for
    today fails loudly or publishes the last one marked stale, as `output.on_missing_forecast`
    says. The demo world is frozen in time, so its runs take the bundle's last forecast.
    """
    config = load_city_config(config_path)
    return daily_forecast.to_deployment(
        name=f"{config.city.slug}-daily",
        schedule=Cron(config.schedule_cron, timezone=config.city.timezone),
        parameters={"config_path": str(Path(config_path).resolve()),
                    "today": config.source.kind != "demo"},
        description=f"Daily flood and heat forecast for {config.city.name}",
        tags=["warisan", config.city.slug],
    )


def next_run(cron: str, timezone: str, now: dt.datetime) -> dt.datetime:
    """The first time after `now` (aware) at which `cron` fires in the IANA `timezone`, local time."""
    return next(CronSim(cron, now.astimezone(ZoneInfo(timezone))))


def serve_daily(config_path: Path) -> None:
    """Serve the daily deployment until interrupted (Prefect's `serve`: scheduler and runner), after
    saying what runs when."""
    config = load_city_config(config_path)
    deployment = daily_deployment(config_path)
    upcoming = next_run(config.schedule_cron, config.city.timezone, dt.datetime.now(dt.UTC))
    print(f"serving {deployment.name}: daily_forecast at '{config.schedule_cron}' ({config.city.timezone}); "
          f"next run {upcoming:%Y-%m-%d %H:%M %Z}. Stop with Ctrl-C. To watch the runs in Prefect's UI, start "
          "`prefect server start` in another shell and set PREFECT_API_URL=http://127.0.0.1:4200/api here.")
    serve(deployment)
