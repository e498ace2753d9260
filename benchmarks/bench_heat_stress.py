"""Time the heat-stress layers of one forecast on an island-sized number of cell-leads.

Usage: .venv/bin/python benchmarks/bench_heat_stress.py [--rows 1000000] [--block 65536]

Builds tropical afternoons (tasmax 28-37 degC, humidity from a regional dew point, wind 0.5-6
m s-1, midday radiation 150-1000 W m-2 with the noon sun over Penang in March), then times each
step heat_layers runs per row, as it runs them: humidity at the daily maximum, heat index, noon
sun, direct share and Liljegren's WBGT. `--block` sets features.heat._BLOCK (elements per
thermofeel call). Prints wall and CPU seconds per step (CPU time is steadier on a shared
machine) with the load average.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import xarray as xr

from features import heat


def _rows(values: np.ndarray, units: str) -> xr.DataArray:
    return xr.DataArray(values, dims="row", attrs={"units": units})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--block", type=int, default=heat._BLOCK)
    args = parser.parse_args()
    heat._BLOCK = args.block
    rng = np.random.default_rng(0)
    n = args.rows
    tasmax = _rows(rng.uniform(28, 37, n), "degC")
    tasmin = _rows(rng.uniform(23, 27, n), "degC")
    hurs_mean = _rows(rng.uniform(65, 90, n), "%")
    wind = _rows(rng.uniform(0.5, 6, n), "m s-1")
    rsds = _rows(rng.uniform(150, 1000, n), "W m-2")
    lat = _rows(rng.uniform(5.2, 5.5, n), "degrees_north")
    day_of_year = _rows(np.full(n, 80.0), "1")

    steps = {}

    def timed(name, call):
        start, cpu = time.perf_counter(), time.process_time()
        out = call()
        steps[name] = (time.perf_counter() - start, time.process_time() - cpu)
        return out

    hurs = timed("humidity_at_daily_max", lambda: heat.humidity_at_daily_max(tasmax, tasmin, hurs_mean))
    timed("heat_index", lambda: heat.heat_index(tasmax, hurs))
    cos_zenith = timed("solar_noon_cos_zenith", lambda: heat.solar_noon_cos_zenith(lat, day_of_year))
    direct = timed("direct_beam_fraction", lambda: heat.direct_beam_fraction(rsds, cos_zenith, day_of_year))
    wbgt = timed("wet_bulb_globe_temperature",
                 lambda: heat.wet_bulb_globe_temperature(tasmax, hurs, wind, rsds, cos_zenith, direct))
    load = os.getloadavg()[0]
    print(f"{n} rows, block {heat._BLOCK}, load average {load:.2f} on {os.cpu_count()} cores")
    for name, (wall, cpu) in steps.items():
        print(f"  {name:28s} {wall:7.2f} s wall, {cpu:7.2f} s CPU ({cpu / n * 1e6:.2f} s CPU per million rows)")
    wall, cpu = (sum(column) for column in zip(*steps.values(), strict=True))
    print(f"  {'total':28s} {wall:7.2f} s wall, {cpu:7.2f} s CPU; WBGT NaN (not converged): "
          f"{int(wbgt.isnull().sum())}, range {float(wbgt.min()):.1f}-{float(wbgt.max()):.1f} degC")


if __name__ == "__main__":
    main()
