"""The water-at-the-door depth model's fit (models.warning.door): reported depths and the ground under each report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from models.asset_cells import asset_cells, reduce_by_asset
from models.assets import ASSET_BUFFER_M, ASSET_DRIVERS
from models.warning.door import DEPTH_FEATURE, DoorDepth, fit_door_depth
from pipelines.config import CityConfig, city_template


def fit_door(config: CityConfig, cells: pd.DataFrame, reports: pd.DataFrame, before: pd.Timestamp) -> DoorDepth:
    """models.warning.door.fit_door_depth on the flood `reports` (with x_m, y_m) dated before `before` that
    give a depth (`depth_cm`), each read at its ground as a heritage site's is: DEPTH_FEATURE over the
    land `cells` standing for a point there (models.asset_cells: within ASSET_BUFFER_M, else the
    nearest land within `flood.label_radius_m`), reduced as models.assets.ASSET_DRIVERS says."""
    known = reports[pd.DatetimeIndex(reports["date"]) < before]
    depth = known["depth_cm"].to_numpy(float) if "depth_cm" in known else np.full(len(known), np.nan)
    if not np.isfinite(depth).any():  # no depth reported: every band empty, every prediction NaN
        return fit_door_depth(np.array([]), np.array([]), feature=DEPTH_FEATURE)
    template = city_template(config)
    land = np.zeros(template.size, bool)
    land[cells["cell"].to_numpy()] = True
    layer = np.full(template.size, np.nan)
    layer[cells["cell"].to_numpy()] = cells[DEPTH_FEATURE].to_numpy(float)
    places = asset_cells(shapely.points(known["x_m"].to_numpy(float), known["y_m"].to_numpy(float)),
                         template.x.values, template.y.values, land.reshape(template.shape),
                         buffer_m=ASSET_BUFFER_M, reach_m=config.flood.label_radius_m)
    ground = reduce_by_asset(layer[None, :], places, ASSET_DRIVERS[DEPTH_FEATURE])[0]
    return fit_door_depth(depth, ground, feature=DEPTH_FEATURE)
