"""STAC metadata of the store: an item per issue date and a catalog per city, written with pystac.

Links and asset hrefs are relative, so a city's store can be copied or served as is. The item
is written inside the issue date's folder before it is swapped in (it appears with the date);
the catalog is rewritten after every publish from the dates whose folder holds an item.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import pystac
import xarray as xr
from pystac.extensions.datacube import DatacubeExtension, Dimension, Variable
from pystac.extensions.projection import ProjectionExtension

from pipelines.publish.grid import valid_day
from pipelines.storage import write_text_atomic

ITEM_NAME = "item.json"
CATALOG_NAME = "catalog.json"
_MEDIA = {  # suffix -> (media type, roles)
    ".nc": ("application/x-netcdf", ["data"]),
    ".zarr": ("application/vnd+zarr", ["data"]),
    ".tif": (pystac.MediaType.COG, ["data"]),
    ".png": (pystac.MediaType.PNG, ["overview", "visual"]),
    ".html": (pystac.MediaType.HTML, ["visual"]),
    ".geojson": (pystac.MediaType.GEOJSON, ["data"]),  # application/geo+json (RFC 7946)
    ".xml": ("application/common-alerting-protocol+xml", ["metadata", "alert"]),
}


def forecast_item(forecast: xr.Dataset, folder: Path, files: list[Path]) -> pystac.Item:
    """The STAC item of one issue date: its footprint, time span, projection, datacube dims and
    variables, and one asset per file in `files` (hrefs relative to `folder`)."""
    bounds = forecast.rio.bounds()
    west, south, east, north = forecast.rio.transform_bounds("EPSG:4326")
    footprint = {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north],
                                                     [west, north], [west, south]]]}
    issue = dt.date.fromisoformat(forecast.attrs["issue_date"])
    reference = np.datetime_as_string(forecast["forecast_reference_time"].values, unit="s") + "Z"
    start = dt.datetime.fromisoformat(reference)
    end = start + dt.timedelta(days=int(forecast.lead.max()) + 1)
    item = pystac.Item(
        id=f"{forecast.attrs['city']}-{forecast.attrs.get('stale_for', issue.isoformat())}", geometry=footprint, bbox=[west, south, east, north],
        datetime=start, start_datetime=start, end_datetime=end,
        properties={
            "title": f"{forecast.attrs['city_name']}: flood and heat forecast issued {issue.isoformat()}",
            "forecast:reference_datetime": reference,
            "warisan:issue_date": issue.isoformat(),
            "warisan:valid_dates": [valid_day(forecast, lead).isoformat() for lead in forecast.lead.values],
            "warisan:flood_model_version": forecast.attrs["flood_model_version"],
            "warisan:heat_model_version": forecast.attrs["heat_model_version"],
            "warisan:stale": forecast.attrs.get("stale", ""),
            "warisan:bundle_warnings": forecast.attrs.get("bundle_warnings", "").splitlines(),
        },
    )
    ProjectionExtension.ext(item, add_if_missing=True).apply(
        code=forecast.rio.crs.to_string(), bbox=list(bounds),
        shape=[forecast.sizes["y"], forecast.sizes["x"]], transform=list(forecast.rio.transform())[:6],
    )
    epsg = forecast.rio.crs.to_epsg()
    step = forecast.rio.resolution()
    DatacubeExtension.ext(item, add_if_missing=True).apply(
        dimensions={
            "x": Dimension.from_dict({"type": "spatial", "axis": "x", "extent": [bounds[0], bounds[2]],
                                      "step": step[0], "reference_system": epsg}),
            "y": Dimension.from_dict({"type": "spatial", "axis": "y", "extent": [bounds[1], bounds[3]],
                                      "step": step[1], "reference_system": epsg}),
            "lead": Dimension.from_dict({"type": "lead", "values": [int(v) for v in forecast.lead.values],
                                         "unit": "d", "description": "lead day: valid day = issue date + lead"}),
        },
        variables={
            name: Variable({"type": "data", "dimensions": list(var.dims), "unit": str(var.attrs.get("units", "")),
                            "description": str(var.attrs.get("long_name", name))})
            for name, var in forecast.data_vars.items() if var.dims and set(var.dims) <= {"lead", "y", "x"}
        },
    )
    for path in sorted(files):
        media_type, roles = _MEDIA.get(path.suffix, (None, ["data"]))
        href = "./" + path.relative_to(folder).as_posix()
        key = path.relative_to(folder).as_posix().removesuffix(".cap.xml").replace("/", "-")
        item.add_asset(key, pystac.Asset(href=href, media_type=media_type, roles=roles, title=path.name))
    return item


def write_item(item: pystac.Item, folder: Path) -> Path:
    """Write `item` to `folder/item.json`, linked to the city catalog two folders up."""
    item.clear_links()
    for rel in (pystac.RelType.ROOT, pystac.RelType.PARENT):
        item.add_link(pystac.Link(rel, f"../../{CATALOG_NAME}", media_type=pystac.MediaType.JSON))
    return write_text_atomic(folder / ITEM_NAME, json.dumps(item.to_dict(include_self_link=False), indent=1))


def write_catalog(city_store: Path, city: str, city_name: str) -> Path:
    """Rewrite `<city_store>/catalog.json` listing every published issue date that has an item.

    Dates are the folders (or version links) under `forecasts/` whose name is an ISO date; a
    date missing its item.json (an older layout) is left out rather than listed broken.
    """
    catalog = pystac.Catalog(id=city, title=f"Warisan forecasts for {city_name}",
                             description=f"Daily flood and heat forecasts for {city_name}, one item per issue date",
                             catalog_type=pystac.CatalogType.SELF_CONTAINED)
    catalog.clear_links()
    catalog.add_link(pystac.Link(pystac.RelType.ROOT, f"./{CATALOG_NAME}", media_type=pystac.MediaType.JSON))
    for date in published_dates(city_store):
        if (city_store / "forecasts" / date / ITEM_NAME).is_file():
            catalog.add_link(pystac.Link(pystac.RelType.ITEM, f"./forecasts/{date}/{ITEM_NAME}",
                                         media_type=pystac.MediaType.GEOJSON, title=date))
    return write_text_atomic(city_store / CATALOG_NAME, json.dumps(catalog.to_dict(include_self_link=False),
                                                                   indent=1))


def published_dates(city_store: Path) -> list[str]:
    """ISO issue dates published under `<city_store>/forecasts`, oldest first."""
    folder = city_store / "forecasts"
    if not folder.is_dir():
        return []
    dates = []
    for entry in folder.iterdir():
        try:
            dt.date.fromisoformat(entry.name)
        except ValueError:
            continue
        if entry.is_dir():
            dates.append(entry.name)
    return sorted(dates)


def link_latest(city_store: Path) -> Path | None:
    """Point `<city_store>/forecasts/latest` at the newest published issue date, atomically.

    Only dates swapped in whole by storage.publish_folder are found, so `latest` never
    points at a half-written day. None when nothing is published.
    """
    dates = published_dates(city_store)
    if not dates:
        return None
    folder = city_store / "forecasts"
    link = folder / f".latest.link-{dates[-1]}"
    link.unlink(missing_ok=True)
    os.symlink(dates[-1], link)
    os.replace(link, folder / "latest")
    return folder / "latest"
