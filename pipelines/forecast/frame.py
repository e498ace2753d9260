"""The feature frame of a forecast: one row per issue date, lead day and land cell, as the models read it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from features.grid import cell_lonlat
from features.weather import DRIVER_NAMES, regional_weights, sample_bilinear


def feature_frame(cells: pd.DataFrame, lonlat: tuple[np.ndarray, np.ndarray], drivers: xr.Dataset) -> pd.DataFrame:
    """Rows ordered by issue date, lead and cell: `issue_index` (position in `drivers`), the cell's
    static features (`cells`, from models.tables.land_cells), `lead`, then the day's drivers at the cell.

    `drivers` has dims (issue_date, lead, y, x) on the regional grid, with its CRS; `lonlat` holds
    each of `cells`' longitude and latitude (WGS84 degrees). Drivers are interpolated at the land
    cells only, every driver, date and lead in one pass, and kept as float32 like the static
    features: a cell's values do not depend on which other dates share the frame.
    """
    n_issues, lead_days, n_cells = drivers.sizes["issue_date"], drivers.sizes["lead"], len(cells)
    lon, lat = lonlat
    regional = np.stack([drivers[name].transpose("issue_date", "lead", "y", "x").values for name in DRIVER_NAMES])
    at_cells = sample_bilinear(regional, regional_weights(drivers, lon, lat))
    lead = np.tile(np.repeat(np.arange(lead_days, dtype=np.int8), n_cells), n_issues)  # int8: the features stay float32
    columns = {"issue_index": np.repeat(np.arange(n_issues, dtype=np.int32), lead_days * n_cells)}
    columns |= {name: np.tile(values.to_numpy(), n_issues * lead_days) for name, values in cells.items()}
    columns |= {"lead": lead, "lead_days": lead.copy()}
    columns |= {name: at_cells[k].astype("float32").ravel() for k, name in enumerate(DRIVER_NAMES)}  # (issue, lead, cell)
    return pd.DataFrame(columns, copy=False)  # a block per column: no consolidating copy


def land_lonlat(template: xr.DataArray, cells: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (degrees) of each of `cells` (flat `cell` indices into `template`'s grid)."""
    lon, lat = cell_lonlat(template)
    at = cells["cell"].to_numpy()
    return lon.values.ravel()[at], lat.values.ravel()[at]
