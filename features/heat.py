"""Heat-stress indices per cell: dew point, humidity at the day's maximum, heat index and WBGT; the vapour
pressure deficit.

The formulas are thermofeel's (ECMWF), which works in Kelvin; these wrappers take and return
degC, check units on entry and stamp CF attributes on the way out. Daily values use the day's
maximum air temperature with the humidity of that hour: in the humid tropics the dew point
barely moves through the day, so the afternoon humidity follows from the daily mean air.
"""

from __future__ import annotations

import numpy as np
import thermofeel
import thermofeel.approximations
import xarray as xr

from features.grid import require_units

_KELVIN = 273.15
_SEA_LEVEL_HPA = 1013.25
_BLOCK = 65_536  # elements per call of an iterative solver: its arrays stay in cache, its loop stops early


def _apply(func, *arrays: xr.DataArray) -> xr.DataArray:
    """`func` of numpy arrays applied element-wise to broadcast `arrays`, _BLOCK elements at a time.

    Dask-friendly. thermofeel's Liljegren solvers iterate until every element of a call has
    converged, so blocks also spare the easy elements the iterations of the hardest.
    """
    def call(*values: np.ndarray) -> np.ndarray:
        flat = [v.ravel() for v in np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in values))]
        out = np.empty(flat[0].size)
        for start in range(0, flat[0].size, _BLOCK):
            block = slice(start, start + _BLOCK)
            out[block] = func(*(v[block] for v in flat))
        return out.reshape(np.broadcast_shapes(*(np.shape(v) for v in values)))

    return xr.apply_ufunc(call, *arrays, dask="parallelized", output_dtypes=[float])


def _require_fraction(layer: xr.DataArray, name: str) -> None:
    require_units(layer, "1", name)
    if ((layer < 0) | (layer > 1)).any():
        raise ValueError(f"`{name}` must lie in [0, 1], got values from {float(layer.min())} to {float(layer.max())}")


def dew_point(tas: xr.DataArray, hurs: xr.DataArray) -> xr.DataArray:
    """Dew point temperature in degC from air temperature (degC) and relative humidity (%).

    Alduchov and Eskridge (1996), J. Appl. Meteor. 35, 601-609 (thermofeel).
    """
    require_units(tas, "degC", "tas")
    require_units(hurs, "%", "hurs")
    td_k = _apply(lambda t, rh: thermofeel.calculate_dew_point_from_relative_humidity(rh, t + _KELVIN),
                  tas, hurs)
    return (td_k - _KELVIN).rename("tdps").assign_attrs(
        standard_name="dew_point_temperature", units="degC", long_name="dew point temperature")


def vapour_pressure_deficit(tas: xr.DataArray, hurs: xr.DataArray) -> xr.DataArray:
    """Vapour pressure deficit in hPa, e_s(tas) x (1 - hurs / 100), from air temperature (degC) and humidity (%).

    Saturation vapour pressure over water by Hardy (1998), ITS-90 formulations (thermofeel). A wet
    surface evaporates in proportion to it (Dalton's law): it says how fast a wet wall or floor dries.
    """
    require_units(tas, "degC", "tas")
    require_units(hurs, "%", "hurs")
    saturation_hpa = _apply(lambda t: thermofeel.calculate_saturation_vapour_pressure(t + _KELVIN), tas)
    return (saturation_hpa * (1 - hurs / 100)).clip(min=0).rename("vpd_hpa").assign_attrs(
        units="hPa", long_name="vapour pressure deficit")


def relative_humidity(tas: xr.DataArray, tdps: xr.DataArray) -> xr.DataArray:
    """Relative humidity in % (0..100) of air at `tas` (degC) with dew point `tdps` (degC).

    Above 100 % (a dew point above the air temperature) is capped at 100.
    """
    require_units(tas, "degC", "tas")
    require_units(tdps, "degC", "tdps")
    rh = _apply(lambda t, td: thermofeel.calculate_relative_humidity_percent(t + _KELVIN, td + _KELVIN),
                tas, tdps)
    return rh.clip(max=100).rename("hurs").assign_attrs(
        standard_name="relative_humidity", units="%", long_name="relative humidity")


def humidity_at_daily_max(tasmax: xr.DataArray, tasmin: xr.DataArray, hurs_mean: xr.DataArray) -> xr.DataArray:
    """Relative humidity in % at the hour of `tasmax`, holding the dew point of the daily mean air.

    The daily mean air is approximated as ((tasmax + tasmin) / 2, hurs_mean). Pass the regional
    tasmin and humidity with a cell's own tasmax: a hotter street then gets drier air, as it does.
    """
    require_units(tasmax, "degC", "tasmax")
    require_units(tasmin, "degC", "tasmin")
    mean_air = ((tasmax + tasmin) / 2).assign_attrs(units="degC")
    tdps = dew_point(mean_air, hurs_mean)
    return relative_humidity(tasmax, tdps).assign_attrs(
        long_name="relative humidity at the hour of the daily maximum temperature",
        cell_methods="time: point (at the daily maximum of air temperature)")


def heat_index(tas: xr.DataArray, hurs: xr.DataArray) -> xr.DataArray:
    """NWS heat index (apparent temperature) in degC from air temperature (degC) and humidity (%).

    Rothfusz's regression with the NWS adjustments for low and high humidity, and Steadman's
    simple formula where the heat index stays below 80 degF (thermofeel's
    calculate_heat_index_adjusted; https://www.wpc.ncep.noaa.gov/html/heatindex_equation.shtml).
    The regression reproduces the NWS table within about 1.3 degF.
    """
    require_units(tas, "degC", "tas")
    require_units(hurs, "%", "hurs")
    tdps = dew_point(tas, hurs)
    hi_k = _apply(lambda t, td: thermofeel.calculate_heat_index_adjusted(t + _KELVIN, td + _KELVIN), tas, tdps)
    return (hi_k - _KELVIN).rename("heat_index").assign_attrs(
        units="degC", long_name="heat index (NWS, apparent temperature in the shade)")


def solar_noon_cos_zenith(lat: xr.DataArray, day_of_year: xr.DataArray) -> xr.DataArray:
    """Cosine of the sun's zenith angle at local solar noon (unitless, 0 in polar night).

    `lat` in degrees_north; `day_of_year` 1..366 (units '1'). Declination from Spencer's
    Fourier series (Spencer 1971, Search 2(5), 172), good to about 0.05 degrees.
    """
    require_units(lat, "degrees_north", "lat")
    require_units(day_of_year, "1", "day_of_year")
    declination = _declination(2 * np.pi * (day_of_year - 1) / 365)
    cos_zenith = np.cos(np.deg2rad(lat) - declination).clip(min=0).rename("cos_zenith")
    cos_zenith.attrs = {"units": "1", "long_name": "cosine of the solar zenith angle at local solar noon"}
    return cos_zenith


def cos_solar_zenith(lat: xr.DataArray, lon: xr.DataArray, time: xr.DataArray) -> xr.DataArray:
    """Cosine of the sun's zenith angle at the instants `time` (UTC, datetime64), unitless, 0 with the sun down.

    `lat` in degrees_north, `lon` in degrees_east; dims broadcast. Declination and the equation
    of time from Spencer's Fourier series (Spencer 1971, Search 2(5), 172), the hour angle from
    the UTC time and the longitude: good to about 0.01 in the cosine.
    """
    require_units(lat, "degrees_north", "lat")
    require_units(lon, "degrees_east", "lon")
    if not np.issubdtype(time.dtype, np.datetime64):
        raise ValueError(f"`time` must hold datetime64 (UTC), got dtype {time.dtype}")
    hours_utc = (time - time.astype("datetime64[D]")) / np.timedelta64(1, "h")
    angle = 2 * np.pi * (time.dt.dayofyear - 1 + hours_utc / 24) / 365
    equation_of_time_min = 229.18 * (0.000075 + 0.001868 * np.cos(angle) - 0.032077 * np.sin(angle)
                                     - 0.014615 * np.cos(2 * angle) - 0.040849 * np.sin(2 * angle))
    solar_hours = hours_utc + lon / 15 + equation_of_time_min / 60
    hour_angle = np.deg2rad(15 * (solar_hours - 12))
    declination, phi = _declination(angle), np.deg2rad(lat)
    cos_zenith = (np.sin(phi) * np.sin(declination) + np.cos(phi) * np.cos(declination) * np.cos(hour_angle))
    return cos_zenith.clip(min=0).rename("cos_zenith").assign_attrs(
        units="1", long_name="cosine of the solar zenith angle")


def _declination(angle):
    """The sun's declination in radians at the day angle `angle` (2 pi (day of year - 1) / 365), Spencer (1971)."""
    return (0.006918 - 0.399912 * np.cos(angle) + 0.070257 * np.sin(angle)
            - 0.006758 * np.cos(2 * angle) + 0.000907 * np.sin(2 * angle)
            - 0.002697 * np.cos(3 * angle) + 0.00148 * np.sin(3 * angle))


def direct_beam_fraction(rsds: xr.DataArray, cos_zenith: xr.DataArray, day_of_year: xr.DataArray) -> xr.DataArray:
    """Share (0..1) of the shortwave radiation `rsds` (W m-2) in the direct beam, sun at `cos_zenith`.

    Estimated from the clearness index (rsds over the radiation at the top of the atmosphere)
    by the Erbs et al. (1982) decomposition, Solar Energy 28, 293-302 (thermofeel's
    approximate_fdir_erbs): near 0.8 under a clear tropical sky, 0 under thick cloud or no sun.
    """
    require_units(rsds, "W m-2", "rsds")
    _require_fraction(cos_zenith, "cos_zenith")
    require_units(day_of_year, "1", "day_of_year")
    direct = _apply(lambda sw, cz, doy: thermofeel.approximations.approximate_fdir_erbs(sw, cz, doy=doy),
                    rsds, cos_zenith, day_of_year)
    share = (direct / rsds.where(rsds > 0)).fillna(0.0).where(rsds.notnull() & cos_zenith.notnull())
    return share.rename("direct_fraction").assign_attrs(
        units="1", long_name="fraction of the shortwave radiation in the direct beam")


def wet_bulb_globe_temperature(
    tas: xr.DataArray, hurs: xr.DataArray, wind: xr.DataArray, rsds: xr.DataArray,
    cos_zenith: xr.DataArray, direct_fraction: xr.DataArray, *, pressure_hPa: float = _SEA_LEVEL_HPA,
) -> xr.DataArray:
    """Outdoor wet bulb globe temperature in degC, Liljegren's method (as KNMI runs it).

    From air temperature (degC), humidity (%), 10 m wind (m s-1) and the shortwave radiation
    on the ground at that moment (`rsds`, W m-2) with the sun at `cos_zenith` and a
    `direct_fraction` of it in the direct beam (both unitless, 0..1): the globe and natural
    wet bulb are solved from their energy balances (Liljegren et al. 2008, J. Occup. Environ.
    Hyg. 5, 645-655; thermofeel's calculate_wbgt_liljegren). NaN where the solver does not converge.
    """
    require_units(tas, "degC", "tas")
    require_units(hurs, "%", "hurs")
    require_units(wind, "m s-1", "wind")
    require_units(rsds, "W m-2", "rsds")
    _require_fraction(cos_zenith, "cos_zenith")
    _require_fraction(direct_fraction, "direct_fraction")
    wbgt_k = _apply(lambda t, rh, va, sw, cz, fd: thermofeel.calculate_wbgt_liljegren(
        t + _KELVIN, rh, np.full_like(t, pressure_hPa), va, sw, fd, cz), tas, hurs, wind, rsds, cos_zenith,
        direct_fraction)
    return (wbgt_k - _KELVIN).rename("wbgt").assign_attrs(
        units="degC", long_name="wet bulb globe temperature (Liljegren)")


def observed_daily_max(tas: xr.DataArray, end: np.datetime64, days: int) -> xr.DataArray:
    """Maximum of hourly `tas` (degC, dim `time`) over each of the `days` whole days before `end`.

    Dim `day` counts back from `end`: -days .. -1 (day -1 is the 24 h just before `end`). A day
    with a missing hour is NaN: a partial maximum could miss the afternoon.
    """
    require_units(tas, "degC", "tas")
    start = np.datetime64(end) - np.timedelta64(24 * days, "h")
    hours = start + np.arange(24 * days) * np.timedelta64(1, "h")
    window = tas.reindex(time=hours)
    daily = window.coarsen(time=24).construct(time=("day", "hour")).max("hour", skipna=False)
    return daily.assign_coords(day=np.arange(-days, 0)).rename("tasmax").assign_attrs(
        standard_name="air_temperature", units="degC", long_name="observed daily maximum air temperature",
        cell_methods="time: maximum within days")
