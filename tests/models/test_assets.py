import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from shapely.geometry import LineString, Point, box

from models.assets import asset_alert_levels, asset_risk, rank_flood_drivers, rank_heat_drivers
from tests.conftest import CRS, ORIGIN, grid

# A 3x4 grid of 30 m cells, 2 leads; the east column is sea. Lead 1 = lead 0 + 0.1 (flood), + 1 degC.
FLOOD0 = np.array([[0.1, 0.2, 0.3, np.nan],
                   [0.4, 0.5, 0.6, np.nan],
                   [0.7, 0.8, 0.9, np.nan]])
HEAT0 = np.array([[30.0, 31.0, 32.0, np.nan],
                  [33.0, 34.0, 35.0, np.nan],
                  [36.0, 37.0, 38.0, np.nan]])
LAND = ~np.isnan(FLOOD0)


def tiny_forecast() -> xr.Dataset:
    def leads(values, name, units):
        layers = [grid(values + step, name, units) for step in (0.0, 1.0 if units == "degC" else 0.1)]
        return xr.concat(layers, dim="lead").assign_coords(lead=[0, 1])

    return xr.Dataset({
        "flood_probability": leads(FLOOD0, "flood_probability", "1"),
        "tasmax_q50": leads(HEAT0, "tasmax_q50", "degC"),
        "tasmax_q90": leads(HEAT0 + 2, "tasmax_q90", "degC"),
        "land": grid(LAND, "land", None),
    })


def centre(row: int, col: int) -> Point:
    return Point(ORIGIN[0] + 30 * col + 15, ORIGIN[1] - 30 * row - 15)


def assets(*geoms, **columns) -> gpd.GeoDataFrame:
    ids = [f"a{i}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"asset_id": ids, **columns}, geometry=list(geoms), crs=CRS)


def risk_of(geom, buffer_m=0.0) -> pd.DataFrame:
    return asset_risk(tiny_forecast(), assets(geom), buffer_m=buffer_m).set_index("lead")


def test_point_asset_takes_the_value_of_its_cell():
    risk = risk_of(centre(1, 1))
    assert risk["flood_probability_max"].tolist() == pytest.approx([0.5, 0.6])
    assert risk["tasmax_q50_max"].tolist() == pytest.approx([34.0, 35.0])
    assert risk["tasmax_q90_max"].tolist() == pytest.approx([36.0, 37.0])
    assert risk["cells_from"].eq("buffer").all() and risk["n_cells"].eq(1).all()


def test_polygon_over_two_by_two_cells_gives_their_max_and_mean():
    square = box(ORIGIN[0] + 30, ORIGIN[1] - 90, ORIGIN[0] + 90, ORIGIN[1] - 30)  # rows 1-2, cols 1-2
    risk = risk_of(square)
    assert risk.loc[0, "flood_probability_max"] == pytest.approx(0.9)
    assert risk.loc[0, "flood_probability_mean"] == pytest.approx((0.5 + 0.6 + 0.8 + 0.9) / 4)
    assert risk.loc[1, "tasmax_q50_max"] == pytest.approx(39.0)
    assert risk.loc[0, "n_cells"] == 4 and risk.loc[0, "cells_from"] == "footprint"


def test_buffer_reaches_the_neighbouring_cells():
    risk = risk_of(centre(0, 0), buffer_m=30)  # cells (0,0), (0,1), (1,0), (1,1)
    assert risk.loc[0, "flood_probability_max"] == pytest.approx(0.5)
    assert risk.loc[0, "flood_probability_mean"] == pytest.approx(0.3)


def test_asset_on_the_sea_takes_the_nearest_land_cell_and_says_so():
    risk = risk_of(centre(2, 3))
    assert risk.loc[0, "flood_probability_max"] == pytest.approx(0.9)
    assert risk.loc[0, "cells_from"] == "nearest_land"
    assert bool(risk.loc[0, "on_water"])


def test_asset_beyond_the_grid_has_no_cells_and_nan_risk():
    risk = risk_of(Point(ORIGIN[0] - 5000, ORIGIN[1]))
    assert risk["cells_from"].eq("none").all() and risk["n_cells"].eq(0).all()
    assert risk["flood_probability_max"].isna().all()


def test_assets_in_another_crs_are_reprojected_to_the_grid():
    lonlat = assets(centre(1, 1)).to_crs("EPSG:4326")
    risk = asset_risk(tiny_forecast(), lonlat, buffer_m=0)
    assert risk["flood_probability_max"].tolist() == pytest.approx([0.5, 0.6])


def test_risk_has_one_row_per_asset_and_lead():
    risk = asset_risk(tiny_forecast(), assets(centre(0, 0), centre(2, 2), centre(1, 1)))
    assert len(risk) == 6
    assert not risk.duplicated(["asset_id", "lead"]).any()


def test_inputs_are_left_unmodified():
    forecast, sites = tiny_forecast(), assets(centre(1, 1))
    before_forecast, before_sites = forecast.copy(deep=True), sites.copy()
    asset_risk(forecast, sites)
    xr.testing.assert_identical(forecast, before_forecast)
    pd.testing.assert_frame_equal(sites, before_sites)


def test_negative_buffer_is_rejected():
    with pytest.raises(ValueError, match="`buffer_m` must be >= 0"):
        asset_risk(tiny_forecast(), assets(centre(0, 0)), buffer_m=-1)


def test_line_assets_are_rejected():
    with pytest.raises(ValueError, match="must be points or polygons"):
        asset_risk(tiny_forecast(), assets(LineString([centre(0, 0), centre(1, 1)])))


def test_repeated_asset_ids_are_rejected():
    sites = pd.concat([assets(centre(0, 0)), assets(centre(1, 1))])
    with pytest.raises(ValueError, match=r"repeats asset_id \['a0'\]"):
        asset_risk(tiny_forecast(), sites)


def levels_for(**columns) -> pd.DataFrame:
    sites = assets(centre(1, 1), centre(1, 1), centre(1, 1), centre(1, 1), **columns)
    risk = asset_risk(tiny_forecast(), sites, buffer_m=0)
    return asset_alert_levels(risk, sites, default_flood_threshold=0.3, default_heat_threshold_degC=35.0)


def test_flood_threshold_rises_by_a_tenth_per_half_metre_of_floor():
    levels = levels_for(floor_height_m=[np.nan, 0.4, 1.0, 5.0]).query("lead == 0")
    assert levels["flood_threshold"].tolist() == pytest.approx([0.3, 0.3, 0.5, 0.95])
    assert levels["flood_alert"].tolist() == [True, True, True, False]  # flood 0.5 at lead 0


def test_own_thresholds_win_over_the_defaults():
    levels = levels_for(flood_threshold=[np.nan, 0.55, 0.8, np.nan],
                        heat_threshold=[np.nan, 34.5, 40.0, np.nan], floor_height_m=[0.0, 2.0, 0.0, 0.0])
    lead0 = levels.query("lead == 0")
    assert lead0["flood_threshold"].tolist() == pytest.approx([0.3, 0.55, 0.8, 0.3])
    assert lead0["heat_threshold"].tolist() == pytest.approx([35.0, 34.5, 40.0, 35.0])
    lead1 = levels.query("lead == 1")  # flood 0.6, heat 35.0 at lead 1
    assert lead1["flood_alert"].tolist() == [True, True, False, True]
    assert lead1["heat_alert"].tolist() == [True, True, False, True]


def test_assets_without_risk_never_alert():
    sites = assets(Point(ORIGIN[0] - 5000, ORIGIN[1]))
    risk = asset_risk(tiny_forecast(), sites)
    levels = asset_alert_levels(risk, sites, default_flood_threshold=0.01, default_heat_threshold_degC=20)
    assert not levels["flood_alert"].any() and not levels["heat_alert"].any()
    assert levels["flood_alert"].dtype == bool


def test_levels_reject_risk_of_unknown_assets():
    risk = asset_risk(tiny_forecast(), assets(centre(0, 0)))
    with pytest.raises(ValueError, match=r"missing from `assets`: \['a0'\]"):
        asset_alert_levels(risk, assets(centre(0, 0)).assign(asset_id=["other"]),
                           default_flood_threshold=0.3, default_heat_threshold_degC=35)


def test_levels_reject_a_default_flood_threshold_outside_zero_one():
    risk = asset_risk(tiny_forecast(), assets(centre(0, 0)))
    with pytest.raises(ValueError, match="`default_flood_threshold` must be inside"):
        asset_alert_levels(risk, assets(centre(0, 0)), default_flood_threshold=1.5,
                           default_heat_threshold_degC=35)


def test_nearest_land_search_stops_at_its_reach():
    far_sea = Point(ORIGIN[0] + 30 * 3 + 15 + 60, ORIGIN[1] - 45)  # 3 cells east of the land, beyond the grid
    near = asset_risk(tiny_forecast(), assets(far_sea), buffer_m=0, nearest_land_cells=3)
    short = asset_risk(tiny_forecast(), assets(far_sea), buffer_m=0, nearest_land_cells=2)
    assert near["cells_from"].eq("nearest_land").all() and near["flood_probability_max"].iloc[0] == pytest.approx(0.6)
    assert short["cells_from"].eq("none").all()


def test_alert_levels_step_by_odds_for_flood_and_degrees_for_heat():
    # threshold 0.3 (odds 0.43): level 2 from odds 1.29 (p 0.5625), level 3 from odds 3.86 (p 0.794)
    risk = pd.DataFrame({"asset_id": "a0", "lead": range(5), "flood_probability_max": [0.2, 0.3, 0.56, 0.57, 0.8],
                         "tasmax_q50_max": [34.9, 35.0, 36.9, 37.0, 40.0]})
    levels = asset_alert_levels(risk, assets(centre(1, 1)), default_flood_threshold=0.3,
                                default_heat_threshold_degC=35.0)
    assert levels["flood_level"].tolist() == [0, 1, 1, 2, 3]
    assert levels["heat_level"].tolist() == [0, 1, 1, 2, 3]


def test_driver_layers_are_read_at_the_assets_cells():
    forecast = tiny_forecast()
    forecast["rain_24h_mm"] = forecast["flood_probability"] * 100
    forecast["hand_m"] = grid(FLOOD0 * 10, "hand_m", "m")  # static: one value for every lead
    square = box(ORIGIN[0] + 30, ORIGIN[1] - 90, ORIGIN[0] + 90, ORIGIN[1] - 30)  # rows 1-2, cols 1-2
    risk = asset_risk(forecast, assets(square)).set_index("lead")
    assert risk["rain_24h_mm"].tolist() == pytest.approx([90.0, 100.0])  # the wettest cell
    assert risk["hand_m"].tolist() == pytest.approx([5.0, 5.0])  # the lowest cell
    assert "sea_level_max_m" not in risk


def test_model_drivers_are_read_at_the_assets_wettest_cell():
    forecast = tiny_forecast()
    codes = np.where(FLOOD0 >= 0.8, 2, 0).astype(float)
    forecast["flood_driver_1"] = xr.concat([grid(codes, "flood_driver_1", None)] * 2, dim="lead").assign_attrs(
        flag_values=[0, 1, 2], flag_meanings="hand_m rain_24h_mm sea_level_max_m")
    square = box(ORIGIN[0] + 30, ORIGIN[1] - 90, ORIGIN[0] + 90, ORIGIN[1] - 30)
    assert asset_risk(forecast, assets(square))["flood_driver_1"].tolist() == ["sea_level_max_m"] * 2


def test_flood_drivers_rank_by_reference_and_name_one_rain_burst():
    row = {"rain_24h_mm": 86.0, "rain_max_1h_mm": 40.0, "sea_level_max_m": 1.3, "hand_m": 0.4,
           "rain_antecedent_72h_mm": 10.0}
    # scores: hand 1/0.4 = 2.5, 24 h 86/60 = 1.43 (beats the 1 h burst 40/30 = 1.33), tide 1.3, antecedent 0.1
    assert rank_flood_drivers(row) == [("hand_m", 0.4), ("rain_24h_mm", 86.0), ("sea_level_max_m", 1.3)]
    assert rank_flood_drivers({"rain_24h_mm": 5.0, "hand_m": 20.0}) == [("rain_24h_mm", 5.0)]  # weak: top one only
    assert rank_flood_drivers({"rain_24h_mm": 5.0, "flood_driver_1": "dist_sea_m"})[0] == ("dist_sea_m", pytest.approx(
        float("nan"), nan_ok=True))


def test_heat_drivers_name_humidity_and_a_dense_block_only_when_notable():
    assert rank_heat_drivers({"tasmax_q50_max": 36.0, "hurs_mean_pct": 60.0, "impervious_frac": 0.3}) == [
        ("tasmax_q50_max", 36.0)]
    assert [name for name, _ in rank_heat_drivers(
        {"tasmax_q50_max": 36.0, "heat_index_max": 44.0, "hurs_mean_pct": 80.0, "impervious_frac": 0.8})] == [
        "heat_index_max", "tasmax_q50_max", "hurs_mean_pct", "built_up_frac"]
