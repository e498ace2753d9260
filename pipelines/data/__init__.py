"""Reference files shipped with Warisan (see README.md here for source and licence), by name."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def packaged_data(name: str) -> Path:
    """Path of a reference file shipped in pipelines/data (see its README for source and licence)."""
    path = Path(str(files("pipelines") / "data" / name))
    if not path.is_file():
        raise FileNotFoundError(f"packaged data file {name!r} is missing from {path.parent}")
    return path
