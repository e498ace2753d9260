"""The area warning: its (area, issue date, lead) rows, labels, report rate, fit and forecast.

The rows join the day's weather over each warning area (the wettest of its probe points on the
regional grid) with what the area's cells are like (models.warning.areas.area_static_features); the label
is a reported flood in the area (a cell of it labelled by a report that day).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from pyproj import Transformer

from features.weather import regional_weights, sample_bilinear
from models.flood import FLOOD_PARAMS
from models.inventory import area_report_rate_from_surveys
from models.tables import FLOOD_DRIVERS
from models.warning.areas import (
    AreaWarning,
    area_events,
    area_features,
    area_rows,
    area_static_features,
    fit_area_warning,
)
from pipelines.config import CityConfig
from pipelines.forecast.areas import CityAreas, city_areas, land_grid
from pipelines.progress import log
from pipelines.runner import booster_fit
from pipelines.training.inputs import surveys_before_validation


def land_membership(areas: CityAreas, cells: pd.DataFrame):
    """The areas' membership restricted to the land `cells`, in their order: (area, land cell)."""
    return areas.membership[:, cells["cell"].to_numpy()]


def _probe_lonlat(areas: CityAreas) -> tuple[np.ndarray, np.ndarray]:
    """(area, 5) longitude and latitude of each area's probe points: its representative point and the
    corners of its bounding box, where the regional weather is read."""
    geometry = areas.table.geometry
    inner = geometry.representative_point()
    x0, y0, x1, y1 = (geometry.bounds[c].to_numpy() for c in ("minx", "miny", "maxx", "maxy"))
    x = np.column_stack([inner.x.to_numpy(), x0, x0, x1, x1])
    y = np.column_stack([inner.y.to_numpy(), y0, y1, y0, y1])
    lon, lat = Transformer.from_crs(areas.table.crs, "EPSG:4326", always_xy=True).transform(x, y)
    return np.asarray(lon), np.asarray(lat)


def area_weather(drivers: xr.Dataset, areas: CityAreas) -> dict[str, np.ndarray]:
    """Each flood driver's wettest value over each area's probe points, (issue date, lead, area)."""
    lon, lat = _probe_lonlat(areas)
    weights = regional_weights(drivers, lon.ravel(), lat.ravel())
    out = {}
    for name in FLOOD_DRIVERS:
        regional = drivers[name].transpose("issue_date", "lead", "y", "x").values
        at = sample_bilinear(regional, weights).reshape(*regional.shape[:2], *lon.shape)
        out[name] = at.max(axis=-1)
    return out


def area_table(config: CityConfig, cells: pd.DataFrame, drivers: xr.Dataset,
               areas: CityAreas | None = None) -> tuple[pd.DataFrame, list[str], CityAreas]:
    """(issue date, lead, area) rows of `drivers`' issue dates and flood leads (`flood.lead_days`) with
    their features; the feature names and the areas (read here unless given)."""
    areas = areas or city_areas(config, land_grid(config, cells))
    static = area_static_features(cells, land_membership(areas, cells))
    weather = area_weather(drivers.isel(lead=slice(0, config.flood.lead_days)), areas)
    return area_rows(static, weather), area_features(static, list(weather)), areas


def reported_area_events(flooded: pd.DataFrame, issue_dates: pd.DatetimeIndex, lead_days: int,
                         cells: pd.DataFrame, membership) -> np.ndarray:
    """(issue date, lead, area) bool: a cell of the area labelled by a report on the day forecast."""
    at = pd.Series(np.arange(len(cells)), index=cells["cell"].to_numpy())
    days = pd.date_range(issue_dates[0], issue_dates[-1] + pd.Timedelta(days=lead_days - 1))
    marks = np.zeros((len(days), len(cells)))
    dated = flooded[pd.DatetimeIndex(flooded["date"]).isin(days)]
    marks[days.get_indexer(pd.DatetimeIndex(dated["date"])), at[dated["cell"].to_numpy()].to_numpy()] = 1
    by_day = area_events(marks, membership)  # (day, area)
    first = days.get_indexer(issue_dates)
    return np.stack([by_day[first + lead] for lead in range(lead_days)], axis=1)


def area_report_rate(config: CityConfig, cells: pd.DataFrame, membership) -> dict:
    """The share of area floods with a report in the area, from the surveys dated before the validation
    period (flood.report_rate `surveys`); 1 otherwise (the area chance is then of a reported flood)."""
    if config.flood.report_rate != "surveys":
        return {"rate": 1.0, "source": "none: flood.report_rate is not `surveys`, areas forecast reported floods"}
    before = pd.Timestamp(config.protocol.validation[0])
    extents, reports = surveys_before_validation(config)
    found = area_report_rate_from_surveys(extents, reports, cells, config.flood.label_radius_m, membership)
    log(f"area report rate {found['rate']:.2f} (90% {found['interval_90'][0]:.2f}-{found['interval_90'][1]:.2f}): "
        f"{found['reported_area_days']} of {found['area_days']} surveyed area floods reported")
    return found | {"source": "surveys", "before": before.date().isoformat()}


def labelled_area_table(config: CityConfig, cells: pd.DataFrame, drivers: xr.Dataset,
                        flooded: pd.DataFrame) -> tuple[pd.DataFrame, list[str], CityAreas]:
    """`area_table` with `label` (a reported flood in the area that day, from `flooded` (date, cell)
    pairs) and `day` (the target day's number since the first issue date)."""
    rows, features, areas = area_table(config, cells, drivers)
    issue_dates = pd.DatetimeIndex(drivers.issue_date.values)
    observed = reported_area_events(flooded, issue_dates, config.flood.lead_days, cells, land_membership(areas, cells))
    rows = rows.assign(label=observed.ravel().astype(int),
                       day=rows["issue_index"].to_numpy() + rows["lead"].to_numpy())
    return rows, features, areas


def fit_area_model(config: CityConfig, rows: pd.DataFrame, features: list[str], split: np.ndarray,
                   areas: CityAreas, cells: pd.DataFrame) -> tuple[AreaWarning, dict]:
    """The area warning fitted on `rows` by `split` ('train', 'valid', 'calib'); and the area report rate."""
    rate = area_report_rate(config, cells, land_membership(areas, cells))
    warning = fit_area_warning(rows, features, split, report_rate=rate["rate"], min_events=config.flood.areas.min_events,
                               num_boost_round=config.train.num_boost_round, seed=config.train.seed,
                               params=FLOOD_PARAMS, trainer=booster_fit(config.runner))
    thresholds = ", ".join("-" if t is None else f"{t:.2f}" for t in warning.thresholds)
    reach = ", ".join(f"{min(max(c.knots_prob) / rate['rate'], 1):.2f}" for c in warning.calibrations)
    log(f"area warning: {len(areas.ids)} areas; calibrated ({warning.choice['calibration'].replace('_', ' ')}) on "
        f"{warning.choice['events']} reported area floods on {warning.choice['event_days']} days, reaching {reach} "
        f"by lead; levels 1-4 from {thresholds}")
    return warning, rate


def area_forecast(config: CityConfig, warning: AreaWarning, cells: pd.DataFrame,
                  drivers: xr.Dataset) -> tuple[np.ndarray, CityAreas]:
    """The chance of a flood in each warning area, (issue date, lead, area), and the areas."""
    rows, _, areas = area_table(config, cells, drivers)
    shape = (drivers.sizes["issue_date"], min(drivers.sizes["lead"], config.flood.lead_days), len(areas.ids))
    return warning.chance(rows).reshape(shape), areas
