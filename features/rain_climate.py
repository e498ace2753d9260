"""Rain and storage relative to the place: return periods of rain maxima against the local climate,
and the soil water index of a three-tank model.

Return periods follow the annual-maximum method: a GEV is fitted to the annual maxima of the
D-hour rain total (per duration D), and an amount x maps to the mean interval between exceedances
T(x) = -1 / ln F(x) years, F the GEV's distribution function (Langbein 1949, Trans. AGU 30, 879-881;
for rare amounts T = 1 / (1 - F), the annual-maximum return period). Amounts below the smallest
annual maxima read the GEV's lower tail: there T still grows with the amount and ranks the days,
but states no climate; it is clipped to RETURN_PERIOD_RANGE_YEARS.

The soil water index is the storage of three serial tanks (Ishihara and Kobatake 1979, Bull.
Disaster Prev. Res. Inst. Kyoto Univ. 29, 27-43) with the coefficients of the Japan Meteorological
Agency's soil water index (Okada et al. 2001, Tenki 48, 349-356), stepped hourly.
"""

from __future__ import annotations

import numba
import numpy as np
import xarray as xr
from scipy.stats import genextreme

from features.grid import require_units

RETURN_PERIOD_DURATIONS_H = (1, 3, 24, 72)
RETURN_PERIOD_RANGE_YEARS = (1 / 365.25, 1000.0)  # a daily event .. beyond what a short record can say
_MIN_YEAR_SHARE = 0.95  # a year with fewer valid hours has no annual maximum
_MIN_MAXIMA = 10  # fewer annual maxima (pooled over cells) cannot hold three GEV parameters

# JMA soil water index (Okada et al. 2001), per hour: tank 1 has side outlets at 15 and 60 mm,
# tanks 2 and 3 one each at 15 mm; each tank drains through its bottom into the next one, the
# third into deep ground water. Side outlets give runoff a * (S - L) above their height L.
TANK_OUTLETS = ((15.0, 0.10), (60.0, 0.15)), ((15.0, 0.05),), ((15.0, 0.01),)  # (height mm, per hour)
TANK_INFILTRATION_PER_H = (0.12, 0.05, 0.01)
N_TANKS = 3


def annual_maxima_mm(pr: xr.DataArray, hours: int) -> xr.DataArray:
    """Largest `hours`-hour rain total of each calendar year (of `time`'s UTC years), in mm; dims (year, y, x).

    A window with a missing hour is no total; a year with under 95 % of its hours valid is dropped.
    """
    require_units(pr, "mm h-1", "pr")
    if (pr.time.diff("time") != np.timedelta64(1, "h")).any():
        raise ValueError("`pr` must be hourly without gaps in `time`")
    total = pr.rolling(time=hours, min_periods=hours).sum()  # mm h-1 x 1 h = mm
    year = pr.time.dt.year.rename("year")
    valid = pr.notnull().groupby(year).sum("time")
    hours_in_year = xr.DataArray(
        [8784 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 8760 for y in valid.year.values],
        dims="year", coords={"year": valid.year})
    maxima = total.groupby(year).max("time").where(valid >= _MIN_YEAR_SHARE * hours_in_year)
    return maxima.rename(f"rain_annual_max_{hours}h_mm").assign_attrs(
        units="mm", long_name=f"largest {hours} h rain total of the year", cell_methods="time: maximum")


def gev_rain_climate(pr: xr.DataArray, durations_h: tuple[int, ...] = RETURN_PERIOD_DURATIONS_H) -> xr.Dataset:
    """GEV parameters of the annual rain maxima per duration, pooled over every (y, x) of `pr`; dim `duration_h`.

    `pr` is hourly rain (time, y, x) in mm h-1. The maxima of all cells and years are pooled into one
    sample per duration (a regional fit: a few years per cell cannot hold three parameters; the cells of
    a small regional grid share one climate). `shape` is scipy's `c` (c > 0 a bounded upper tail, the
    negative of the usual xi); `loc_mm` and `scale_mm` in mm; `n_maxima` the pooled sample's size.
    Under 10 maxima (a history shorter than a year or two) the parameters are NaN, and so are the
    return periods read from them.
    """
    params = []
    for hours in durations_h:
        maxima = annual_maxima_mm(pr, hours).values.ravel()
        maxima = maxima[np.isfinite(maxima)]
        fit = genextreme.fit(maxima) if maxima.size >= _MIN_MAXIMA else (np.nan, np.nan, np.nan)
        params.append((*fit, maxima.size))
    shape, loc, scale, n = (np.array(column) for column in zip(*params, strict=True))
    coords = {"duration_h": ("duration_h", np.asarray(durations_h), {"units": "h", "long_name": "rain duration"})}
    return xr.Dataset({
        "shape": ("duration_h", shape, {"units": "1", "long_name": "GEV shape (scipy c = -xi) of annual rain maxima"}),
        "loc_mm": ("duration_h", loc, {"units": "mm", "long_name": "GEV location of annual rain maxima"}),
        "scale_mm": ("duration_h", scale, {"units": "mm", "long_name": "GEV scale of annual rain maxima"}),
        "n_maxima": ("duration_h", n, {"units": "1", "long_name": "annual maxima pooled in the fit"}),
    }, coords=coords)


def return_period_years(rain: xr.DataArray, climate: xr.Dataset, hours: int) -> xr.DataArray:
    """Mean interval between `hours`-hour rain totals of at least `rain` (mm), in years; same dims as `rain`.

    T = -1 / ln F(rain), F the GEV of `climate` (gev_rain_climate) for `hours`, clipped to
    RETURN_PERIOD_RANGE_YEARS; NaN rain, or a climate without a fit (NaN parameters), gives NaN.
    """
    require_units(rain, "mm", "rain")
    if hours not in climate.duration_h.values:
        raise ValueError(f"`climate` has no fit for {hours} h, only {climate.duration_h.values.tolist()} h")
    fit = climate.sel(duration_h=hours)
    log_f = xr.apply_ufunc(genextreme.logcdf, rain, float(fit["shape"]), float(fit["loc_mm"]),
                           float(fit["scale_mm"]))
    with np.errstate(divide="ignore"):  # ln F = 0 (beyond a bounded tail) is an infinite return period
        years = (-1.0 / log_f).clip(*RETURN_PERIOD_RANGE_YEARS)
    return years.rename(f"rain_return_period_{hours}h_years").assign_attrs(
        units="years", long_name=f"return period of the {hours} h rain total against the local climate")


@numba.njit(cache=True)
def _tank_kernel(rain: np.ndarray, initial: np.ndarray, heights: np.ndarray, runoff: np.ndarray,
                 infiltration: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Storage after each hour (series, hours, tanks) and water leaving the tanks each hour (series, hours).

    Outflows are read from the storage at the start of the hour (explicit Euler, 1 h step); outlets
    with zero coefficient are padding. A NaN hour of rain counts as dry.
    """
    n_series, n_hours = rain.shape
    n_tanks, n_outlets = heights.shape
    storage = np.empty((n_series, n_hours, n_tanks))
    outflow = np.empty((n_series, n_hours))
    for i in range(n_series):
        s = initial[i].copy()
        for t in range(n_hours):
            inflow = rain[i, t] if rain[i, t] == rain[i, t] else 0.0
            leaving = 0.0
            for k in range(n_tanks):
                side = 0.0
                for j in range(n_outlets):
                    side += runoff[k, j] * max(s[k] - heights[k, j], 0.0)
                down = infiltration[k] * s[k]
                s[k] += inflow - side - down
                leaving += side
                inflow = down
            outflow[i, t] = leaving + inflow  # side runoff of every tank, and the third tank's seepage
            storage[i, t] = s
    return storage, outflow


def tank_storage(pr: xr.DataArray, initial_mm: xr.DataArray | None = None, *, dim: str = "time") -> xr.Dataset:
    """Storage of the three soil water index tanks after each hour of `pr` (mm h-1), in mm.

    Returns `storage_mm` (dims of `pr` with `tank` last, tanks 1..3 top down) and `outflow_mm` (water
    leaving the tanks in each hour, dims of `pr`): storage gained = rain - outflow, hour by hour.
    `initial_mm` holds the storage before the first hour (dims of `pr` without `dim`, plus `tank`;
    default empty tanks). A missing hour of rain counts as dry.
    """
    require_units(pr, "mm h-1", "pr")
    others = [d for d in pr.dims if d != dim]
    rain = pr.transpose(*others, dim)
    shape = rain.shape
    if initial_mm is None:
        start = np.zeros((int(np.prod(shape[:-1])), N_TANKS))
    else:
        require_units(initial_mm, "mm", "initial_mm")
        start = initial_mm.transpose(*others, "tank").values.reshape(-1, N_TANKS).astype(float)
    n_outlets = max(len(outlets) for outlets in TANK_OUTLETS)
    heights = np.array([[h for h, _ in o] + [0.0] * (n_outlets - len(o)) for o in TANK_OUTLETS])
    runoff = np.array([[a for _, a in o] + [0.0] * (n_outlets - len(o)) for o in TANK_OUTLETS])
    storage, outflow = _tank_kernel(rain.values.reshape(-1, shape[-1]).astype(float), start, heights, runoff,
                                    np.asarray(TANK_INFILTRATION_PER_H, float))
    coords = {name: c for name, c in rain.coords.items() if set(c.dims) <= set(rain.dims)}
    dims = (*others, dim)
    return xr.Dataset({
        "storage_mm": ((*dims, "tank"), storage.reshape(*shape, N_TANKS),
                       {"units": "mm", "long_name": "water stored in each soil water index tank"}),
        "outflow_mm": (dims, outflow.reshape(shape),
                       {"units": "mm", "long_name": "water leaving the soil water index tanks in the hour"}),
    }, coords=coords).assign_coords(tank=np.arange(1, N_TANKS + 1))
