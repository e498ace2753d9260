"""Time-ordered splits: train, then validation (early stopping), then a held-out test period."""

from __future__ import annotations

import numpy as np
import pandas as pd


def time_split(issue_dates: pd.DatetimeIndex, issue_index: np.ndarray, lead: np.ndarray, *,
               holdout_days: int, validation_days: int) -> np.ndarray:
    """'train', 'valid', 'test' or '' (dropped) per row, by the row's issue date.

    The test period is the last `holdout_days` issue dates, validation the `validation_days`
    before it. A row whose target day (issue + lead) reaches into the next period is dropped,
    so no label is shared across the boundary.
    """
    last = issue_dates.max()
    test_start = last - pd.Timedelta(days=holdout_days - 1)
    valid_start = test_start - pd.Timedelta(days=validation_days)
    if valid_start <= issue_dates.min():
        raise ValueError(
            f"the {len(issue_dates)} issue dates cannot hold {validation_days} validation and "
            f"{holdout_days} held-out days after some training days"
        )
    issued = issue_dates[issue_index]
    target = issued + pd.to_timedelta(lead, unit="D")
    split = np.where(issued >= test_start, "test", np.where(issued >= valid_start, "valid", "train"))
    crosses = ((split == "train") & (target >= valid_start)) | ((split == "valid") & (target >= test_start))
    return np.where(crosses, "", split)
