"""Daily weather drivers per issue date and lead day, and their transfer to the city grid.

Drivers are computed on the regional grid (dims `y`, `x` in the CRS of its grid mapping) where
the weather lives, then interpolated bilinearly to city cells: the regional fields carry no 30 m
detail, and doing the daily aggregation first keeps the cube small.
"""

from __future__ import annotations

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from pyproj import Transformer
from scipy import sparse

from features.grid import require_units
from features.rain_climate import RETURN_PERIOD_DURATIONS_H, return_period_years, tank_storage

_CANONICAL_UNITS = {"pr": "mm h-1", "tas": "degC", "hurs": "%", "sfcWind": "m s-1", "rsds": "W m-2", "zos": "m"}
_ANTECEDENT_HOURS = 72
_WETNESS_DECAY_PER_DAY = 0.85  # share of a day's rain still wetting the ground a day later
_HIGH_TIDE_SHARE = 0.75  # "high tide": the top quarter of the day's tidal range

DRIVERS = {  # name: (units, long_name)
    "rain_max_1h_mm": ("mm", "largest hourly rain of the day"),
    "rain_max_3h_mm": ("mm", "largest 3 h rain total ending in the day"),
    "rain_24h_mm": ("mm", "rain over the local day"),
    "rain_antecedent_72h_mm": ("mm", "rain over the 72 h before the day"),
    "antecedent_wetness_72h_mm": ("mm", (f"rain of the 72 h before the day, decayed by {_WETNESS_DECAY_PER_DAY} "
                                         "a day (antecedent precipitation index)")),
    "sea_level_max_m": ("m", "highest sea level of the day above mean sea level"),
    "sea_level_at_peak_rain_m": ("m", "highest sea level above mean sea level in the 3 h of the day's largest 3 h rain"),
    "rain_high_tide_mm": ("mm", "rain in the hours the sea stands in the top quarter of the day's tidal range"),
    "rain_max_72h_mm": ("mm", "largest 72 h rain total ending in the day"),
    **{f"rain_return_period_{h}h_years": ("years", (f"return period of the day's largest {h} h rain total against "
                                                     "the local climate (annual-maximum GEV)"))
       for h in RETURN_PERIOD_DURATIONS_H},
    "rain_return_period_max_years": ("years", "longest of the day's 1, 3, 24 and 72 h rain return periods"),
    "soil_water_index_start_mm": ("mm", "water stored in the soil water index tanks at the start of the day"),
    "soil_water_index_max_mm": ("mm", "largest water storage of the soil water index tanks in the day"),
    "tasmax_regional_degC": ("degC", "regional daily maximum air temperature"),
    "tasmin_regional_degC": ("degC", "regional daily minimum air temperature"),
    "hurs_mean_pct": ("%", "regional daily mean relative humidity"),
    "wind_mean_m_s": ("m s-1", "regional daily mean wind speed"),
    "rsds_max_W_m2": ("W m-2", "regional largest hourly shortwave radiation of the day (the sun at midday)"),
    "rsds_mean_W_m2": ("W m-2", "regional daily mean shortwave radiation (how sunny the day is)"),
}
DRIVER_NAMES = tuple(DRIVERS)


def daily_drivers(forecast: xr.Dataset, antecedent_pr: xr.DataArray, *, lead_days: int, climate: xr.Dataset,
                  tanks_at_issue_mm: xr.DataArray) -> xr.Dataset:
    """Daily drivers per lead day, dims (..., lead, y, x); `lead` counts local days from issue.

    `forecast` holds hourly `pr`, `tas`, `hurs`, `sfcWind`, `rsds`, `zos` along `lead_time`, starting at
    local midnight of the issue date (any leading dims such as `issue_time` are kept).
    `antecedent_pr` is the observed rain of the 72 hours before issue, dim `hour` (-72..-1),
    with the same other dims. Windows that cross midnight or the issue time count whole:
    the 3, 24 and 72 h maxima and the 72 h antecedent total join the observed and forecast hours.
    The sea level at peak rain is read in the hours of the first largest 3 h window (on a dry
    day, the window ending at 00:00); before the issue time only forecast sea levels count.
    `climate` is the rain climate of features.rain_climate.gev_rain_climate, read for the return
    periods; `tanks_at_issue_mm` the soil water index tanks' storage at issue (dims of
    `antecedent_pr` without `hour`, plus `tank`), which the forecast rain then fills.
    """
    for name, units in _CANONICAL_UNITS.items():
        require_units(forecast[name], units, name)
    require_units(antecedent_pr, "mm h-1", "antecedent_pr")
    require_units(tanks_at_issue_mm, "mm", "tanks_at_issue_mm")
    hours = 24 * lead_days
    if forecast.sizes["lead_time"] < hours:
        raise ValueError(f"`forecast` has {forecast.sizes['lead_time']} hours, {hours} needed")
    if antecedent_pr.sizes["hour"] != _ANTECEDENT_HOURS:
        raise ValueError(f"`antecedent_pr` must hold {_ANTECEDENT_HOURS} hours")
    ahead = forecast.isel(lead_time=slice(0, hours)).rename(lead_time="hour")
    ahead = ahead.assign_coords(hour=np.arange(hours))
    pr = xr.concat([antecedent_pr.assign_coords(hour=np.arange(-_ANTECEDENT_HOURS, 0)), ahead["pr"]],
                   dim="hour")

    def days(hourly: xr.DataArray) -> xr.DataArray:
        """`hourly` from hour 0 reshaped to (..., lead, hour_of_day)."""
        window = hourly.sel(hour=slice(0, hours - 1)).coarsen(hour=24)
        return window.construct(hour=("lead", "hour_of_day")).assign_coords(lead=np.arange(lead_days))

    def by_day(hourly: xr.DataArray, how: str) -> xr.DataArray:
        return getattr(days(hourly), how)("hour_of_day")

    def before_each_day(hourly: xr.DataArray) -> xr.DataArray:
        ends = hourly.sel(hour=np.arange(lead_days) * 24 - 1)  # the window ending just before each day
        return ends.rename(hour="lead").assign_coords(lead=np.arange(lead_days))

    rain_3h = pr.rolling(hour=3).sum()  # mm h-1 x 1 h = mm
    rain_max = {hours: by_day(pr.rolling(hour=hours).sum(), "max").assign_attrs(units="mm")
                for hours in RETURN_PERIOD_DURATIONS_H}
    return_periods = {f"rain_return_period_{hours}h_years": return_period_years(rain, climate, hours)
                      for hours, rain in rain_max.items()}
    tanks = tank_storage(ahead["pr"], tanks_at_issue_mm, dim="hour")["storage_mm"].sum("tank").transpose(
        *ahead["pr"].dims)
    before_hour = tanks.shift(hour=1).fillna(tanks_at_issue_mm.sum("tank"))  # storage at the start of each hour
    decay = xr.DataArray(_WETNESS_DECAY_PER_DAY ** (np.arange(_ANTECEDENT_HOURS, 0, -1) / 24), dims="hour")
    wetness = xr.concat(  # one window per lead day, not per hour: the stack stays small
        [pr.sel(hour=slice(24 * lead - _ANTECEDENT_HOURS, 24 * lead - 1)).dot(decay.assign_coords(
            hour=np.arange(24 * lead - _ANTECEDENT_HOURS, 24 * lead))) for lead in range(lead_days)],
        dim=xr.DataArray(np.arange(lead_days), dims="lead", name="lead"),
    )
    zos = ahead["zos"]
    zos_3h = zos.rolling(hour=3, min_periods=1).max()
    peak_hour = days(rain_3h).argmax("hour_of_day")
    tide = days(zos)
    low, high = tide.min("hour_of_day"), tide.max("hour_of_day")
    high_tide = tide >= low + _HIGH_TIDE_SHARE * (high - low)

    drivers = {
        "rain_max_1h_mm": by_day(pr, "max"),
        "rain_max_3h_mm": by_day(rain_3h, "max"),
        "rain_24h_mm": by_day(pr, "sum"),
        "rain_antecedent_72h_mm": before_each_day(pr.rolling(hour=_ANTECEDENT_HOURS).sum()),
        "antecedent_wetness_72h_mm": wetness,
        "sea_level_max_m": high,
        "sea_level_at_peak_rain_m": days(zos_3h).isel(hour_of_day=peak_hour),
        "rain_high_tide_mm": days(pr).where(high_tide, 0.0).sum("hour_of_day"),
        "rain_max_72h_mm": rain_max[72],
        **return_periods,
        "rain_return_period_max_years": xr.concat(list(return_periods.values()), dim="duration").max("duration"),
        "soil_water_index_start_mm": days(before_hour).isel(hour_of_day=0),
        "soil_water_index_max_mm": by_day(tanks, "max"),
        "tasmax_regional_degC": by_day(ahead["tas"], "max"),
        "tasmin_regional_degC": by_day(ahead["tas"], "min"),
        "hurs_mean_pct": by_day(ahead["hurs"], "mean"),
        "wind_mean_m_s": by_day(ahead["sfcWind"], "mean"),
        "rsds_max_W_m2": by_day(ahead["rsds"], "max"),
        "rsds_mean_W_m2": by_day(ahead["rsds"], "mean"),
    }
    out = xr.Dataset({
        name: da.drop_vars("hour", errors="ignore").astype("float32").assign_attrs(  # hours left over from indexing
            units=DRIVERS[name][0], long_name=DRIVERS[name][1])
        for name, da in drivers.items()
    })
    out.lead.attrs.update(long_name="lead day after the issue date", units="days")
    return out


def bilinear_weights(
    src_y: np.ndarray, src_x: np.ndarray, y: np.ndarray, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Corner indices and weights to interpolate a regular (src_y, src_x) grid at points (y, x).

    Returns (iy, ix, wy, wx): the value at a point is the weighted sum of the 2x2 block whose
    top-left corner is (iy, ix), with weights (1-wy, wy) along y and (1-wx, wx) along x.
    Points beyond the grid take the edge value.
    """
    def axis(src: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(src)
        pos = np.interp(pts, src[order], np.arange(src.size, dtype=float))
        lower = np.clip(np.floor(pos).astype(int), 0, max(src.size - 2, 0))
        weight = np.clip(pos - lower, 0.0, 1.0) if src.size > 1 else np.zeros_like(pos)
        return order[lower], weight, order[np.minimum(lower + 1, src.size - 1)]

    iy0, wy, iy1 = axis(np.asarray(src_y, float), np.asarray(y, float))
    ix0, wx, ix1 = axis(np.asarray(src_x, float), np.asarray(x, float))
    return np.stack([iy0, iy1]), np.stack([ix0, ix1]), wy, wx


def regional_weights(grid: xr.Dataset | xr.DataArray, lon: np.ndarray, lat: np.ndarray) -> tuple:
    """`bilinear_weights` to read `grid`'s regional (y, x) at points given in WGS84 degrees.

    The grid's 1-D `y`, `x` are in the CRS of its grid mapping (`grid.rio.crs`, EPSG:4326 or a
    projection such as UTM); the points are transformed into that CRS first. A grid without a
    CRS is refused: its axes could be degrees or metres.
    """
    crs = grid.rio.crs
    if crs is None:
        raise ValueError("`grid` has no CRS (spatial_ref): cannot place points on its `y`, `x`")
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(
        np.asarray(lon, float), np.asarray(lat, float))
    return bilinear_weights(grid.y.values, grid.x.values, y, x)


def sample_bilinear(values: np.ndarray, weights: tuple, *, index: tuple = ()) -> np.ndarray:
    """Bilinear values at points from `values[..., y, x]` and `bilinear_weights(...)` output.

    `index` selects leading positions per point (e.g. (issue_index, lead_index) arrays), so
    each point reads its own issue date and lead; with no `index` all leading dims are kept,
    read as one sparse (points x source cells) product over every leading field at once.
    """
    (iy0, iy1), (ix0, ix1), wy, wx = weights
    if not index:
        return _bilinear_matrix(weights, values.shape[-2:]).dot(
            values.reshape(-1, values.shape[-2] * values.shape[-1]).T).T.reshape(*values.shape[:-2], wy.size)

    def at(iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
        return values[(*index, iy, ix)]

    top = at(iy0, ix0) * (1 - wx) + at(iy0, ix1) * wx
    bottom = at(iy1, ix0) * (1 - wx) + at(iy1, ix1) * wx
    return top * (1 - wy) + bottom * wy


def _bilinear_matrix(weights: tuple, shape: tuple[int, int]) -> sparse.csr_array:
    """The (points, ny * nx) matrix of bilinear weights: four per point, rows summing to 1."""
    (iy0, iy1), (ix0, ix1), wy, wx = weights
    columns = np.stack([iy0 * shape[1] + ix0, iy0 * shape[1] + ix1, iy1 * shape[1] + ix0, iy1 * shape[1] + ix1], axis=1)
    data = np.stack([(1 - wy) * (1 - wx), (1 - wy) * wx, wy * (1 - wx), wy * wx], axis=1)
    return sparse.csr_array((data.ravel(), columns.ravel(), np.arange(0, data.size + 1, 4)),
                            shape=(wy.size, shape[0] * shape[1]))

