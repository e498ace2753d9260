"""Publish one issue date's folder: the grid, COGs, maps, the page and the STAC item; the Prefect artifacts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from prefect import task
from prefect.artifacts import (
    create_image_artifact,
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)

from pipelines.alerts.advice import load_advisories
from pipelines.bundle import readers
from pipelines.bundle.validate import warnings_markdown
from pipelines.config import CityConfig
from pipelines.publish.areas import area_level_actions, areas_on_warning, has_areas, write_area_files
from pipelines.publish.grid import (
    hazard_leads,
    valid_day,
    with_levels,
    write_cogs,
    write_forecast_netcdf,
    write_forecast_zarr,
)
from pipelines.publish.maps import Basemap, manager_crops, render_map
from pipelines.publish.page import write_page
from pipelines.publish.sites import SITE_HOURS_FILE, write_site_hours
from pipelines.publish.stac import forecast_item, write_item


@task
def publish_grids(config: CityConfig, forecast: xr.Dataset, levels: pd.DataFrame,
                  out: Path, hours: xr.Dataset | None = None) -> dict[str, list[Path]]:
    """Fill the issue date's folder `out`: the grid (forecast.nc or .zarr) with risk levels, COGs,
    the warning areas and polygons (GeoJSON), a briefing map per lead, index.html, the sites' hourly
    heat stress (site_hours.nc, from `hours`) and item.json (listing every file, alerts included)."""
    forecast = with_levels(forecast, flood_bands=config.output.flood_level_bands,
                           heat_bands_degC=config.heat.tasmax_levels_degC)
    # Three writers at once (the netCDF and GDAL libraries release the GIL while they compress); only
    # one of them touches netCDF, whose C library is not thread-safe. The maps read their own big layers.
    assets, zone, buildings, waterways = (readers.read_vector(config.bundle_dir, name) for name in
                                          ("heritage_assets", "heritage_zone", "buildings", "waterways"))

    def paint() -> list[Path]:
        basemap = Basemap.from_layers(forecast.rio.crs, zone=zone, assets=assets, buildings=buildings,
                                      waterways=waterways)
        return ([render_map(forecast, lead, basemap=basemap, levels=levels, path=out / f"map_d{lead}.png")
                 for lead in range(config.forecast_days)]
                + manager_crops(config.alerts.managers, forecast, levels, basemap, out / "digests"))

    with ThreadPoolExecutor(max_workers=2) as writers:
        write_grid, name = ((write_forecast_zarr, "forecast.zarr") if config.output.format == "zarr"
                            else (write_forecast_netcdf, "forecast.nc"))
        grid = writers.submit(write_grid, forecast, out / name)
        maps = writers.submit(paint)
        actions = area_level_actions(load_advisories(config.alerts.advisories, config.alerts.languages))
        written = {
            "cog": write_cogs(forecast, out),
            "geojson": write_area_files(forecast, out),
            "page": [write_page(forecast, out / "index.html", assets=assets, zone=zone, levels=levels,
                                alerts_dir=out / "alerts", area_actions=actions, buildings=buildings,
                                waterways=waterways)],
        }
        painted = maps.result()
        written |= {config.output.format: [grid.result()], "map": painted[:config.forecast_days],
                    "digest_map": painted[config.forecast_days:]}
    if hours is not None:  # after the grid: the netCDF library is not thread-safe
        written["site_hours"] = [write_site_hours(hours, out / SITE_HOURS_FILE)]
    files = [p for paths in written.values() for p in paths] + sorted((out / "alerts").glob("*.cap.xml"))
    written["stac"] = [write_item(forecast_item(forecast, out, files), out)]
    return written


def publish_artifacts(config: CityConfig, forecast: xr.Dataset, written: dict[str, list[Path]], *,
                      stale: str = "") -> None:
    """The day at a glance in the Prefect UI: the run's summary and files (with why it is `stale`, if
    it is, and the bundle's warnings, if any), a summary table per hazard and lead, a table of the
    warning areas at level 1 or above per lead, the map, the page."""
    slug, issue_date = config.city.slug, forecast.attrs["issue_date"]
    requested = forecast.attrs.get("stale_for", issue_date)  # a stale run publishes an earlier forecast
    flood_max = float(forecast["flood_probability"].max())
    lines = [f"# Forecast {config.city.name}, issued {requested}" + (" (STALE)" if stale else ""), "",
             (f"Highest flood probability: {flood_max:.2f}; hottest q50 tasmax: "
             f"{float(forecast['tasmax_q50'].max()):.1f} degC; CAP alerts: {len(written['cap'])}"), ""]
    warned = areas_on_warning(forecast)
    if has_areas(forecast):
        lines += ["Warning areas at level 1 or above: " + ", ".join(
            f"lead {lead}: {sum(row['lead'] == lead for row in warned)}" for lead in hazard_leads(forecast, "flood")), ""]
    if stale:
        lines += [f"**Stale:** {stale}", ""]
    if bundle_warnings := forecast.attrs.get("bundle_warnings"):
        lines.append(warnings_markdown(bundle_warnings.splitlines()))
    lines += [f"- {kind}: " + ", ".join(f"`{p}`" for p in paths) for kind, paths in written.items()]
    create_markdown_artifact(key=f"{slug}-forecast", markdown="\n".join(lines),
                             description=f"daily forecast {requested}")
    forecast = with_levels(forecast, flood_bands=config.output.flood_level_bands,
                           heat_bands_degC=config.heat.tasmax_levels_degC)
    land = forecast["land"].values.astype(bool)
    rows = []
    for hazard, (name, level, digits) in {"flood": ("flood_probability", "flood_level", 4),
                                          "heat": ("tasmax_q50", "heat_level", 2)}.items():
        for lead in hazard_leads(forecast, hazard):  # each hazard at its own leads
            at = forecast.sel(lead=lead)
            values, levels = at[name].values[land], at[level].values[land]
            rows.append({"hazard": hazard, "lead": lead, "valid_date": valid_day(forecast, lead).isoformat(),
                         "max": round(float(np.nanmax(values)), digits), "mean": round(float(np.nanmean(values)), digits),
                         "cells_level_1_plus": int((levels >= 1).sum()), "cells_level_3": int((levels >= 3).sum())})
    create_table_artifact(key=f"{slug}-summary", table=rows,
                          description=f"flood probability (1) and tasmax q50 (degC) over land, issue date {issue_date}")
    if has_areas(forecast):
        create_table_artifact(
            key=f"{slug}-warning-areas", table=[{k: v for k, v in row.items() if k != "id"} for row in warned],
            description=(f"warning areas at level 1 or above per lead (chance of a flood somewhere in the area), "
                         f"issue date {issue_date}" + ("" if warned else ": none")))
    create_link_artifact(key=f"{slug}-page", link=written["page"][0].resolve().as_uri(),
                         link_text=f"interactive map, issue date {issue_date}")
    create_image_artifact(key=f"{slug}-map", image_url=written["map"][0].resolve().as_uri(),
                          description=f"briefing map, lead 0, issue date {issue_date}")
