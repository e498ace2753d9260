"""The demo world's truth: which cells flood on which local day, and each cell's daily tasmax.

A cell floods where the day's rain beats its drainage capacity, and the excess, concentrated by
flow accumulation and low height above drainage, passes a ponding depth. Capacity is lower far
from drains and on sealed ground, and a high tide at the hours of peak rain blocks the outfalls
of low cells near the sea. Cell rain is the regional rain interpolated bilinearly, times a smooth
random convective multiplier per day. Cell tasmax is the regional tasmax plus a static offset
(imperviousness, building cover, distance to the sea, elevation lapse), stronger on sunny days,
plus small noise. The regional tasmax is what an open site near the coast reads (an airport
like Bayan Lepas, offset about 0); dense streets run 1-2 degC warmer, hills cooler. Everything is vectorised over cells and days, a year at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from features.weather import bilinear_weights

PONDING_MM = 30.0  # excess rain (after concentration) that floods a cell
PONDING_SPREAD = 0.6  # log-std of the unmapped micro-relief in the ponding factor
_MICRO_RELIEF_LENGTH_M = 150.0
_YEAR = 366
_CONVECTIVE_SIGMA = 0.25  # log-std of the daily convective multiplier
_CONVECTIVE_LENGTH_M = 2500.0
_HEAT_NOISE_LENGTH_M = 1500.0


@dataclass(frozen=True)
class DailyRegional:
    """Daily statistics (days, points) of the regional weather for each local day."""

    rain_mm: np.ndarray
    rain_3h_peak_mm: np.ndarray  # largest 3 h total ending in the day
    sea_level_at_peak_m: np.ndarray  # highest sea level in the hours of that 3 h peak
    tasmax: np.ndarray
    tasmin: np.ndarray
    hurs_mean: np.ndarray
    rsds_mean: np.ndarray


@dataclass(frozen=True)
class CellLayers:
    """Static layers of the land cells (flattened, land only) that drive the truth."""

    lon: np.ndarray
    lat: np.ndarray
    elevation_m: np.ndarray
    upstream_area_km2: np.ndarray
    hand_m: np.ndarray
    drain_distance_m: np.ndarray
    sea_distance_m: np.ndarray
    impervious_frac: np.ndarray
    building_frac: np.ndarray
    x: np.ndarray  # projected position, m
    y: np.ndarray


@dataclass(frozen=True)
class Truth:
    """The truth on the land cells: daily floods (sparse) and tasmax, and the static layers."""

    flood_day: np.ndarray  # day index of each flooded (day, cell)
    flood_cell: np.ndarray  # land-cell index
    flood_depth_cm: np.ndarray
    tasmax_centi: np.ndarray  # (days, land cells) int16, hundredths of a degC
    flood_susceptibility: np.ndarray  # (land cells,)
    urban_heat_degC: np.ndarray  # (land cells,)


def daily_regional(weather: xr.Dataset, day: np.ndarray, n_days: int) -> DailyRegional:
    """Daily statistics of hourly `weather` (time, y, x) over local days `day` (per hour) 0..n_days-1."""
    n_hours = weather.sizes["time"]
    first = np.searchsorted(day, np.arange(n_days))
    position = np.arange(n_hours) - first[np.minimum(day, n_days - 1)]
    inside = day < n_days

    def by_day(name_or_values, fill=np.nan) -> np.ndarray:
        values = (weather[name_or_values].values if isinstance(name_or_values, str) else name_or_values)
        values = values.reshape(n_hours, -1)
        out = np.full((n_days, 25, values.shape[1]), fill, dtype="float64")
        out[day[inside], position[inside]] = values[inside]
        return out

    pr = weather["pr"].values.reshape(n_hours, -1).astype("float64")
    total = np.cumsum(pr, axis=0)
    rain_3h = total - np.vstack([np.zeros((3, pr.shape[1])), total[:-3]])
    zos = weather["zos"].values.reshape(n_hours, -1)
    zos_3h = np.maximum.reduce([zos, np.vstack([zos[:1], zos[:-1]]), np.vstack([zos[:2], zos[:-2]])])
    peaks = by_day(rain_3h, fill=-1.0)
    at_peak = np.argmax(peaks, axis=1)
    sea_level = np.take_along_axis(by_day(zos_3h), at_peak[:, None, :], axis=1)[:, 0]
    return DailyRegional(
        rain_mm=np.nansum(by_day("pr"), axis=1), rain_3h_peak_mm=peaks.max(axis=1),
        sea_level_at_peak_m=sea_level, tasmax=np.nanmax(by_day("tas"), axis=1),
        tasmin=np.nanmin(by_day("tas"), axis=1), hurs_mean=np.nanmean(by_day("hurs"), axis=1),
        rsds_mean=np.nanmean(by_day("rsds"), axis=1),
    )


def interpolation_matrix(weather: xr.Dataset, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Dense (points, targets) bilinear weights from the regional grid to (lon, lat) targets."""
    (iy0, iy1), (ix0, ix1), wy, wx = bilinear_weights(weather.y.values, weather.x.values, lat, lon)
    n_x = weather.sizes["x"]
    matrix = np.zeros((weather.sizes["y"] * n_x, lon.size), dtype="float64")
    target = np.arange(lon.size)
    for iy, ix, weight in ((iy0, ix0, (1 - wy) * (1 - wx)), (iy0, ix1, (1 - wy) * wx),
                           (iy1, ix0, wy * (1 - wx)), (iy1, ix1, wy * wx)):
        np.add.at(matrix, (iy * n_x + ix, target), weight)
    return matrix


def _random_features(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, length_m: float,
                     n: int = 24) -> np.ndarray:
    """(n, cells) random Fourier features: a unit-variance smooth field is N(0, I) @ them."""
    wave = rng.normal(0, 1 / length_m, (n, 2))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    return np.sqrt(2 / n) * np.cos(wave[:, :1] * x[None, :] + wave[:, 1:] * y[None, :] + phase)


def static_truth(cells: CellLayers, micro_relief: np.ndarray) -> dict[str, np.ndarray]:
    """Drainage capacity (mm per 3 h), ponding factor, outfall lowness and heat offset per cell.

    `micro_relief` (unit-std smooth field) stands for what no layer shows: kerbs, blocked
    drains, sunken lanes. It spreads the ponding factor so big storms flood patches, not all.
    """
    drain_capacity = 45.0 * np.exp(-cells.drain_distance_m / 300)
    soil_capacity = 35.0 * (1 - cells.impervious_frac)
    hand = np.clip(np.nan_to_num(cells.hand_m, nan=50.0), 0, None)
    ponding = (cells.upstream_area_km2 / 0.01) ** 0.4 * np.exp(-hand / 1.0 + PONDING_SPREAD * micro_relief)
    lowness = np.clip((3.5 - cells.elevation_m) / 3, 0, 1) * np.exp(-cells.sea_distance_m / 1200)
    susceptibility = ponding / (drain_capacity + soil_capacity)
    susceptibility = np.clip(susceptibility / np.quantile(susceptibility, 0.99), 0, 1)
    heat = (1.4 * cells.impervious_frac + 1.0 * cells.building_frac
            + 0.8 * (1 - np.exp(-cells.sea_distance_m / 1500)) - 0.0065 * cells.elevation_m - 0.7)
    return {"drain_capacity": drain_capacity, "soil_capacity": soil_capacity, "ponding": ponding,
            "lowness": lowness, "susceptibility": susceptibility, "heat": heat}


def simulate_truth(
    daily: DailyRegional, weather: xr.Dataset, cells: CellLayers, n_days: int, rng: np.random.Generator
) -> Truth:
    """Daily floods and tasmax on the land cells for days 0..n_days-1 of `daily` (float32 maths)."""
    to_cells = interpolation_matrix(weather, cells.lon, cells.lat).astype("float32")
    relief_features = _random_features(rng, cells.x, cells.y, _MICRO_RELIEF_LENGTH_M, n=64)
    micro_relief = rng.standard_normal(64) @ relief_features
    layers = {name: values.astype("float32") for name, values in static_truth(cells, micro_relief).items()}
    convective = _random_features(rng, cells.x, cells.y, _CONVECTIVE_LENGTH_M).astype("float32")
    heat_noise = _random_features(rng, cells.x, cells.y, _HEAT_NOISE_LENGTH_M).astype("float32")
    sun = daily.rsds_mean.mean(axis=1)
    sun = np.clip(sun / sun[:n_days].mean(), 0.3, 1.5).astype("float32")
    sea_level = daily.sea_level_at_peak_m.mean(axis=1).astype("float32")
    def on_cells(regional: np.ndarray, days: np.ndarray) -> np.ndarray:
        return regional[days].astype("float32") @ to_cells

    flood_day, flood_cell, flood_depth, tasmax = [], [], [], []
    for first in range(0, n_days, _YEAR):
        days = np.arange(first, min(first + _YEAR, n_days))
        amplitude = rng.standard_normal((days.size, convective.shape[0]), dtype="float32")
        multiplier = np.exp(np.clip(_CONVECTIVE_SIGMA * (amplitude @ convective), -0.7, 0.6))
        peak = on_cells(daily.rain_3h_peak_mm, days) * multiplier
        rest = np.maximum(on_cells(daily.rain_mm, days) * multiplier - peak, 0)
        blocked = np.clip((sea_level[days, None] - 0.2) / 0.9, 0, 0.8) * layers["lowness"]
        capacity = layers["drain_capacity"] * (1 - blocked) + layers["soil_capacity"]
        excess = np.maximum(peak + 0.25 * rest - capacity, 0) * layers["ponding"]
        day, cell = np.nonzero(excess > PONDING_MM)
        flood_day.append(days[day])
        flood_cell.append(cell)
        flood_depth.append(np.clip(5 + 0.8 * (excess[day, cell] - PONDING_MM), 5, 150))
        amplitude = rng.standard_normal((days.size, heat_noise.shape[0]), dtype="float32")
        cell_tasmax = (on_cells(daily.tasmax, days) + layers["heat"] * sun[days, None]
                       + 0.25 * (amplitude @ heat_noise)
                       + 0.1 * rng.standard_normal((days.size, to_cells.shape[1]), dtype="float32"))
        tasmax.append(np.round(cell_tasmax * 100).astype(np.int16))
    return Truth(
        flood_day=np.concatenate(flood_day), flood_cell=np.concatenate(flood_cell),
        flood_depth_cm=np.round(np.concatenate(flood_depth)), tasmax_centi=np.concatenate(tasmax),
        flood_susceptibility=layers["susceptibility"], urban_heat_degC=layers["heat"],
    )
