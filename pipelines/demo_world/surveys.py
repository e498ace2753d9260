"""The demo world's surveyed flood extents: a surveyor's maps of its largest past floods.

After a big flood a city maps where the water stood (a field survey, flood marks, an aerial or
satellite image). The demo draws such maps from its truth with a surveyor's errors: the flooded
cells' squares are joined into outlines, patches smaller than a few cells are missed, the
outlines are smoothed and their edges sit some tens of metres off, the whole map is shifted a
little, and a street or two was not visited. obs/flood_extents.gpkg holds them.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipelines.demo_world.truth import Truth

SURVEY_SOURCE = "demo survey (synthetic)"
_MIN_PATCH_CELLS = 2  # smaller flooded patches (a lone cell) go unmapped
_SMOOTH_M = 30.0  # outlines are drawn round corners this wide
_EDGE_ERROR_M = 20.0  # standard deviation of the outline's offset (grown or shrunk) per event
_SHIFT_M = 10.0  # standard deviation of the whole map's shift per axis (georeferencing)
_STREET_WIDTH_M = 40.0  # a street not visited: a band this wide missing from the map


def flood_surveys(
    truth: Truth, cell_x: np.ndarray, cell_y: np.ndarray, dates: pd.DatetimeIndex, before: dt.date,
    resolution_m: float, crs: str, rng: np.random.Generator, *, events: int = 3,
) -> gpd.GeoDataFrame:
    """Surveyed extents of the `events` floods with most flooded land cells on `dates` before
    `before`; columns of obs/flood_extents.gpkg, one row per event and flooded area.

    `cell_x`, `cell_y`: the land cells' centres in `crs` (m). Empty when no flood comes before `before`.
    """
    seen = (truth.flood_day < dates.size) & (dates[np.minimum(truth.flood_day, dates.size - 1)] < pd.Timestamp(before))
    day, cell = truth.flood_day[seen], truth.flood_cell[seen]
    days, counts = np.unique(day, return_counts=True)
    largest = np.sort(days[np.argsort(-counts, kind="stable")[:events]])
    rows = []
    for d in largest:
        on_day = cell[day == d]
        half = resolution_m / 2
        squares = shapely.box(cell_x[on_day] - half, cell_y[on_day] - half, cell_x[on_day] + half,
                              cell_y[on_day] + half)
        mapped = _surveyed(shapely.union_all(squares), resolution_m, rng)
        parts = shapely.get_parts(mapped)
        rows += [(dates[d].strftime("%Y-%m-%d"), part) for part in parts if not part.is_empty]
    if not rows:
        return gpd.GeoDataFrame({"event_date": [], "source": []}, geometry=[], crs=crs)
    event_date, geometry = zip(*rows, strict=True)
    return gpd.GeoDataFrame({"event_date": list(event_date), "source": SURVEY_SOURCE},
                            geometry=list(geometry), crs=crs)


def _surveyed(flooded: shapely.Geometry, resolution_m: float, rng: np.random.Generator) -> shapely.Geometry:
    """`flooded` as a surveyor maps it: smoothed (nearby patches joined), small patches missed,
    edges off, shifted, streets missing."""
    parts = shapely.get_parts(flooded.buffer(_SMOOTH_M, quad_segs=4).buffer(-_SMOOTH_M, quad_segs=4))
    kept = shapely.union_all(parts[shapely.area(parts) >= _MIN_PATCH_CELLS * resolution_m**2 - 1])
    edged = kept.buffer(rng.normal(0, _EDGE_ERROR_M), quad_segs=4)
    if edged.is_empty:
        return edged
    xmin, ymin, xmax, ymax = edged.bounds
    for _ in range(rng.integers(0, 3)):  # streets not visited: bands across the extent
        if rng.random() < 0.5:
            y = rng.uniform(ymin, ymax)
            street = shapely.box(xmin, y - _STREET_WIDTH_M / 2, xmax, y + _STREET_WIDTH_M / 2)
        else:
            x = rng.uniform(xmin, xmax)
            street = shapely.box(x - _STREET_WIDTH_M / 2, ymin, x + _STREET_WIDTH_M / 2, ymax)
        edged = edged.difference(street)
    shifted = shapely.affinity.translate(edged, *rng.normal(0, _SHIFT_M, 2))
    return shapely.set_precision(shapely.make_valid(shifted), 0.01)
