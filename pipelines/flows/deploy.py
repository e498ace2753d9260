"""The daily deployment: daily_forecast on Prefect's scheduler at the config's cron, local time."""

from __future__ import annotations

from pathlib import Path

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


def serve_daily(config_path: Path) -> None:
    """Serve the daily deployment until interrupted (Prefect's `serve`: scheduler and runner)."""
    serve(daily_deployment(config_path))
