import numpy as np
import pandas as pd
import pytest

from models.heat.qc import StationQC, station_quality

DAYS = pd.date_range("2024-01-01", periods=60, freq="D")


def network(seed: int = 0, n: int = 6) -> pd.DataFrame:
    """`n` good stations reading one regional signal with their own offsets and 0.3 degC noise."""
    rng = np.random.default_rng(seed)
    regional = 32 + rng.normal(0, 1.2, DAYS.size)
    frames = [pd.DataFrame({"station_id": f"S{i}", "date": DAYS,
                            "tasmax": np.round(regional + 0.4 * i + rng.normal(0, 0.3, DAYS.size), 1)})
              for i in range(n)]
    return pd.concat(frames, ignore_index=True)


def test_good_stations_all_pass():
    kept, report = station_quality(network())
    assert not report["rejected"].any() and (report["reason"] == "").all()
    assert len(kept) >= 0.97 * len(network())


def test_a_stuck_logger_is_rejected_with_its_reason():
    obs = network()
    stuck = (obs["station_id"] == "S2") & (obs["date"] >= DAYS[20])
    obs.loc[stuck, "tasmax"] = 31.4
    kept, report = station_quality(obs)
    row = report.set_index("station_id").loc["S2"]
    assert row["rejected"] and "stuck (>= 4 equal readings in a row)" in row["reason"]
    assert "S2" not in set(kept["station_id"])


def test_a_sun_exposed_sensor_reading_warm_is_rejected_with_its_reason():
    obs = network()
    sunny = obs["station_id"] == "S3"
    obs.loc[sunny, "tasmax"] += 3.5 + np.random.default_rng(1).normal(0, 0.8, sunny.sum())
    _, report = station_quality(obs)
    row = report.set_index("station_id").loc["S3"]
    assert row["rejected"] and "robust SD from the other stations" in row["reason"]
    assert report["rejected"].sum() == 1


def test_implausible_values_are_dropped_and_a_short_record_rejected():
    obs = network()
    obs.loc[5, "tasmax"] = 85.0  # a single spike: dropped, the station kept
    short = (obs["station_id"] == "S4") & (obs["date"] >= DAYS[10])
    obs.loc[short, "tasmax"] = np.nan
    kept, report = station_quality(obs, StationQC(min_days=20))
    assert 85.0 not in kept["tasmax"].values
    assert not report.set_index("station_id").loc["S0", "rejected"]
    assert "only 10 valid days (< 20)" in report.set_index("station_id").loc["S4", "reason"]


def test_quality_control_names_a_missing_column_and_leaves_its_input_alone():
    obs = network()
    before = obs.copy()
    station_quality(obs)
    pd.testing.assert_frame_equal(obs, before)
    with pytest.raises(ValueError, match="`obs` has no column 'tasmax'"):
        station_quality(obs.drop(columns="tasmax"))


def test_tasmin_is_checked_on_its_own_column():
    obs = network()
    obs["tasmin"] = obs["tasmax"] - 7.0
    warm_afternoons = obs["station_id"] == "S1"
    obs.loc[warm_afternoons, "tasmax"] += 4.0  # a sensor in the sun: warm afternoons, true nights
    stuck_nights = (obs["station_id"] == "S3") & (obs["date"] >= DAYS[10])
    obs.loc[stuck_nights, "tasmin"] = 24.2
    _, tasmax_report = station_quality(obs)
    kept, tasmin_report = station_quality(obs, variable="tasmin")
    assert set(tasmax_report.loc[tasmax_report["rejected"], "station_id"]) == {"S1"}
    assert set(tasmin_report.loc[tasmin_report["rejected"], "station_id"]) == {"S3"}
    assert "stuck" in tasmin_report.set_index("station_id").loc["S3", "reason"]
    assert "S1" in set(kept["station_id"]) and "S3" not in set(kept["station_id"])


def test_station_quality_names_a_missing_tasmin_column():
    with pytest.raises(ValueError, match="`obs` has no column 'tasmin'"):
        station_quality(network(), variable="tasmin")
