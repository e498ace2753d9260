"""Splits: time-ordered periods (train, validation, calibration, test) and held-out spatial blocks."""

from __future__ import annotations

import numpy as np
import pandas as pd


def time_split(issue_dates: pd.DatetimeIndex, issue_index: np.ndarray, lead: np.ndarray, *,
               holdout_days: int, validation_days: int, calibration_days: int = 0) -> np.ndarray:
    """'train', 'valid', 'calib', 'test' or '' (dropped) per row, by the row's issue date.

    The test period is the last `holdout_days` issue dates, the calibration period the
    `calibration_days` before it (none by default), validation the `validation_days` before that.
    A row whose target day (issue + lead) reaches into the next period is dropped, so no label
    is shared across a boundary.
    """
    last = issue_dates.max()
    test_start = last - pd.Timedelta(days=holdout_days - 1)
    calib_start = test_start - pd.Timedelta(days=calibration_days)
    valid_start = calib_start - pd.Timedelta(days=validation_days)
    if valid_start <= issue_dates.min():
        calibration = f", {calibration_days} calibration" if calibration_days else ""
        raise ValueError(
            f"the {len(issue_dates)} issue dates cannot hold {validation_days} validation{calibration} and "
            f"{holdout_days} held-out days after some training days"
        )
    issued = issue_dates[issue_index]
    target = issued + pd.to_timedelta(lead, unit="D")
    starts = {"valid": valid_start, "calib": calib_start, "test": test_start}
    split = np.select([issued >= test_start, issued >= calib_start, issued >= valid_start],
                      ["test", "calib", "valid"], "train")
    next_start = {"train": valid_start, "valid": calib_start, "calib": test_start}
    crosses = np.zeros(len(split), bool)
    for name, start in next_start.items():
        if start > starts.get(name, issue_dates.min() - pd.Timedelta(days=1)):  # the period is not empty
            crosses |= (split == name) & (target >= start)
    return np.where(crosses, "", split)


def spatial_blocks(x_m: np.ndarray, y_m: np.ndarray, *, block_m: float) -> np.ndarray:
    """Id (int64) of the `block_m` x `block_m` square each point (x_m, y_m, metres) falls in."""
    if block_m <= 0:
        raise ValueError(f"`block_m` must be > 0, got {block_m}")
    col = np.floor(np.asarray(x_m) / block_m).astype(np.int64)
    row = np.floor(np.asarray(y_m) / block_m).astype(np.int64)
    return row * 1_000_003 + col  # a prime stride: distinct (row, col) give distinct ids


def _held_out_ids(ids: np.ndarray, *, share: float, seed: int, what: str) -> np.ndarray:
    """A seeded `share` of the distinct `ids` (at least one, never all), sorted."""
    if not 0 < share < 1:
        raise ValueError(f"`share` must be inside (0, 1), got {share}")
    distinct = np.unique(ids)
    if distinct.size < 2:
        raise ValueError(f"{distinct.size} {what}(s): at least 2 are needed to hold one out")
    n_out = min(distinct.size - 1, max(1, round(share * distinct.size)))
    return np.sort(np.random.default_rng(seed).permutation(distinct)[:n_out])


def held_out_blocks(blocks: np.ndarray, *, share: float, seed: int) -> np.ndarray:
    """Block ids held out of training: a seeded `share` of the distinct ids in `blocks` (at least one).

    At least one block always stays in training.
    """
    return _held_out_ids(blocks, share=share, seed=seed, what="spatial block")


def blocked_split(time_part: np.ndarray, held_out: np.ndarray) -> np.ndarray:
    """Combine a `time_split` with held-out blocks (`held_out` True per row); same labels.

    Training rows come from the other blocks only; validation and test rows from the held-out
    blocks only, so no block and no day is shared between training and scoring. Calibration
    keeps every block: its days are unseen by training, and forecasts cover every block.
    """
    keep = np.select([time_part == "train", np.isin(time_part, ["valid", "test"])], [~held_out, held_out],
                     time_part == "calib")
    return np.where(keep, time_part, "")


def station_holdout(station_ids: np.ndarray, *, share: float, seed: int) -> np.ndarray:
    """True on rows of the stations held out of training entirely, a `share` of them (at least one).

    Stations are drawn by a seeded shuffle of their sorted ids, so the same ids give the same
    holdout on any machine; at least one station always stays in training.
    """
    return np.isin(station_ids, _held_out_ids(station_ids, share=share, seed=seed, what="station"))


def protocol_split(issue_dates: pd.DatetimeIndex, issue_index: np.ndarray, lead: np.ndarray, *,
                   validation: tuple, test: tuple, early_stopping_days: int, calibrate: bool) -> np.ndarray:
    """'train', 'valid', 'calib', 'test' or '' (dropped) per row of an evaluation fit, by its issue date.

    The sealed test period is `test` (first, last issue date). With `calibrate`, the `validation`
    period calibrates and the `early_stopping_days` before it stop early; without, `validation`
    stops early. Earlier issue dates train. A row whose target day (issue + lead) reaches into the
    next period is dropped, as are rows issued after the test period.
    """
    issued = issue_dates[issue_index]
    target = issued + pd.to_timedelta(lead, unit="D")
    valid_start, test_start = pd.Timestamp(validation[0]), pd.Timestamp(test[0])
    stop_start = valid_start - pd.Timedelta(days=early_stopping_days) if calibrate else valid_start
    if stop_start <= issue_dates.min():
        raise ValueError(f"no training days: issue dates start on {issue_dates.min().date()}, and early stopping "
                         f"starts on {stop_start.date()} (evaluation.validation, train.early_stopping_days)")
    starts = [("train", stop_start), ("valid", valid_start if calibrate else test_start)]
    if calibrate:
        starts.append(("calib", test_start))
    split = np.full(len(issued), "", dtype=object)
    begin = issue_dates.min()
    for name, end in starts:
        split[(issued >= begin) & (issued < end) & (target < end)] = name
        begin = end
    split[(issued >= test_start) & (issued <= pd.Timestamp(test[1]))] = "test"
    return split.astype(str)
