"""The demo world's climate option: the Bayan Lepas record, or a climate made up from it for a second city."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines.config import ConfigError, load_city_config
from pipelines.demo_world.generate import generate_demo_bundle
from pipelines.demo_world.weather import bayan_lepas_climatology, climatology, simulate_regional_weather

RECORD = bayan_lepas_climatology()
# Twenty days of a 2.4 km x 1.8 km port on a synthetic coast in UTM 49N: 20 x 15 cells at 120 m
TINY = {
    "city_slug": "tiny-port", "crs": "EPSG:32649", "bounds": (439200.0, 186300.0, 441600.0, 188100.0),
    "resolution_m": 120.0, "timezone": "Asia/Kuching", "coastline": "synthetic", "regional_spacing_deg": 0.05,
    "forecast_days": 2, "flood_lead_days": 2, "start": dt.date(2022, 1, 1), "end": dt.date(2022, 1, 20), "seed": 5,
}
SITES = "name,lon,lat,category\nOld Courthouse,110.4660,1.6940,Colonial Civic Heritage\n"
CITY = {  # the smallest valid demo city config; `source.climate` is set per test
    "city": {"slug": "tiny-port", "name": "Tiny port", "timezone": "Asia/Kuching"},
    "grid": {"crs": "EPSG:32649", "resolution_m": 120, "bounds": list(TINY["bounds"])},
    "source": {"kind": "demo", "seed": 5, "start": "2022-01-01", "end": "2022-03-01", "coastline": "synthetic",
               "assets": "sites.csv"},
    "paths": {"bundle": "bundle", "store": "store"},
    "alerts": {"sender": "warisan-test@example.org", "sender_name": "Warisan test", "status": "Test"},
}


def test_the_default_climate_is_the_bayan_lepas_record_itself():
    default = climatology()
    for name in ("rain_mm", "wet_fraction", "tas_mean_degC", "wind_m_s"):
        np.testing.assert_array_equal(getattr(default, name), getattr(RECORD, name))
    assert default.tas_day_range_degC == RECORD.tas_day_range_degC == (25.3, 30.7)


def test_a_made_up_climate_moves_the_seasons_scales_rain_and_offsets_temperature():
    made_up = climatology(shift_months=3, rain_scale=2.0, tas_offset_degC=-1.0)
    september, october, december, january = 8, 9, 11, 0
    assert made_up.rain_mm[december] == 2.0 * RECORD.rain_mm[september]
    assert made_up.rain_mm[january] == 2.0 * RECORD.rain_mm[october]
    assert made_up.wet_fraction[december] == RECORD.wet_fraction[september]
    assert made_up.tas_mean_degC[december] == RECORD.tas_mean_degC[september] - 1.0
    assert made_up.wind_m_s[january] == RECORD.wind_m_s[october]
    assert made_up.tas_day_range_degC == (24.3, 29.7)
    assert made_up.rain_mm.sum() == pytest.approx(2.0 * RECORD.rain_mm.sum())


@pytest.mark.parametrize(("arguments", "message"), [
    ({"record": "kuching"}, "`record` must be one of \\['bayan-lepas'\\], got 'kuching'"),
    ({"shift_months": 12}, "`shift_months` must be 0..11, got 12"),
    ({"rain_scale": 0.0}, "`rain_scale` must be > 0, got 0.0"),
])
def test_climatology_rejects_an_unknown_record_or_a_transform_out_of_range(arguments, message):
    with pytest.raises(ValueError, match=message):
        climatology(**arguments)


def test_weather_of_a_climate_shifted_by_three_months_is_wettest_in_december_to_february():
    made_up = climatology(shift_months=3, rain_scale=1.3, tas_offset_degC=-0.8)
    weather = simulate_regional_weather(np.array([1.7]), np.array([110.45]), dt.date(2001, 1, 1), 20 * 365 + 5,
                                        "Asia/Kuching", np.random.default_rng(5), made_up)
    local = pd.DatetimeIndex(weather.time.values).tz_localize("UTC").tz_convert("Asia/Kuching").tz_localize(None)
    weather = weather.assign_coords(time=local).sel(time=slice("2001-01-01", "2020-12-31"))
    monthly = weather["pr"].isel(y=0, x=0).resample(time="MS").sum().groupby("time.month").mean().values
    seasons = {start: monthly[np.arange(start, start + 3) % 12].sum() for start in range(12)}
    assert max(seasons, key=seasons.get) == 11  # Dec-Jan-Feb, where Bayan Lepas has Sep-Oct-Nov
    assert monthly.argmin() == 4  # May, where Bayan Lepas has February
    np.testing.assert_array_less(np.abs(monthly / made_up.rain_mm - 1), 0.25)
    tas = weather["tas"].isel(y=0, x=0).groupby("time.month").mean().values
    np.testing.assert_allclose(tas, made_up.tas_mean_degC, atol=0.5)


def test_a_made_up_climate_is_recorded_and_called_made_up_in_provenance(tmp_path):
    (tmp_path / "sites.csv").write_text(SITES)
    made_up = {"record": "bayan-lepas", "shift_months": 3, "rain_scale": 1.3, "tas_offset_degC": -0.8}
    for name, climate in (("record", {"record": "bayan-lepas"}), ("made-up", made_up)):
        generate_demo_bundle(tmp_path / name / "bundle", tmp_path / name / "truth", **TINY,
                             assets=str(tmp_path / "sites.csv"), climate=climate)
    record, other = (json.loads((tmp_path / name / "bundle/provenance.json").read_text())
                     for name in ("record", "made-up"))
    assert record["generator_arguments"]["climate"] == {"record": "bayan-lepas"}
    assert other["generator_arguments"]["climate"] == made_up
    assert not any("made up" in line for line in record["attribution"])
    note = ("The weather's climate is made up: the bayan-lepas record with every season 3 months later, "
            "rain x 1.3 and daily mean temperature -0.8 degC. No station measured it.")
    assert [line for line in other["attribution"] if "made up" in line] == [note]
    assert record["files"]["static/dem.tif"]["sha256"] == other["files"]["static/dem.tif"]["sha256"]
    assert record["files"]["weather/history.nc"]["sha256"] != other["files"]["weather/history.nc"]["sha256"]


def _config(tmp_path, climate) -> Path:
    path = tmp_path / "city.yaml"
    path.write_text(yaml.safe_dump(CITY | {"source": CITY["source"] | {"climate": climate}}))
    return path


def test_a_config_names_the_record_or_maps_a_made_up_climate(tmp_path):
    named = load_city_config(_config(tmp_path, "bayan-lepas")).source.climate
    assert named.model_dump() == {"record": "bayan-lepas", "shift_months": 0, "rain_scale": 1.0,
                                  "tas_offset_degC": 0.0}
    mapped = load_city_config(_config(tmp_path, {"shift_months": 3, "rain_scale": 1.3})).source.climate
    assert (mapped.record, mapped.shift_months, mapped.rain_scale, mapped.tas_offset_degC) == (
        "bayan-lepas", 3, 1.3, 0.0)


@pytest.mark.parametrize(("climate", "message"), [
    ("kuching", "source.demo.climate.record: Input should be 'bayan-lepas'"),
    ({"shift_month": 3}, "source.demo.climate.shift_month: Extra inputs are not permitted"),
    ({"rain_scale": 0}, "source.demo.climate.rain_scale: Input should be greater than 0"),
])
def test_a_config_with_an_unknown_climate_fails_naming_the_field(tmp_path, climate, message):
    with pytest.raises(ConfigError, match=message):
        load_city_config(_config(tmp_path, climate))
