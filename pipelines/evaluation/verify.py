"""Verification of the backtest's hindcasts: the rows to score, each origin's verification, the scores.

Targets are 'observations' (flood reports, station records) and, for the demo world, 'truth'.
Each origin's hindcast is read once (`verify`): the forecasts at the scored rows, per-cell sums
for the maps (flood Brier score, heat bias) and the alert outcome of every heritage asset on
every day. `score` pools the origins into one Dataset (models.backtest_scores).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr
from prefect import task
from prefect.cache_policies import NO_CACHE

from models.assets import nearest_land_reach
from models.backtest import (
    AREA_LAYERS,
    asset_alert_outcomes,
    asset_heat_levels,
    flooded_grid,
    grid_sums,
    heat_climatology,
    heat_level_counts,
    heat_persistence,
    level_flip_flop_sums,
    outcome_calendar,
    row_sums,
)
from models.backtest_scores import flood_backtest_scores, heat_backtest_scores
from models.heat.qc import station_quality
from models.heat.regression import quantile_name
from models.tables import flood_rows, heat_rows
from models.verification import flip_flop_index, fractions_skill_sums
from pipelines.bundle import readers
from pipelines.config import CityConfig, city_template
from pipelines.evaluation.fit import netcdf_lock
from pipelines.evaluation.truth import truth_flooded_pairs, truth_tasmax_at
from pipelines.forecast.areas import CityAreas, city_areas, land_grid
from pipelines.forecast.layers import on_grid, past_leads_nan
from pipelines.progress import log
from pipelines.publish.grid import INSTITUTION
from pipelines.training.areas import land_membership, reported_area_events
from pipelines.training.inputs import wet_days
from pipelines.training.refit import BacktestInputs, Fitted

FLOOD_MODELS = ["model", "climatology", "persistence", "rain_rule", "static_susceptibility"]
HEAT_POINTS = ["regional", "climatology", "persistence"]
# Malaysia's seasons (MetMalaysia), by the month of the day a forecast is valid for.
SEASONS = {"DJFM": (12, 1, 2, 3), "AM": (4, 5), "JJAS": (6, 7, 8, 9), "ON": (10, 11)}
SEASON_NAMES = {"DJFM": "northeast monsoon", "AM": "inter-monsoon", "JJAS": "southwest monsoon",
                "ON": "inter-monsoon"}
_FLOOD_COLUMNS = {"model": "flood_probability", "climatology": "flood_climatology",
                  "persistence": "flood_persistence", "rain_rule": "flood_rain_rule",
                  "static_susceptibility": "flood_static_susceptibility"}


@dataclass(frozen=True)
class Targets:
    """What hindcasts are scored against, over the whole backtest period."""

    rows: dict[tuple[str, str], pd.DataFrame]  # (hazard, target): rows to score (verification_targets)
    floods: dict[str, pd.DataFrame]  # target: (date, cell) flooded pairs, for the maps and assets
    truth_tasmax: bool  # the demo truth's tasmax grid exists
    assets: gpd.GeoDataFrame
    areas: CityAreas  # the warning areas


@dataclass(frozen=True)
class Verified:
    """One origin's hindcasts, verified."""

    rows: dict[tuple[str, str], pd.DataFrame]  # the target rows of its issue dates with each forecast
    sums: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]  # (map, target): per land cell sum, count
    outcomes: dict[str, pd.DataFrame]  # target: asset alert outcomes (models.backtest.asset_alert_outcomes)
    areas: dict[str, pd.DataFrame]  # target: (issue date, lead, area) rows with each area forecast and the event
    flip_flop: dict[tuple[str, str], tuple[float, int]]  # (area group, levels): share of changed pairs, pairs
    fss: dict[tuple[str, int, int], tuple[float, float]]  # (target, lead, scale_m): fractions_skill_sums
    heat_levels: dict[str, dict[str, np.ndarray]]  # target: models.backtest.heat_level_counts per asset and level
    heat_flip_flop: tuple[np.ndarray, np.ndarray]  # per asset: changed pairs and pairs (level_flip_flop_sums)


# The truth floods about ten cell-days for every one the reports name, so its table draws fewer
# non-flooded cell-days per flooded one than training does (`flood.negatives_per_positive`): the
# weights keep every score unbiased, and the table stays near the size of the reports' one.
TRUTH_NEGATIVES_PER_POSITIVE = 5


def reported_share(inputs: BacktestInputs, target: str) -> float:
    """What turns a flood forecast into one of `target`'s event: the report rate for the reports
    (a flood is reported that often), 1 for the truth."""
    return inputs.report_rate if target == "observations" else 1.0


def verification_targets(config: CityConfig, inputs: BacktestInputs, issue_dates: pd.DatetimeIndex) -> Targets:
    """Rows to score per (hazard, target), target 'observations' or (demo) 'truth', and the flooded pairs.

    Row columns: issue_index (into the drivers), issue_date, lead, cell, zone, space_block,
    observed and, for flood, weight and wet_day (regional observed rain on the day forecast
    reaches `flood.wet_day_mm`): every flooded cell-day and a seeded weighted sample of the
    others, as the training tables draw them (for the truth, TRUTH_NEGATIVES_PER_POSITIVE); for
    heat, every station-day that passes quality control.
    """
    cells, lead_days = inputs.cells, config.flood.lead_days
    positions = inputs.issue_dates.get_indexer(issue_dates)
    at = pd.Series(np.arange(len(cells)), index=cells["cell"].to_numpy())
    rng = np.random.default_rng(config.train.seed)
    days = pd.date_range(issue_dates[0], issue_dates[-1] + pd.Timedelta(days=lead_days - 1))
    wet = pd.Series(wet_days(config, days), index=days)

    def finish(rows: pd.DataFrame) -> pd.DataFrame:
        rows = rows.assign(issue_index=positions[rows["issue_index"].to_numpy()])
        column = at[rows["cell"].to_numpy()].to_numpy()
        return rows.assign(issue_date=inputs.issue_dates[rows["issue_index"].to_numpy()],
                           zone=inputs.zone[column], space_block=inputs.space_block[column]).reset_index(drop=True)

    def flood(pairs: pd.DataFrame, negatives_per_positive: int) -> pd.DataFrame:
        rows = finish(flood_rows(issue_dates, lead_days, cells, pairs, negatives_per_positive=negatives_per_positive,
                                 rng=rng)
                      .rename(columns={"label": "observed"}))
        valid = pd.DatetimeIndex(rows["issue_date"]) + pd.to_timedelta(rows["lead"].to_numpy(), unit="D")
        return rows.assign(wet_day=wet.reindex(valid).to_numpy(bool))

    floods = {"observations": inputs.flooded}
    truth = truth_flooded_pairs(config, cells, days)
    if truth is not None:
        floods["truth"] = truth
    negatives = {"observations": config.flood.negatives_per_positive, "truth": TRUTH_NEGATIVES_PER_POSITIVE}
    out = {("flood", target): flood(pairs, negatives[target]) for target, pairs in floods.items()}
    obs, _ = station_quality(inputs.temperature)
    heat = finish(heat_rows(obs, issue_dates, config.heat.lead_days, cells).rename(columns={"tasmax": "observed"}))
    out[("heat", "observations")] = heat
    target = pd.DatetimeIndex(heat["issue_date"]) + pd.to_timedelta(heat["lead"].to_numpy(), unit="D")
    truth_tasmax = truth_tasmax_at(config, heat, target)
    if truth_tasmax is not None:
        out[("heat", "truth")] = heat.assign(observed=truth_tasmax).dropna(subset=["observed"])
    log(f"wet days: {int(wet.sum())} of {len(days)} (regional rain >= {config.flood.wet_day_mm:g} mm)")
    return Targets(out, floods, truth_tasmax is not None,
                   readers.read_vector(config.bundle_dir, "heritage_assets"), city_areas(config, land_grid(config, cells)))


def _forecasts_at(config: CityConfig, inputs: BacktestInputs, fitted: Fitted, grid: xr.Dataset,
                  hazard: str, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of `rows` issued in `grid`'s dates, with a column per forecast read from `grid`."""
    at = grid.get_index("issue_date").get_indexer(rows["issue_date"])
    rows = rows[at >= 0]
    index = (at[at >= 0], rows["lead"].to_numpy(), rows["cell"].to_numpy())

    def read(name: str) -> np.ndarray:
        return grid[name].values.reshape(*grid[name].shape[:2], -1)[index].astype(float)

    if hazard == "flood":
        return rows.assign(**{model: read(name) for model, name in _FLOOD_COLUMNS.items()},
                           rain_rule_threshold=fitted.rule.prob_warned)
    target = pd.DatetimeIndex(rows["issue_date"]) + pd.to_timedelta(rows["lead"].to_numpy(), unit="D")
    climatology = heat_climatology(fitted.heat_obs, rows["station_id"].to_numpy(), target.month.to_numpy())
    persistence = heat_persistence(inputs.temperature, rows["station_id"].to_numpy(),
                                   pd.DatetimeIndex(rows["issue_date"]), climatology)
    return rows.assign(regional=read("tasmax_regional"), climatology=climatology, persistence=persistence,
                       **{quantile_name("tasmax", q): read(quantile_name("tasmax", q)) for q in config.heat.quantiles})



@task(cache_policy=NO_CACHE, task_run_name="verify-{fitted.origin}")
def verify(config: CityConfig, inputs: BacktestInputs, fitted: Fitted, path: Path, targets: Targets) -> Verified:
    """Read the hindcast at `path` once: the forecasts at the target rows of its issue dates, the
    per-cell sums of the flood Brier score and (against the truth) the heat bias, and every
    asset's alert outcome per day and lead."""
    with netcdf_lock():
        grid = xr.load_dataset(path)
    issue_dates, land = grid.get_index("issue_date"), inputs.cells["cell"].to_numpy()
    template = city_template(config)
    rows = {key: _forecasts_at(config, inputs, fitted, grid, key[0], frame) for key, frame in targets.rows.items()}
    flood_leads, heat_leads = config.flood.lead_days, config.heat.lead_days
    on_land = {name: grid[name].values.reshape(*grid[name].shape[:2], -1)[:, :leads, land]
               for name, leads in (("flood_probability", flood_leads), ("tasmax_q50", heat_leads))}
    sums, observed = {}, {}
    for target, pairs in targets.floods.items():
        flooded = np.full((len(issue_dates), grid.sizes["lead"], len(land)), np.nan, "float32")
        flooded[:, :flood_leads] = flooded_grid(pairs, issue_dates, flood_leads, land)
        scaled = on_land["flood_probability"] * reported_share(inputs, target)
        sums[("brier", target)] = grid_sums((scaled - flooded[:, :flood_leads]) ** 2)
        observed[target] = {"flood": flooded, "tasmax": np.full(flooded.shape, np.nan, "float32")}
    if targets.truth_tasmax and "truth" in observed:
        cell = np.tile(land, len(issue_dates) * heat_leads)
        valid = (issue_dates.to_numpy()[:, None] + np.arange(heat_leads) * np.timedelta64(1, "D")).ravel()
        with netcdf_lock():
            truth = truth_tasmax_at(config, pd.DataFrame({"cell": cell}),
                                    pd.DatetimeIndex(np.repeat(valid, len(land))))
        observed["truth"]["tasmax"][:, :heat_leads] = truth.reshape(len(issue_dates), heat_leads, len(land))
        sums[("heat_bias", "truth")] = grid_sums(on_land["tasmax_q50"] - observed["truth"]["tasmax"][:, :heat_leads])
    mask = xr.DataArray(np.isin(np.arange(template.size), land).reshape(template.shape), coords=template.coords)
    forecast = grid[["flood_probability", "tasmax_q50", "tasmax_q90", *AREA_LAYERS]].assign(land=mask) \
        .rio.write_crs(config.grid.crs)
    area_events = {target: reported_area_events(pairs, issue_dates, flood_leads, inputs.cells,
                                                land_membership(targets.areas, inputs.cells))
                   for target, pairs in targets.floods.items()}
    outcomes, heat_levels = {}, {}
    for target, layers in observed.items():
        seen = xr.Dataset({name: (("issue_date", "lead", "y", "x"), on_grid(v, land, template.shape))
                           for name, v in layers.items()}, coords={d: grid[d] for d in ("issue_date", "lead", "y", "x")})
        issued, seen_levels = asset_heat_levels(
            forecast[["tasmax_q50", "land"]].isel(lead=slice(0, heat_leads)).rio.write_crs(config.grid.crs),
            seen[["tasmax"]].isel(lead=slice(0, heat_leads)).assign(land=mask).rio.write_crs(config.grid.crs),
            targets.assets, thresholds_degC=config.heat.tasmax_levels_degC, sustained_days=config.heat.sustained_days,
            nearest_land_cells=nearest_land_reach(config.grid.resolution_m))
        if np.isfinite(seen_levels).any():  # the demo truth's grid; no station stands at a site
            heat_levels[target] = heat_level_counts(issued, seen_levels, len(config.heat.tasmax_levels_degC))
        outcomes[target] = asset_alert_outcomes(
            forecast, seen.assign(land=mask).rio.write_crs(config.grid.crs), targets.assets,
            default_flood_threshold=config.flood.default_threshold,
            default_heat_threshold_degC=config.heat.default_threshold_degC,
            nearest_land_cells=nearest_land_reach(config.grid.resolution_m), observed_areas=past_leads_nan(
                area_events[target], grid.sizes["lead"], axis=1))
        lead, hazard = outcomes[target]["lead"].to_numpy(), outcomes[target]["hazard"].to_numpy()
        outcomes[target] = outcomes[target][np.where(hazard == "flood", lead < flood_leads, lead < heat_leads)]
    area_rows = {target: _area_rows(config, grid, targets, events) for target, events in area_events.items()}
    fss = {}
    for target in observed:
        for lead in range(flood_leads):
            forecast_grid = on_land["flood_probability"][:, lead].astype(float) * reported_share(inputs, target)
            seen = observed[target]["flood"][:, lead].astype(float)
            for scale_m in FSS_SCALES_M:
                window = 2 * round(scale_m / config.grid.resolution_m / 2) + 1
                fss[(target, lead, scale_m)] = fractions_skill_sums(
                    on_grid(forecast_grid, land, template.shape).astype(float),
                    on_grid(seen, land, template.shape).astype(float), window_cells=window)
    return Verified(rows, sums, outcomes, area_rows, _flip_flop(grid, targets.areas, fitted, flood_leads), fss,
                    heat_levels, level_flip_flop_sums(issued))


FSS_SCALES_M = (250, 1000)  # neighbourhoods of the cell layer's fractions skill score
AREA_MODELS = ["model", "climatology", "rain_rule", "static_susceptibility"]


def _area_group(kind: np.ndarray, area_id: np.ndarray) -> np.ndarray:
    """The zone a warning area is scored in: its own id, except sites, pooled as 'site'."""
    return np.where(kind == "site", "site", area_id)


def _area_rows(config: CityConfig, grid: xr.Dataset, targets: Targets, events: np.ndarray) -> pd.DataFrame:
    """Every (issue date, lead, area) of the hindcast `grid`: the area forecasts, the level issued, whether
    a flood of the target lay in the area (`events`, (issue date, lead, area)), the wet day, the area's
    scoring zone."""
    issue_dates, areas = grid.get_index("issue_date"), targets.areas
    n_areas = len(areas.ids)
    leads = config.flood.lead_days
    issue, lead, area = (a.ravel() for a in np.meshgrid(np.arange(len(issue_dates)), np.arange(leads),
                                                        np.arange(n_areas), indexing="ij"))
    valid = issue_dates[issue] + pd.to_timedelta(lead, unit="D")
    days = pd.date_range(valid.min(), valid.max())
    kind, ids = areas.table["kind"].to_numpy(str), np.asarray(areas.ids)
    rows = {"issue_date": issue_dates[issue], "lead": lead, "area": ids[area],
            "zone": _area_group(kind, ids)[area], "space_block": area, "weight": np.ones(len(issue)),
            "observed": events.ravel().astype(float), "wet_day": pd.Series(wet_days(config, days), index=days)
            .reindex(valid).to_numpy(bool), "level": grid["area_flood_level"].values[:, :leads].ravel(),
            "area_rate": fitted_area_rate(grid)}
    for model in AREA_MODELS:
        name = "area_flood_probability" if model == "model" else f"area_flood_{model}"
        rows[model] = grid[name].values[:, :leads].ravel().astype(float)
    return pd.DataFrame(rows)


def fitted_area_rate(grid: xr.Dataset) -> float:
    """The area report rate the hindcast's area model divides by (its calibration's), from the grid."""
    return float(grid["area_flood_probability"].attrs["report_rate"])


def _flip_flop(grid: xr.Dataset, areas: CityAreas, fitted: Fitted,
               lead_days: int) -> dict[tuple[str, str], tuple[float, int]]:
    """Flip-flop index of the area levels (models.verification.flip_flop_index) per area group, over the
    target days the hindcast's issue dates forecast at every flood lead (0 .. `lead_days` - 1): levels as
    issued, and with the alerts' hysteresis (each issue's level given the one before,
    models.warning.areas.AreaWarning.levels)."""
    chance = grid["area_flood_probability"].values[:, :lead_days]  # (issue, lead, area)
    n_issues, n_leads, _ = chance.shape
    if n_issues < n_leads:
        return {}
    targets = np.arange(n_leads - 1, n_issues)  # target day t (as an issue position) issued by t-L at lead L
    by_issue = np.stack([chance[targets - lead, lead] for lead in range(n_leads - 1, -1, -1)], axis=1)
    warning = fitted.forecasters.areas
    issued = warning.levels(by_issue)
    held = np.empty_like(issued)
    held[:, 0] = issued[:, 0]
    for k in range(1, n_leads):  # oldest issue first
        held[:, k] = warning.levels(by_issue[:, k], previous=held[:, k - 1])
    groups = _area_group(areas.table["kind"].to_numpy(str), np.asarray(areas.ids))
    out = {}
    for group in ["all", *dict.fromkeys(groups)]:
        at = np.ones(len(groups), bool) if group == "all" else groups == group
        for name, levels in (("issued", issued), ("hysteresis", held)):
            table = np.moveaxis(levels[:, :, at], 2, 1).reshape(-1, n_leads)  # (target day x area, issue)
            out[(group, name)] = (flip_flop_index(table), table.shape[0] * (n_leads - 1))
    return out


def _maps(config: CityConfig, inputs: BacktestInputs, verified: list[Verified], heat_obs: pd.DataFrame) -> xr.Dataset:
    """Per-cell flood Brier score (target, y, x) and heat bias of the q50 (degC), pooled over every origin,
    issue date and lead; against the observations the bias is at the stations' cells only."""
    land, template = inputs.cells["cell"].to_numpy(), city_template(config)
    pooled = {}
    for part in verified:
        for key, (total, count) in part.sums.items():
            before = pooled.get(key, (0.0, 0))
            pooled[key] = (before[0] + total, before[1] + count)
    column = pd.Series(np.arange(len(land)), index=land)[heat_obs["cell"].to_numpy()].to_numpy()
    pooled[("heat_bias", "observations")] = row_sums(column, (heat_obs["tasmax_q50"] - heat_obs["observed"]).to_numpy(),
                                                     len(land))
    attrs = {"brier": {"long_name": "flood model Brier score of the cell over all issue dates and leads",
                       "units": "1"},
             "heat_bias": {"long_name": "heat model tasmax q50 minus observed, mean over all issue dates and leads",
                           "units": "degC"}}
    layers = {}
    for name, layer_attrs in attrs.items():
        found = sorted(target for kind, target in pooled if kind == name)
        if found:
            mean = [np.divide(*pooled[(name, t)], out=np.full(len(land), np.nan), where=pooled[(name, t)][1] > 0)
                    for t in found]
            layers[f"{name}_map"] = xr.DataArray(on_grid(np.stack(mean), land, template.shape),
                                                 dims=("target", "y", "x"), attrs=layer_attrs,
                                                 coords={"target": found, "y": template.y, "x": template.x})
    return xr.Dataset(layers)


@task(cache_policy=NO_CACHE)
def score(config: CityConfig, inputs: BacktestInputs, targets: Targets, verified: list[Verified]) -> xr.Dataset:
    """Scores of every model and baseline, dims (hazard, target, metric, lead, model, zone, period, days),
    with the per-cell maps and the assets' alert calendar."""
    options = {"n_boot": config.backtest.bootstrap_samples, "block_days": config.backtest.block_days,
               "seed": config.train.seed, "confidence": config.backtest.confidence, "seasons": SEASONS}
    parts = []
    for hazard, target in targets.rows:
        frame = pd.concat([v.rows[(hazard, target)] for v in verified], ignore_index=True)
        if hazard == "flood":  # each forecast and its alert thresholds, scaled to the target's event
            share = reported_share(inputs, target)
            frame = frame.assign(**{m: frame[m] * share for m in [*FLOOD_MODELS, "rain_rule_threshold"]})
            scores = flood_backtest_scores(frame, FLOOD_MODELS, reference="climatology",
                                           threshold=config.flood.default_threshold * share,
                                           level_bands=tuple(b * share for b in config.output.flood_level_bands),
                                           row_thresholds={"rain_rule": "rain_rule_threshold"}, **options)
        else:
            scores = heat_backtest_scores(frame, HEAT_POINTS, {q: quantile_name("tasmax", q) for q in config.heat.quantiles},
                                          hot_threshold_degC=config.heat.default_threshold_degC,
                                          levels_degC=config.heat.tasmax_levels_degC, **options)
        parts.append(scores.expand_dims(hazard=[hazard], target=[target]))
        log(f"scored {hazard} against {target}: {len(frame)} rows")
    for target in verified[0].areas:
        frame = pd.concat([v.areas[target] for v in verified], ignore_index=True)
        if target == "observations":  # against reports, each area forecast is the chance of a reported flood
            frame = frame.assign(**{m: frame[m] * frame["area_rate"] for m in AREA_MODELS})
        scores = flood_backtest_scores(frame, AREA_MODELS, reference="climatology", threshold=AREA_ALERT_CHANCE,
                                       level_bands=(1, 2, 3, 4), level_columns={"model": "level"}, **options)
        parts.append(scores.expand_dims(hazard=["flood_area"], target=[target]))
        log(f"scored flood areas against {target}: {len(frame)} area-days")
    heat_obs = pd.concat([v.rows[("heat", "observations")] for v in verified], ignore_index=True)
    names = dict(zip(targets.assets["asset_id"], targets.assets["name"], strict=True))
    calendars = [outcome_calendar(pd.concat([v.outcomes[t] for v in verified], ignore_index=True), names)
                 .expand_dims(target=[t]) for t in verified[0].outcomes]
    merged = xr.merge([*parts, _maps(config, inputs, verified, heat_obs), xr.merge(calendars, join="outer", compat="no_conflicts"),
                       _flip_flop_scores(verified), _fss_scores(verified), _site_heat_level_scores(verified, targets)],
                      join="outer", compat="no_conflicts")
    merged["period"].attrs = {"long_name": "period of the day forecast: all, a season ("
                              + ", ".join(f"{k} {v}" for k, v in SEASON_NAMES.items()) + ") or a month"}
    merged["days"].attrs = {"long_name": "days scored: all, or wet (regional observed rain of the day "
                            f">= {config.flood.wet_day_mm:g} mm)"}
    _set_cf_attrs(merged)
    merged.attrs = {"flood_level_bands": list(config.output.flood_level_bands),
                    "flood_report_rate": inputs.report_rate,
                    "heat_levels_degC": list(config.heat.tasmax_levels_degC),
                    "flood_alert_threshold": config.flood.default_threshold,
                    "hot_day_degC": config.heat.default_threshold_degC,
                    "bootstrap": f"{config.backtest.bootstrap_samples} replicates of {config.backtest.block_days}-day "
                                 f"x {config.flood.block_size_m:g} m blocks (two-way block bootstrap)",
                    "Conventions": "CF-1.8",
                    "title": f"Warisan backtest scores of {config.city.slug}: every model and baseline by lead",
                    "institution": INSTITUTION,
                    "source": "hindcasts of models refitted at rolling origins (pipelines.flows.backtest)",
                    "history": "written by pipelines.flows.backtest"}
    return merged


AREA_ALERT_CHANCE = 0.5  # an area forecast "warns" (pod, far, csi without a level) when a flood is more likely than not


def _flip_flop_scores(verified: list[Verified]) -> xr.Dataset:
    """The flip-flop index of the area levels per area group, as issued and with hysteresis, pooled over
    origins, and the pairs of consecutive issues it rests on."""
    pooled = {}
    for part in verified:
        for key, (share, pairs) in part.flip_flop.items():
            if np.isfinite(share):
                changed, total = pooled.get(key, (0.0, 0))
                pooled[key] = (changed + share * pairs, total + pairs)
    groups, kinds = list(dict.fromkeys(k[0] for k in pooled)), ["issued", "hysteresis"]
    values, pairs = np.full((len(groups), len(kinds)), np.nan), np.zeros((len(groups), len(kinds)), "int32")
    for (group, kind), (changed, total) in pooled.items():
        values[groups.index(group), kinds.index(kind)] = changed / total if total else np.nan
        pairs[groups.index(group), kinds.index(kind)] = total
    dims, coords = ("area_group", "area_levels"), {"area_group": groups, "area_levels": kinds}
    return xr.Dataset({
        "flip_flop_index": (dims, values, {"units": "1", "long_name": "share of consecutive issues whose flood level "
                                           "for the same area and day changed (levels as issued, or with hysteresis)"}),
        "flip_flop_pairs": (dims, pairs, {"units": "1", "long_name": "pairs of consecutive issues for the same area "
                                          "and day that the flip-flop index rests on"})}, coords=coords)


def _site_heat_level_scores(verified: list[Verified], targets: Targets) -> xr.Dataset:
    """Per heritage site and MET Malaysia heat level, pooled over origins, issue dates and heat leads: the
    hit rate (share of the site's observed level days it was forecast at that level or above), the false
    alarm ratio (share of its forecasts at that level or above that were not observed) and their counts,
    per target that observes a site's heat (the demo truth); and the flip-flop index of the sites' heat
    levels as issued, per site and for all ('all'), with its pairs of consecutive issues."""
    ids = targets.assets["asset_id"].astype(str).tolist()
    found = list(dict.fromkeys(t for v in verified for t in v.heat_levels))
    counts = {name: np.zeros((len(found), len(ids), 3)) for name in ("events", "alerts", "hits")}
    for part in verified:
        for k, target in enumerate(found):
            for name, value in part.heat_levels.get(target, {}).items():
                counts[name][k] += value
    changed = sum(part.heat_flip_flop[0] for part in verified)
    pairs = sum(part.heat_flip_flop[1] for part in verified)
    dims = ("target", "asset", "heat_level")
    coords = {"target": found, "asset": ids, "heat_level": [1, 2, 3]}
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "site_heat_level_hit_rate": (dims, counts["hits"] / counts["events"], {
                "units": "1", "long_name": "share of a site's days at or above the MET Malaysia heat level that were "
                                           "forecast at it or above (probability of detection)"}),
            "site_heat_level_false_alarm_ratio": (dims, 1 - counts["hits"] / counts["alerts"], {
                "units": "1", "long_name": "share of a site's forecasts at or above the MET Malaysia heat level that "
                                           "were not observed at it (false alarm ratio)"}),
            "site_heat_level_events": (dims, counts["events"].astype("int32"), {
                "units": "1", "long_name": "site-days observed at or above the heat level (issue date x lead)"}),
            "site_heat_level_alerts": (dims, counts["alerts"].astype("int32"), {
                "units": "1", "long_name": "site-days forecast at or above the heat level (issue date x lead)"}),
        }
        flip = np.append(changed / pairs, changed.sum() / pairs.sum())
    site_all = [*ids, "all"]
    out |= {"heat_level_flip_flop_index": (("flip_flop_site",), flip, {
                "units": "1", "long_name": "share of consecutive issues whose MET Malaysia heat level for the same "
                                           "site and day changed (levels as issued)"}),
            "heat_level_flip_flop_pairs": (("flip_flop_site",), np.append(pairs, pairs.sum()).astype("int32"), {
                "units": "1", "long_name": "pairs of consecutive issues the heat level flip-flop index rests on"})}
    return xr.Dataset(out, coords=coords | {"flip_flop_site": site_all})


def _fss_scores(verified: list[Verified]) -> xr.DataArray:
    """The fractions skill score of the cell flood chance by target, lead and neighbourhood, pooled over origins."""
    pooled = {}
    for part in verified:
        for key, (squared, reference) in part.fss.items():
            before = pooled.get(key, (0.0, 0.0))
            pooled[key] = (before[0] + squared, before[1] + reference)
    targets = list(dict.fromkeys(k[0] for k in pooled))
    leads = sorted({k[1] for k in pooled})
    values = np.full((len(targets), len(leads), len(FSS_SCALES_M)), np.nan)
    for (target, lead, scale), (squared, reference) in pooled.items():
        values[targets.index(target), leads.index(lead), FSS_SCALES_M.index(scale)] = (
            1 - squared / reference if reference > 0 else np.nan)
    return xr.DataArray(values, dims=("target", "lead", "fss_scale_m"), name="fractions_skill_score",
                        coords={"target": targets, "lead": leads, "fss_scale_m": list(FSS_SCALES_M)},
                        attrs={"units": "1", "long_name": "fractions skill score of the cell flood chance "
                                                          "(Roberts and Lean 2008) over square neighbourhoods"})


_SCORE_ATTRS = {  # variable: CF attributes of scores.nc beyond those the scores carry themselves
    "score": {"long_name": "point value of the metric (units in the metric's name: _degC in degC, "
                           "n_ counts, others unitless)"},
    "ci_low": {"long_name": "lower end of the block-bootstrap confidence interval of the score"},
    "ci_high": {"long_name": "upper end of the block-bootstrap confidence interval of the score"},
    "reliability_forecast": {"long_name": "mean forecast probability in the reliability bin", "units": "1"},
    "reliability_observed": {"long_name": "observed event frequency in the reliability bin", "units": "1"},
    "reliability_weight": {"long_name": "share of the forecasts in the reliability bin", "units": "1"},
    "roc_hit_rate": {"long_name": "hit rate (probability of detection) at the false alarm rate", "units": "1"},
    "false_alarm_rate": {"long_name": "false alarm rate (probability of false detection)", "units": "1"},
    "lead": {"long_name": "lead day (0 = the issue date)", "units": "1"},
    "bin": {"long_name": "reliability bin of the forecast probability"},
    "date": {"long_name": "local day the forecast is valid for"},
    "fss_scale_m": {"long_name": "side of the square neighbourhood of the fractions skill score", "units": "m"},
    "area_group": {"long_name": "warning area scored: its id, or every site's neighbourhood pooled ('site')"},
    "area_levels": {"long_name": "flood levels as issued, or with the alerts' hysteresis"},
    "heat_level": {"long_name": "MET Malaysia heat level (1 heat alert, 2 heatwave, 3 extreme heatwave)", "units": "1"},
    "flip_flop_site": {"long_name": "heritage site (asset_id) the heat level flip-flop index is of, or 'all'"},
}


def _set_cf_attrs(scores: xr.Dataset) -> None:
    """Give `scores` the CF attributes and encodings of scores.nc, in place: a long_name on every
    variable, int32 coordinates without _FillValue, flag variables in their flag_values' dtype."""
    for name, attrs in _SCORE_ATTRS.items():
        if name in scores.variables:
            scores[name].attrs |= attrs
    for name in ("lead", "bin", "fss_scale_m", "heat_level"):
        if name in scores.coords:
            scores[name].encoding["dtype"] = "int32"
    if "date" in scores.coords:
        scores["date"].encoding |= {"units": "days since 1970-01-01", "calendar": "proleptic_gregorian",
                                    "dtype": "int32"}
    for name in ("x", "y", "false_alarm_rate"):
        if name in scores.coords:
            scores[name].encoding["_FillValue"] = None
    for name, variable in scores.data_vars.items():
        if "flag_values" in variable.attrs:  # NaN (no outcome) is written as -1
            dtype = np.asarray(variable.attrs["flag_values"]).dtype
            variable.encoding |= {"dtype": dtype, "_FillValue": np.array(-1, dtype)}
