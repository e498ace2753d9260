"""Heat levels per cell and day: MET Malaysia's sustained tasmax rule and Singapore NEA's WBGT bands.

Both rules map onto one scale, 0 none, 1 alert (MET Malaysia "Waspada"; NEA moderate WBGT),
2 heatwave (MET Malaysia "Gelombang Haba"; NEA high WBGT), 3 extreme heatwave (MET Malaysia
"Gelombang Haba Melampau"; NEA has no third band). A cell's level is the higher of the two, and
`heat_level_rule` says which rule set it (bit 1: tasmax, bit 2: WBGT, 3: both agree).
"""

from __future__ import annotations

import numpy as np

RULE_TASMAX, RULE_WBGT = 1, 2
RULE_FLAGS = {"flag_masks": [RULE_TASMAX, RULE_WBGT],
              "flag_meanings": "tasmax_sustained_days wbgt_band"}


def _check_thresholds(thresholds: tuple[float, ...], name: str) -> np.ndarray:
    values = np.asarray(thresholds, dtype=float)
    if values.size == 0 or (np.diff(values) <= 0).any():
        raise ValueError(f"`{name}` must be one or more strictly increasing values, got {thresholds}")
    return values


def band_level(values: np.ndarray, thresholds: tuple[float, ...]) -> np.ndarray:
    """Number of `thresholds` (increasing) that each value reaches: 0 .. len(thresholds), int8.

    NaN reaches none (0); the caller masks cells that have no value.
    """
    edges = _check_thresholds(thresholds, "thresholds")
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return (values[..., None] >= edges).sum(axis=-1).astype("int8")


def sustained_level(tasmax: np.ndarray, thresholds: tuple[float, ...], *, days: int) -> np.ndarray:
    """Level reached on each day and the `days - 1` days before it, along the last axis; int8.

    `tasmax` is (..., day) in degC, days in order. The level of a day is the lowest daily level
    in its window: two hot days then a cool one end it, three hot days start it. The first
    `days - 1` positions have no full window and get 0, so prepend the observed days before
    the first day of interest (a missing day counts as not hot: the rule is not confirmed).
    """
    if days < 1:
        raise ValueError(f"`days` must be >= 1, got {days}")
    daily = band_level(tasmax, thresholds)
    n = daily.shape[-1]
    level = np.zeros_like(daily)
    if n >= days:
        windows = np.lib.stride_tricks.sliding_window_view(daily, days, axis=-1)
        level[..., days - 1:] = windows.min(axis=-1)
    return level


def combined_level(tasmax_level: np.ndarray, wbgt_level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The higher of the two levels and the rule flags that reach it (0 where the level is 0); int8."""
    level = np.maximum(tasmax_level, wbgt_level).astype("int8")
    rule = (np.where(tasmax_level == level, RULE_TASMAX, 0) + np.where(wbgt_level == level, RULE_WBGT, 0))
    return level, np.where(level > 0, rule, 0).astype("int8")
