"""What training reads: static cells, daily drivers, observations on the grid, observed wet days."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from features.grid import project_points
from models.inventory import report_rate_from_surveys
from models.tables import land_cells
from pipelines.bundle import readers
from pipelines.config import CityConfig, ConfigError, city_template
from pipelines.feature_cache.drivers import read_drivers
from pipelines.forecast.frame import land_lonlat
from pipelines.progress import log


def training_inputs(config: CityConfig, paths: dict[str, Path]):
    """Static features, drivers (issue_date, lead, y, x), land cells and their lon/lat arrays."""
    static = xr.load_dataset(paths["static"])
    drivers = read_drivers(paths["drivers"])
    cells = land_cells(static)
    lonlat = land_lonlat(city_template(config), cells)
    return static, drivers, cells, lonlat


def with_xy(frame: pd.DataFrame, crs: str) -> pd.DataFrame:
    """`frame` with x_m, y_m: its lon/lat projected to the grid CRS."""
    x, y = project_points(frame["lon"], frame["lat"], crs)
    return frame.assign(x_m=x, y_m=y)


def wet_days(config: CityConfig, days: pd.DatetimeIndex) -> np.ndarray:
    """True on the local `days` whose observed regional rain (mean over the regional grid) reaches
    `flood.wet_day_mm`; days the history does not cover are not wet."""
    with readers.read_history(config.bundle_dir) as history:
        pr = history["pr"].mean(("y", "x")).to_series()
    local = pr.index.tz_localize("UTC").tz_convert(config.city.timezone).tz_localize(None).normalize()
    daily = pr.groupby(local).agg(["sum", "count"])
    rain = daily["sum"].where(daily["count"] == 24).reindex(days)
    return (rain >= config.flood.wet_day_mm).to_numpy()


def inventory_report_rate(config: CityConfig, cells: pd.DataFrame) -> dict:
    """`flood.report_rate` and where it comes from: the configured number, or with `surveys` its estimate
    on the surveyed flood extents (obs/flood_extents.gpkg) and the reports dated before the validation
    period: one rate for the evaluation fit, every refit and the backtest, chosen on training years."""
    if config.flood.report_rate != "surveys":
        return {"rate": float(config.flood.report_rate), "source": "config"}
    before = config.protocol.validation[0]
    path = config.bundle_dir / "obs" / "flood_extents.gpkg"
    extents, reports = surveys_before_validation(config)
    try:
        found = report_rate_from_surveys(extents, reports, cells, config.flood.label_radius_m)
    except ValueError as err:
        raise ValueError(f"{path}: cannot estimate the report rate from the surveys before {before}: {err}") from err
    log(f"report rate {found.rate:.3f} (90% {found.low:.3f}-{found.high:.3f}) from {found.events} surveyed floods "
        f"before {before}, {found.cell_days} flooded cell-days")
    return {"rate": found.rate, "source": "surveys", "interval_90": [found.low, found.high], "events": found.events,
            "cell_days": found.cell_days, "before": before.isoformat(),
            "event_dates": [d.date().isoformat() for d in pd.DatetimeIndex(found.per_event["event_date"])]}


def surveys_before_validation(config: CityConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The surveyed flood extents (obs/flood_extents.gpkg) and the flood reports (with x_m, y_m) dated
    before the validation period: what a report rate may be measured on."""
    before = pd.Timestamp(config.protocol.validation[0])
    extents = readers.read_flood_extents(config.bundle_dir, crs=config.grid.crs)
    if extents is None:
        raise ConfigError(f"flood.report_rate is `surveys`, but the bundle has no "
                          f"{config.bundle_dir / 'obs' / 'flood_extents.gpkg'}")
    reports = with_xy(readers.read_flood_events(config.bundle_dir), config.grid.crs)
    return extents[extents["event_date"] < before], reports[reports["date"] < before]


def sealed_periods(config: CityConfig, issue_dates: pd.DatetimeIndex, lead_days: int) -> tuple[slice, slice]:
    """Positions of the issue dates an evaluation fit may learn from (every one of the hazard's `lead_days`
    lead days before the sealed test period) and of the test period's issue dates (evaluation.test)."""
    test_start, test_end = (pd.Timestamp(day) for day in config.protocol.test)
    known = int((issue_dates <= test_start - pd.Timedelta(days=lead_days)).sum())
    first, last = issue_dates.searchsorted(test_start), issue_dates.searchsorted(test_end, side="right")
    if first == last:
        raise ValueError(f"no issue date in the test period {test_start.date()}..{test_end.date()} "
                         f"(evaluation.test): the drivers hold {issue_dates.min().date()}..{issue_dates.max().date()}")
    return slice(0, known), slice(first, last)
