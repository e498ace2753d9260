"""The on-disk model registry: <store>/<city>/models/<hazard>/<version>/ with a card and a LATEST pointer."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb

from pipelines.storage import sha256_file, write_atomic, write_text_atomic


class RegistryError(RuntimeError):
    """A model that is missing, corrupt or trained on other features."""


def register(models_dir: Path, card: dict, boosters: dict[str, lgb.Booster],
             figures: dict[str, bytes] | None = None, *, latest: bool = True) -> Path:
    """Write each booster (`<name>.txt`), each figure (file name: bytes) and `card.json` into the
    version folder, then move LATEST (the evaluation fit; production refits leave it: `latest`).

    Files are written atomically and LATEST last, so a reader never sees a half-registered model.
    """
    folder = models_dir / card["hazard"] / card["version"]
    for name, booster in boosters.items():
        write_atomic(folder / f"{name}.txt", lambda tmp, b=booster: b.save_model(tmp))
    hashes = {name: sha256_file(folder / f"{name}.txt") for name in boosters}  # checked when loaded
    _write_card(folder, {**card, "booster_sha256": hashes}, figures)
    if latest:
        write_text_atomic(models_dir / card["hazard"] / "LATEST", card["version"] + "\n")
    return folder


def production_version(evaluation_version: str, origin) -> str:
    """The version of the production refit of `evaluation_version`'s settings on everything before `origin`."""
    return f"{evaluation_version}-refit-{origin}"


def latest_version(models_dir: Path, hazard: str) -> str:
    """The version LATEST names: the evaluation fit of `hazard` trained last."""
    pointer = models_dir / hazard / "LATEST"
    if not pointer.exists():
        raise RegistryError(f"{pointer}: no {hazard} model is registered; run `warisan train` first")
    return pointer.read_text().strip()


def update_card(models_dir: Path, card: dict, figures: dict[str, bytes] | None = None) -> Path:
    """Rewrite the card (and figures) of the registered version `card['version']`, e.g. with scores
    that evaluation adds; its boosters and LATEST stay as they are."""
    folder = models_dir / card["hazard"] / card["version"]
    if not (folder / "card.json").exists():
        raise RegistryError(f"{folder}: no {card['hazard']} model version {card['version']} is registered")
    return _write_card(folder, card, figures)


def _write_card(folder: Path, card: dict, figures: dict[str, bytes] | None) -> Path:
    for name, data in (figures or {}).items():
        write_atomic(folder / name, lambda tmp, d=data: tmp.write_bytes(d))
    write_text_atomic(folder / "card.json", json.dumps(card, indent=2, sort_keys=True, default=str))
    return folder


def load_latest(models_dir: Path, hazard: str, features: list[str]) -> tuple[dict[str, lgb.Booster], dict]:
    """The latest registered boosters and card of `hazard`, checked against the expected features."""
    return load_version(models_dir, hazard, latest_version(models_dir, hazard), features)


def load_version(models_dir: Path, hazard: str, version: str,
                 features: list[str]) -> tuple[dict[str, lgb.Booster], dict]:
    """The boosters and card of one registered version of `hazard`, checked against the expected features."""
    folder = models_dir / hazard / version
    card_path = folder / "card.json"
    if not card_path.exists():
        raise RegistryError(f"{card_path}: cannot read the model card: no {hazard} model version {version} "
                            "is registered")
    try:
        card = json.loads(card_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise RegistryError(f"{card_path}: cannot read the model card: {err}") from err
    if card.get("features") != list(features):
        raise RegistryError(
            f"{card_path}: features: the model was trained on {card.get('features')}, "
            f"this code builds {list(features)}; retrain with `warisan train`"
        )
    boosters = {}
    for name in card["booster_files"]:
        path = folder / f"{name}.txt"
        _require_intact(path, card.get("booster_sha256", {}).get(name), hazard)
        try:
            boosters[name] = lgb.Booster(model_file=str(path))
        except (lgb.basic.LightGBMError, OSError) as err:
            raise RegistryError(f"{path}: cannot load the {hazard} model: {err}") from err
    return boosters, card


def _require_intact(path: Path, recorded: str | None, hazard: str) -> None:
    """Refuse a model file that is missing, cut short or changed since it was registered.

    LightGBM aborts the whole process on some truncated files, so they never reach it: the
    file must end its trees and, when the card records one, match its sha256.
    """
    try:
        intact = b"end of trees" in path.read_bytes()
    except OSError as err:
        raise RegistryError(f"{path}: cannot load the {hazard} model: {err}") from err
    if not intact:
        raise RegistryError(f"{path}: the {hazard} model file is cut short (no 'end of trees'); retrain")
    if recorded is not None and sha256_file(path) != recorded:
        raise RegistryError(f"{path}: bytes do not match booster_sha256 in card.json: the {hazard} model "
                            "file was changed or damaged after registering; retrain with `warisan train`")
