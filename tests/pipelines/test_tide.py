"""The Penang gauge's tide: utide on the TICON-4 constants, and the demo world's sea level built from it."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
import utide
from utide._ut_constants import ut_constants
from utide.utilities import Bunch

from pipelines.data import packaged_data
from pipelines.demo_world.weather import bayan_lepas_climatology, simulate_regional_weather
from pipelines.tide import astronomical_tide, m2_agreement, read_tide_constants

GAUGE = json.loads(packaged_data("penang_tide_ticon4.json").read_text())
CONSTANTS = {c["name"]: (c["amplitude"], c["phase"]) for c in GAUGE["harmonic_constituents"]}
ABOVE_MSL = {name: level - GAUGE["datums"]["MSL"] for name, level in GAUGE["datums"].items()}
ALIASES = {"EP2": "EPS2", "LAMBDA2": "LDA2", "SGM": "SIG1"}  # TICON-4 name: utide's
LEFT_OUT = ("M1", "MSQM", "MTM", "S3", "MA2", "MB2", "T3", "R3", "3L2", "3N2")


def _largest_constituents(times: pd.DatetimeIndex) -> np.ndarray:
    """The gauge's tide (m above MSL) from its 15 constituents above 16 mm but S1 and L2, summed by hand
    at `times` (UTC).

    Mean longitudes of Meeus (1998) from J2000; nodal factors f, u of Doodson as tabulated by
    Schureman (1958), functions of the Moon's node N alone; equilibrium arguments V with the
    Doodson numbers (Sa and T2 with the perihelion, as Doodson and UTide have them). S1 and L2
    are left out: their corrections are not functions of N alone.
    """
    d = np.asarray((times - pd.Timestamp("2000-01-01 12:00")) / pd.Timedelta(days=1), dtype=float)
    t = 15 * ((d + 0.5) % 1) * 24 + 180  # hour angle of the mean sun, deg
    s, h = 218.3165 + 13.17639648 * d, 280.4665 + 0.98564736 * d  # moon, sun
    p, node = 83.3532 + 0.11140353 * d, np.radians(125.0445 - 0.05295377 * d)  # lunar perigee, node
    perihelion = 282.94  # deg, moves 1.7 deg a century
    cos, sin = (lambda k: np.cos(k * node)), (lambda k: np.sin(k * node))
    f_m2, u_m2 = 1.0004 - 0.0373 * cos(1) + 0.0002 * cos(2), -2.14 * sin(1)
    f_k1 = 1.0060 + 0.1150 * cos(1) - 0.0088 * cos(2) + 0.0006 * cos(3)
    u_k1 = -8.86 * sin(1) + 0.68 * sin(2) - 0.07 * sin(3)
    f_o1 = 1.0089 + 0.1871 * cos(1) - 0.0147 * cos(2) + 0.0014 * cos(3)
    u_o1 = 10.80 * sin(1) - 1.34 * sin(2) + 0.19 * sin(3)
    f_k2 = 1.0241 + 0.2863 * cos(1) + 0.0083 * cos(2) - 0.0015 * cos(3)
    u_k2 = -17.74 * sin(1) + 0.68 * sin(2) - 0.04 * sin(3)
    one, zero = np.ones_like(d), np.zeros_like(d)
    arguments = {  # name: (V, f, u), degrees
        "M2": (2 * t - 2 * s + 2 * h, f_m2, u_m2), "S2": (2 * t, one, zero),
        "N2": (2 * t - 3 * s + 2 * h + p, f_m2, u_m2), "K2": (2 * t + 2 * h, f_k2, u_k2),
        "MU2": (2 * t - 4 * s + 4 * h, f_m2, u_m2), "K1": (t + h - 90, f_k1, u_k1),
        "O1": (t - 2 * s + h + 90, f_o1, u_o1), "P1": (t - h + 90, one, zero),
        "M4": (4 * t - 4 * s + 4 * h, f_m2**2, 2 * u_m2), "MS4": (4 * t - 2 * s + 2 * h, f_m2, u_m2),
        "SA": (h - perihelion, one, zero), "SSA": (2 * h, one, zero), "T2": (2 * t - h + perihelion, one, zero),
        "NU2": (2 * t - 3 * s + 4 * h - p, f_m2, u_m2), "2N2": (2 * t - 4 * s + 2 * h + 2 * p, f_m2, u_m2),
    }
    return sum(CONSTANTS[name][0] * f * np.cos(np.radians(v + u - CONSTANTS[name][1]))
               for name, (v, f, u) in arguments.items())


@pytest.fixture(scope="module")
def sea_level():
    """A year of the demo world's hourly sea level at the gauge, as UTC hours."""
    weather = simulate_regional_weather(np.array([GAUGE["latitude"]]), np.array([GAUGE["longitude"]]),
                                        dt.date(2021, 1, 1), 365, "Asia/Kuala_Lumpur",
                                        np.random.default_rng(3), bayan_lepas_climatology())
    return weather["zos"].isel(y=0, x=0).to_series().astype("float64")


def test_the_demo_sea_level_is_the_gauges_tide_plus_a_small_surge(sea_level):
    middle = sea_level.index + pd.Timedelta(minutes=30)  # each value is the mean over its hour
    by_hand = _largest_constituents(middle)
    assert np.corrcoef(sea_level, by_hand)[0, 1] >= 0.99
    assert np.std(sea_level - by_hand) < 0.1
    assert abs(sea_level.mean()) < 0.05  # m above the gauge's mean sea level


def test_the_demo_tide_ranges_like_the_gauges_observed_datums(sea_level):
    daily = sea_level.resample("1D")
    higher_high, lower_low = daily.max(), daily.min()
    assert higher_high.mean() == pytest.approx(ABOVE_MSL["MHHW"], abs=0.1)
    assert lower_low.mean() == pytest.approx(ABOVE_MSL["MLLW"], abs=0.1)
    assert 2.3 <= (higher_high - lower_low).max() <= 3.0  # the biggest spring tides
    assert 2.5 <= sea_level.max() - sea_level.min() <= ABOVE_MSL["HAT"] - ABOVE_MSL["LAT"] + 0.2


def test_the_prediction_is_utides_own_on_the_constants_across_its_yearly_chunks():
    times = pd.date_range("2023-12-01", "2025-02-01", freq="h", inclusive="left")  # two chunks of a year
    known = {ALIASES.get(n, n): a_g for n, a_g in CONSTANTS.items() if n not in LEFT_OUT}
    table = list(ut_constants.const.name)
    lind = np.array([table.index(name) for name in known])
    options = Bunch(twodim=False, notrend=True, nodiagn=True, prefilt=[], nodsatlint=False, nodsatnone=False,
                    gwchlint=False, gwchnone=False)
    coef = Bunch(name=np.array(list(known)), A=np.array([a for a, _ in known.values()]),
                 g=np.array([g for _, g in known.values()]), mean=0.0, slope=0.0,
                 aux=Bunch(lind=lind, frq=ut_constants.const.freq[lind], lat=GAUGE["latitude"], reftime=0.0,
                           opt=options))
    expected = utide.reconstruct(times.to_numpy(), coef, verbose=False).h  # in one call
    constants = read_tide_constants(packaged_data("penang_tide_ticon4.json"))
    np.testing.assert_allclose(astronomical_tide(times, constants).values, expected, atol=1e-9)
    local = times.tz_localize("UTC").tz_convert("Asia/Kuala_Lumpur")
    np.testing.assert_allclose(astronomical_tide(local, constants).values, expected, atol=1e-9)


def test_constituents_utide_lacks_are_left_out_and_other_spellings_mapped():
    constants = read_tide_constants(packaged_data("penang_tide_ticon4.json"))
    assert constants.left_out == LEFT_OUT
    assert {"EPS2", "LDA2", "SIG1"} <= set(constants.names) and "SGM" not in constants.names
    assert len(constants.names) == len(CONSTANTS) - len(LEFT_OUT)
    assert constants.msl_above_gauge_zero_m == 2.751


def test_a_gauge_whose_left_out_constituent_matters_is_refused(tmp_path):
    path = tmp_path / "gauge.json"
    path.write_text(json.dumps(GAUGE | {"harmonic_constituents": [
        {"name": "M2", "amplitude": 1.0, "phase": 10.0}, {"name": "MA2", "amplitude": 0.05, "phase": 0.0}]}))
    with pytest.raises(ValueError, match=r"utide does not know the constituents MA2 \(0.050 m\)"):
        read_tide_constants(path)


def test_a_file_without_harmonic_constants_is_refused(tmp_path):
    path = tmp_path / "gauge.json"
    path.write_text(json.dumps({"name": "Penang", "latitude": 5.4}))
    with pytest.raises(ValueError, match="gauge.json: not a file of harmonic constants"):
        read_tide_constants(path)


CHECK_HOURS = pd.date_range("2024-03-01", periods=24 * 40, freq="h")  # 40 days


def test_the_gauges_own_tide_agrees_with_its_m2():
    penang = read_tide_constants(packaged_data("penang_tide_ticon4.json"))
    check = m2_agreement(CHECK_HOURS, astronomical_tide(CHECK_HOURS, penang).values, penang)
    assert check["within_tolerance"] is True
    assert abs(check["amplitude_ratio"] - 1) < 0.02 and abs(check["phase_difference_deg"]) < 2
    assert check["hours"] == 960


@pytest.mark.parametrize(("scale", "late_min", "ratio", "phase_deg"), [(0.8, 0, 0.8, 0.0), (1.0, 50, 1.0, 24.2)])
def test_a_tide_too_small_or_too_late_drifts_from_the_gauge(scale, late_min, ratio, phase_deg):
    penang = read_tide_constants(packaged_data("penang_tide_ticon4.json"))
    level = scale * astronomical_tide(CHECK_HOURS - pd.Timedelta(minutes=late_min), penang).values
    check = m2_agreement(CHECK_HOURS, level, penang)
    assert check["within_tolerance"] is False
    # M2 turns 28.98 degrees an hour: 50 minutes late is 24.2 degrees more phase lag
    assert check["amplitude_ratio"] == pytest.approx(ratio, abs=0.02)
    assert check["phase_difference_deg"] == pytest.approx(phase_deg, abs=1.5)


def test_the_m2_check_needs_a_month_of_finite_hours():
    penang = read_tide_constants(packaged_data("penang_tide_ticon4.json"))
    level = astronomical_tide(CHECK_HOURS, penang).values
    level[:300] = np.nan
    with pytest.raises(ValueError, match="`level` has 660 finite hours; the M2 check needs 720"):
        m2_agreement(CHECK_HOURS, level, penang)
