"""Verification of daily temperature forecasts (tasmax, tasmin; degC): quantile forecasts and point
baselines, with `scores`.

CRPS of a forecast given as a few quantiles needs a whole distribution: we take the split
normal through the quantiles (normal below the median with the spread of the lowest quantile,
normal above with the spread of the highest), read it at MEMBERS evenly spaced probability
levels, and score that quantile ensemble with scores' `crps_for_ensemble` (ecdf). With the
quantiles 0.1/0.5/0.9 this matches them exactly; the tails are an assumption. A point
forecast's CRPS is its mean absolute error.
"""

from __future__ import annotations

import numpy as np
import scores
import xarray as xr
from scipy.stats import norm

MEMBERS = 99  # probability levels (i - 0.5) / 99 of the quantile ensemble
HOTTEST_SHARE = 0.1  # "hottest days": rows whose observed value is in the top 10 % (for tasmin, the warmest nights)


def _row(values: np.ndarray) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, dtype=float), dims="row")


def quantile_ensemble(quantiles: dict[float, np.ndarray], members: int = MEMBERS) -> np.ndarray:
    """(rows, members) values of the split normal through the lowest, median and highest quantiles.

    `quantiles` must hold 0.5 and one level on each side of it; levels are (i - 0.5) / members.
    """
    levels = sorted(quantiles)
    if 0.5 not in quantiles or levels[0] >= 0.5 or levels[-1] <= 0.5:
        raise ValueError(f"`quantiles` must hold 0.5 and a level on each side, got {levels}")
    low, mid, high = (np.asarray(quantiles[q], dtype=float) for q in (levels[0], 0.5, levels[-1]))
    sd_low = np.maximum(mid - low, 0) / -norm.ppf(levels[0])
    sd_high = np.maximum(high - mid, 0) / norm.ppf(levels[-1])
    z = norm.ppf((np.arange(members) + 0.5) / members)
    return mid[:, None] + np.where(z < 0, sd_low[:, None], sd_high[:, None]) * z[None, :]


def crps_from_quantiles(quantiles: dict[float, np.ndarray], observed: np.ndarray) -> float:
    """Mean CRPS in degC of the split-normal quantile ensemble against `observed`."""
    ensemble = xr.DataArray(quantile_ensemble(quantiles), dims=("row", "member"))
    return float(scores.probability.crps_for_ensemble(ensemble, _row(observed), "member", method="ecdf"))


def _hottest(observed: np.ndarray) -> np.ndarray:
    return observed >= np.quantile(observed, 1 - HOTTEST_SHARE)


def point_scores(predicted: np.ndarray, observed: np.ndarray) -> dict:
    """MAE, RMSE, bias (predicted - observed), CRPS (= MAE) and RMSE on the hottest rows, degC."""
    fcst, obs = _row(predicted), _row(observed)
    hot = _hottest(np.asarray(observed, dtype=float))
    mae = float(scores.continuous.mae(fcst, obs))
    return {
        "n_rows": int(obs.size), "mae_degC": mae, "rmse_degC": float(scores.continuous.rmse(fcst, obs)),
        "bias_degC": float(scores.continuous.additive_bias(fcst, obs)), "crps_degC": mae,
        "rmse_hottest_10pct_degC": float(scores.continuous.rmse(fcst[hot], obs[hot])),
    }


def quantile_scores(quantiles: dict[float, np.ndarray], observed: np.ndarray) -> dict:
    """Point scores of the median, CRPS, coverage of the outer interval and pinball losses, degC."""
    levels = sorted(quantiles)
    low, high = quantiles[levels[0]], quantiles[levels[-1]]
    out = point_scores(quantiles[0.5], observed)
    out["crps_degC"] = crps_from_quantiles(quantiles, observed)
    out["interval_coverage"] = float(np.mean((observed >= low) & (observed <= high)))
    for q in levels:
        out[f"pinball_q{round(q * 100):02d}_degC"] = float(
            scores.continuous.quantile_score(_row(quantiles[q]), _row(observed), q))
    return out
