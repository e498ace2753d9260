"""Conservation climate per site: mould growth on timber and paper (VTT model), and how fast a wet building dries.

The mould index M (0 no growth .. 6 heavy growth) is stepped hour by hour from air temperature
and relative humidity by the VTT model: Hukka and Viitanen (1999), "A mathematical model of mould
growth on wooden material", Wood Sci. Technol. 33, 475-485, with the material sensitivity classes
of Ojanen et al. (2010), "Mold growth modeling of building structures using sensitivity classes of
materials", Proc. Thermal Performance of the Exterior Envelopes of Whole Buildings XI (ASHRAE):

- critical humidity RH_crit = max(-0.00267 T^3 + 0.160 T^2 - 3.13 T + 100, RH_min) for T >= 0 degC
  (RH_min 80 % for the two sensitive classes: RH_crit is 80 % above about 20 degC), 100 % below 0;
- growth where 0 < T < 50 degC and RH >= RH_crit, per day:
  dM/dt = k1 k2 / (7 exp(-0.68 ln T - 13.9 ln RH + 66.02)), the exponential being the weeks before
  growth starts on pine sapwood (the 1999 terms 0.14 W - 0.33 SQ are 0 for pine, kiln-dried, as in
  the 2010 model); k1 = k11 while M < 1, else k12; k2 = max(1 - exp(2.3 (M - M_max)), 0) with
  M_max = A + B x - C x^2, x = (RH_crit - RH) / (RH_crit - 100);
- decline otherwise, per day: -0.032 in the first 6 h of a dry spell, 0 from 6 to 24 h, -0.016
  after 24 h (Hukka and Viitanen 1999), times the class's C_mat (Ojanen et al. 2010); M >= 0.

Indoors is taken as outdoors: a shophouse, clan house or temple in George Town is open and
naturally ventilated (air wells, open fronts, timber louvres), so its air follows the street's.
A conditioned store room or display case is drier than this says.

Pure: hourly xarray in, xarray out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from features.grid import require_units
from features.heat import vapour_pressure_deficit
from models.heat.levels import band_level


@dataclass(frozen=True)
class MouldSensitivity:
    """A VTT sensitivity class (Ojanen et al. 2010): growth rates k11 (M < 1) and k12
    (M >= 1), the M_max curve's A, B, C, the lowest critical humidity RH_min (%) and the decline factor C_mat."""

    k11: float
    k12: float
    a: float
    b: float
    c: float
    rh_min_pct: float
    c_mat: float


SENSITIVITY_CLASSES = {
    "very_sensitive": MouldSensitivity(1.0, 2.0, 1.0, 7.0, 2.0, 80.0, 1.0),  # untreated wood (pine sapwood)
    "sensitive": MouldSensitivity(0.578, 0.386, 0.3, 6.0, 1.0, 80.0, 0.5),  # planed wood, paper-coated products
    "medium_resistant": MouldSensitivity(0.072, 0.097, 0.0, 5.0, 1.5, 85.0, 0.25),  # lime plaster, concrete
    "resistant": MouldSensitivity(0.033, 0.014, 0.0, 3.0, 1.0, 85.0, 0.1),  # glass, metal
}
# Untreated timber and old paper: the most sensitive class, the one the model was first fitted on.
DEFAULT_SENSITIVITY = "very_sensitive"
# Mould risk from the highest mould index of the forecast: moderate from M = 1 (growth has started,
# seen under a microscope), high from M = 3 (mould visible to the eye), the VTT scale of Hukka and
# Viitanen (1999); M < 3 is ASHRAE Standard 160-2016's acceptance criterion.
MOULD_RISK_INDEX = (1.0, 3.0)
MOULD_RISK_WORDS = ("low", "moderate", "high")
# Drying after a flood from the forecast's mean vapour pressure deficit: slow below 5 hPa, fast from
# 10 hPa. A wet surface evaporates in proportion to the deficit (Dalton's law); George Town's
# air averages about 7 hPa (27 degC, 80 %), so slow is a humid spell drying at under 3/4 of the usual
# rate and fast a dry one at over 4/3 of it. The bands are ours, set on that climate, not a standard.
DRYING_VPD_HPA = (5.0, 10.0)
DRYING_WORDS = ("slow", "moderate", "fast")
_DECLINE_PER_DAY = ((6, -0.032), (24, 0.0), (np.inf, -0.016))  # (dry hours up to, dM/dt per day)


def critical_humidity(tas: xr.DataArray, *, sensitivity: str = DEFAULT_SENSITIVITY) -> xr.DataArray:
    """Relative humidity in % above which mould grows at air temperature `tas` (degC), VTT model."""
    require_units(tas, "degC", "tas")
    rh_min = _sensitivity(sensitivity).rh_min_pct
    curve = (-0.00267 * tas**3 + 0.160 * tas**2 - 3.13 * tas + 100).clip(min=rh_min)
    return curve.where((tas >= 0) | tas.isnull(), 100.0).rename("rh_crit_pct").assign_attrs(
        units="%", long_name="critical relative humidity for mould growth (VTT model)")


def mould_index(tas: xr.DataArray, hurs: xr.DataArray, *, sensitivity: str = DEFAULT_SENSITIVITY) -> xr.DataArray:
    """VTT mould index (0..6, unitless) after each hour of hourly `tas` (degC) and `hurs` (%), dims of `tas`.

    M starts at 0 before the first hour. An hour with NaN in either input leaves M and the length of
    the dry spell as they were. Loops over hours, vectorised over every other dim.
    """
    require_units(tas, "degC", "tas")
    require_units(hurs, "%", "hurs")
    if (tas.time.diff("time") != np.timedelta64(1, "h")).any():
        raise ValueError("`tas` must be hourly without gaps in `time`")
    params = _sensitivity(sensitivity)
    tas, hurs = xr.broadcast(tas, hurs)
    hurs = hurs.transpose(*tas.dims)
    rh_crit = critical_humidity(tas, sensitivity=sensitivity).values
    axis = tas.dims.index("time")
    t, rh, crit = (np.moveaxis(np.asarray(v, float), axis, 0) for v in (tas.values, hurs.values, rh_crit))
    m, dry_h = np.zeros(t.shape[1:]), np.zeros(t.shape[1:])
    out = np.empty(t.shape)
    for hour in range(t.shape[0]):
        m, dry_h = _step(m, dry_h, t[hour], rh[hour], crit[hour], params)
        out[hour] = m
    return xr.DataArray(np.moveaxis(out, 0, axis), coords=tas.coords, dims=tas.dims, name="mould_index",
                        attrs={"units": "1", "long_name": f"VTT mould index ({sensitivity.replace('_', ' ')} material)"})


def _step(m: np.ndarray, dry_h: np.ndarray, t: np.ndarray, rh: np.ndarray, crit: np.ndarray,
          params: MouldSensitivity) -> tuple[np.ndarray, np.ndarray]:
    """(M, hours of the dry spell) one hour on (module docstring)."""
    known = np.isfinite(t) & np.isfinite(rh)
    grows = known & (t > 0) & (t < 50) & (rh >= crit)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x = np.where(crit < 100, (crit - rh) / (crit - 100), 1.0)
        m_max = np.maximum(params.a + params.b * x - params.c * x**2, 0.0)
        k1 = np.where(m < 1, params.k11, params.k12)
        k2 = np.maximum(1 - np.exp(2.3 * (m - m_max)), 0.0)
        weeks = np.exp(-0.68 * np.log(t) - 13.9 * np.log(rh) + 66.02)
        growth_per_day = k1 * k2 / (7 * weeks)
    dry_h = np.where(grows, 0.0, np.where(known, dry_h + 1, dry_h))
    decline_per_day = np.select([dry_h <= limit for limit, _ in _DECLINE_PER_DAY],
                                [rate for _, rate in _DECLINE_PER_DAY]) * params.c_mat
    per_day = np.where(grows, growth_per_day, np.where(known, decline_per_day, 0.0))
    return np.maximum(m + per_day / 24, 0.0), dry_h


def mould_risk(mould_index_max: xr.DataArray) -> xr.DataArray:
    """Mould risk 0 low, 1 moderate, 2 high from a mould index (MOULD_RISK_INDEX); NaN where the index is."""
    require_units(mould_index_max, "1", "mould_index_max")
    return _classes(mould_index_max, MOULD_RISK_INDEX).rename("mould_risk").assign_attrs(
        units="1", long_name="mould risk for timber and paper (VTT mould index)",
        flag_values=[0, 1, 2], flag_meanings=" ".join(MOULD_RISK_WORDS),
        mould_index_bounds=list(MOULD_RISK_INDEX))


def drying_rate(vpd_mean_hpa: xr.DataArray) -> xr.DataArray:
    """How fast a wet building dries, 0 slow, 1 moderate, 2 fast, from a mean vapour pressure deficit
    (hPa, DRYING_VPD_HPA); NaN where the deficit is."""
    require_units(vpd_mean_hpa, "hPa", "vpd_mean_hpa")
    return _classes(vpd_mean_hpa, DRYING_VPD_HPA).rename("drying").assign_attrs(
        units="1", long_name="how fast a wet building dries (mean vapour pressure deficit)",
        flag_values=[0, 1, 2], flag_meanings=" ".join(DRYING_WORDS), vpd_bounds_hpa=list(DRYING_VPD_HPA))


def conservation_climate(tas: xr.DataArray, hurs: xr.DataArray, *, observed_hours: int, lead_days: int,
                         sensitivity: str = DEFAULT_SENSITIVITY) -> xr.Dataset:
    """Mould and drying per site over a forecast: dims (site, lead) and (site,); any dim but `time` is kept.

    `tas` (degC) and `hurs` (%) are hourly along `time`: `observed_hours` observed hours before the
    issue (the mould index is spun up over them from M = 0; NaN hours hold it), then at least
    24 x `lead_days` forecast hours from the start of lead day 0. Returns `mould_index` at the end
    of each lead day, `vpd_daily_mean_hpa` per lead day; over the forecast: `mould_index_at_issue`,
    `mould_index_max` and the lead day it is first reached (`mould_index_max_lead`),
    `hours_above_rh_crit` (h, of `forecast_hours`), the lowest critical humidity `rh_crit_pct`,
    `mould_risk` (mould_risk), `vpd_mean_hpa` and `drying` (drying_rate).
    """
    hours = 24 * lead_days
    if observed_hours < 0:
        raise ValueError(f"`observed_hours` must be >= 0, got {observed_hours}")
    if tas.sizes["time"] < observed_hours + hours:
        raise ValueError(f"`tas` has {tas.sizes['time']} hours, {observed_hours + hours} needed "
                         f"({observed_hours} observed, {hours} forecast)")
    window = slice(observed_hours, observed_hours + hours)
    index = mould_index(tas.isel(time=slice(0, observed_hours + hours)),
                        hurs.isel(time=slice(0, observed_hours + hours)), sensitivity=sensitivity)
    ahead = index.isel(time=window)
    tas_ahead, hurs_ahead = tas.isel(time=window), hurs.isel(time=window)

    def days(hourly: xr.DataArray) -> xr.DataArray:
        return hourly.drop_vars("time").coarsen(time=24).construct(time=("lead", "hour_of_day")).assign_coords(
            lead=np.arange(lead_days))

    at_issue = (index.isel(time=observed_hours - 1).drop_vars("time") if observed_hours
                else xr.zeros_like(ahead.isel(time=0).drop_vars("time")))
    peak = ahead.max("time").assign_attrs(units="1")
    vpd = vapour_pressure_deficit(tas_ahead, hurs_ahead)
    vpd_mean = vpd.mean("time").assign_attrs(units="hPa")
    rh_crit = critical_humidity(tas_ahead, sensitivity=sensitivity)
    out = xr.Dataset({
        "mould_index": days(ahead).isel(hour_of_day=-1).assign_attrs(
            units="1", long_name="VTT mould index at the end of the lead day"),
        "vpd_daily_mean_hpa": days(vpd).mean("hour_of_day").assign_attrs(
            units="hPa", long_name="mean vapour pressure deficit of the lead day"),
        "mould_index_at_issue": at_issue.assign_attrs(units="1", long_name="VTT mould index at issue, spun up "
                                                      f"over the {observed_hours} observed hours before"),
        "mould_index_max": peak.assign_attrs(long_name="highest VTT mould index of the forecast"),
        "mould_index_max_lead": days(ahead).max("hour_of_day").argmax("lead").assign_attrs(
            units="days", long_name="first lead day reaching mould_index_max"),
        "hours_above_rh_crit": (hurs_ahead >= rh_crit).sum("time").assign_attrs(
            units="h", long_name="forecast hours at or above the critical humidity for mould growth"),
        "rh_crit_pct": rh_crit.min("time").assign_attrs(units="%", long_name="lowest critical humidity "
                                                         "for mould growth in the forecast (VTT model)"),
        "mould_risk": mould_risk(peak),
        "vpd_mean_hpa": vpd_mean.assign_attrs(long_name="mean vapour pressure deficit of the forecast"),
        "drying": drying_rate(vpd_mean),
    })
    out.lead.attrs.update(long_name="lead day after the issue date", units="days")
    return out.assign_attrs(forecast_hours=hours, sensitivity=sensitivity,
                            method="VTT mould growth model (Hukka and Viitanen 1999; Ojanen et al. 2010)")


def _classes(values: xr.DataArray, bounds: tuple[float, ...]) -> xr.DataArray:
    """How many of `bounds` each value reaches (models.heat.levels.band_level), NaN where `values` is."""
    return xr.apply_ufunc(band_level, values, kwargs={"thresholds": bounds}).where(values.notnull())


def _sensitivity(name: str) -> MouldSensitivity:
    if name not in SENSITIVITY_CLASSES:
        raise ValueError(f"`sensitivity` must be one of {sorted(SENSITIVITY_CLASSES)}, got {name!r}")
    return SENSITIVITY_CLASSES[name]
