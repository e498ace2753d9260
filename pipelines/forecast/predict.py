"""The forecast of an issue date: feature frame, flood and heat layers on the city grid."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from prefect import task

from features.grid import cell_lonlat
from features.heat import (
    direct_beam_fraction,
    heat_index,
    humidity_at_daily_max,
    observed_daily_max,
    solar_noon_cos_zenith,
    wet_bulb_globe_temperature,
)
from features.weather import DRIVER_NAMES, DRIVERS, bilinear_weights, sample_bilinear
from models.calibration import Calibration
from models.flood import FloodModel, flood_drivers, predict_flood
from models.heat import VARIABLES, predict_heat, quantile_name
from models.heat_levels import RULE_FLAGS, band_level, combined_level, sustained_level
from models.tables import FLOOD_FEATURES, HEAT_FEATURES, land_cells, with_flood_interactions
from pipelines.bundle import readers
from pipelines.config import CityConfig, city_template
from pipelines.feature_cache.drivers import drivers_for_dates, issue_time_utc
from pipelines.registry import RegistryError, load_latest

Layers = dict[str, tuple[np.ndarray, dict]]  # name -> (one value per row of the frame, CF attrs)


def _feature_frame(config: CityConfig, static: xr.Dataset, issue_date: dt.date) -> pd.DataFrame:
    """One row per land cell and lead, lead by lead: static features, then the day's drivers at the cell.

    The drivers are interpolated at the land cells only, every driver and lead in one pass.
    """
    with readers.read_history(config.bundle_dir) as history:
        drivers = drivers_for_dates(config.bundle_dir, history.load(), [issue_date],
                                    lead_days=config.lead_days, timezone=config.city.timezone).isel(issue_date=0)
    cells = land_cells(static)
    lon, lat = (a.values.ravel()[cells["cell"].to_numpy()] for a in cell_lonlat(city_template(config)))
    regional = np.stack([drivers[name].transpose("lead", "y", "x").values for name in DRIVER_NAMES])
    at_cells = sample_bilinear(regional, bilinear_weights(drivers.y.values, drivers.x.values, lat, lon))
    lead = np.repeat(np.arange(config.lead_days, dtype=np.int8), len(cells))  # int8: the features stay float32
    columns = {name: np.tile(values.to_numpy(), config.lead_days) for name, values in cells.items()}
    columns |= {"lead": lead, "lead_days": lead.copy()}
    columns |= {name: at_cells[k].astype("float32").ravel() for k, name in enumerate(DRIVER_NAMES)}  # (lead, cell)
    return pd.DataFrame(columns, copy=False)  # a block per column: no consolidating copy


def flood_layers(config: CityConfig, frame: pd.DataFrame) -> tuple[Layers, str]:
    """Flood probability and its top three drivers per row from the latest flood model; its version.

    `flood_driver_<k>` holds the index of the k-th strongest driver into the model's features
    (named in `flag_meanings`), `flood_driver_<k>_contribution` its log-odds contribution.
    """
    boosters, card = load_latest(config.city_store / "models", "flood", FLOOD_FEATURES)
    model = FloodModel(boosters["classifier"], Calibration.from_dict(card["calibration"]))
    frame = with_flood_interactions(frame)
    event = "a flood" if config.flood.report_rate < 1 else "a flood reported"
    attrs = {"units": "1", "long_name": f"probability of {event} within {config.flood.label_radius_m:g} m "
             "of the cell during the local day", "report_rate": config.flood.report_rate}
    layers = {"flood_probability": (predict_flood(model, frame), attrs)}
    index, contribution = flood_drivers(model.booster, frame, top=3)
    flags = {"flag_values": list(range(len(FLOOD_FEATURES))), "flag_meanings": " ".join(FLOOD_FEATURES)}
    for k in range(3):
        layers[f"flood_driver_{k + 1}"] = (index[:, k].astype("float32"), {
            "units": "1", "long_name": f"feature raising the flood score most, rank {k + 1}", **flags})
        layers[f"flood_driver_{k + 1}_contribution"] = (contribution[:, k], {
            "units": "1", "long_name": f"log-odds contribution of flood_driver_{k + 1} (LightGBM pred_contrib)"})
    return layers, card["version"]


def _recent_tasmax(config: CityConfig, issue_date: dt.date, frame: pd.DataFrame, q50: np.ndarray,
                   lonlat: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """tasmax (degC) of each land cell on the sustained_days - 1 days before issue, (cells, days).

    The observed regional maximum (history.nc) at the cell plus the cell's urban offset today
    (its lead-0 q50 minus the regional forecast there). `lonlat` holds the lead-0 rows' cells.
    """
    n_days = config.heat.sustained_days - 1
    lead0 = frame["lead"].to_numpy() == 0
    if n_days == 0:
        return np.full((int(lead0.sum()), 0), np.nan)
    with readers.read_history(config.bundle_dir) as history:
        end = issue_time_utc([issue_date], config.city.timezone)[0]
        daily = observed_daily_max(history["tas"].load(), end.to_datetime64(), n_days)
    lon, lat = lonlat
    weights = bilinear_weights(daily.y.values, daily.x.values, lat, lon)
    regional = sample_bilinear(daily.transpose("day", "y", "x").values, weights)  # (days, cells)
    offset = q50[lead0] - frame["tasmax_regional_degC"].to_numpy()[lead0]
    return (regional + offset).T


def _on_rows(values, units: str) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, dtype=float), dims="row", attrs={"units": units})


def heat_layers(config: CityConfig, frame: pd.DataFrame, issue_date: dt.date) -> tuple[Layers, str]:
    """tasmax and tasmin quantiles, heat index and WBGT (degC) and heat levels per row; the heat model's version.

    One layer per variable of the latest heat model (`tasmin_q50`, ...: tasmin where it was
    trained). Heat stress is read at the cell's q50 tasmax with the humidity of that hour (the
    regional daily mean air's dew point held) and the day's mean wind; WBGT in the day's midday
    sun, as NEA measures it: the day's largest hourly radiation (`rsds_max_W_m2`, so clouds
    lower it) with the sun as high as at solar noon and the direct share estimated from the
    sky's clearness. The MET Malaysia rule needs tasmax held for `sustained_days`: lead L counts
    the days L-2 .. L, the days before issue from _recent_tasmax (observed regionally, shifted
    by the cell's offset); WBGT bands hold daily.
    """
    boosters, card = load_latest(config.city_store / "models", "heat", HEAT_FEATURES)
    if "interval_widening_degC" not in card:
        raise RegistryError(f"heat model {card['version']}: card.json has no `interval_widening_degC` (registered "
                            "before the conformal intervals); retrain with `warisan train`")
    widening = {v: {int(lead): w for lead, w in by_lead.items()} for v, by_lead in card["interval_widening_degC"].items()}

    def predict(variable: str) -> dict[float, np.ndarray]:
        return predict_heat({q: boosters[quantile_name(variable, q)] for q in card["quantiles"]}, frame,
                            widening[variable])

    predicted = {"tasmax": predict("tasmax")}
    with ThreadPoolExecutor(max_workers=1) as beside:  # the other variables' boosters run beside heat stress
        others = {v: beside.submit(predict, v) for v in card["variables"] if v != "tasmax"}
        stress = _heat_stress(config, frame, issue_date, predicted["tasmax"][0.5])
        predicted |= {v: future.result() for v, future in others.items()}
    return {
        quantile_name(v, q): (values, {
            "standard_name": "air_temperature", "units": "degC", "cell_methods": f"time: {VARIABLES[v]}",
            "long_name": f"daily {VARIABLES[v]} air temperature, quantile {q:g}", "quantile": q})
        for v, by_quantile in predicted.items() for q, values in by_quantile.items()
    } | stress, card["version"]


def _heat_stress(config: CityConfig, frame: pd.DataFrame, issue_date: dt.date, q50: np.ndarray) -> Layers:
    """Heat index, WBGT (degC), the heat level and its rule per row, from the tasmax median `q50` (degC)."""
    leads = config.lead_days
    lon, lat = (a.values.ravel()[frame["cell"].to_numpy()] for a in cell_lonlat(city_template(config)))
    lead = frame["lead"].to_numpy()
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
    recent = _recent_tasmax(config, issue_date, frame, q50, (lon[lead == 0], lat[lead == 0]))
    days = np.concatenate([recent, q50.reshape(leads, -1).T], axis=1)  # (cells, past + leads)
    tasmax_level = sustained_level(days, config.heat.tasmax_levels_degC, days=config.heat.sustained_days)
    wbgt_level = band_level(wbgt.values.reshape(leads, -1).T, config.heat.wbgt_bands_degC)
    level, rule = combined_level(tasmax_level[:, -leads:], wbgt_level)
    return {
        "heat_index_max": (hi.values, {"units": "degC", "long_name": "heat index at the daily maximum "
                                       "temperature (NWS), from tasmax q50"}),
        "wbgt_max": (wbgt.values, {"units": "degC", "long_name": "wet bulb globe temperature in the day's midday "
                                   "sun at the daily maximum temperature (Liljegren), from tasmax q50"}),
        "heat_level": (level.T.ravel(), {
            "units": "1", "long_name": "heat level: MET Malaysia tasmax held "
            f"{config.heat.sustained_days} days or Singapore NEA WBGT band, the higher",
            "flag_values": [0, 1, 2, 3], "flag_meanings": "none alert heatwave extreme_heatwave"}),
        "heat_level_rule": (rule.T.ravel(), {"units": "1", "long_name": "rules setting the heat level",
                                             **RULE_FLAGS}),
    }


@task
def predict_grid(config: CityConfig, static_path: Path, issue_date: dt.date) -> xr.Dataset:
    """Flood and heat layers per lead and cell for one issue date, dims (lead, y, x); sea is NaN."""
    static = xr.load_dataset(static_path)
    frame = _feature_frame(config, static, issue_date)
    with ThreadPoolExecutor(max_workers=1) as beside:  # LightGBM and numpy release the GIL: the two overlap
        flooding = beside.submit(flood_layers, config, frame)
        heat, heat_version = heat_layers(config, frame, issue_date)
        flood, flood_version = flooding.result()
    drivers = {name: (frame[name].values, {"units": units, "long_name": long_name})
               for name, (units, long_name) in DRIVERS.items()}
    template = city_template(config)
    land = frame["cell"].values[frame["lead"].values == 0]
    data = {}
    for name, (values, attrs) in (flood | heat | drivers).items():
        full = np.full((config.lead_days, template.size), np.nan, "float32")
        full[:, land] = values.reshape(config.lead_days, -1)
        data[name] = (("lead", "y", "x"), full.reshape(config.lead_days, *template.shape), attrs)
    forecast = xr.Dataset(
        data, coords={"lead": np.arange(config.lead_days), "y": template.y, "x": template.x,
                      "forecast_reference_time": issue_time_utc([issue_date], config.city.timezone)[0]},
    )
    forecast["land"] = static["land"].astype(bool)
    forecast["hand_m"] = static["hand_m"]
    forecast.rio.write_crs(config.grid.crs, inplace=True)
    forecast.attrs = {"issue_date": issue_date.isoformat(), "city": config.city.slug,
                      "city_name": config.city.name, "timezone": config.city.timezone,
                      "flood_model_version": flood_version, "heat_model_version": heat_version}
    return forecast
