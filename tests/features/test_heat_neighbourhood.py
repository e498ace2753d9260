import numpy as np
import pytest
import xarray as xr

from features.neighbourhood import focal_mean, neighbourhood_means, window_cells
from tests.conftest import grid

LAND = grid(np.array([[True, True, True, False]] * 3), "land", None)


@pytest.mark.parametrize(("scale", "resolution", "cells"), [(100, 30, 3), (300, 30, 11), (1000, 30, 33),
                                                              (100, 50, 3), (10, 30, 1)])
def test_windows_are_the_odd_cell_count_nearest_the_scale(scale, resolution, cells):
    assert window_cells(scale, resolution) == cells


def test_focal_mean_averages_land_neighbours_only():
    values = grid(np.array([[1.0, 0.0, 0.0, 9.0]] * 3), "impervious_frac", "1")
    mean = focal_mean(values, LAND, 90)  # 3 x 3 cells
    # centre of column 1: mean of the 9 land cells around it = (3 * 1) / 9; the sea's 9 never counts
    assert mean.values[1, 1] == pytest.approx(1 / 3)
    assert mean.values[1, 2] == pytest.approx(0.0)
    assert mean.values[0, 0] == pytest.approx(0.5)  # corner: 4 cells in the grid, 2 of them 1
    assert np.isnan(mean.values[:, 3]).all()
    assert mean.name == "impervious_frac_90m" and mean.attrs["units"] == "1"


def test_focal_mean_skips_nan_values():
    values = grid(np.array([[np.nan, 2.0, 4.0, 0.0]] * 3), "building_height_m", "m")
    assert focal_mean(values, LAND, 90).values[1, 0] == pytest.approx(2.0)


def test_focal_mean_refuses_a_land_mask_that_is_not_boolean():
    with pytest.raises(ValueError, match="`land` must be boolean"):
        focal_mean(grid(np.ones((3, 4)), "a", "1"), LAND.astype(int), 90)


def test_neighbourhood_means_names_every_layer_and_scale():
    layers = xr.Dataset({"impervious_frac": grid(np.ones((3, 4)), "impervious_frac", "1")})
    out = neighbourhood_means(layers, LAND, (100, 300))
    assert list(out) == ["impervious_frac_100m", "impervious_frac_300m"]
    np.testing.assert_allclose(out["impervious_frac_300m"].values[:, :3], 1.0)
