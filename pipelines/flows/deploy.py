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


def in_words(cron: str) -> str:
    """A daily cron as 'every day at HH:MM'; any other cron as itself."""
    minute, hour, *rest = cron.split()
    if rest == ["*", "*", "*"] and minute.isdigit() and hour.isdigit():
        return f"every day at {int(hour):02d}:{int(minute):02d}"
    return f"cron '{cron}'"


def schedule_lines(config_path: Path, now: dt.datetime, api_url: str | None) -> list[str]:
    """What `warisan serve` says before serving: each deployment, its schedule in the city's local
    time and its next run, and where to watch the runs (`api_url`: the Prefect API the runs report to)."""
    config = load_city_config(config_path)
    zone = config.city.timezone
    deployment, deadline = daily_deployment(config_path), deadline_deployment(config_path)
    local = f"{zone} time (UTC{_offset(zone, now)})"
    lines = [(f"Serving {deployment.name}: daily_forecast {in_words(config.schedule_cron)}, {local}; next run "
              f"{next_run(config.schedule_cron, zone, now):%a %d %b %Y %H:%M}.")]
    if deadline is not None:
        cron = daily_cron(config.output.publish_by)
        lines.append(f"Serving {deadline.name}: deadline_check {in_words(cron)}, {local}; next run "
                     f"{next_run(cron, zone, now):%a %d %b %Y %H:%M}; operators told through "
                     f"{', '.join(config.alerts.operators) or 'the log only'}.")
    lines.append(f"Watch the runs in Prefect's UI at {api_url.removesuffix('/api')}/deployments." if api_url else
                 "To watch the runs in Prefect's UI, start `warisan ui` in another shell before `warisan serve`.")
    lines.append("Stop with Ctrl-C.")
    return lines


def _offset(zone: str, now: dt.datetime) -> str:
    hours = now.astimezone(ZoneInfo(zone)).utcoffset() / dt.timedelta(hours=1)
    return f"{hours:+g}"


def serve_daily(config_path: Path) -> None:
    """Serve the daily deployment until interrupted (Prefect's `serve`: scheduler and runner), after
    saying what runs when."""
    from prefect.settings import PREFECT_API_URL

    for line in schedule_lines(config_path, dt.datetime.now(dt.UTC), PREFECT_API_URL.value()):
        print(line, flush=True)
    serve(*[d for d in (daily_deployment(config_path), deadline_deployment(config_path)) if d is not None])
