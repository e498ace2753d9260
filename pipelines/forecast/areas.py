"""The city's warning areas, read from the bundle and pipelines/data as `flood.areas` lists them."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from models.warning.areas import area_membership
from pipelines.bundle import readers
from pipelines.config import CityConfig, city_template
from pipelines.data import packaged_data

_DISTRICT_FILES = {"penang": "penang_districts.geojson"}
ZONE_NAMES = {"core": "heritage core zone", "buffer": "heritage buffer zone"}


@dataclass(frozen=True)
class CityAreas:
    """The warning areas: a table (`area_id`, `name`, `kind`, geometry in the grid CRS) and their cells."""

    table: gpd.GeoDataFrame
    membership: sparse.csr_array  # (area, flat grid cell) 0/1: the land cells of each area

    @property
    def ids(self) -> list[str]:
        return self.table["area_id"].tolist()


def city_areas(config: CityConfig, land: np.ndarray) -> CityAreas:
    """The city as a whole, its heritage zones, districts and each heritage site's neighbourhood
    (`flood.areas`), each with the land cells (`land`, (y, x) bool) whose centre it covers.

    Districts are clipped to the grid; areas holding no land cell are left out. Kinds: 'city',
    'zone', 'district', 'site'.
    """
    spec, crs = config.flood.areas, config.grid.crs
    template = city_template(config)
    x0, y0, x1, y1 = config.grid.bounds
    frame = shapely.box(x0, y0, x1, y1)
    rows = [{"area_id": "city", "name": config.city.name, "kind": "city", "geometry": frame}]
    if spec.heritage_zones and (config.bundle_dir / readers.VECTOR_LAYERS["heritage_zone"].path).is_file():
        zones = readers.read_vector(config.bundle_dir, "heritage_zone").to_crs(crs)
        for zone, shapes in zones.groupby("zone", sort=False):
            rows.append({"area_id": f"zone-{zone}", "name": ZONE_NAMES.get(zone, f"heritage {zone} zone"),
                         "kind": "zone", "geometry": shapely.union_all(shapes.geometry.values)})
    if spec.districts:
        districts = gpd.read_file(packaged_data(_DISTRICT_FILES[spec.districts])).to_crs(crs)
        for district in districts.itertuples():
            clipped = district.geometry.intersection(frame)
            if not clipped.is_empty:
                slug = district.district.lower().replace(" ", "-")
                rows.append({"area_id": f"district-{slug}", "name": district.district, "kind": "district",
                             "geometry": clipped})
    assets = readers.read_vector(config.bundle_dir, "heritage_assets").to_crs(crs)
    for asset in assets.itertuples():
        rows.append({"area_id": f"site-{asset.asset_id}", "name": f"around {asset.name}", "kind": "site",
                     "geometry": asset.geometry.buffer(spec.site_radius_m).intersection(frame)})
    table = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=crs)
    table = table[~table.geometry.is_empty].reset_index(drop=True)
    membership = area_membership(table.geometry.values, template.x.values, template.y.values, land)
    keep = np.asarray(membership.sum(axis=1)).ravel() > 0
    return CityAreas(table[keep].reset_index(drop=True), membership[np.flatnonzero(keep)])


def land_grid(config: CityConfig, cells: pd.DataFrame) -> np.ndarray:
    """The (y, x) land mask of the grid from the land `cells` (flat `cell` indices)."""
    template = city_template(config)
    land = np.zeros(template.size, bool)
    land[cells["cell"].to_numpy()] = True
    return land.reshape(template.shape)


def area_coords(areas: CityAreas) -> dict[str, tuple]:
    """The forecast's `area` dimension: ids, names, kinds and WKT geometries (grid CRS) as coordinates."""
    table = areas.table
    return {"area_id": ("area", table["area_id"].to_numpy(str), {"long_name": "warning area identifier",
                                                                 "cf_role": "timeseries_id"}),
            "area_name": ("area", table["name"].to_numpy(str), {"long_name": "warning area name"}),
            "area_kind": ("area", table["kind"].to_numpy(str), {
                "long_name": "kind of warning area: city, zone (heritage), district or site (a site's neighbourhood)"}),
            "area_geometry": ("area", shapely.to_wkt(table.geometry.values, rounding_precision=1), {
                "long_name": "warning area outline as WKT in the grid's projected coordinates (m)"})}


AREA_ATTRS = {  # CF attributes of the area layers of forecast.nc
    "area_flood_probability": {
        "units": "1", "long_name": "probability of a flood somewhere in the warning area during the local day"},
    "area_flood_level": {
        "long_name": "flood warning level of the area (actions in configs/advisories.yaml)", "units": "1",
        "flag_values": np.arange(5, dtype=np.int8), "flag_meanings": "none watch prepare protect_collections close"},
    "flood_where_first": {
        "units": "1", "long_name": "probability of a flood near the cell if the city floods that day "
                                   "(where water gathers first)"},
}
