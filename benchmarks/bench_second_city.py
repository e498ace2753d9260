"""Build the second demo city (configs/second_city.yaml) and set its scores beside George Town's.

Usage: .venv/bin/python benchmarks/bench_second_city.py [--fresh] [--config PATH]

Runs the ingest, build_features and train flows, unchanged, on the second city's config: a made-up
port on the Sarawak coast with its own grid (UTM 49N), synthetic coast, assets and made-up climate
(wet season December-February), and George Town's model settings. Then prints, side by side with
the George Town demo's latest model cards (store/george-town-demo/models/{flood,heat}/LATEST; the
column says when there is none, train configs/demo.yaml first):

- flood, against the demo truth on wet days, by lead: ROC AUC, Brier skill score against
  climatology, CSI at the alert threshold, mean reliability error, and the wet-day base rate;
- heat, tasmax q50 by lead on unseen days and on unseen stations: RMSE, its reduction from the
  raw regional forecast's RMSE, and the 0.1-0.9 interval coverage;

each with the issues' targets (4 and 5), and appends one row per city, hazard, lead and score, and
one per flow's seconds, to benchmarks/results/second_city.csv with the git commit and date.
--fresh deletes the second city's bundle, truth and store first, so every flow does its full work.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from results_csv import append_rows, git_commit

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "second_city.yaml"
REFERENCE = ROOT / "configs" / "demo.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "second_city.csv"
LEADS = ("0", "1", "2", "all")  # the flood's (flood.lead_days 3); heat's come from the configs
# (label, path below the card's scores, format, target of the issue); a path holds "{lead}"
FLOOD_ROWS = (
    ("ROC AUC", ("evaluation", "truth", "wet", "model", "{lead}", "roc_auc"), ".3f", ">= 0.90"),
    ("Brier skill score", ("evaluation", "truth", "wet", "model", "{lead}", "brier_skill_vs_climatology"),
     ".3f", ">= 0.30"),
    ("CSI at alert threshold", ("evaluation", "truth", "wet", "model", "{lead}", "csi"), ".3f", ">= 0.40"),
    ("reliability error", ("evaluation", "truth", "wet", "model", "{lead}", "reliability_error"), ".4f",
     "<= 0.05"),
)
HEAT_SETS = (("unseen days", "unseen_days"), ("unseen stations", "unseen_stations"))
HEAT_TARGETS = {  # label of _heat_scores: target of issue 5
    "RMSE q50 unseen days (degC)": "<= 1.0 at lead 1", "RMSE q50 unseen stations (degC)": "<= 1.0 at lead 1",
    "RMSE below regional, unseen days": ">= 0.40", "RMSE below regional, unseen stations": ">= 0.40",
    "0.1-0.9 coverage unseen days": "0.75-0.85", "0.1-0.9 coverage unseen stations": "0.75-0.85",
}


def _score(card: dict | None, path: tuple[str, ...]) -> float:
    """The number at `path` below the card's scores; NaN when the card or the path is missing."""
    node = card["scores"] if card else None
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return float(node) if isinstance(node, int | float) else math.nan


def _wet_base_rate(card: dict | None, lead: str) -> float:
    """Share of wet-day cell rows flooded in the truth (what climatology forecasts)."""
    model = ("evaluation", "truth", "wet", "model", lead)
    return _score(card, (*model, "n_positive")) / _score(card, (*model, "n_rows"))


def _heat_scores(card: dict | None, lead: str) -> dict[str, float]:
    """tasmax q50 scores at `lead` on unseen days and stations: RMSE, reduction from regional, coverage."""
    scores = {}
    for label, name in HEAT_SETS:
        rmse = _score(card, ("validation", name, lead, "model", "rmse_degC"))
        regional = _score(card, ("validation", name, lead, "regional", "rmse_degC"))
        scores[f"RMSE q50 {label} (degC)"] = rmse
        scores[f"RMSE below regional, {label}"] = 1 - rmse / regional
        scores[f"0.1-0.9 coverage {label}"] = _score(card, ("validation", name, lead, "model", "interval_coverage"))
    return scores



def latest_card(store: Path, hazard: str) -> dict | None:
    """The card of the model LATEST points at in `store`/models/`hazard`; None when there is none."""
    latest = store / "models" / hazard / "LATEST"
    if not latest.exists():
        return None
    return json.loads((latest.parent / latest.read_text().strip() / "card.json").read_text())


def build(config_path: Path, fresh: bool) -> dict[str, float]:
    """Run ingest, build_features and train on the config through the flows; seconds per flow."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from pipelines import flows
    from pipelines.config import load_city_config
    from pipelines.flows.evaluate import evaluate

    config = load_city_config(config_path)
    if fresh:
        for folder in (config.bundle_dir, config.truth_dir, config.city_store):
            shutil.rmtree(folder, ignore_errors=True)
    seconds = {}
    runs: list[tuple[str, Callable[[], object]]] = [
        ("ingest", lambda: flows.ingest(config_path)), ("build_features", lambda: flows.build_features(config_path)),
        ("train", lambda: flows.train(config_path)), ("evaluate", lambda: evaluate(config_path))]
    for name, run in runs:
        start = time.perf_counter()
        run()
        seconds[name] = time.perf_counter() - start
    return seconds


def _cell(value: float, fmt: str) -> str:
    return "n/a" if math.isnan(value) else format(value, fmt)


def _table(title: str, names: tuple[str, str], versions: tuple[str, str], rows: list[tuple]) -> None:
    """Print rows of (label, lead, left value, right value, format, target)."""
    width = max(map(len, (*names, *versions)))
    print(f"\n{title}")
    print(f"  {'score':<38}{'lead':>5}  {names[0]:>{width}}  {names[1]:>{width}}  target")
    print(f"  {'':<38}{'':>5}  {versions[0]:>{width}}  {versions[1]:>{width}}")
    for label, lead, left, right, fmt, target in rows:
        print(f"  {label:<38}{lead:>5}  {_cell(left, fmt):>{width}}  {_cell(right, fmt):>{width}}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=CONFIG, help="the second city (default: %(default)s)")
    parser.add_argument("--fresh", action="store_true", help="delete its bundle, truth and store first")
    args = parser.parse_args()
    from pipelines.config import load_city_config

    second, reference = load_city_config(args.config), load_city_config(REFERENCE)
    seconds = build(args.config, args.fresh)
    now, commit = dt.datetime.now().isoformat(timespec="seconds"), git_commit("pipelines", "features", "models", "configs")
    cities = (reference, second)
    names = tuple(city.city.slug for city in cities)
    cards = {hazard: tuple(latest_card(city.city_store, hazard) for city in cities) for hazard in ("flood", "heat")}
    versions = {hazard: tuple(card["version"] if card else "no model: train it" for card in pair)
                for hazard, pair in cards.items()}
    csv_rows = [{"date": now, "commit": commit, "city": second.city.slug, "hazard": "pipeline", "model_version": "",
                 "scope": "seconds", "lead": "", "score": name, "value": round(value, 1)}
                for name, value in seconds.items()]

    def record(hazard: str, scope: str, lead: str, label: str, pair: tuple[float, float]) -> None:
        for city, card, value in zip(cities, cards[hazard], pair, strict=True):
            if card is not None:
                csv_rows.append({"date": now, "commit": commit, "city": city.city.slug, "hazard": hazard,
                                 "model_version": card["version"], "scope": scope, "lead": lead, "score": label,
                                 "value": "" if math.isnan(value) else round(value, 5)})

    flood_rows = []
    for label, path, fmt, target in FLOOD_ROWS:
        for lead in LEADS:
            pair = tuple(_score(card, tuple(p.format(lead=lead) for p in path)) for card in cards["flood"])
            flood_rows.append((label, lead, *pair, fmt, target))
            record("flood", "truth, wet days", lead, label, pair)
    for lead in LEADS:
        pair = tuple(_wet_base_rate(card, lead) for card in cards["flood"])
        flood_rows.append(("wet-day flooded share (climatology)", lead, *pair, ".4f", ""))
        record("flood", "truth, wet days", lead, "flooded share", pair)
    heat_rows = []
    heat_leads = [str(lead) for lead in range(max(city.heat.lead_days for city in cities))]  # heat looks further
    heat_scores = {lead: tuple(_heat_scores(card, lead) for card in cards["heat"]) for lead in heat_leads}
    for label, target in HEAT_TARGETS.items():
        for lead, (left, right) in heat_scores.items():
            heat_rows.append((label, lead, left[label], right[label], ".3f" if "degC" not in label else ".2f",
                              target))
            record("heat", "tasmax q50, validation", lead, label, (left[label], right[label]))

    print(f"\nSecond city benchmark, commit {commit}, {now}, {os.cpu_count()} CPUs")
    print(f"  {second.city.name}: {second.grid.crs}, {second.grid.bounds} at {second.grid.resolution_m:g} m, "
          f"{second.source.start} .. {second.source.end}, climate {second.source.climate.model_dump()}")
    print("  " + ", ".join(f"{name} {value:.0f} s" for name, value in seconds.items())
          + f"; total {sum(seconds.values()):.0f} s")
    _table("Flood: against the demo truth, wet days (regional 24 h rain >= "
           f"{second.flood.wet_day_mm:g} mm)", names, versions["flood"], flood_rows)
    _table("Heat: tasmax q50, validation by lead", names, versions["heat"], heat_rows)
    append_rows(RESULTS, ["date", "commit", "city", "hazard", "model_version", "scope", "lead", "score", "value"], csv_rows)
    print(f"\nappended {len(csv_rows)} rows to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
