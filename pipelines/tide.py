"""The astronomical tide at a gauge, predicted from its published harmonic constants with utide.

A gauge's constants come as JSON in the layout of the Neaps tide database, where TICON-4 is
published (pipelines/data/penang_tide_ticon4.json): `harmonic_constituents` (`name`, `amplitude`
in m, `phase` in degrees: Greenwich phase lags, times in UTC), the gauge's `latitude` and
`longitude`, and its tidal `datums` in m above tide-gauge zero. utide (Codiga 2011, the Python
port of UTide) predicts from them with its nodal and satellite corrections evaluated at every
time, not linearised. The constants hold no mean (Z0), so the prediction is in m above the
gauge's mean sea level (`datums["MSL"]` above gauge zero, over the constants' epoch).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import utide
import xarray as xr
from utide._ut_constants import constit_index_dict, ut_constants  # utide's constituent table: no public name
from utide.utilities import Bunch

# TICON-4 names that utide spells otherwise: the same constituent (IHO speed and Doodson number).
_UTIDE_NAMES = {"EP2": "EPS2", "LAMBDA2": "LDA2", "SGM": "SIG1"}
# Constituents utide's tables lack are left out. At Penang they are M1 5.7 mm, R3 4.7, 3L2 3.4,
# MA2 3.2, 3N2 2.9, T3 2.7, MTM 1.8, S3 1.2, MB2 1.2 and MSQM 1.1 mm: 28 mm if all peaked
# together, against 614 mm of M2. A file whose missing constituents matter is refused.
_MAX_DROPPED_SHARE = 0.02  # of the largest amplitude, for any one constituent left out
_CHUNK_TIMES = 8784  # utide holds (its 146 constituents x times) complex factors: a year of hours at a time
# A sea-level series agrees with the gauge when its M2 is within these of the gauge's (docs/live-city.md)
M2_AMPLITUDE_TOLERANCE = 0.15  # fraction of the gauge's M2 amplitude (Penang: 0.092 of 0.614 m)
M2_PHASE_TOLERANCE_DEG = 20.0  # of Greenwich phase lag: 41 minutes of M2's 12.42 h
MIN_AGREEMENT_HOURS = 720  # a month: M2 separates from S2 (14.8 d) and N2 (27.6 d)
_AGREEMENT_CONSTITUENTS = ["M2", "S2", "N2", "K1", "O1"]  # the five a month of hours resolves


@dataclass(frozen=True)
class TideConstants:
    """Harmonic constants of one tide gauge, named as utide names them."""

    gauge: str
    latitude: float
    longitude: float
    names: tuple[str, ...]
    amplitude_m: np.ndarray
    phase_deg: np.ndarray  # Greenwich phase lag, times in UTC
    msl_above_gauge_zero_m: float
    left_out: tuple[str, ...]  # constituents of the file that utide does not know


def read_tide_constants(path: Path) -> TideConstants:
    """The harmonic constants of the gauge in the JSON file `path` (layout in the module docstring)."""
    record = json.loads(Path(path).read_text())
    try:
        rows = [(_UTIDE_NAMES.get(c["name"], c["name"]), float(c["amplitude"]), float(c["phase"]))
                for c in record["harmonic_constituents"]]
        msl = float(record["datums"]["MSL"])
        gauge, lat, lon = record["name"], float(record["latitude"]), float(record["longitude"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: not a file of harmonic constants: {err!r}") from err
    known = [row for row in rows if row[0] in constit_index_dict]
    left_out = [row for row in rows if row[0] not in constit_index_dict]
    largest = max(amplitude for _, amplitude, _ in rows)
    too_big = [f"{name} ({amplitude:.3f} m)" for name, amplitude, _ in left_out
               if amplitude > _MAX_DROPPED_SHARE * largest]
    if too_big:
        raise ValueError(f"{path}: utide does not know the constituents {', '.join(too_big)}")
    names, amplitude, phase = zip(*known, strict=True)
    return TideConstants(gauge=gauge, latitude=lat, longitude=lon, names=names,
                         amplitude_m=np.array(amplitude), phase_deg=np.array(phase),
                         msl_above_gauge_zero_m=msl, left_out=tuple(name for name, _, _ in left_out))


def _utide_coef(constants: TideConstants) -> Bunch:
    """The coefficient structure `utide.solve` would return for these constants, for `reconstruct`."""
    lind = np.array([constit_index_dict[name] for name in constants.names])
    options = Bunch(twodim=False, notrend=True, nodiagn=True, prefilt=[],  # nodiagn: no SNR selection
                    nodsatlint=False, nodsatnone=False, gwchlint=False, gwchnone=False)  # exact, every time
    aux = Bunch(frq=ut_constants.const.freq[lind], lind=lind, lat=constants.latitude, opt=options,
                reftime=0.0)  # reftime serves linearised corrections and trends only: neither is used
    return Bunch(name=np.array(constants.names), A=constants.amplitude_m, g=constants.phase_deg,
                 mean=0.0, slope=0.0, aux=aux)


def astronomical_tide(times: pd.DatetimeIndex, constants: TideConstants) -> xr.DataArray:
    """The astronomical tide at the instants `times` (UTC), in m above the gauge's mean sea level; dims (time,).

    Naive `times` are taken as UTC; aware ones are converted. Levels are instantaneous: for the
    mean over an hour, pass the middle of the hour.
    """
    times = pd.DatetimeIndex(times)
    if times.tz is not None:
        times = times.tz_convert("UTC").tz_localize(None)
    coef = _utide_coef(constants)
    instants = times.to_numpy()
    level = np.concatenate([np.empty(0), *(
        utide.reconstruct(instants[first:first + _CHUNK_TIMES], coef, verbose=False).h
        for first in range(0, instants.size, _CHUNK_TIMES))])
    return xr.DataArray(
        level, coords={"time": instants}, dims="time", name="tide_m",
        attrs={"long_name": f"astronomical tide at {constants.gauge} above the gauge's mean sea level",
               "units": "m", "comment": f"mean sea level {constants.msl_above_gauge_zero_m} m above gauge zero"},
    )


def m2_agreement(times: pd.DatetimeIndex, level: np.ndarray, constants: TideConstants) -> dict:
    """M2 of the sea level `level` (m) at `times` (UTC) against the gauge's: amplitudes (m), Greenwich
    phase lags (degrees), the amplitude ratio, the phase difference (-180..180) and `within_tolerance`.

    M2 is fitted with utide (`solve`, least squares, nodal corrections) together with S2, N2, K1 and
    O1, on the finite values only. Raises ValueError with fewer than MIN_AGREEMENT_HOURS of them.
    """
    finite = np.isfinite(level)
    if finite.sum() < MIN_AGREEMENT_HOURS:
        raise ValueError(f"`level` has {int(finite.sum())} finite hours; the M2 check needs {MIN_AGREEMENT_HOURS}")
    instants = pd.DatetimeIndex(times)[finite].to_numpy()
    fit = utide.solve(instants, np.asarray(level, float)[finite], lat=constants.latitude,
                      constit=_AGREEMENT_CONSTITUENTS, method="ols", conf_int="none", trend=False, verbose=False)
    m2 = list(fit.name).index("M2")
    gauge = constants.names.index("M2")
    amplitude, gauge_amplitude = float(fit.A[m2]), float(constants.amplitude_m[gauge])
    phase, gauge_phase = float(fit.g[m2]), float(constants.phase_deg[gauge])
    difference = (phase - gauge_phase + 180.0) % 360.0 - 180.0
    ratio = amplitude / gauge_amplitude
    return {"hours": int(finite.sum()), "first_hour": str(pd.Timestamp(instants[0])),
            "last_hour": str(pd.Timestamp(instants[-1])), "gauge": constants.gauge,
            "m2_amplitude_m": round(amplitude, 4), "gauge_m2_amplitude_m": round(gauge_amplitude, 4),
            "amplitude_ratio": round(ratio, 3), "m2_phase_deg": round(phase, 1),
            "gauge_m2_phase_deg": round(gauge_phase, 1), "phase_difference_deg": round(difference, 1),
            "tolerance": f"amplitude within {M2_AMPLITUDE_TOLERANCE:.0%}, phase within {M2_PHASE_TOLERANCE_DEG:g} deg",
            "within_tolerance": bool(abs(ratio - 1) <= M2_AMPLITUDE_TOLERANCE
                                     and abs(difference) <= M2_PHASE_TOLERANCE_DEG)}
