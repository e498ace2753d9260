"""The demo world's truth (truth/flood.nc, truth/tasmax.nc beside the bundle), read for scoring only.

Only evaluation code (this package: the backtest's verification, the card's truth scores) imports
this reader; training and forecasting never do (tests/pipelines/test_truth_isolation.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from models.tables import events_within_radius
from pipelines.config import CityConfig, city_template


def truth_flood_near(config: CityConfig) -> tuple[pd.DatetimeIndex, np.ndarray] | None:
    """Local days and, per day and grid cell (flat), whether a truly flooded cell lies within
    `flood.label_radius_m`: the forecast's own event without the reporting step. None without
    a truth file (a real city)."""
    path = config.truth_dir / "flood.nc"
    if not path.exists():
        return None
    with xr.open_dataset(path) as truth:
        days = pd.DatetimeIndex(truth.time.values)
        flooded = truth["flooded"].values.astype(bool)
    near = events_within_radius(flooded, config.flood.label_radius_m / config.grid.resolution_m)
    return days, near.reshape(len(days), -1)


def truth_flooded_pairs(config: CityConfig, cells: pd.DataFrame, days: pd.DatetimeIndex) -> pd.DataFrame | None:
    """(date, cell) pairs of land `cells` near a truly flooded cell on `days`, or None without truth."""
    found = truth_flood_near(config)
    if found is None:
        return None
    truth_days, near = found
    keep = truth_days.isin(days)
    land = near[keep][:, cells["cell"].to_numpy()]
    day, at = np.nonzero(land)
    return pd.DataFrame({"date": truth_days[keep][day], "cell": cells["cell"].to_numpy()[at]})


def truth_tasmax_at(config: CityConfig, rows: pd.DataFrame, target: pd.DatetimeIndex) -> np.ndarray | None:
    """Demo-truth tasmax (degC) at each row's cell and target day (NaN off the truth), or None."""
    path = config.truth_dir / "tasmax.nc"
    if not path.exists():
        return None
    nx = city_template(config).sizes["x"]
    iy, ix = np.divmod(rows["cell"].to_numpy(), nx)
    with xr.open_dataset(path) as truth:
        days = pd.DatetimeIndex(truth.time.values)
        at = days.get_indexer(target)
        ys, xs = np.unique(iy), np.unique(ix)
        block = truth["tasmax"].isel(time=slice(max(at.min(), 0), at.max() + 1), y=ys, x=xs).values
    found = at >= 0
    out = np.full(len(rows), np.nan)
    out[found] = block[at[found] - max(at.min(), 0), np.searchsorted(ys, iy[found]), np.searchsorted(xs, ix[found])]
    return out
