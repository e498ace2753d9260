import geopandas
import numpy as np
import pytest
import xarray as xr
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import LineString, box

from features.urban import (
    cover_fraction,
    distance_to_m,
    impervious_fraction,
    line_mask,
    mean_building_height_m,
)
from tests.conftest import CRS, ORIGIN, grid, template

TEMPLATE = template(3, 4)  # 3 rows x 4 columns of 30 m
X0, Y0 = ORIGIN  # the north-west corner


def cell(row: int, col: int, *, left: float = 0, right: float = 30, top: float = 0, bottom: float = 30):
    """A box inside cell (row, col), edges in m from its north-west corner."""
    x, y = X0 + 30 * col, Y0 - 30 * row
    return box(x + left, y - bottom, x + right, y - top)


def series(*geoms, crs: str = CRS) -> geopandas.GeoSeries:
    return geopandas.GeoSeries(list(geoms), crs=crs)


def test_a_polygon_over_the_west_half_of_a_cell_covers_half_of_it():
    cover = cover_fraction(series(cell(1, 2, right=15)), TEMPLATE)
    expected = np.zeros((3, 4))
    expected[1, 2] = 0.5
    np.testing.assert_allclose(cover.values, expected)
    assert cover.attrs["units"] == "1"


def test_cover_fraction_counts_overlapping_polygons_once():
    cover = cover_fraction(series(cell(0, 0), cell(0, 0, right=15)), TEMPLATE)
    assert cover.values[0, 0] == 1.0


def test_cover_fraction_reprojects_polygons_to_the_grid_crs():
    polygon = series(cell(2, 1)).to_crs("EPSG:4326")
    cover = cover_fraction(polygon, TEMPLATE, supersample=8)
    assert cover.values[2, 1] == pytest.approx(1.0, abs=0.05)
    assert cover.values.sum() == pytest.approx(1.0, abs=0.05)


def test_cover_fraction_of_no_polygons_is_zero():
    cover = cover_fraction(series(), TEMPLATE)
    np.testing.assert_array_equal(cover.values, 0.0)


def test_cover_fraction_rejects_polygons_without_crs():
    with pytest.raises(ValueError, match="`shapes` has no CRS"):
        cover_fraction(series(cell(0, 0), crs=None), TEMPLATE)


def test_cover_fraction_rejects_a_template_without_crs():
    bare = TEMPLATE.drop_vars("spatial_ref")
    with pytest.raises(ValueError, match="`template` has no CRS"):
        cover_fraction(series(cell(0, 0)), bare)


def test_line_mask_marks_every_cell_a_line_touches():
    y = Y0 - 45  # along the middle of row 1
    mask = line_mask(series(LineString([(X0 + 5, y), (X0 + 70, y)])), TEMPLATE)
    expected = np.zeros((3, 4), bool)
    expected[1, :3] = True
    np.testing.assert_array_equal(mask.values, expected)
    assert mask.dtype == bool


def test_distance_to_a_single_cell_is_the_distance_between_centres():
    marked = np.zeros((3, 4), bool)
    marked[0, 0] = True
    distance = distance_to_m(grid(marked, "mask", None))
    expected = [[0, 30, 60, 90],
                [30, 30 * 2**0.5, 30 * 5**0.5, 30 * 10**0.5],
                [60, 30 * 5**0.5, 30 * 8**0.5, 30 * 13**0.5]]
    np.testing.assert_allclose(distance.values, expected, rtol=1e-6)
    assert distance.attrs["units"] == "m"


def test_distance_is_nan_when_nothing_is_marked():
    distance = distance_to_m(grid(np.zeros((2, 2), bool), "mask", None))
    assert distance.isnull().all()


def test_distance_rejects_a_non_boolean_mask():
    with pytest.raises(ValueError, match="`mask` must be boolean"):
        distance_to_m(grid(np.zeros((2, 2)), "mask", None))


def test_distance_rejects_a_geographic_grid():
    mask = grid(np.ones((2, 2), bool), "mask", None).rio.write_crs("EPSG:4326")
    with pytest.raises(ValueError, match="`mask` must be on a projected grid in m"):
        distance_to_m(mask)


def test_derived_imperviousness_follows_the_building_cover_rule():
    buildings = series(cell(0, 0), cell(0, 1, right=15), cell(0, 2, right=30 / 4))
    imperv = impervious_fraction(buildings, TEMPLATE, None)
    np.testing.assert_allclose(imperv.values[0], [1.0, 0.9, 0.5, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(imperv.values[1:], 0.0)


def test_a_given_impervious_raster_wins_where_it_has_data():
    given = grid(np.full((3, 4), 0.3), "impervious", None)
    given[0, 0] = np.nan
    given = given.rio.write_nodata(np.nan)
    imperv = impervious_fraction(series(cell(0, 0)), TEMPLATE, given)
    expected = np.full((3, 4), 0.3)
    expected[0, 0] = 1.0  # the hole falls back to the building rule
    np.testing.assert_allclose(imperv.values, expected, rtol=1e-6)


def test_a_given_impervious_raster_is_averaged_onto_the_grid():
    fine = np.zeros((6, 8))
    fine[:2, :2] = 1.0  # cell (0, 0) at 15 m: fully sealed
    fine[2, 2] = 1.0  # a quarter of cell (1, 1)
    imperv = impervious_fraction(series(), TEMPLATE, grid(fine, "impervious", None, resolution_m=15))
    assert imperv.values[0, 0] == pytest.approx(1.0)
    assert imperv.values[1, 1] == pytest.approx(0.25)


def test_impervious_rejects_a_percentage_raster():
    with pytest.raises(ValueError, match=r"`impervious` must be a fraction in \[0, 1\]"):
        impervious_fraction(series(), TEMPLATE, grid(np.full((3, 4), 40.0), "impervious", "%"))


def test_building_height_is_the_footprint_weighted_mean():
    buildings = geopandas.GeoDataFrame(
        {"height_m": [10.0, 20.0, np.nan, np.nan]},
        geometry=[cell(0, 0, right=10), cell(0, 0, left=10), cell(1, 1), cell(2, 3, right=15)],
        crs=CRS,
    )
    # cell (2, 3) mixes a 5 m house with one of unknown height: the unknown is ignored
    buildings.loc[len(buildings)] = {"height_m": 5.0, "geometry": cell(2, 3, left=15)}
    height = mean_building_height_m(buildings, TEMPLATE)
    # cell (0, 0): 10 m over 1/4 of the sub-cells (x centres 3.75; 11.25 falls in the 20 m one)
    expected = np.zeros((3, 4))
    expected[0, 0] = (10.0 * 1 + 20.0 * 3) / 4
    expected[1, 1] = np.nan  # a building of unknown height
    expected[2, 3] = 5.0
    np.testing.assert_allclose(height.values, expected)
    assert height.attrs["units"] == "m" and height.name == "building_height_m"


def test_building_height_without_a_height_column_is_nan_where_built():
    buildings = geopandas.GeoDataFrame(geometry=[cell(0, 0)], crs=CRS)
    height = mean_building_height_m(buildings, TEMPLATE)
    assert np.isnan(height.values[0, 0])
    assert (height.values.ravel()[1:] == 0).all()


def test_urban_functions_leave_inputs_unmodified():
    buildings = geopandas.GeoDataFrame({"height_m": [9.0]}, geometry=[cell(0, 0)], crs=CRS)
    before, template_before = buildings.copy(), TEMPLATE.copy(deep=True)
    mask = grid(np.eye(3, 4, dtype=bool), "mask", None)
    mask_before = mask.copy(deep=True)
    cover_fraction(buildings.geometry, TEMPLATE)
    mean_building_height_m(buildings, TEMPLATE)
    impervious_fraction(buildings.geometry, TEMPLATE, None)
    distance_to_m(mask)
    assert_geodataframe_equal(buildings, before)
    xr.testing.assert_identical(TEMPLATE, template_before)
    xr.testing.assert_identical(mask, mask_before)
