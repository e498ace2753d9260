"""The four Prefect flows of a city, in the order they run."""

from pipelines.flows.features import build_features
from pipelines.flows.forecast import daily_forecast
from pipelines.flows.ingest import ingest
from pipelines.flows.train import train

__all__ = ["build_features", "daily_forecast", "ingest", "train"]
