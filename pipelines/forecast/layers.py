"""Forecast layers per row of a feature frame: the models' flood chance and heat quantiles, heat stress.

`model_layers` is what every forecast runs, the daily one and a backtest's hindcasts alike; the
daily forecast adds the flood drivers (`explain_from`) and the heat-stress layers of `heat_stress_layers`.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import xarray as xr

from features.heat import (
    direct_beam_fraction,
    heat_index,
    humidity_at_daily_max,
    solar_noon_cos_zenith,
    wet_bulb_globe_temperature,
)
from models.flood import flood_drivers, predict_flood
from models.heat.levels import band_level, met_level_attrs, sustained_level, wbgt_band_attrs
from models.heat.regression import VARIABLES, predict_heat, quantile_name
from models.tables import FLOOD_FEATURES, with_flood_interactions
from pipelines.config import HeatConfig
from pipelines.forecast.forecasters import Forecasters

Layers = dict[str, tuple[np.ndarray, dict]]  # name -> (one value per row of the frame, CF attrs)


def model_layers(forecasters: Forecasters, frame: pd.DataFrame, *, flood_attrs: dict,
                 explain_from: float | None, flood_lead_days: int, heat_lead_days: int) -> Layers:
    """`flood_probability` and every heat quantile (`tasmax_q50`, ...) per row of `frame`
    (pipelines.forecast.frame.feature_frame); unless `explain_from` is None, the flood model's top
    three drivers of the rows whose flood chance reaches `explain_from` (0..1; NaN on the others).
    Each hazard is forecast on the rows of its leads 0 .. `<hazard>_lead_days` - 1 and NaN on the
    others (a forecast file may carry more days than a hazard looks ahead); the comment attribute says so.

    `flood_driver_<k>` holds the index of the k-th strongest driver into the model's features
    (named in `flag_meanings`), `flood_driver_<k>_contribution` its log-odds contribution. The
    drivers cost a SHAP pass over the rows, several times the prediction: they are computed where
    a reader looks for them, not for every dry cell. The flood model runs in a thread beside the
    heat models (LightGBM releases the GIL).
    """
    lead = frame["lead"].to_numpy()
    flood_rows, heat_rows = lead < flood_lead_days, lead < heat_lead_days
    with ThreadPoolExecutor(max_workers=1) as beside:
        flooding = beside.submit(_flood_layers, forecasters, _rows(frame, flood_rows), flood_attrs, explain_from)
        heat = {
            quantile_name(v, q): (values, {
                "standard_name": "air_temperature", "units": "degC", "cell_methods": f"time: {VARIABLES[v]}",
                "long_name": f"daily {VARIABLES[v]} air temperature, quantile {q:g}", "quantile": q})
            for v, boosters in forecasters.heat.items()
            for q, values in predict_heat(boosters, _rows(frame, heat_rows), forecasters.heat_widening[v]).items()
        }
        return (_on_leads(flooding.result(), flood_rows, "flood", flood_lead_days)
                | _on_leads(heat, heat_rows, "heat", heat_lead_days))


def _rows(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """The `rows` (bool) of `frame`; `frame` itself when they are all (no copy)."""
    return frame if rows.all() else frame[rows]


def _on_leads(layers: Layers, rows: np.ndarray, hazard: str, lead_days: int) -> Layers:
    """`layers` computed on the `rows` of a frame, on every row of it: NaN on the others, which lie past
    the hazard's `lead_days` (said in a `comment`, when there are such rows)."""
    if rows.all():
        return layers
    beyond = past_leads_comment(hazard, lead_days)
    out = {}
    for name, (values, attrs) in layers.items():
        full = np.full(rows.size, np.nan, "float32" if np.asarray(values).dtype == np.float32 else float)
        full[rows] = values
        comment = f"{attrs['comment']}; {beyond}" if "comment" in attrs else beyond
        out[name] = (full, attrs | {"comment": comment})
    return out


def _flood_layers(forecasters: Forecasters, frame: pd.DataFrame, attrs: dict, explain_from: float | None) -> Layers:
    model = forecasters.flood
    frame = with_flood_interactions(frame)
    chance = predict_flood(model, frame)
    layers = {"flood_probability": (chance, attrs)}
    if explain_from is None:
        return layers
    explained = np.flatnonzero(chance >= explain_from)
    index = np.full((len(frame), 3), np.nan, "float32")
    contribution = np.full((len(frame), 3), np.nan)
    if explained.size:
        index[explained], contribution[explained] = flood_drivers(model.booster, frame.iloc[explained], top=3)
    flags = {"flag_values": list(range(len(FLOOD_FEATURES))), "flag_meanings": " ".join(FLOOD_FEATURES)}
    where = f"cells whose flood_probability reaches {explain_from:g} (NaN elsewhere)"
    for k in range(3):
        layers[f"flood_driver_{k + 1}"] = (index[:, k], {
            "units": "1", "long_name": f"feature raising the flood score most, rank {k + 1}", "comment": where,
            **flags})
        layers[f"flood_driver_{k + 1}_contribution"] = (contribution[:, k], {
            "units": "1", "long_name": f"log-odds contribution of flood_driver_{k + 1} (LightGBM pred_contrib)",
            "comment": where})
    return layers


def _on_rows(values, units: str) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, dtype=float), dims="row", attrs={"units": units})


def heat_stress_layers(heat: HeatConfig, frame: pd.DataFrame, issue_date: dt.date, q50: np.ndarray,
                       lat: np.ndarray, recent: np.ndarray) -> Layers:
    """Heat index, WBGT (degC), MET Malaysia's heat level and NEA's WBGT band per row of one issue date's frame, from the
    tasmax median `q50` (degC); `lat` is each row's latitude, `recent` (cells, days) the tasmax of
    the `heat.sustained_days - 1` days before issue.

    Heat stress is read at q50 with the humidity of that hour (the regional daily mean air's dew
    point held) and the day's mean wind; WBGT in the day's midday sun, as NEA measures it: the
    day's largest hourly radiation (`rsds_max_W_m2`, so clouds lower it) with the sun as high as
    at solar noon and the direct share estimated from the sky's clearness. The MET Malaysia rule
    needs tasmax held for `sustained_days`: lead L counts the days L-2 .. L; WBGT bands hold daily.
    The two are separate products (`heat_level`, `wbgt_band`), neither raises the other.
    """
    lead = frame["lead"].to_numpy()
    leads = int(lead.max()) + 1
    day_of_year = _on_rows((pd.Timestamp(issue_date) + pd.to_timedelta(np.arange(leads), unit="D"))
                           .day_of_year.to_numpy()[lead], "1")
    tasmax = _on_rows(q50, "degC")
    hurs = humidity_at_daily_max(tasmax, _on_rows(frame["tasmin_regional_degC"], "degC"),
                                 _on_rows(frame["hurs_mean_pct"], "%"))
    hi = heat_index(tasmax, hurs)
    rsds = _on_rows(frame["rsds_max_W_m2"], "W m-2")
    cos_zenith = solar_noon_cos_zenith(_on_rows(lat, "degrees_north"), day_of_year)
    wbgt = wet_bulb_globe_temperature(tasmax, hurs, _on_rows(frame["wind_mean_m_s"], "m s-1"), rsds, cos_zenith,
                                      direct_beam_fraction(rsds, cos_zenith, day_of_year))
    days = np.concatenate([recent, q50.reshape(leads, -1).T], axis=1)  # (cells, past + leads)
    tasmax_level = sustained_level(days, heat.tasmax_levels_degC, days=heat.sustained_days)
    wbgt_band = band_level(wbgt.values.reshape(leads, -1).T, heat.wbgt_bands_degC)
    return {
        "heat_index_max": (hi.values, {"units": "degC", "long_name": "heat index at the daily maximum "
                                       "temperature (NWS), from tasmax q50"}),
        "wbgt_max": (wbgt.values, {"units": "degC", "long_name": "wet bulb globe temperature in the day's midday "
                                   "sun at the daily maximum temperature (Liljegren), from tasmax q50"}),
        "heat_level": (tasmax_level[:, -leads:].T.ravel(), met_level_attrs(
            heat.tasmax_levels_degC, sustained_days=heat.sustained_days, observed_days=recent.shape[1])),
        "wbgt_band": (wbgt_band.T.ravel(), wbgt_band_attrs(heat.wbgt_bands_degC)),
    }


def past_leads_comment(hazard: str, lead_days: int) -> str:
    """The `comment` of a layer NaN past its hazard's `lead_days`."""
    return f"NaN at leads {lead_days} and later: {hazard} is forecast {lead_days} days ahead"


def past_leads_nan(values: np.ndarray, n_leads: int, *, axis: int) -> np.ndarray:
    """`values` of a hazard's first leads (along `axis`) padded with NaN to `n_leads` leads, float32:
    a forecast carries the longer hazard's days, and the other is NaN past its own."""
    width = [(0, 0)] * np.ndim(values)
    width[axis] = (0, n_leads - np.shape(values)[axis])
    return np.pad(np.asarray(values, "float32"), width, constant_values=np.nan)


def on_grid(values: np.ndarray, land: np.ndarray, grid_shape: tuple[int, int]) -> np.ndarray:
    """(..., land cells) values on the full (..., y, x) grid as float32, NaN off `land` (flat cell indices)."""
    full = np.full((*values.shape[:-1], grid_shape[0] * grid_shape[1]), np.nan, "float32")
    full[..., land] = values
    return full.reshape(*values.shape[:-1], *grid_shape)


def flood_probability_attrs(report_rate: float, label_radius_m: float) -> dict:
    """CF attributes of `flood_probability`: the event it is the chance of."""
    event = "a flood" if report_rate < 1 else "a flood reported"
    return {"units": "1", "long_name": f"probability of {event} within {label_radius_m:g} m of the cell during "
            "the local day", "report_rate": report_rate}
