"""Warning levels (0 none, 1..n) from a chance of flooding, with or without hysteresis between issues."""

from __future__ import annotations

import numpy as np


def _require_thresholds(thresholds: tuple[float, ...]) -> np.ndarray:
    edges = np.asarray(thresholds, float)
    if edges.ndim != 1 or edges.size == 0:
        raise ValueError(f"`thresholds` must be a non-empty sequence of numbers, got {thresholds!r}")
    if not (np.all(edges > 0) and np.all(edges <= 1) and np.all(np.diff(edges) > 0)):
        raise ValueError(f"`thresholds` must be strictly increasing in (0, 1], got {thresholds!r}")
    return edges


def _require_chance(chance: np.ndarray) -> np.ndarray:
    chance = np.asarray(chance, float)
    if np.any((chance < 0) | (chance > 1)):  # NaN compares False: allowed
        raise ValueError("`chance` has values outside [0, 1]")
    return chance


def _levels_reached(chance: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Number of `edges` each value of `chance` reaches (>=); NaN reaches none."""
    return (chance[..., None] >= edges).sum(axis=-1).astype(np.int8)


def levels_from_chance(chance: np.ndarray, thresholds: tuple[float, ...]) -> np.ndarray:
    """Warning level of each chance: how many `thresholds` it reaches (>=), int8, same shape as `chance`.

    `thresholds` are strictly increasing in (0, 1]; level k means chance >= thresholds[k - 1].
    A NaN chance (no forecast) is level 0: no warning is issued on a missing forecast.
    """
    return _levels_reached(_require_chance(chance), _require_thresholds(thresholds))


def hysteresis_levels(chance: np.ndarray, thresholds: tuple[float, ...], *, hold_share: float) -> np.ndarray:
    """Warning levels along the first axis of `chance` (issue, ...) with hysteresis, int8, same shape.

    A Schmitt trigger per target (every index of the other axes): level k is entered when the
    chance reaches thresholds[k - 1], as in `levels_from_chance`, but once issued it is kept
    while the chance stays >= `hold_share` x thresholds[k - 1]; below that the level falls to
    the highest one still held (or entered). Consecutive issues for one target run along the
    first axis. A NaN chance counts as 0: it gives level 0 and clears what was held.
    `hold_share` in (0, 1]; 1 is no hysteresis.
    """
    edges = _require_thresholds(thresholds)
    if not 0 < hold_share <= 1:
        raise ValueError(f"`hold_share` must be in (0, 1], got {hold_share!r}")
    chance = _require_chance(chance)
    if chance.ndim == 0:
        raise ValueError("`chance` must have an issue axis (at least 1-D), got a scalar")
    entered = _levels_reached(chance, edges)
    holdable = _levels_reached(chance, hold_share * edges)  # hold edges rise with k: levels 1..m held
    levels = np.empty_like(entered)
    previous = np.zeros(chance.shape[1:], np.int8)
    for issue in range(chance.shape[0]):  # path-dependent along issues only; vectorised over targets
        previous = np.maximum(entered[issue], np.minimum(previous, holdable[issue]))
        levels[issue] = previous
    return levels
