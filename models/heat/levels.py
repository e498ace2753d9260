"""Heat levels per cell and day: MET Malaysia's sustained tasmax rule and Singapore NEA's WBGT bands.

Two products, kept apart: MET Malaysia's heat level (0 none, 1 alert "Waspada", 2 heatwave
"Gelombang Haba", 3 extreme heatwave "Gelombang Haba Melampau") when the daily maximum holds at
or above 35, 37 or 40 degC for days in a row; and NEA's WBGT band (0 low, 1 moderate, 2 high).
`met_level_attrs` and `wbgt_band_attrs` are their CF attributes, one set per product.
"""

from __future__ import annotations

import numpy as np

MET_LEVEL_MEANINGS = ("none", "heat_alert", "heatwave", "extreme_heatwave")  # MET Malaysia, levels 0..3
WBGT_BAND_MEANINGS = ("low", "moderate", "high")  # Singapore NEA, bands 0..2


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


def met_level_attrs(thresholds: tuple[float, ...], *, sustained_days: int, observed_days: int) -> dict:
    """CF attributes of MET Malaysia's heat level (flag values int8 0..3) from tasmax q50.

    `observed_days` of the `sustained_days` window before the first lead are observed maxima;
    1 sustained day is the level of one day's maximum alone (a forecast without those days).
    """
    held = (f"held for {sustained_days} days in a row (the lead day and the {sustained_days - 1} before it; "
            f"{observed_days} observed before issue)" if sustained_days > 1 else "on the day alone, not held")
    return {
        "long_name": "MET Malaysia heat level of the local day", "units": "1",
        "flag_values": np.arange(len(MET_LEVEL_MEANINGS), dtype="int8"),
        "flag_meanings": " ".join(MET_LEVEL_MEANINGS),
        "level_starts": np.asarray(thresholds, "float32"), "sustained_days": np.int8(sustained_days),
        "comment": ("level k (1 heat alert, 2 heatwave, 3 extreme heatwave) where the daily maximum "
                    "temperature's median forecast (tasmax_q50) reaches level_starts[k-1] degC "
                    f"({', '.join(f'{t:g}' for t in thresholds)}) {held}"),
    }


def wbgt_band_attrs(bands: tuple[float, ...]) -> dict:
    """CF attributes of Singapore NEA's WBGT band (flag values int8 0..2) from wbgt_max."""
    return {
        "long_name": "Singapore NEA heat stress band of the local day from WBGT", "units": "1",
        "flag_values": np.arange(len(WBGT_BAND_MEANINGS), dtype="int8"),
        "flag_meanings": " ".join(WBGT_BAND_MEANINGS),
        "level_starts": np.asarray(bands, "float32"),
        "comment": ("band k (1 moderate, 2 high) where the day's WBGT in the midday sun (wbgt_max) reaches "
                    f"level_starts[k-1] degC ({', '.join(f'{t:g}' for t in bands)}); a band holds daily"),
    }
