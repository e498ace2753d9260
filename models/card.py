"""Model cards: what a registered model was trained on, how, and how well it scored."""

from __future__ import annotations

import hashlib
import json
import platform
from importlib.metadata import PackageNotFoundError, version

_LIBRARIES = ("warisan", "lightgbm", "numpy", "pandas", "xarray", "scikit-learn", "pyflwdir")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a model depends on."""
    found = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def model_card(*, hazard: str, features: list[str], params: dict, period: dict, data_hashes: dict,
               scores: dict, extra: dict | None = None) -> dict:
    """A JSON-ready card; its `version` is a hash of everything but the scores' float noise."""
    card = {
        "hazard": hazard, "features": list(features), "params": params, "period": period,
        "data_hashes": data_hashes, "scores": scores, "libraries": library_versions(), **(extra or {}),
    }
    identity = json.dumps({k: card[k] for k in ("hazard", "features", "params", "period", "data_hashes")},
                          sort_keys=True, default=str)
    card["version"] = f"{hazard}-{period['train_end']}-{hashlib.sha256(identity.encode()).hexdigest()[:10]}"
    return card
