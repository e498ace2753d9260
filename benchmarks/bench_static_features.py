"""Time and size static_features on a George-Town-sized grid (190 x 260 cells of 30 m).

Run: .venv/bin/python benchmarks/bench_static_features.py [--buildings N]
Synthetic inputs: hills falling east to a sea strip, a DEM at 10 m in EPSG:4326 (so the
reprojection is timed too), N box buildings, a river and a grid of drains.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import geopandas
import numpy as np
from shapely.geometry import LineString, box

from features.grid import grid_template
from features.static import static_features

CRS = "EPSG:32647"
NY, NX, RES = 190, 260, 30.0
X0, Y1 = 617_000.0, 601_000.0  # near George Town


def scene(n_buildings: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    bounds = (X0, Y1 - NY * RES, X0 + NX * RES, Y1)
    template = grid_template(CRS, bounds, RES)
    fine = grid_template(CRS, bounds, RES / 3)
    cols = np.arange(fine.sizes["x"])[None, :] / 3
    rows = np.arange(fine.sizes["y"])[:, None] / 3
    height = 0.8 * (0.85 * NX - cols) + 0.1 * abs(rows - NY / 2) + rng.normal(0, 0.3, (rows.size, cols.size))
    height = np.where(cols > 0.85 * NX, -3.0, height).astype("float32")
    dem = fine.copy(data=height).rio.reproject("EPSG:4326").assign_attrs(units="m")

    xs = rng.uniform(X0 + 0.4 * NX * RES, X0 + 0.84 * NX * RES, n_buildings)
    ys = rng.uniform(Y1 - NY * RES, Y1, n_buildings)
    sizes = rng.uniform(6, 25, (n_buildings, 2))
    buildings = geopandas.GeoDataFrame(
        {"height_m": np.where(rng.random(n_buildings) < 0.2, np.nan, rng.uniform(4, 30, n_buildings))},
        geometry=[box(x, y, x + w, y + h) for x, y, (w, h) in zip(xs, ys, sizes)], crs=CRS,
    )
    lines = [LineString([(X0, Y1 - NY * RES / 2), (X0 + 0.86 * NX * RES, Y1 - NY * RES / 2 + 300)])]
    lines += [LineString([(X0 + 0.4 * NX * RES, y), (X0 + 0.86 * NX * RES, y)])
              for y in np.linspace(Y1 - NY * RES, Y1, 12)[1:-1]]
    waterways = geopandas.GeoDataFrame({"kind": ["river"] + ["drain"] * (len(lines) - 1)},
                                       geometry=lines, crs=CRS)
    sea = geopandas.GeoDataFrame(geometry=[box(X0 + 0.85 * NX * RES, Y1 - NY * RES, X0 + NX * RES, Y1)],
                                 crs=CRS)
    return dem, buildings, waterways, sea, template


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    inputs = scene(args.buildings)

    start = time.perf_counter()
    static_features(*inputs[:3], inputs[3], None, inputs[4])  # numba compiles or loads its cache
    print(f"first call (incl. numba compile/cache load): {time.perf_counter() - start:.2f} s")

    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        features = static_features(*inputs[:3], inputs[3], None, inputs[4])
        times.append(time.perf_counter() - start)
    tracemalloc.start()  # a separate call: tracing slows Python down
    static_features(*inputs[:3], inputs[3], None, inputs[4])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"grid {NY}x{NX}, {args.buildings} buildings, {len(inputs[2])} waterways")
    print(f"static_features: best {min(times):.3f} s, median {np.median(times):.3f} s of {args.repeats}")
    print(f"peak traced memory during a call: {peak / 2**20:.1f} MiB; "
          f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB")
    print(f"land cells: {int(features['land'].sum())} of {features['land'].size}")


if __name__ == "__main__":
    main()
