"""Tiles of the city grid (bands of whole rows), forecast one per task on a Dask runner, then joined.

A tile is a city of its own to the forecast: the same config with the tile's bounds, and the
static features of its rows in a file beside the whole grid's. Every cell's forecast depends
on that cell's features and the regional weather only, so the joined tiles equal the forecast
of the whole grid, while a worker holds one tile at a time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from prefect import task
from prefect.futures import PrefectFuture

from pipelines.config import CityConfig, city_template
from pipelines.progress import log
from pipelines.storage import write_atomic

MIN_ROWS = 4  # a grid spans at least 4 cells each way (GridConfig)


def row_tiles(land_rows: np.ndarray, *, rows_per_tile: int) -> list[slice]:
    """Consecutive tiles of about `rows_per_tile` rows covering every row; each holds land.

    `land_rows` is True for each row (north to south) with a land cell. A tile without land,
    or shorter than 4 rows, joins the tile before it (the first such joins the one after).
    """
    step = max(MIN_ROWS, rows_per_tile)
    tiles: list[slice] = []
    for start in range(0, len(land_rows), step):
        rows = slice(start, min(start + step, len(land_rows)))
        if tiles and (rows.stop - rows.start < MIN_ROWS or not land_rows[rows].any()):
            tiles[-1] = slice(tiles[-1].start, rows.stop)
        else:
            tiles.append(rows)
    if len(tiles) > 1 and not land_rows[tiles[0]].any():
        tiles[:2] = [slice(0, tiles[1].stop)]
    return tiles


def tile_config(config: CityConfig, rows: slice) -> CityConfig:
    """`config` with its grid cut to `rows` (the same cells and resolution)."""
    xmin, _, xmax, ymax = config.grid.bounds
    resolution = config.grid.resolution_m
    bounds = (xmin, ymax - resolution * rows.stop, xmax, ymax - resolution * rows.start)
    return config.model_copy(update={"grid": config.grid.model_copy(update={"bounds": bounds})})


@task
def static_tiles(config: CityConfig, static_path: Path) -> list[tuple[CityConfig, Path]]:
    """Each tile's config and static feature file; the whole grid as one tile on a local runner.

    Tile files sit beside `static_path` (content-addressed: its name and the rows), written once.
    """
    if config.runner.kind == "local":
        return [(config, static_path)]
    with xr.open_dataset(static_path) as static:
        land_rows = static["land"].values.astype(bool).any(axis=1)
        rows_per_tile = -(-config.runner.tile_cells // static.sizes["x"])
        tiles = []
        for rows in row_tiles(land_rows, rows_per_tile=rows_per_tile):
            tile = tile_config(config, rows)
            path = static_path.with_name(f"{static_path.stem}-rows{rows.start}-{rows.stop}.nc")
            if not path.exists():
                grid = city_template(tile)  # the tile's own coordinates, as the forecast will compute them
                part = static.isel(y=rows).load().assign_coords(y=("y", grid.y.values, static.y.attrs))
                write_atomic(path, part.rio.write_transform(grid.rio.transform()).to_netcdf, suffix=".nc")
            tiles.append((tile, path))
    log(f"forecast in {len(tiles)} tiles of about {rows_per_tile} rows ({config.runner.tile_cells} cells)")
    return tiles


def join_tiles(tiles: list[PrefectFuture], config: CityConfig) -> xr.Dataset:
    """The forecasts of the tiles (futures, north to south) as one forecast on the city grid.

    Empties `tiles` as it reads them: a future let go frees the worker's copy of its result at
    once, so a worker's memory does not grow with the number of tiles it ran. Attrs of the first.
    """
    parts = []
    while tiles:
        parts.append(tiles.pop(0).result())
    if len(parts) == 1:
        return parts[0]
    joined = xr.concat(parts, dim="y", data_vars="minimal", coords="minimal", compat="override", join="exact",
                       combine_attrs="override")
    return joined.assign_coords(y=("y", city_template(config).y.values, joined.y.attrs))
