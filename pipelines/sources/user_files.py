"""A user's own files (source `files`) laid over the fetched bundle.

Merge rules (docs/live-city.md): a file in the user's folder at a contract path
(static/dem.tif, static/*.gpkg, obs/*.csv) replaces the bundle's file at that path, whatever
source fetched it, on every run (fetching again never undoes it); it is checked against the
contract first and refused, naming its problems, if it breaks it. Files at other paths are
ignored (and listed). Weather files are not taken from users: stations go in obs/temperature.csv.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pipelines.bundle.checks import CSV_TABLES, DEM, IMPERVIOUS, VECTOR_LAYERS
from pipelines.sources.staging import LiveCity, check_staged, commit, discard, new_stage, utc_now

OVERRIDABLE = (DEM, IMPERVIOUS, *(layer.path for layer in VECTOR_LAYERS.values()), *CSV_TABLES)


def user_files(folder: Path) -> tuple[list[str], list[str]]:
    """The contract paths present in `folder`, and the other files there (ignored)."""
    present = [f for f in OVERRIDABLE if (folder / f).is_file()]
    others = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                    if p.is_file() and p.relative_to(folder).as_posix() not in present)
    return present, others


def apply_user_files(bundle: Path, folder: Path, city: LiveCity, keep: frozenset[str] = frozenset()
                     ) -> tuple[dict, list[str]]:
    """Copy the user's contract files over the bundle's, except over `keep` (files the bundle
    brought itself); provenance entries and the ignored files.

    Raises ValueError naming the problems when a user file breaks the contract (nothing copied).
    """
    found, ignored = user_files(folder)
    present = [f for f in found if f not in keep]
    ignored = sorted([*ignored, *(f for f in found if f in keep)])
    if not present:
        return {}, ignored
    stage = new_stage(bundle, "files")
    try:
        for file in present:
            (stage / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / file, stage / file)
        check_staged(stage, [f for f in present if f != IMPERVIOUS], city.city)
    except BaseException:
        discard(stage)
        raise
    hashes = commit(stage, bundle, present)
    retrieved = utc_now()
    entries = {f: {"source": "files", "url": (folder / f).resolve().as_uri(), "retrieved": retrieved,
                   "sha256": hashes[f], "note": "a user's file; overrides any fetched layer at this path"}
               for f in present}
    return entries, ignored
