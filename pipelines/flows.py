"""The four Prefect flows of a city, in the order they run."""

from pipelines.featurize import build_features
from pipelines.forecasting import daily_forecast
from pipelines.ingest import ingest
from pipelines.training import train

__all__ = ["build_features", "daily_forecast", "ingest", "train"]
