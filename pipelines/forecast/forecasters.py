"""The models a forecast runs, as one value: the registered ones for the daily forecast, a backtest's refits."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb

from models.calibration import Calibration
from models.flood import FloodModel
from models.heat.regression import quantile_name
from models.tables import FLOOD_FEATURES, HEAT_FEATURES
from models.warning.areas import AreaWarning
from models.warning.door import DoorDepth
from pipelines.forecast.compiled_trees import with_compiled_trees
from pipelines.registry import RegistryError, latest_version, load_version, production_version


@dataclass(frozen=True)
class Forecasters:
    """The calibrated flood classifier and the heat quantile regressors, with their versions."""

    flood: FloodModel
    heat: dict[str, dict[float, lgb.Booster]]  # variable (tasmax, tasmin) -> quantile -> booster
    heat_widening: dict[str, dict[int, float]]  # variable -> lead -> degC added to the outer quantiles
    flood_version: str
    heat_version: str
    areas: AreaWarning | None = None  # the flood model's warning areas: calibration and level thresholds
    door: DoorDepth | None = None  # the depth of water given a flood (models.warning.door); None on older cards


def load_forecasters(models_dir: Path, origin: dt.date, *, compiled_trees: bool = False) -> Forecasters:
    """The production flood and heat models under `models_dir` (<store>/<city>/models) refitted on
    everything before `origin` with the latest evaluation fits' settings.

    With `compiled_trees`, the boosters a forecast runs on every cell (the flood classifier, the heat
    quantiles) evaluate with their trees compiled beside them where they compile
    (pipelines.forecast.compiled_trees): the same numbers, faster.
    """
    def production(hazard: str, features: list[str], per_cell: list[str] | None) -> tuple[dict, dict]:
        """The production refit's boosters and card; with `compiled_trees`, those named in `per_cell`
        (None: all) compiled."""
        version = production_version(latest_version(models_dir, hazard), origin)
        boosters, card = load_version(models_dir, hazard, version, features)
        if compiled_trees:
            names = list(boosters) if per_cell is None else per_cell
            boosters |= with_compiled_trees({n: boosters[n] for n in names}, models_dir / hazard / version,
                                            card.get("booster_sha256", {}), f"{hazard} model {version}")
        return boosters, card

    boosters, card = production("flood", FLOOD_FEATURES, per_cell=["classifier"])  # not the areas' booster
    flood = FloodModel(boosters["classifier"], Calibration.from_dict(card["calibration"]))
    heat_boosters, heat_card = production("heat", HEAT_FEATURES, per_cell=None)
    if "interval_widening_degC" not in heat_card:
        raise RegistryError(f"heat model {heat_card['version']}: card.json has no `interval_widening_degC` "
                            "(registered before the conformal intervals); retrain with `warisan train`")
    heat = {v: {q: heat_boosters[quantile_name(v, q)] for q in heat_card["quantiles"]}
            for v in heat_card["variables"]}
    widening = {v: {int(lead): w for lead, w in by_lead.items()}
                for v, by_lead in heat_card["interval_widening_degC"].items()}
    areas = AreaWarning.from_dict(boosters["areas"], card["area_warning"]) if "areas" in boosters else None
    door = DoorDepth.from_dict(card["door_depth"]) if "door_depth" in card else None
    return Forecasters(flood, heat, widening, card["version"], heat_card["version"], areas, door)
