"""The demo world's floods: storm runoff routed over the truth's own ground, filling and spilling.

The ground is the bundle's DEM plus micro-relief no map shows (kerbs, sunken lanes, low
doorsteps: a few tens of cm). landlab maps it once: D8 steepest descent (FlowAccumulator) and
its depressions, filled to their spill levels by priority flood (LakeMapperBarnes; Barnes et
al. 2014, Computers & Geosciences 62, 117-127). On each storm day the runoff (rain less what
pervious ground infiltrates) runs downhill: a drain takes what reaches it up to its capacity
over the storm (less at blocked gullies, and at low outfalls the day's high tide submerges),
a depression stores up to its volume and spills the rest, and the sea and the grid edge take
what arrives. A filled depression's water stands at the level its stored volume reaches;
water flowing on holds the Manning depth of its peak-hour discharge, between the kerbs on sealed
ground. What full drains refuse in the peak hour (surcharge) rises out of their gullies and
spreads along the streets within SURCHARGE_REACH_M, which kerbs and road camber hold up to
KERB_HEIGHT_M; this street water is transient (it drains back as the drains catch up), so it
is not taken from the volume routed on. None of this is the model's code:
the truth shares nothing with `features/` or `models/`, so a fault there shows in the scores.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from landlab import RasterModelGrid
from landlab.components import FlowAccumulator, LakeMapperBarnes

STORM_HOURS = 3.0  # the peak 3 h rain is the storm that drains must carry
MANNING_N = 0.035  # s m-1/3: streets, yards and verges together
PEAK_HOUR_FACTOR = 1.5  # the storm's wettest hour carries half of its 3 h rain
KERB_HEIGHT_M = 0.15  # kerbs and road camber hold water on the street up to this
SURCHARGE_REACH_M = 120.0  # water out of a full drain spreads this far along the streets
_MIN_SLOPE = 0.002  # flat ground still sheds water along its kerbs


@dataclass(frozen=True)
class FloodGround:
    """The truth's ground, mapped once, on the flat cells of the (y, x) grid (row-major)."""

    receiver: np.ndarray  # cell each cell drains to; itself at the sea and the grid edge
    sweep: list[np.ndarray]  # cells by flow distance from their outlet, farthest first
    lake: np.ndarray  # depression of each cell (index into the lake arrays), -1 outside
    lake_exit: np.ndarray  # the cell each depression drains out through
    lake_capacity_m3: np.ndarray  # volume below each depression's spill level
    lake_order: np.ndarray  # the depressions' cells by (lake, elevation)
    lake_start: np.ndarray  # first position of each lake in `lake_order`
    lake_fill_m3: np.ndarray  # volume stored when the water reaches each cell of `lake_order`
    lake_sum_m: np.ndarray  # cumulative elevation of `lake_order` within its lake
    elevation_m: np.ndarray
    slope: np.ndarray  # m m-1 towards the receiver, at least _MIN_SLOPE
    cell_area_m2: float
    cell_width_m: float
    shape: tuple[int, int]  # (y, x) of the grid


def flood_ground(surface_m: np.ndarray, land: np.ndarray, resolution_m: float) -> FloodGround:
    """Map the ground `surface_m` (y, x; m) over `land` (y, x; bool): flow paths and depressions.

    Sea cells and land on the grid's edge are outlets; depressions are filled to their spill
    levels and every cell of one drains through a single exit, as water in a pond moves freely.
    """
    ny, nx = surface_m.shape
    with warnings.catch_warnings():  # landlab's own np.arctan2(where=) without out=: its business, not the user's
        warnings.filterwarnings("ignore", message="'where' used without 'out'", category=UserWarning)
        grid = RasterModelGrid((ny, nx), xy_spacing=resolution_m)  # landlab's row 0 is the south
        to_ours = np.flipud(np.arange(ny * nx).reshape(ny, nx)).ravel()  # landlab node -> our cell
        z = np.flipud(np.where(land, surface_m, np.minimum(surface_m, 0.0))).ravel().astype("float64")
        grid.add_field("topographic__elevation", z.copy(), at="node")
        grid.add_field("filled__elevation", z.copy(), at="node")
        grid.status_at_node[np.flipud(~land).ravel()] = grid.BC_NODE_IS_FIXED_VALUE
        FlowAccumulator(grid, flow_director="D8").run_one_step()
        lakes = LakeMapperBarnes(grid, method="D8", fill_flat=False, fill_surface="filled__elevation",
                                 redirect_flow_steepest_descent=True, reaccumulate_flow=True,
                                 ignore_overfill=True, track_lakes=True)
        lakes.run_one_step()

    n = ny * nx
    receiver, elevation, lake_outlet = (np.empty(n, dtype=t) for t in ("int64", "float64", "int64"))
    receiver[to_ours] = to_ours[grid.at_node["flow__receiver_node"]]
    elevation[to_ours] = z
    lake_outlet[to_ours] = lakes.lake_map
    filled = np.empty(n)
    filled[to_ours] = grid.at_node["filled__elevation"]
    outlets, lake = np.unique(lake_outlet, return_inverse=True)
    lake = np.where(lake_outlet >= 0, lake - (outlets[0] < 0), -1)  # 0.. per depression, -1 outside
    n_lakes = int(lake.max()) + 1
    cells = np.flatnonzero(lake >= 0)
    leaving = cells[lake[receiver[cells]] != lake[cells]]  # cells that drain out of their depression
    _, first = np.unique(lake[leaving], return_index=True)
    exit_cell = leaving[first]
    receiver[cells] = np.where(np.isin(cells, exit_cell), receiver[cells], exit_cell[lake[cells]])

    area = resolution_m**2
    capacity = np.bincount(lake[cells], weights=(filled[cells] - elevation[cells]) * area, minlength=n_lakes)
    order = cells[np.lexsort((elevation[cells], lake[cells]))]
    start = np.searchsorted(lake[order], np.arange(n_lakes))
    rank = np.arange(order.size) - start[lake[order]]
    total = np.cumsum(elevation[order])
    lake_sum = total - np.r_[0.0, total][start[lake[order]]]
    fill = area * ((rank + 1) * elevation[order] - lake_sum)  # volume once the level reaches the cell

    (row, col), (to_row, to_col) = np.divmod(np.arange(n), nx), np.divmod(receiver, nx)
    distance = resolution_m * np.hypot(to_row - row, to_col - col)
    slope = np.where(distance > 0, (filled - filled[receiver]) / np.maximum(distance, 1e-9), 0.0)
    return FloodGround(
        receiver=receiver, sweep=_sweep(receiver), lake=lake, lake_exit=exit_cell, lake_capacity_m3=capacity,
        lake_order=order, lake_start=start, lake_fill_m3=fill, lake_sum_m=lake_sum,
        elevation_m=elevation, slope=np.maximum(slope, _MIN_SLOPE), cell_area_m2=area,
        cell_width_m=resolution_m, shape=(ny, nx),
    )


def _sweep(receiver: np.ndarray) -> list[np.ndarray]:
    """Cells grouped by the number of steps to their outlet (pointer doubling), farthest first."""
    steps = (receiver != np.arange(receiver.size)).astype("int64")
    ahead = receiver.copy()
    for _ in range(64):  # 2**64 steps: any tree is done long before
        if (ahead == receiver[ahead]).all():
            break
        steps, ahead = steps + steps[ahead], ahead[ahead]
    else:
        raise ValueError("the flow paths form a loop")
    order = np.argsort(-steps, kind="stable")
    bounds = np.flatnonzero(np.diff(-steps[order])) + 1
    return [group for group in np.split(order, bounds) if steps[group[0]] > 0]


def _block_sum(values: np.ndarray, shape: tuple[int, int], reach: int) -> np.ndarray:
    """Sum of (storms, cells) `values` over the block of cells within `reach` cells of each cell."""
    grid = np.pad(values.reshape(-1, *shape), ((0, 0), (reach, reach), (reach, reach)))
    ny, nx = shape
    side = 2 * reach + 1
    total = sum(grid[:, dy:dy + ny, dx:dx + nx] for dy in range(side) for dx in range(side))
    return total.reshape(values.shape)


def max_depth_m(ground: FloodGround, runoff_m3: np.ndarray, drain_m3: np.ndarray,
                street_width_m: np.ndarray) -> np.ndarray:
    """Deepest water (m) on every cell over each storm; (storms, cells) from runoff and drain
    capacity over the storm, both (storms, cells) in m3, and `street_width_m` (cells,): the
    width of street between kerbs that carries a cell's overland flow; a cell whose street is
    narrower than the cell is kerbed, the cell's width means open ground.

    Water moves down `ground.receiver` cell by cell: a drain takes up to its capacity, a
    depression's exit stores up to the depression's volume, the rest flows on. Flow runs at
    the storm's peak hour, held between the kerbs. What a full drain refuses in that hour
    (surcharge) also rises out of its gullies and spreads evenly over the street area within
    SURCHARGE_REACH_M; a kerbed cell holds the sum of the sheets of all full drains around
    it, up to KERB_HEIGHT_M.
    """
    sink = drain_m3.copy()
    sink[:, ground.lake_exit] += ground.lake_capacity_m3
    inflow = runoff_m3.copy()
    outflow = np.zeros_like(inflow)
    for group in ground.sweep:  # one vectorised step per flow distance, upstream first
        passing = np.maximum(inflow[:, group] - sink[:, group], 0.0)
        outflow[:, group] = passing
        np.add.at(inflow.T, ground.receiver[group], passing.T)
    stored = np.minimum(inflow[:, ground.lake_exit], ground.lake_capacity_m3)  # (storms, lakes)

    discharge = PEAK_HOUR_FACTOR * outflow / (STORM_HOURS * 3600) / street_width_m  # m2 s-1
    depth = (MANNING_N * discharge / np.sqrt(ground.slope)) ** 0.6
    surcharge = np.where(drain_m3 > 0, outflow, 0.0) * PEAK_HOUR_FACTOR / STORM_HOURS  # m3 in the peak hour
    street_m2 = street_width_m * ground.cell_width_m
    reach = max(round(SURCHARGE_REACH_M / ground.cell_width_m), 1)
    block_m2 = _block_sum(street_m2[None], ground.shape, reach)
    sheet = _block_sum(surcharge / block_m2, ground.shape, reach)  # m over the street
    kerbed = street_width_m < ground.cell_width_m
    depth = np.where(kerbed, np.maximum(depth, np.minimum(sheet, KERB_HEIGHT_M)), depth)
    order, start = ground.lake_order, ground.lake_start
    lake_of = ground.lake[order]
    reached = ground.lake_fill_m3[None, :] <= stored[:, lake_of]  # (storms, lake cells)
    wet = np.add.reduceat(reached.astype("int64"), start, axis=1) if order.size else reached[:, :0]
    top = start[None, :] + np.maximum(wet, 1) - 1
    level = (stored / ground.cell_area_m2 + ground.lake_sum_m[top]) / np.maximum(wet, 1)
    pond = np.where(wet[:, lake_of] > 0, level[:, lake_of] - ground.elevation_m[order], 0.0)
    depth[:, order] = np.maximum(depth[:, order], np.maximum(pond, 0.0))
    return depth
