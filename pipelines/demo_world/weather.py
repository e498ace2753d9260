"""The demo world's regional weather: hourly rain, temperature, humidity, wind, sunshine and tide.

Rain follows the MetMalaysia Bayan Lepas record shipped in pipelines/data: each calendar month's
expected total is the 2013-2022 monthly mean, the wet-day (>= 0.1 mm) frequency comes from the
2021-2022 daily record, and wet-day amounts are gamma with shape 0.5, which reproduces the
record's median, 90th and 99th percentiles. Daily mean temperature follows the monthly record;
the daily range (about 7 degC on dry days, less on wet ones) puts daily maxima where Bayan
Lepas has them: monthly means of about 31-33 degC, warmest February to May, above 35 degC rarely.
Sea level is the astronomical tide of the Penang gauge (TICON-4 constants, pipelines/data) plus
a small synthetic surge.
`climatology` can also make up another climate from the record (seasons shifted, rain scaled,
temperature offset) for a second, differently built demo city; that climate is no place's record.
Times are UTC; each value is the mean over the hour starting at its time stamp.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from scipy.signal import lfilter
from scipy.special import gammaincinv, ndtr, ndtri

from pipelines.bundle.checks import VARIABLE_ATTRS
from pipelines.data import packaged_data
from pipelines.tide import astronomical_tide, read_tide_constants
from pipelines.timezones import local_midnight_utc

RAIN_GAMMA_SHAPE = 0.5
_WET_DAY_MM = 0.1
_DAYS_IN_MONTH = np.array([31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
TIDE_GAUGE = "penang_tide_ticon4.json"  # harmonic constants of the Penang gauge, in pipelines/data
ZOS_COMMENT = ("astronomical tide of the Penang gauge (UHSLC 144A; TICON-4 harmonic constants, predicted by utide "
               "with nodal corrections) plus a synthetic surge; m above the gauge's mean sea level (its MSL datum "
               "over 2004-2023), not chart datum")
_WIND_BY_MONTH = np.array([3.0, 3.2, 2.8, 2.3, 2.2, 2.6, 2.7, 2.7, 2.5, 2.2, 2.1, 2.6])  # m s-1
_TAS_DAY_RANGE_DEGC = (25.3, 30.7)  # daily means of the Bayan Lepas record, 2021-2022: 25.1-30.5
RECORDS = ("bayan-lepas",)  # station records shipped in pipelines/data



@dataclass(frozen=True)
class Climatology:
    """Monthly climate of the record, index 0 = January."""

    rain_mm: np.ndarray  # mean monthly total
    wet_fraction: np.ndarray  # fraction of days with >= 0.1 mm
    tas_mean_degC: np.ndarray  # mean of daily mean temperature
    wind_m_s: np.ndarray = field(default_factory=_WIND_BY_MONTH.copy)  # mean wind speed at 10 m, m s-1
    tas_day_range_degC: tuple[float, float] = _TAS_DAY_RANGE_DEGC  # daily mean temperature stays inside


def bayan_lepas_climatology() -> Climatology:
    """Monthly means of the MetMalaysia Bayan Lepas record (rain, temperature 2013-2022)."""
    monthly = pd.read_csv(packaged_data("bayan_lepas_monthly.csv"))
    means = monthly.groupby(monthly["month"].str[5:7].astype(int))[["rainfall_mm", "temp_mean_c"]].mean()
    daily = pd.read_csv(packaged_data("bayan_lepas_daily.csv"), parse_dates=["date"])
    daily = daily[daily["date"].dt.year >= 2021]  # the two whole years
    wet = (daily["rainfall_mm"] >= _WET_DAY_MM).groupby(daily["date"].dt.month).mean().to_numpy()
    wet = 0.5 * wet + 0.25 * (np.roll(wet, 1) + np.roll(wet, -1))  # two years are few: smooth
    return Climatology(means["rainfall_mm"].to_numpy(), wet, means["temp_mean_c"].to_numpy())


def climatology(
    record: str = "bayan-lepas", *, shift_months: int = 0, rain_scale: float = 1.0, tas_offset_degC: float = 0.0
) -> Climatology:
    """The monthly climate of a shipped station `record`, or a climate made up from it.

    Every season (rain, wet-day frequency, temperature, wind) falls `shift_months` later
    (3 moves Bayan Lepas's September-November wet season to December-February); each month's
    rain total is multiplied by `rain_scale` on unchanged wet-day frequencies, so wet days
    rain harder; daily mean temperatures and their bounds move by `tas_offset_degC`. With the
    defaults this is the record itself. A transformed climate is invented, not measured.
    """
    if record not in RECORDS:
        raise ValueError(f"`record` must be one of {list(RECORDS)}, got {record!r}")
    if not 0 <= shift_months <= 11:
        raise ValueError(f"`shift_months` must be 0..11, got {shift_months}")
    if not rain_scale > 0:
        raise ValueError(f"`rain_scale` must be > 0, got {rain_scale}")
    base = bayan_lepas_climatology()
    low, high = base.tas_day_range_degC
    return Climatology(
        rain_mm=np.roll(base.rain_mm, shift_months) * rain_scale,
        wet_fraction=np.roll(base.wet_fraction, shift_months),
        tas_mean_degC=np.roll(base.tas_mean_degC, shift_months) + tas_offset_degC,
        wind_m_s=np.roll(base.wind_m_s, shift_months),
        tas_day_range_degC=(low + tas_offset_degC, high + tas_offset_degC),
    )


def hourly_times(start: dt.date, n_days: int, timezone: str) -> pd.DatetimeIndex:
    """UTC hours (naive) from local midnight of `start` to local midnight `n_days` later."""
    first = local_midnight_utc(start, timezone)
    last = local_midnight_utc(start + dt.timedelta(days=n_days), timezone)
    return pd.date_range(first, last, freq="h", inclusive="left", unit="s")


def local_day(times: np.ndarray, start: dt.date, timezone: str) -> np.ndarray:
    """Index of the local day (0 = `start`) of each UTC time stamp (naive)."""
    local = pd.DatetimeIndex(times).tz_localize("UTC").tz_convert(timezone).tz_localize(None)
    return (local.normalize() - pd.Timestamp(start)).days.to_numpy()


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """A stationary AR(1) series of standard normals with lag-one correlation `phi`."""
    noise = rng.standard_normal(n)
    noise[0] /= np.sqrt(1 - phi**2)
    return lfilter([np.sqrt(1 - phi**2)], [1, -phi], noise)


def _spread(common: np.ndarray, rng: np.random.Generator, n_points: int, rho: float) -> np.ndarray:
    """Standard normals (n, points) that correlate `rho` across points through `common`."""
    local = rng.standard_normal((common.size, n_points))
    return np.sqrt(rho) * common[:, None] + np.sqrt(1 - rho) * local


def daily_rain_mm(
    rng: np.random.Generator, months: np.ndarray, years: np.ndarray, n_points: int, climate: Climatology
) -> np.ndarray:
    """Daily rain totals (days, points) in mm: persistent, spatially correlated, gamma amounts."""
    n = months.size
    wet_fraction = climate.wet_fraction[months - 1]
    wet_mean = climate.rain_mm[months - 1] / (wet_fraction * _DAYS_IN_MONTH[months - 1])
    occurrence = _ar1(rng, n, 0.45)
    wet = _spread(occurrence, rng, n_points, 0.75) > ndtri(1 - wet_fraction)[:, None]
    quantile = ndtr(_spread(_ar1(rng, n, 0.3), rng, n_points, 0.6))
    amount = gammaincinv(RAIN_GAMMA_SHAPE, quantile) * (wet_mean / RAIN_GAMMA_SHAPE)[:, None]
    year_factor = np.exp(0.12 * rng.standard_normal(years.max() + 1) - 0.12**2 / 2)
    return np.where(wet, amount * year_factor[years][:, None], 0.0)


def _storm_profile(duration: np.ndarray, span: int) -> np.ndarray:
    """Front-loaded hourly weights (days, span) of storms lasting `duration` hours; rows sum to 1."""
    hours = np.arange(span)
    weights = np.exp(-hours / np.maximum(duration / 2, 0.7)[:, None]) * (hours < duration[:, None])
    return weights / weights.sum(axis=1, keepdims=True)


def hourly_rain(
    rng: np.random.Generator, daily: np.ndarray, first_hour: np.ndarray, n_hours: int
) -> np.ndarray:
    """Hourly rain (hours, points) in mm h-1 that adds up to `daily` (days, points).

    Most days bring one convective storm in the afternoon or evening (local time), lasting
    longer when the day is wetter; some bring night-time or morning rain, some a second shower.
    Storm timing is shared across points, give or take an hour. Rain that a late storm carries
    past midnight falls on the next day; rain after the last hour is dropped.
    """
    n, n_points = daily.shape
    span = 14
    extra = np.minimum((daily.max(axis=1) / 25).astype(int), 7)  # wetter days rain longer
    convective = rng.random(n) < 0.7
    start = np.where(convective, np.clip(np.rint(rng.normal(15.5, 2.0, n)), 11, 21),
                     rng.integers(0, 24, n)).astype(int)
    duration = np.where(convective, np.minimum(rng.geometric(0.5, n), 4),
                        np.minimum(1 + rng.geometric(0.25, n), 8)) + extra
    second = rng.random(n) < 0.3
    events = [  # (start hour, profile, share of the day's rain)
        (start, _storm_profile(duration, span), np.where(second, 0.7, 1.0)),
        (rng.integers(0, 24, n), _storm_profile(np.minimum(rng.geometric(0.5, n), 3), span),
         np.where(second, 0.3, 0.0)),
    ]
    index, mass = [], []
    point = np.broadcast_to(np.arange(n_points)[None, :, None], (n, n_points, span))
    for event_start, profile, share in events:
        shift = rng.integers(-1, 2, (n, n_points))
        hour = (first_hour + event_start)[:, None, None] + shift[:, :, None] + np.arange(span)
        index.append(hour * n_points + point)
        mass.append(daily[:, :, None] * (share[:, None] * profile)[:, None, :])
    index, mass = np.concatenate(index).ravel(), np.concatenate(mass).ravel()
    keep = (index >= 0) & (index < n_hours * n_points) & (mass > 0)
    rain = np.bincount(index[keep], weights=mass[keep], minlength=n_hours * n_points)
    return rain.reshape(n_hours, n_points)


def _diurnal_shape(hour: np.ndarray) -> np.ndarray:
    """Diurnal temperature shape at local `hour`: mean 0 over the day, range 1, peak 14:30.

    The evening cools on a 7 h time scale, so the peak stands 0.57 of the range above the
    daily mean: with a dry day's range of about 7 degC, maxima run 4 degC above the mean.
    """
    def raw(h: np.ndarray) -> np.ndarray:
        since_dawn = (h - 6.5) % 24
        rising = np.sin(np.pi * since_dawn / 16)
        night = (np.exp(-(since_dawn - 8) / 7) - np.exp(-16 / 7)) / (1 - np.exp(-16 / 7))
        return np.where(since_dawn <= 8, rising, night)

    day = raw(np.arange(0, 24, 0.25))
    return (raw(hour) - day.mean()) / (day.max() - day.min())


def clear_sky_rsds(times: pd.DatetimeIndex, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Clear-sky global irradiance (hours, points) in W m-2, at the middle of each UTC hour.

    Haurwitz (1945) model on the solar zenith angle (Cooper declination, Spencer-type
    equation of time).
    """
    mid = times + pd.Timedelta(minutes=30)
    doy = mid.day_of_year.to_numpy()[:, None]
    utc_hour = (mid.hour + mid.minute / 60).to_numpy()[:, None]
    declination = np.radians(23.44) * np.sin(2 * np.pi * (284 + doy) / 365)
    b = 2 * np.pi * (doy - 81) / 364
    equation_of_time_h = (9.87 * np.sin(2 * b) - 7.53 * np.cos(b) - 1.5 * np.sin(b)) / 60
    hour_angle = np.radians(15 * (utc_hour + lon[None, :] / 15 + equation_of_time_h - 12))
    phi = np.radians(lat)[None, :]
    cos_zenith = np.sin(phi) * np.sin(declination) + np.cos(phi) * np.cos(declination) * np.cos(hour_angle)
    above = np.maximum(cos_zenith, 1e-3)  # the formula only holds with the sun up
    return np.where(cos_zenith > 0, 1098 * above * np.exp(-0.057 / above), 0.0)


def tide_m(times: pd.DatetimeIndex) -> np.ndarray:
    """Astronomical tide (hours,) at the Penang gauge in m above its mean sea level, at the middle of each hour."""
    constants = read_tide_constants(packaged_data(TIDE_GAUGE))
    return astronomical_tide(times + pd.Timedelta(minutes=30), constants).values


def surge_m(rng: np.random.Generator, n_hours: int, day: np.ndarray, rain_day: np.ndarray) -> np.ndarray:
    """A synthetic surge (hours,) in m: slow noise of 5 cm s.d. plus up to 10 cm on days of heavy rain.

    Small by choice: the gauge's file holds no observed residual to calibrate a surge against.
    The noise is AR(1) with 36 h memory; the wet-day set-up grows with the day's mean rain over
    the region (5 cm at 27 mm, 10 cm beyond about 100 mm).
    """
    return 0.05 * _ar1(rng, n_hours, np.exp(-1 / 36)) + 0.1 * np.tanh(rain_day.mean(axis=1) / 50)[day]


def simulate_regional_weather(
    lat: np.ndarray, lon: np.ndarray, start: dt.date, n_days: int, timezone: str,
    rng: np.random.Generator, climate: Climatology,
) -> xr.Dataset:
    """Hourly regional weather (time, y, x) for `n_days` local days from local midnight of `start`.

    Variables and units as in docs/data-contract.md, float32, on the grid `lat` x `lon`
    (EPSG:4326); `time` is UTC. Every point is simulated independently of the city grid.
    """
    times = hourly_times(start, n_days, timezone)
    local = times.tz_localize("UTC").tz_convert(timezone)
    day = local_day(times.to_numpy(), start, timezone)
    local_hour = (local.hour + local.minute / 60).to_numpy() + 0.5
    first_hour = np.searchsorted(day, np.arange(n_days))
    dates = pd.date_range(pd.Timestamp(start), periods=n_days, freq="D")
    months = dates.month.to_numpy()
    years = dates.year.to_numpy() - dates.year[0]
    lat2, lon2 = np.meshgrid(lat, lon, indexing="ij")
    n_points = lat2.size

    rain_day = daily_rain_mm(rng, months, years, n_points, climate)
    pr = hourly_rain(rng, rain_day, first_hour, times.size)

    month_mid = np.cumsum(_DAYS_IN_MONTH) - _DAYS_IN_MONTH / 2
    doy = dates.day_of_year.to_numpy()
    clim_tas = np.interp(doy, np.r_[month_mid[-1] - 365.25, month_mid, month_mid[0] + 365.25],
                         np.r_[climate.tas_mean_degC[-1], climate.tas_mean_degC, climate.tas_mean_degC[0]])
    anomaly = _ar1(rng, n_days, 0.75)
    tas_day = np.clip(clim_tas[:, None] + 0.45 * anomaly[:, None] + 0.15 * rng.standard_normal(rain_day.shape)
                      - 1.0 * np.tanh(rain_day / 25) + 0.2,  # +0.2: rainy days were in the record
                      *climate.tas_day_range_degC)
    day_range = np.clip(7.0 - 3.5 * np.tanh(rain_day / 20) + 0.6 * rng.standard_normal(rain_day.shape), 3, 11)
    rain_cooling = 1.5 * np.tanh(pr / 8)
    tas = tas_day[day] + day_range[day] * _diurnal_shape(local_hour)[:, None] - rain_cooling

    rh_day = np.clip(79 + 7 * np.tanh(rain_day / 15) - 1.5 * anomaly[:, None]
                     + 2.5 * rng.standard_normal(rain_day.shape), 65, 95)
    hurs = np.clip(rh_day[day] - 4.0 * (tas - tas_day[day]) + 10 * np.tanh(pr / 3), 40, 100)

    breeze = 1.3 * np.clip(np.sin(np.pi * (local_hour - 10) / 10), 0, None)
    wind_day = climate.wind_m_s[months - 1] * np.exp(0.25 * _ar1(rng, n_days, 0.6) - 0.25**2 / 2)
    gusts = np.exp(0.2 * rng.standard_normal(pr.shape) - 0.02)
    sfc_wind = np.clip((wind_day[day][:, None] + breeze[:, None]) * gusts + 2 * np.tanh(pr / 10), 0.2, 20)

    transmission = np.clip(0.82 - 0.12 * (rain_day >= _WET_DAY_MM) - 0.25 * np.tanh(rain_day / 20)
                           + 0.08 * rng.standard_normal(rain_day.shape), 0.15, 0.95)
    rain_clouds = 1 - 0.75 * np.tanh(pr / 2)
    rsds = clear_sky_rsds(times, lat2.ravel(), lon2.ravel()) * transmission[day] * rain_clouds

    zos = np.repeat((tide_m(times) + surge_m(rng, times.size, day, rain_day))[:, None], n_points, axis=1)

    shape = (times.size, lat.size, lon.size)
    values = {"pr": pr, "tas": tas, "hurs": hurs, "sfcWind": sfc_wind, "rsds": rsds, "zos": zos}
    ds = xr.Dataset(
        {name: (("time", "y", "x"), values[name].reshape(shape).astype("float32"), VARIABLE_ATTRS[name])
         for name in VARIABLE_ATTRS},
        coords={"time": times.to_numpy(), "y": lat, "x": lon},
    )
    ds["zos"].attrs["comment"] = ZOS_COMMENT
    ds.y.attrs.update(standard_name="latitude", units="degrees_north", axis="Y")
    ds.x.attrs.update(standard_name="longitude", units="degrees_east", axis="X")
    return ds.rio.write_crs("EPSG:4326")
