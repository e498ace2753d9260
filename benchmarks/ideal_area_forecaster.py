"""The bound the demo world allows for area flood warnings: an ideal forecaster built from its own flood physics.

Usage: .venv/bin/python benchmarks/ideal_area_forecaster.py [--config configs/demo.yaml] [--draws 24] [--seed 0]

The demo world floods a cell when the water its flood physics (pipelines/demo_world/truth.py,
flooding.py) leaves there passes PONDING_DEPTH_M. This forecaster knows that physics and the world's
static layers exactly: it rebuilds them with the generator's own functions from the config's seed
(never features/ or models/). What no layer shows it does not know, and draws: the ground's
micro-relief, which drains have blocked gullies, and each day's convective multiplier of the rain.
Per draw it routes every storm day as `simulate_truth` does (a day is routed when its peak 3 h rain
passes STORM_PEAK_3H_MM at some regional point; other days are dry, chance 0), reads the flooded
cells, dilates them by `flood.label_radius_m` and asks of each warning area whether one of its land
cells is within reach, as the truth's area events are made. Its chance of an area flood is the share
of draws in which the area floods.

Two versions:
- `observed_rain`: the regional rain and sea level the truth used (the generator's weather, rebuilt
  from the seed). An upper bound on area warnings from weather known exactly.
- `issued_rain`: the forecast rain and sea level as issued (bundle weather/forecasts/<issue>.nc, the
  hours of local day issue + lead; a 3 h window crossing the issue time joins the last observed hours).
  It takes the issued weather as if it were true (a plug-in, not a strict bound: a forecaster that
  knew the forecasts' error model could do somewhat better); what the product could reach with these
  forecasts.

Before scoring, the world's own draws (replayed from the truth's random stream) route the observed
storm days and must reproduce the truth's area events exactly: the check that this is the world scored.

Rows: issue dates of the sealed test period (`evaluation.test`), leads 0 .. flood.lead_days - 1, each warning
area, the event on the day forecast (issue + lead), as the backtest scores areas. Scores per area group
(each area id, every site's neighbourhood pooled as 'site'), on all days and on wet days
(`pipelines.training.inputs.wet_days`): Brier skill against the area's climatology (the truth's rate
of area floods by calendar month over its days before the test period), ROC AUC, events and rows.
The bound is read from the truth, for reporting beside the product's scores only, never for choosing.
It holds for a forecaster that never learns the world's fixed unknowns: the micro-relief and the blocked
drains stay the same every day, so a model fitted to years of floods can learn some of them where floods
recur, and could in places pass it. The probabilities move in steps of 1 / draws; 24 draws take about
3 minutes (2 cores, shared) after 30 s of rebuilding the world.
Appends the rows with the git commit to benchmarks/results/ideal_area_forecaster.csv and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from results_csv import ROOT, append_rows, git_commit

from models.tables import events_within_radius
from models.verification import brier_skill_score, weighted_roc_auc
from models.warning.areas import area_events
from pipelines.bundle.checks import CONTROL_MEMBER
from pipelines.config import CityConfig, load_city_config
from pipelines.demo_world import generate, truth
from pipelines.demo_world.flooding import FloodGround, flood_ground
from pipelines.demo_world.grid import cell_lonlat, city_grid, regional_axes
from pipelines.demo_world.static import build_static_world, land_cells
from pipelines.demo_world.truth import CellLayers
from pipelines.demo_world.weather import climatology, local_day, simulate_regional_weather
from pipelines.evaluation.truth import truth_flood_near
from pipelines.forecast.areas import city_areas
from pipelines.training.inputs import wet_days

_CHUNK = 48  # storms routed together: (storms, grid cells) arrays stay a few hundred MB


@dataclass(frozen=True)
class DemoWorld:
    """What the ideal forecaster knows: the static layers of the land cells, the regional weather the truth
    used (hourly) and its daily statistics, with the weights from the regional grid to the land cells."""

    cells: CellLayers
    weather: xr.Dataset
    daily: truth.DailyRegional
    to_cells: np.ndarray  # (points, land cells) float32
    n_days: int  # local days of the truth from `source.start`


@dataclass(frozen=True)
class Storms:
    """Regional storms to route, one per row: peak 3 h and day rain (rows, points), mm; sea level at the peak, m."""

    peak_mm: np.ndarray
    rain_mm: np.ndarray
    sea_level_m: np.ndarray


@dataclass(frozen=True)
class Unknowns:
    """One draw of what no layer shows: the ground with its micro-relief, the drains with their blocked
    gullies, and the convective multiplier's smooth fields (features (n, land cells); a day's field is
    N(0, I) amplitudes times them)."""

    ground: FloodGround
    drain_capacity_m3s: np.ndarray
    convective: np.ndarray


def demo_world(config: CityConfig) -> DemoWorld:
    """The demo world's static layers and weather, rebuilt as `generate_demo_bundle` builds them from the seed."""
    source = config.source
    seeds = np.random.SeedSequence(source.seed).spawn(len(generate._STREAMS))
    streams = {name: np.random.default_rng(s) for name, s in zip(generate._STREAMS, seeds, strict=True)}
    template = city_grid(config.grid.crs, config.grid.bounds, config.grid.resolution_m)
    world = build_static_world(template, city_slug=config.city.slug, coastline=source.coastline,
                               assets=source.assets, streams=streams, progress=lambda message: None)
    cells = land_cells(world, template)
    lon, lat = cell_lonlat(template)
    lat, lon = regional_axes((float(lon.min()), float(lon.max())), (float(lat.min()), float(lat.max())),
                             source.regional_spacing_deg)
    n_days = (source.end - source.start).days + config.flood.lead_days
    weather = simulate_regional_weather(lat, lon, source.start, n_days + 1, config.city.timezone,
                                        streams["weather"], climatology(**source.climate.model_dump()))
    daily = truth.daily_regional(weather, local_day(weather.time.values, source.start, config.city.timezone), n_days)
    to_cells = truth.interpolation_matrix(weather, cells.lon, cells.lat).astype("float32")
    return DemoWorld(cells, weather, daily, to_cells, n_days)


def _ground(cells: CellLayers, micro_relief: np.ndarray) -> FloodGround:
    land = np.zeros(cells.grid_shape, dtype=bool)
    land[cells.row, cells.col] = True
    surface = np.zeros(cells.grid_shape)
    surface[cells.row, cells.col] = cells.elevation_m + truth.MICRO_RELIEF_M * micro_relief
    return flood_ground(surface, land, cells.resolution_m)


def draw_unknowns(cells: CellLayers, rng: np.random.Generator) -> Unknowns:
    """A draw of the micro-relief, blocked drains and convective fields, from the laws `simulate_truth` draws them by."""
    relief = rng.standard_normal(64) @ truth._random_features(rng, cells.x, cells.y, truth._MICRO_RELIEF_LENGTH_M, n=64)
    convective = truth._random_features(rng, cells.x, cells.y, truth._CONVECTIVE_LENGTH_M).astype("float32")
    blocked = rng.random(cells.x.size) < truth.BLOCKED_DRAIN_SHARE
    drains = cells.drain_capacity_m3s * np.where(blocked, rng.uniform(0.2, 0.5, cells.x.size), 1.0)
    return Unknowns(_ground(cells, relief), drains, convective)


def world_unknowns(config: CityConfig, world: DemoWorld) -> tuple[Unknowns, np.ndarray]:
    """The world's own micro-relief, drains and convective fields, with each day's amplitudes (days, n):
    the truth's random stream replayed in `simulate_truth`'s order (heat draws taken and dropped)."""
    seeds = np.random.SeedSequence(config.source.seed).spawn(len(generate._STREAMS))
    rng = np.random.default_rng(seeds[generate._STREAMS.index("truth")])
    cells = world.cells
    relief_features = truth._random_features(rng, cells.x, cells.y, truth._MICRO_RELIEF_LENGTH_M, n=64)
    relief = rng.standard_normal(64) @ relief_features
    convective = truth._random_features(rng, cells.x, cells.y, truth._CONVECTIVE_LENGTH_M).astype("float32")
    heat_noise = truth._random_features(rng, cells.x, cells.y, truth._HEAT_NOISE_LENGTH_M)
    floods = rng.spawn(1)[0]
    blocked = floods.random(cells.x.size) < truth.BLOCKED_DRAIN_SHARE
    drains = cells.drain_capacity_m3s * np.where(blocked, floods.uniform(0.2, 0.5, cells.x.size), 1.0)
    amplitudes = []
    for first in range(0, world.n_days, truth._YEAR):
        n = min(truth._YEAR, world.n_days - first)
        amplitudes.append(rng.standard_normal((n, convective.shape[0]), dtype="float32"))
        rng.standard_normal((n, heat_noise.shape[0]), dtype="float32")
        rng.standard_normal((n, cells.x.size), dtype="float32")
    return Unknowns(_ground(cells, relief), drains, convective), np.concatenate(amplitudes)


def observed_storms(world: DemoWorld, days: np.ndarray) -> Storms:
    """The truth's regional storms on local `days` (indices from `source.start`)."""
    daily = world.daily
    return Storms(daily.rain_3h_peak_mm[days], daily.rain_mm[days], daily.sea_level_at_peak_m[days].mean(axis=1))


def issued_storms(config: CityConfig, world: DemoWorld, issue_dates: pd.DatetimeIndex) -> Storms:
    """Daily storm statistics of the issued forecasts, rows (issue, lead) flattened: as `daily_regional`
    reads the truth, from the forecast's hours of each local day; the 3 h windows of the first hours of
    lead 0 join the two observed hours before the issue time."""
    weather, n_leads = world.weather, config.flood.lead_days
    hours = 24 * n_leads
    n_points = weather.sizes["y"] * weather.sizes["x"]
    before = np.searchsorted(weather.time.values.astype("datetime64[ns]"), _issue_times(config, issue_dates)) - 2
    observed_pr = weather["pr"].values.reshape(-1, n_points)
    observed_zos = weather["zos"].values.reshape(-1, n_points)
    pr, zos = np.empty((len(issue_dates), hours + 2, n_points)), np.empty((len(issue_dates), hours + 2, n_points))
    for i, issue in enumerate(issue_dates):
        with xr.open_dataset(config.bundle_dir / "weather" / "forecasts" / f"{issue:%Y-%m-%d}.nc") as forecast:
            if "member" in forecast.dims:  # an ensemble (`source.ensemble_members`): the control, as issued alone
                forecast = forecast.sel(member=CONTROL_MEMBER)
            pr[i, 2:] = forecast["pr"].values[:hours].reshape(hours, n_points)
            zos[i, 2:] = forecast["zos"].values[:hours].reshape(hours, n_points)
        pr[i, :2], zos[i, :2] = observed_pr[before[i]:before[i] + 2], observed_zos[before[i]:before[i] + 2]
    rain_3h = (pr[:, 2:] + pr[:, 1:-1] + pr[:, :-2]).reshape(-1, n_leads, 24, n_points)
    zos_3h = np.maximum.reduce([zos[:, 2:], zos[:, 1:-1], zos[:, :-2]]).reshape(-1, n_leads, 24, n_points)
    at_peak = rain_3h.argmax(axis=2)[:, :, None]
    sea_level = np.take_along_axis(zos_3h, at_peak, axis=2)[:, :, 0].mean(axis=2)
    return Storms(rain_3h.max(axis=2).reshape(-1, n_points),
                  pr[:, 2:].reshape(-1, n_leads, 24, n_points).sum(axis=2).reshape(-1, n_points),
                  sea_level.ravel())


def _issue_times(config: CityConfig, issue_dates: pd.DatetimeIndex) -> np.ndarray:
    local = issue_dates.tz_localize(config.city.timezone).tz_convert("UTC").tz_localize(None)
    return local.to_numpy(dtype="datetime64[ns]")


def is_storm(storms: Storms) -> np.ndarray:
    """Rows `simulate_truth` would route: the peak 3 h rain passes STORM_PEAK_3H_MM at some regional point."""
    return storms.peak_mm.max(axis=1) > truth.STORM_PEAK_3H_MM


def area_floods(world: DemoWorld, unknowns: Unknowns, storms: Storms, amplitudes: np.ndarray, membership,
                radius_cells: float) -> np.ndarray:
    """(storms, area) bool: a flood within `radius_cells` of a land cell of the area, each storm routed as
    `simulate_truth` routes it with the draw `unknowns` and the convective `amplitudes` (storms, n)."""
    cells, to_cells = world.cells, world.to_cells
    land = np.ravel_multi_index((cells.row, cells.col), cells.grid_shape)
    found = []
    for first in range(0, len(storms.sea_level_m), _CHUNK):
        part = slice(first, first + _CHUNK)
        multiplier = np.exp(np.clip(truth._CONVECTIVE_SIGMA * (amplitudes[part] @ unknowns.convective), -0.7, 0.6))
        peak = (storms.peak_mm[part].astype("float32") @ to_cells) * multiplier
        rest = np.maximum((storms.rain_mm[part].astype("float32") @ to_cells) * multiplier - peak, 0)
        depth = truth.storm_depth_m(unknowns.ground, cells, (peak + 0.25 * rest).astype("float64"),
                                    storms.sea_level_m[part], unknowns.drain_capacity_m3s)
        flooded = np.zeros((depth.shape[0], cells.grid_shape[0] * cells.grid_shape[1]), bool)
        flooded[:, land] = depth > truth.PONDING_DEPTH_M
        near = events_within_radius(flooded.reshape(-1, *cells.grid_shape), radius_cells)
        found.append(area_events(near.reshape(len(near), -1), membership))
    return np.concatenate(found) if found else np.zeros((0, membership.shape[0]), bool)


def _stack(*storms: Storms) -> Storms:
    return Storms(*(np.concatenate([getattr(s, name) for s in storms]) for name in ("peak_mm", "rain_mm", "sea_level_m")))


def _take(storms: Storms, rows: np.ndarray) -> Storms:
    return Storms(storms.peak_mm[rows], storms.rain_mm[rows], storms.sea_level_m[rows])


def monthly_climatology(days: pd.DatetimeIndex, events: np.ndarray, before: pd.Timestamp) -> np.ndarray:
    """(area, 12) rate of area floods by calendar month over the truth's `days` before `before`."""
    prior = days < before
    month = days.month.to_numpy()[prior] - 1
    counts = np.stack([np.bincount(month, minlength=12)] * events.shape[1])
    sums = np.stack([np.bincount(month, events[prior, a].astype(float), minlength=12) for a in range(events.shape[1])])
    return sums / counts


def scores(chance: np.ndarray, observed: np.ndarray, reference: np.ndarray, wet: np.ndarray,
           groups: np.ndarray) -> list[dict]:
    """BSS, ROC AUC, events and rows per lead, area group and days (all, wet); arrays (issue, lead, area)."""
    rows = []
    for lead in range(chance.shape[1]):
        for group in dict.fromkeys(groups):
            for days, keep in (("all", np.ones(len(wet), bool)), ("wet", wet[:, lead])):
                pick = (keep[:, None] & (groups == group)[None, :])
                prob, event, ref = chance[:, lead][pick], observed[:, lead][pick], reference[:, lead][pick]
                n_events = int(event.sum())
                rows.append({"lead": lead, "area_group": str(group), "days": days,
                             "bss": brier_skill_score(prob, event, ref) if n_events else float("nan"),
                             "roc_auc": float(weighted_roc_auc(prob, event, np.ones(prob.size))[0]),
                             "n_events": n_events, "n_rows": int(prob.size)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.yaml")
    parser.add_argument("--draws", type=int, default=24, help="draws of what no layer shows")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    config = load_city_config(arguments.config)
    began = time.perf_counter()
    start, end = config.protocol.test
    world = demo_world(config)
    cells, n_leads = world.cells, config.flood.lead_days
    origin = pd.Timestamp(config.source.start)

    land = np.zeros(cells.grid_shape, bool)
    land[cells.row, cells.col] = True
    areas = city_areas(config, land)
    kind, ids = areas.table["kind"].to_numpy(str), np.asarray(areas.ids)
    groups = np.where(kind == "site", "site", ids)
    truth_days, near = truth_flood_near(config)
    truth_events = area_events(near, areas.membership)  # (truth day, area)
    clim = monthly_climatology(truth_days, truth_events, pd.Timestamp(start))

    issue_dates = pd.date_range(start, end)
    shape = (len(issue_dates), n_leads)
    target = pd.DatetimeIndex(np.repeat(issue_dates, n_leads)) + pd.to_timedelta(np.tile(np.arange(n_leads), len(
        issue_dates)), unit="D")  # (issue, lead) flattened: the day forecast
    target_index = (target - origin).days.to_numpy().reshape(shape)
    observed = truth_events[truth_days.get_indexer(target)].reshape(*shape, -1)
    reference = clim[:, target.month.to_numpy().reshape(shape) - 1].transpose(1, 2, 0)
    every_day = pd.date_range(target.min(), target.max())
    wet = pd.Series(wet_days(config, every_day), index=every_day).reindex(target).to_numpy().reshape(shape)

    days = np.arange(target_index.min(), target_index.max() + 1)
    seen = observed_storms(world, days)
    seen_storm = np.flatnonzero(is_storm(seen))
    issued = issued_storms(config, world, issue_dates)
    issued_storm = np.flatnonzero(is_storm(issued))
    print(f"{len(seen_storm)} storm days observed of {len(days)}; issued storms by lead "
          f"{np.bincount(issued_storm % n_leads, minlength=n_leads).tolist()} of {len(issue_dates)} issues")

    radius = config.flood.label_radius_m / config.grid.resolution_m
    own, amplitudes = world_unknowns(config, world)
    replayed = area_floods(world, own, _take(seen, seen_storm), amplitudes[days[seen_storm]], areas.membership, radius)
    expected = truth_events[truth_days.get_indexer(origin + pd.to_timedelta(days[seen_storm], unit="D"))]
    if not (replayed == expected).all() or truth_events[truth_days.get_indexer(origin + pd.to_timedelta(
            np.setdiff1d(days, days[seen_storm]), unit="D"))].any():
        raise SystemExit("the world's own draws do not reproduce the truth's area events: not the world scored")
    print(f"the world's own draws reproduce the truth's {int(expected.sum())} area-day floods exactly")

    storms = _stack(_take(seen, seen_storm), _take(issued, issued_storm))
    floods = np.zeros((len(storms.sea_level_m), len(ids)))
    for k, rng in enumerate(np.random.default_rng(arguments.seed).spawn(arguments.draws)):
        unknowns = draw_unknowns(cells, rng)
        amplitude = rng.standard_normal((len(storms.sea_level_m), unknowns.convective.shape[0]), dtype="float32")
        floods += area_floods(world, unknowns, storms, amplitude, areas.membership, radius)
        print(f"draw {k + 1}/{arguments.draws}: {time.perf_counter() - began:.0f} s", flush=True)
    floods /= arguments.draws

    by_day = np.zeros((len(days), len(ids)))
    by_day[seen_storm] = floods[:len(seen_storm)]
    chances = {"observed_rain": by_day[target_index - days[0]]}
    by_issue = np.zeros((len(issue_dates) * n_leads, len(ids)))
    by_issue[issued_storm] = floods[len(seen_storm):]
    chances["issued_rain"] = by_issue.reshape(len(issue_dates), n_leads, -1)
    seconds = time.perf_counter() - began

    stamp = {"commit": git_commit(), "date": dt.date.today().isoformat(), "city": config.city.slug,
             "test_period": f"{start}..{end}", "draws": arguments.draws, "seed": arguments.seed,
             "climatology": "truth area-flood rate by calendar month before the test period",
             "seconds": round(seconds)}
    rows = [stamp | {"weather": version} | row
            for version, chance in chances.items() for row in scores(chance, observed, reference, wet, groups)]
    for row in rows:
        row["bss"], row["roc_auc"] = round(row["bss"], 4), round(row["roc_auc"], 4)
    fields = [*stamp, "weather", "lead", "area_group", "days", "bss", "roc_auc", "n_events", "n_rows"]
    append_rows(ROOT / "benchmarks" / "results" / "ideal_area_forecaster.csv", fields, rows)
    frame = pd.DataFrame(rows)
    frame["cell"] = frame["bss"].map("{:+.2f}".format) + " / " + frame["roc_auc"].map("{:.3f}".format)
    table = frame.pivot_table(index=["area_group", "days"], columns=["weather", "lead"], values="cell",
                              aggfunc="first", sort=False)
    table.columns = [f"{weather.split('_')[0]} lead {lead}" for weather, lead in table.columns]
    events = frame[frame["weather"] == "observed_rain"].pivot_table(
        index=["area_group", "days"], columns="lead", values="n_events", sort=False)
    table["events by lead"] = events.astype(int).astype(str).agg("/".join, axis=1)
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_rows", 200):
        print("Brier skill score against the area's monthly climatology / ROC AUC")
        print(table)
    print(f"{arguments.draws} draws in {seconds:.0f} s")


if __name__ == "__main__":
    main()
