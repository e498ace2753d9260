"""What a backtest's scores depend on, recorded beside them: config, seed, origins, code, libraries, inputs."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

from models.card import library_versions
from pipelines.config import CityConfig
from pipelines.storage import sha256_file


def _code_version() -> str:
    """`git describe` of the code's checkout, else the installed warisan version."""
    root = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=root, capture_output=True,
                              text=True, timeout=10, check=True)
        return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"warisan {library_versions()['warisan']}"


def backtest_record(config: CityConfig, start: dt.date, end: dt.date, windows, paths: dict[str, Path]) -> dict:
    """What the scores depend on: config, seed, origins, code and library versions, input hashes."""
    inputs = {"static_features": sha256_file(paths["static"]), "drivers": sha256_file(paths["drivers"]),
              "provenance.json": sha256_file(config.bundle_dir / "provenance.json")}
    inputs |= {f"obs/{name}": sha256_file(config.bundle_dir / "obs" / name)
               for name in ("flood_events.csv", "temperature.csv")}
    inputs |= {f"truth/{name}": sha256_file(config.truth_dir / name)
               for name in ("flood.nc", "tasmax.nc") if (config.truth_dir / name).exists()}
    return {"city": config.city.slug, "start": start.isoformat(), "end": end.isoformat(),
            "origins": [[o.isoformat(), e.isoformat()] for o, e in windows], "seed": config.train.seed,
            "code_version": _code_version(), "libraries": library_versions(), "input_sha256": inputs,
            "config": json.loads(config.model_dump_json())}
