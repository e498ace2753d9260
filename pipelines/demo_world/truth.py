"""The demo world's truth: which cells flood on which local day, and each cell's daily tasmax.

A cell floods on a day when the water the flood physics (`flooding`) leaves on it passes
PONDING_DEPTH_M: the storm's rain (peak 3 h plus a quarter of the rest of the day), less what
pervious ground infiltrates, routed over the ground with its unmapped micro-relief, into mapped
and roadside drains (blocked at some gullies, smaller in the shophouse core, backed up at low
outfalls by the day's tide at the peak rain) and depressions; on sealed ground flow keeps to
the streets, and water full drains refuse spreads over the streets around them. Only days whose peak 3 h rain passes STORM_PEAK_3H_MM at some
regional point are routed; the rest are dry. Cell rain is the regional rain interpolated
bilinearly, times a smooth random convective multiplier per day. Cell tasmax is the regional
tasmax plus a static offset (imperviousness, building cover, distance to the sea, elevation
lapse), stronger on sunny days, plus small noise. The regional tasmax is what an open site near
the coast reads (an airport like Bayan Lepas, offset about 0); dense streets run 1-2 degC
warmer, hills cooler. None of it calls `features/` or `models/`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from pipelines.demo_world.flooding import STORM_HOURS, FloodGround, flood_ground, max_depth_m
from pipelines.demo_world.grid import bilinear_matrix

PONDING_DEPTH_M = 0.10  # water deeper than this, at its deepest in the day, floods a cell
STORM_PEAK_3H_MM = 40.0  # a day is routed when its peak 3 h rain passes this at a regional point
MICRO_RELIEF_M = 0.3  # std of the ground's unmapped relief (kerbs, sunken lanes, doorsteps)
INFILTRATION_MM = 50.0  # what pervious ground takes over a storm (tropical soils, 15-20 mm h-1)
IMPERVIOUS_LOSS_MM = 2.0  # wetting of roofs and roads
FREE_OUTFALL_HEAD_M = 1.5  # a drain discharges freely this far above the sea; less, less
MINOR_DRAIN_MM_H = 20.0  # roadside drains no map shows, on sealed ground: rain they carry off
OLD_CORE_DRAIN_MM_H = 16.0  # the shophouse core's narrow, older five-foot-way drains carry less
SHOPHOUSE_BUILDING_FRAC = 0.5  # building cover of the shophouse rows (the old core), and above
BLOCKED_DRAIN_SHARE = 0.2  # drain cells with blocked gullies (a fifth to half their capacity)
MIN_STREET_SHARE = 0.2  # on sealed ground flow keeps to the streets, at least this share of a cell
_MICRO_RELIEF_LENGTH_M = 150.0
_YEAR = 366
_CONVECTIVE_SIGMA = 0.25  # log-std of the daily convective multiplier
_CONVECTIVE_LENGTH_M = 2500.0
_HEAT_NOISE_LENGTH_M = 1500.0
_TIDE_REACH_M = 1500.0  # distance inland over which high tides back up low drains


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
    sea_distance_m: np.ndarray
    impervious_frac: np.ndarray
    building_frac: np.ndarray
    drain_capacity_m3s: np.ndarray  # what the drains and channels of the cell carry away; 0 without
    x: np.ndarray  # projected position, m
    y: np.ndarray
    row: np.ndarray  # position on the (y, x) grid
    col: np.ndarray
    grid_shape: tuple[int, int]
    resolution_m: float


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
    return bilinear_matrix(weather.y.values, weather.x.values, lat, lon)


def _random_features(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, length_m: float,
                     n: int = 24) -> np.ndarray:
    """(n, cells) random Fourier features: a unit-variance smooth field is N(0, I) @ them."""
    wave = rng.normal(0, 1 / length_m, (n, 2))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    return np.sqrt(2 / n) * np.cos(wave[:, :1] * x[None, :] + wave[:, 1:] * y[None, :] + phase)


def urban_heat_degC(cells: CellLayers) -> np.ndarray:
    """Offset of each land cell's tasmax from the regional tasmax on an average day, in degC:
    warmer on sealed and built ground and away from the sea, cooler up the hills."""
    return (1.4 * cells.impervious_frac + 1.0 * cells.building_frac
            + 0.8 * (1 - np.exp(-cells.sea_distance_m / 1500)) - 0.0065 * cells.elevation_m - 0.7)


def storm_depth_m(
    ground: FloodGround, cells: CellLayers, rain_mm: np.ndarray, sea_level_m: np.ndarray,
    drain_capacity_m3s: np.ndarray,
) -> np.ndarray:
    """Deepest water (m) on the land cells over each storm; (storms, land cells).

    `rain_mm` (storms, land cells) is the storm's rain; `sea_level_m` (storms,) the sea at its
    peak, which backs up drains too low above it, the more the nearer the sea.
    """
    impervious = cells.impervious_frac
    runoff_mm = (impervious * np.maximum(rain_mm - IMPERVIOUS_LOSS_MM, 0)
                 + (1 - impervious) * np.maximum(rain_mm - INFILTRATION_MM, 0))
    head = np.clip(np.sqrt(np.maximum(cells.elevation_m - sea_level_m[:, None], 0) / FREE_OUTFALL_HEAD_M), 0, 1)
    backed_up = (1 - head) * np.exp(-cells.sea_distance_m / _TIDE_REACH_M)
    old_core = np.clip(cells.building_frac / SHOPHOUSE_BUILDING_FRAC, 0, 1)
    minor_mm_h = MINOR_DRAIN_MM_H + (OLD_CORE_DRAIN_MM_H - MINOR_DRAIN_MM_H) * old_core
    minor_m3s = minor_mm_h / 1000 / 3600 * ground.cell_area_m2 * impervious
    drain_m3 = (drain_capacity_m3s + minor_m3s) * (1 - backed_up) * STORM_HOURS * 3600
    land = np.ravel_multi_index((cells.row, cells.col), cells.grid_shape)
    on_grid = np.zeros((rain_mm.shape[0], ground.receiver.size))
    runoff_m3, sink_m3 = on_grid.copy(), on_grid.copy()
    runoff_m3[:, land] = runoff_mm / 1000 * ground.cell_area_m2
    sink_m3[:, land] = drain_m3
    street = np.full(ground.receiver.size, ground.cell_width_m)
    sealed_open = np.clip(impervious - cells.building_frac, 0, 1)  # streets, yards and car parks
    street[land] = ground.cell_width_m * np.where(impervious > 0.5, np.maximum(sealed_open, MIN_STREET_SHARE), 1.0)
    return max_depth_m(ground, runoff_m3, sink_m3, street)[:, land]


def simulate_truth(
    daily: DailyRegional, weather: xr.Dataset, cells: CellLayers, n_days: int, rng: np.random.Generator
) -> Truth:
    """Daily floods and tasmax on the land cells for days 0..n_days-1 of `daily` (float32 heat maths).

    Days whose peak 3 h rain stays below STORM_PEAK_3H_MM at every regional point are dry.
    """
    to_cells = interpolation_matrix(weather, cells.lon, cells.lat).astype("float32")
    relief_features = _random_features(rng, cells.x, cells.y, _MICRO_RELIEF_LENGTH_M, n=64)
    micro_relief = rng.standard_normal(64) @ relief_features
    convective = _random_features(rng, cells.x, cells.y, _CONVECTIVE_LENGTH_M).astype("float32")
    heat_noise = _random_features(rng, cells.x, cells.y, _HEAT_NOISE_LENGTH_M).astype("float32")
    heat = urban_heat_degC(cells).astype("float32")
    sun = daily.rsds_mean.mean(axis=1)
    sun = np.clip(sun / sun[:n_days].mean(), 0.3, 1.5).astype("float32")
    sea_level = daily.sea_level_at_peak_m.mean(axis=1)

    floods = rng.spawn(1)[0]  # the flood physics draws from its own stream; the heat's draws stay as they were
    land = np.zeros(cells.grid_shape, dtype=bool)
    land[cells.row, cells.col] = True
    surface = np.zeros(cells.grid_shape)
    surface[cells.row, cells.col] = cells.elevation_m + MICRO_RELIEF_M * micro_relief
    ground = flood_ground(surface, land, cells.resolution_m)
    blocked = floods.random(cells.x.size) < BLOCKED_DRAIN_SHARE
    drain_capacity = cells.drain_capacity_m3s * np.where(blocked, floods.uniform(0.2, 0.5, cells.x.size), 1.0)
    storm = daily.rain_3h_peak_mm[:n_days].max(axis=1) > STORM_PEAK_3H_MM

    def on_cells(regional: np.ndarray, days: np.ndarray) -> np.ndarray:
        return regional[days].astype("float32") @ to_cells

    flood_day, flood_cell, flood_depth, tasmax = [], [], [], []
    flooded_days = np.zeros(cells.x.size)
    for first in range(0, n_days, _YEAR):
        days = np.arange(first, min(first + _YEAR, n_days))
        amplitude = rng.standard_normal((days.size, convective.shape[0]), dtype="float32")
        storms = np.flatnonzero(storm[days])
        multiplier = np.exp(np.clip(_CONVECTIVE_SIGMA * (amplitude[storms] @ convective), -0.7, 0.6))
        peak = on_cells(daily.rain_3h_peak_mm, days[storms]) * multiplier
        rest = np.maximum(on_cells(daily.rain_mm, days[storms]) * multiplier - peak, 0)
        depth = storm_depth_m(ground, cells, (peak + 0.25 * rest).astype("float64"),
                              sea_level[days[storms]], drain_capacity)
        day, cell = np.nonzero(depth > PONDING_DEPTH_M)
        flood_day.append(days[storms][day])
        flood_cell.append(cell)
        flood_depth.append(np.clip(100 * depth[day, cell], 5, 150))
        flooded_days += np.bincount(cell, minlength=cells.x.size)
        amplitude = rng.standard_normal((days.size, heat_noise.shape[0]), dtype="float32")
        cell_tasmax = (on_cells(daily.tasmax, days) + heat * sun[days, None]
                       + 0.25 * (amplitude @ heat_noise)
                       + 0.1 * rng.standard_normal((days.size, to_cells.shape[1]), dtype="float32"))
        tasmax.append(np.round(cell_tasmax * 100).astype(np.int16))
    return Truth(
        flood_day=np.concatenate(flood_day), flood_cell=np.concatenate(flood_cell),
        flood_depth_cm=np.round(np.concatenate(flood_depth)), tasmax_centi=np.concatenate(tasmax),
        flood_susceptibility=np.clip(flooded_days / max(np.quantile(flooded_days, 0.99), 1), 0, 1),
        urban_heat_degC=heat,
    )
