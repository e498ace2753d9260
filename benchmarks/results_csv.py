"""What every benchmark records with its figures: the git commit, and rows appended to its CSV."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import subprocess
from pathlib import Path

from pipelines.config import CityConfig, load_city_config

ROOT = Path(__file__).resolve().parents[1]


def git_commit(*paths: str) -> str:
    """Short HEAD commit, '+dirty' when the code under `paths` (default pipelines, features, models) has changes."""
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", *(paths or ("pipelines", "features", "models"))],
                           cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
    return (done.stdout.strip() or "unknown") + ("+dirty" if dirty else "")


def append_rows(path: Path, fields: list[str], rows: list[dict]) -> None:
    """Append `rows` to the CSV at `path`, writing the `fields` header when the file is new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def test_period_backtest(description: str) -> tuple[CityConfig, Path, dict]:
    """For a script scoring the sealed test period: the city config of its `--config` (default
    configs/demo.yaml), the folder of that period's backtest (store/<city>/backtests/<start>_<end>)
    and the stamp its rows carry (commit, date, city, test period)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.yaml")
    config = load_city_config(parser.parse_args().config)
    start, end = config.protocol.test
    stamp = {"commit": git_commit(), "date": dt.date.today().isoformat(), "city": config.city.slug,
             "test_period": f"{start}..{end}"}
    return config, config.city_store / "backtests" / f"{start}_{end}", stamp
