"""Hourly WBGT at the weather stations against the truth's, leads 0 and 1 of the sealed test period (issue #21).

Usage: .venv/bin/python benchmarks/hourly_wbgt.py [--config configs/demo.yaml]

The product: for every issue date of the config's `evaluation.test`, that date's backtest hindcast
(run `make backtest` first) goes through pipelines.forecast.hours.point_heat_hours, the path that
publishes each heritage site's hourly WBGT and its windows, at the demo's weather stations
(obs/temperature.csv) instead of the sites. Leads are taken by index (the first two), whatever the horizon.

The truth: the demo world keeps no hourly weather at a station, so it is made here from what the
world defines there (pipelines/demo_world): the regional hourly weather (weather/history.nc, the
truth the forecasts perturb) read at the station; its air warmed so that the day's warmest hour
reaches the truth's tasmax of the station's cell (truth/tasmax.nc) and its coolest hour the world's
station tasmin (the regional one plus STATION_NIGHT_HEAT_SHARE of the cell's urban heat), in
proportion to the day's regional warming between them; its humidity lowered by
STATION_DRYING_PCT_PER_DEGC per degC of that heat, as the world's station humidity is. Wind and
sunshine are the regional ones, the station is in the open sun. Its WBGT comes from lwbgt (Liljegren's
own C code from Argonne), not from features.heat (thermofeel): that code finds the sun itself, at
the middle of the hour the bundle's `rsds` averages (the hour starting at each time stamp).

Prints, per lead, the MAE, bias (product minus truth) and hours of WBGT, and the bias of the air,
humidity and WBGT by day (sun up) and night; appends them with the git commit to
benchmarks/results/hourly_wbgt.csv.
"""

from __future__ import annotations

import time

import geopandas as gpd
import lwbgt
import numpy as np
import pandas as pd
import xarray as xr
from pyproj import Transformer
from results_csv import ROOT, append_rows, test_period_backtest

from pipelines.bundle import readers
from pipelines.config import CityConfig
from pipelines.demo_world.observations import STATION_DRYING_PCT_PER_DEGC, STATION_NIGHT_HEAT_SHARE
from pipelines.feature_cache.build import build_static_features
from pipelines.forecast.hours import point_heat_hours

LEADS = 2  # leads 0 and 1, by index
SEA_LEVEL_HPA = 1013.25  # George Town's stations are all near sea level
HOURLY = ("tas", "hurs", "sfcWind", "rsds")


def _stations(config: CityConfig) -> gpd.GeoDataFrame:
    """The weather stations as points (EPSG:4326), in the columns of a heritage asset."""
    table = readers.read_temperature_obs(config.bundle_dir).groupby("station_id")[["lon", "lat"]].first()
    return gpd.GeoDataFrame({"asset_id": table.index, "name": table.index},
                            geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326")


def product_hours(config: CityConfig, hindcasts: list, stations: gpd.GeoDataFrame, first, last) -> pd.DataFrame:
    """The product's hourly air, humidity and WBGT at the stations, leads 0-1 of every issue date
    from `first` to `last` in the hindcast files: columns station, time, lead, tas, hurs, wbgt."""
    with xr.open_dataset(build_static_features.fn(config), decode_coords="all") as static:
        fixed = static[["land", "impervious_frac", "building_frac"]].load()
    frames = []
    for path in hindcasts:
        with xr.open_dataset(path, decode_coords="all") as hindcast:
            grids = hindcast[["flood_probability", "tasmax_q50", "tasmax_q90", "tasmax_regional"]].load()
        for issue in grids.issue_date.values:
            day = pd.Timestamp(issue).date()
            if not first <= day <= last:
                continue
            forecast = (grids.sel(issue_date=issue, drop=True).rename(tasmax_regional="tasmax_regional_degC")
                        .assign(fixed.data_vars).assign_attrs(issue_date=day.isoformat()))
            hours = point_heat_hours(config, forecast, stations)
            hours = hours.isel(time=np.isin(hours["lead"].values, np.unique(hours["lead"].values)[:LEADS]))
            frames.append(hours[["tas_degC", "hurs_pct", "wbgt_degC"]].to_dataframe().reset_index())
    table = pd.concat(frames, ignore_index=True)
    return table.rename(columns={"site": "station", "tas_degC": "tas", "hurs_pct": "hurs", "wbgt_degC": "wbgt"})[
        ["station", "time", "lead", "tas", "hurs", "wbgt"]]


def truth_hours(config: CityConfig, stations: gpd.GeoDataFrame, times: pd.DatetimeIndex) -> pd.DataFrame:
    """The truth's hourly air, humidity and WBGT at the stations over the whole local days of `times`
    (UTC) that the history covers: columns station, time, tas, hurs, wbgt, sun_up (module docstring)."""
    zone = config.city.timezone
    local_days = times.tz_localize("UTC").tz_convert(zone).normalize().unique()
    start = local_days[0].tz_convert("UTC").tz_localize(None)
    end = (local_days[-1] + pd.Timedelta(days=1)).tz_convert("UTC").tz_localize(None) - pd.Timedelta(hours=1)
    lon = xr.DataArray(stations.geometry.x.values, dims="station", coords={"station": stations["asset_id"].values})
    lat = xr.DataArray(stations.geometry.y.values, dims="station", coords={"station": stations["asset_id"].values})
    with readers.read_history(config.bundle_dir) as history:
        regional = history[list(HOURLY)].sel(time=slice(start, end)).load().interp(x=lon, y=lat)  # degrees
    local_day = pd.DatetimeIndex(regional.time.values).tz_localize("UTC").tz_convert(zone).tz_localize(None).normalize()
    whole = local_day.value_counts().pipe(lambda hours: hours.index[hours == 24])
    regional = regional.sel(time=local_day.isin(whole))
    day = xr.DataArray(local_day[local_day.isin(whole)], dims="time", coords={"time": regional.time}, name="day")

    grid_x, grid_y = Transformer.from_crs("EPSG:4326", config.grid.crs, always_xy=True).transform(lon, lat)
    at_cells = {"x": xr.DataArray(grid_x, dims="station"), "y": xr.DataArray(grid_y, dims="station")}
    with xr.open_dataset(config.truth_dir / "tasmax.nc") as truth, \
            xr.open_dataset(config.truth_dir / "flood.nc") as layers:
        tasmax = truth["tasmax"].sel(at_cells, method="nearest").sel(time=np.unique(day.values)).load()
        urban_heat = np.maximum(layers["urban_heat_degC"].sel(at_cells, method="nearest").load(), 0)
    tasmax = tasmax.assign_coords(station=lon.station).rename(time="day")
    urban_heat = urban_heat.assign_coords(station=lon.station)

    tas = regional["tas"].groupby(day)
    low, high = tas.min().sel(day=day), tas.max().sel(day=day)
    warming = ((regional["tas"] - low) / (high - low).where(high > low)).fillna(1.0)
    night = STATION_NIGHT_HEAT_SHARE * urban_heat
    air = regional["tas"] + night + (tasmax.sel(day=day) - high - night) * warming
    humidity = (regional["hurs"] - STATION_DRYING_PCT_PER_DEGC * urban_heat).clip(0, 100)
    table = xr.Dataset({"tas": air, "hurs": humidity, "sfcWind": regional["sfcWind"], "rsds": regional["rsds"],
                        "lon": lon, "lat": lat}).drop_vars(["x", "y", "day"], errors="ignore")
    table = table.to_dataframe().reset_index()
    table["wbgt"] = _liljegren_wbgt(table)
    table["sun_up"] = table["rsds"] > 0
    return table[["station", "time", "tas", "hurs", "wbgt", "sun_up"]]


def _liljegren_wbgt(table: pd.DataFrame) -> np.ndarray:
    """lwbgt's outdoor WBGT (degC) of each row (time stamps UTC, the start of the hour `rsds` averages):
    urban wind profile from 10 m, sea-level pressure, a 60 min average ending an hour after the stamp
    (given in UTC: the library takes the sun at the middle of that average)."""
    ends = pd.DatetimeIndex(table["time"]) + pd.Timedelta(hours=1)
    columns = zip(ends.year, ends.month, ends.day, ends.hour, table["lat"], table["lon"], table["rsds"],
                  table["tas"], table["hurs"], table["sfcWind"], strict=True)
    records = [lwbgt.Input(year=y, month=mo, day=d, hour=h, minute=0, gmt_offset_hours=0, averaging_minutes=60,
                           urban=1, latitude_deg_north=la, longitude_deg_east=lo, solar_w_m2=sw,
                           pressure_hpa=SEA_LEVEL_HPA, air_temperature_c=t, relative_humidity_percent=rh,
                           wind_speed_m_s=va, wind_height_m=10.0, vertical_temperature_difference_c=0.0)
               for y, mo, d, h, la, lo, sw, t, rh, va in columns]  # the library takes records only
    results = lwbgt.calculate_batch(records, psychrometric=False)
    return np.array([r.wbgt_c if r.status == 0 else np.nan for r in results])


def scores(paired: pd.DataFrame) -> list[dict]:
    """MAE and bias (product minus truth) of WBGT, and the bias of air and humidity, by lead and by
    all hours, sun up and night."""
    rows = []
    for (lead, hours), group in pd.concat([paired.assign(hours="all"),
                                           paired.assign(hours=np.where(paired["sun_up"], "sun up", "night"))]
                                          ).groupby(["lead", "hours"]):
        error = group["wbgt_product"] - group["wbgt_truth"]
        rows.append({"lead": int(lead), "hours": hours, "wbgt_mae_degC": round(float(error.abs().mean()), 3),
                     "wbgt_bias_degC": round(float(error.mean()), 3),
                     "tas_bias_degC": round(float((group["tas_product"] - group["tas_truth"]).mean()), 3),
                     "hurs_bias_pct": round(float((group["hurs_product"] - group["hurs_truth"]).mean()), 2),
                     "n_hours": int(error.size), "n_stations": int(group["station"].nunique())})
    return rows


def main() -> None:
    config, folder, stamp = test_period_backtest(__doc__.splitlines()[0])
    hindcasts = sorted((folder / "hindcasts").glob("*.nc"))
    if not hindcasts:
        raise SystemExit(f"{folder / 'hindcasts'}: no hindcasts of the test period {stamp['test_period']}; "
                         "run `make backtest` first")
    started = time.perf_counter()
    stations = _stations(config)
    product = product_hours(config, hindcasts, stations, *config.protocol.test)
    seconds_product = time.perf_counter() - started
    truth = truth_hours(config, stations, pd.DatetimeIndex(product["time"].unique()))
    paired = product.merge(truth, on=["station", "time"], suffixes=("_product", "_truth")).dropna(
        subset=["wbgt_product", "wbgt_truth"])
    rows = [stamp | {"truth_wbgt": f"lwbgt {lwbgt.__version__}"} | row for row in scores(paired)]
    for row in rows:
        print(f"lead {row['lead']} {row['hours']:>6}: WBGT MAE {row['wbgt_mae_degC']:.2f} degC, bias "
              f"{row['wbgt_bias_degC']:+.2f} (air {row['tas_bias_degC']:+.2f} degC, humidity "
              f"{row['hurs_bias_pct']:+.1f} %) over {row['n_hours']} hours at {row['n_stations']} stations")
    dropped = len(product) - len(paired)
    print(f"{len(paired)} station-hours paired, {dropped} product hours without a truth (after the history's end "
          f"or unsolved); product {seconds_product:.0f} s, truth {time.perf_counter() - started - seconds_product:.0f} s")
    append_rows(ROOT / "benchmarks" / "results" / "hourly_wbgt.csv", list(rows[0]), rows)


if __name__ == "__main__":
    main()
