"""The briefing map of one lead day: chance of flooding beside the expected maximum temperature,
over a basemap drawn from the bundle's own layers (sea, waterways, buildings, heritage zone), with
the heritage zones and districts on flood warning outlined and named on the flood panel."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr
from matplotlib import colormaps, patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch
from matplotlib.path import Path as MplPath
from rasterio.crs import CRS

from pipelines.publish.grid import LEVEL_COLOURS, LEVEL_WORDS, hazard_leads, valid_day
from pipelines.storage import write_atomic

WIDTH_PX = 1600
DPI = 150
_PNG = {"compress_level": 3}  # zlib level 3: a sixth faster to write than the default 6, 6 % larger
SEA_COLOUR = "#c3ccd4"  # flat blue-grey, lighter than any flood blue that matters
ALERT_COLOUR = "#d7191c"
WATER_COLOUR = "#2c7fb8"
OWN_SITE_COLOUR = "#8e24aa"  # purple: the ring around a manager's own sites, apart from the blues and reds
BUILDING_COLOUR = (0.15, 0.15, 0.15, 0.22)  # translucent: the risk colour shows through
MAX_LABELS = 5  # asset names per panel, alerting sites first
_PANELS = (  # variable, hazard, colour map, panel title, colour bar label
    ("flood_probability", "flood", "Blues", "Chance of flooding", "Chance of flooding during the day"),
    ("tasmax_q50", "heat", "Reds", "Expected max temperature",
     "Expected highest temperature of the day (°C, median forecast)"),
)
_LEVEL_NOTES = {"flood": ("flood_level",), "heat": ("heat_level", "wbgt_band")}  # level layers noted per panel
# Per-cell flood chances are small numbers (a flood within ~100 m on one day): classes
# spaced by factors of 2-2.5 keep a 1 % cell distinct from a 20 % one on a briefing slide.
FLOOD_CLASSES = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
# One temperature scale for every lead, day and city (degC), so colours compare between maps: from
# a cool tropical day to MET Malaysia's extreme heat (40 degC); values beyond take the end colours.
TASMAX_SCALE_DEGC = (26.0, 40.0)
_HALO = [patheffects.withStroke(linewidth=2.5, foreground="white")]
_LABEL_SPOTS = ((5, 4, "left", "bottom"), (-5, 4, "right", "bottom"), (5, -4, "left", "top"),
                (-5, -4, "right", "top"))  # label offsets (points) tried around a marker, in order
_WATER_STYLE = {"river": (1.4, 0.9), "canal": (0.9, 0.8), "drain": (0.35, 0.45)}  # line width (pt), opacity
OUTLINED_AREA_KINDS = ("zone", "district")  # the warning areas outlined on the map: sites' neighbourhoods would crowd it
_ZONE_STYLE = {"buffer": {"edgecolor": "#444444", "linestyle": (0, (4, 2)), "linewidth": 1.1},
               "core": {"edgecolor": "#111111", "linestyle": "-", "linewidth": 1.8}}


@dataclass(frozen=True)
class Basemap:
    """The bundle's vector layers in the grid's CRS as matplotlib paths, one compound path per
    layer and style: made once (Basemap.from_layers), drawn under every map of an issue date."""

    crs: CRS
    assets: gpd.GeoDataFrame  # in `crs`
    asset_outlines: MplPath | None  # the polygon assets
    zone: dict[str, MplPath]  # "core", "buffer" -> outlines
    buildings: MplPath | None  # footprints, courtyards open
    waterways: dict[str, MplPath]  # kind in _WATER_STYLE -> lines

    @classmethod
    def from_layers(
        cls, crs: CRS, *, zone: gpd.GeoDataFrame, assets: gpd.GeoDataFrame,
        buildings: gpd.GeoDataFrame | None = None, waterways: gpd.GeoDataFrame | None = None,
    ) -> Basemap:
        """The layers reprojected to `crs`: `zone` (column `zone`: core, buffer), `assets`,
        `buildings` (polygons) and `waterways` (column `kind`; without it all are rivers, and
        kinds other than river and canal draw as drains); None or empty layers are left out."""
        local_assets, local_zone = in_crs(assets, crs), in_crs(zone, crs)
        outlines = {kind: _path(local_zone.geometry[(local_zone["zone"] == kind).to_numpy()]) for kind in _ZONE_STYLE}
        water = {}
        if waterways is not None and not waterways.empty:
            local = in_crs(waterways, crs)
            kinds = (local["kind"].where(local["kind"].isin(list(_WATER_STYLE)), "drain").to_numpy() if "kind" in local
                     else np.full(len(local), "river"))
            water = {kind: _path(local.geometry[kinds == kind]) for kind in _WATER_STYLE}
        return cls(
            crs=crs, assets=local_assets, asset_outlines=_path(local_assets.geometry),
            zone={kind: path for kind, path in outlines.items() if path is not None},
            buildings=None if buildings is None else _path(in_crs(buildings, crs).geometry),
            waterways={kind: path for kind, path in water.items() if path is not None},
        )


def render_map(
    forecast: xr.Dataset, lead: int, *, basemap: Basemap, levels: pd.DataFrame | None, path: Path,
    own_sites: tuple[str, ...] = (),
) -> Path:
    """Write the briefing PNG of lead day `lead` to `path` (1600 px wide, 150 dpi), atomically.

    Two panels over the grid's extent: flood probability (0..1) and tasmax q50 (degC, on
    TASMAX_SCALE_DEGC for every lead and day), sea from the land mask (a land cell without a value shows as
    sea too), the `basemap` (buildings translucent, waterways, heritage core/buffer outlines),
    asset markers coloured by the asset's alert level on that panel's hazard at `lead`
    (`levels` from models.assets.asset_alert_levels; None draws every site neutral), a legend
    in plain words, a scale bar and a north arrow. Where `forecast` holds `flood_level`,
    `heat_level` or `wbgt_band` (pipelines.publish.grid.with_levels), a line under the colour bar
    says in words where each level starts, one line per product. Where it holds warning areas,
    the flood panel outlines the zones and districts at level 1 or above in their level's colour,
    each labelled with its level, and a line says the city's level and chance. The assets in
    `own_sites` (a manager's, for their digest) are ringed in OWN_SITE_COLOUR, named in the legend.
    """
    if lead not in forecast.lead.values:
        raise ValueError(f"`lead` {lead} is not in the forecast's leads {forecast.lead.values.tolist()}")
    crs = forecast.rio.crs
    if basemap.crs != crs:
        raise ValueError(f"`basemap` is in {basemap.crs}, the forecast in {crs}")
    res_x = abs(float(forecast.x[1] - forecast.x[0]))
    res_y = abs(float(forecast.y[1] - forecast.y[0]))
    extent = (float(forecast.x.min()) - res_x / 2, float(forecast.x.max()) + res_x / 2,
              float(forecast.y.min()) - res_y / 2, float(forecast.y.max()) + res_y / 2)
    aspect = (extent[3] - extent[2]) / (extent[1] - extent[0])
    margin, gap, top, bottom = 0.3, 0.4, 1.05, 1.95  # inches
    if "area_flood_level" in forecast:
        bottom += 0.2  # room for the warning areas' two lines under the flood colour bar
    width = WIDTH_PX / DPI
    panel_w = (width - 2 * margin - gap) / 2
    panel_h = min(panel_w * aspect, 6.0)
    height = top + panel_h + bottom
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)

    land = forecast["land"].values.astype(bool)
    day = valid_day(forecast, lead)
    for i, (name, hazard, cmap, title, bar_label) in enumerate(_PANELS):
        left = margin + i * (panel_w + gap)
        ax = fig.add_axes((left / width, bottom / height, panel_w / width, panel_h / height))
        if lead not in (forecast_leads := hazard_leads(forecast, hazard)):
            _beyond_horizon(ax, title, hazard, forecast_leads)
            continue
        layer = np.where(land, forecast[name].sel(lead=lead).transpose("y", "x").values, np.nan)
        if hazard == "flood":
            scale = {"norm": BoundaryNorm(FLOOD_CLASSES, colormaps[cmap].N)}
        else:
            scale = dict(zip(("vmin", "vmax"), TASMAX_SCALE_DEGC, strict=True))
        ax.set_facecolor(SEA_COLOUR)  # shows where the layer is NaN: off the land mask
        image = ax.imshow(layer, extent=extent, cmap=cmap, interpolation="nearest", **scale)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_autoscale_on(False)  # outlines and sites beyond the grid must not widen the map
        _draw_basemap(ax, basemap)
        if hazard == "flood" and "area_flood_level" in forecast:
            _draw_warning_areas(ax, forecast, lead, extent)
        _draw_assets(ax, basemap, _asset_levels(levels, lead, hazard), _values(levels, lead, name), extent)
        _ring_own_sites(ax, basemap, own_sites)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=12, fontweight="bold", loc="left")
        if levels is not None:
            count = len(_alerting(levels, lead, hazard))
            ax.set_title(f"{count} site{'s' if count != 1 else ''} on alert", fontsize=9.5, loc="right",
                         color=ALERT_COLOUR if count else "#333333")
        _scale_bar(ax, extent)
        _north_arrow(ax)
        bar_ax = fig.add_axes((left / width, (bottom - 0.42) / height, panel_w / width, 0.13 / height))
        bar = fig.colorbar(image, cax=bar_ax, orientation="horizontal",
                           **({"spacing": "uniform", "ticks": FLOOD_CLASSES} if hazard == "flood" else {}))
        bar.set_label(bar_label, fontsize=9)
        bar.ax.tick_params(labelsize=8)
        if hazard == "flood":
            bar.ax.set_xticklabels([f"{c:.1%}".replace(".0%", "%") for c in FLOOD_CLASSES])
        notes = [_level_note(forecast[n]) for n in _LEVEL_NOTES[hazard]
                 if n in forecast and "level_starts" in forecast[n].attrs]
        if hazard == "flood" and "area_flood_level" in forecast:
            notes += _city_warning_notes(forecast, lead)
        for k, note in enumerate(notes):
            fig.text(left / width, (bottom - 0.92 - 0.16 * k) / height, note, fontsize=8, color="#333333",
                     va="baseline")

    attrs = forecast.attrs
    issued = dt.date.fromisoformat(attrs["issue_date"])
    fig.text(margin / width, 1 - 0.38 / height, f"Lead {lead}: {_day_label(day)}  ·  {attrs['city_name']}",
             fontsize=16, fontweight="bold", va="baseline")
    fig.text(margin / width, 1 - 0.66 / height,
             f"Flood and heat outlook issued {_day_label(issued)}; lead {lead} is the local day "
             f"{_day_label(day)} ({attrs['timezone']})", fontsize=9.5, color="#333333", va="baseline")
    if attrs.get("stale"):  # a short flag by the title, the reason by the footer
        fig.text(1 - margin / width, 1 - 0.38 / height, "STALE DATA", ha="right", fontsize=14,
                 fontweight="bold", color=ALERT_COLOUR, va="baseline")
        fig.text(margin / width, 0.22 / height, f"Stale: {attrs['stale']}"[:190], fontsize=7.5,
                 color=ALERT_COLOUR)
    fig.legend(handles=_legend_handles(levels is not None, basemap.buildings is not None, bool(basemap.waterways),
                                       "area_flood_level" in forecast, bool(own_sites)),
               loc="lower center", ncol=5, frameon=False, fontsize=8.5, bbox_to_anchor=(0.5, 0.2 / height))
    fig.text(margin / width, 0.08 / height,
             f"Flood model {attrs['flood_model_version']} · heat model {attrs['heat_model_version']} · "
             f"{res_x:g} m cells, {crs.to_string()} · Warisan", fontsize=7, color="#555555")
    return write_atomic(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=DPI, pil_kwargs=_PNG),
                        suffix=".png")


def _beyond_horizon(ax: Axes, title: str, hazard: str, leads: list[int]) -> None:
    """A panel that says its `hazard` is not forecast this far ahead (it is at `leads`), instead of an empty map."""
    ax.set_axis_off()
    ax.set_title(title, fontsize=12, fontweight="bold", loc="left")
    ahead = f"{len(leads)} days ahead (leads {leads[0]}-{leads[-1]})" if leads else "not at all in this forecast"
    ax.text(0.5, 0.5, f"{hazard.capitalize()} is forecast {ahead}:\nno {hazard} map for this day",
            ha="center", va="center", fontsize=11, color="#555555", transform=ax.transAxes)


def _day_label(day: dt.date) -> str:
    """'Fri 27 Dec 2024'."""
    return f"{day:%a} {day.day} {day:%b %Y}"


def _alerting(levels: pd.DataFrame | None, lead: int, hazard: str) -> set:
    if levels is None:
        return set()
    rows = levels[(levels["lead"] == lead) & levels[f"{hazard}_alert"]]
    return set(rows["asset_id"])


def _asset_levels(levels: pd.DataFrame | None, lead: int, hazard: str) -> dict:
    """asset_id -> its alert level 0..3 on `hazard` at `lead` (1 for an alert without levels)."""
    if levels is None:
        return {}
    rows = levels[levels["lead"] == lead]
    column = f"{hazard}_level" if f"{hazard}_level" in rows else f"{hazard}_alert"
    return dict(zip(rows["asset_id"], rows[column].astype(int), strict=True))


def in_crs(frame: gpd.GeoDataFrame, crs: CRS) -> gpd.GeoDataFrame:
    """`frame` in `crs`, as is when it is already there (geopandas would transform every vertex)."""
    return frame if frame.crs == crs else frame.to_crs(crs)


def _path(geometries: gpd.GeoSeries) -> MplPath | None:
    """One compound path of every polygon ring (closed; outer rings anticlockwise and holes
    clockwise, so a fill leaves holes open and fills overlaps once) and line of `geometries`;
    None when there is none. Built on flat coordinate arrays, no loop over shapes: only
    multi-part shapes and polygons with holes are split into parts and rings."""
    shapes = geometries.to_numpy()
    multi = shapely.get_type_id(shapes) >= 4
    parts = np.concatenate([shapes[~multi], shapely.get_parts(shapes[multi])])
    kind = shapely.get_type_id(parts)
    polygons = parts[kind == 3]
    holed = shapely.get_num_interior_rings(polygons) > 0
    rings, of_polygon = shapely.get_rings(polygons[holed], return_index=True)
    closed = np.concatenate([polygons[~holed], rings])  # a polygon without holes is its outer ring
    outer = np.concatenate([np.ones((~holed).sum(), bool), np.diff(of_polygon, prepend=-1) > 0])
    lines = parts[(kind == 1) | (kind == 2)]  # LineString, LinearRing
    coords, piece = shapely.get_coordinates(np.concatenate([closed, lines]), return_index=True)
    if not len(coords):
        return None
    starts = np.flatnonzero(np.diff(piece, prepend=-1))
    ends = np.append(starts[1:], len(coords)) - 1
    segment = np.repeat(np.arange(len(starts)), ends - starts + 1)
    ring = piece[starts] < len(closed)
    local = coords - coords[starts][segment]  # about each piece's first point: no cancellation in UTM metres
    cross = local[:, 0] * np.roll(local[:, 1], -1) - np.roll(local[:, 0], -1) * local[:, 1]
    cross[ends] = 0.0  # no edge from a piece's last point to the next piece
    area2 = np.add.reduceat(cross, starts)  # twice the signed area: > 0 anticlockwise
    outer_ring = np.zeros(len(starts), bool)
    outer_ring[ring] = outer[piece[starts][ring]]
    flip = ring & (area2 != 0) & ((area2 > 0) != outer_ring)
    at = np.arange(len(coords))
    coords = coords[np.where(flip[segment], starts[segment] + ends[segment] - at, at)]
    codes = np.full(len(coords), MplPath.LINETO, MplPath.code_type)
    codes[starts] = MplPath.MOVETO
    codes[ends[ring]] = MplPath.CLOSEPOLY
    return MplPath(coords, codes)


def _draw_basemap(ax: Axes, basemap: Basemap) -> None:
    """Buildings, waterways and the heritage zone, each one compound path. add_artist, as
    add_patch would walk every segment in Python to widen the data limits (kept fixed here)."""
    if basemap.buildings is not None:
        ax.add_artist(PathPatch(basemap.buildings, facecolor=BUILDING_COLOUR, edgecolor="none", zorder=2))
    for kind, path in basemap.waterways.items():
        width, alpha = _WATER_STYLE[kind]
        ax.add_artist(PathPatch(path, facecolor="none", edgecolor=(*to_rgb(WATER_COLOUR), alpha), linewidth=width,
                                capstyle="round", joinstyle="round", zorder=2.5))
    for kind, path in basemap.zone.items():
        ax.add_artist(PathPatch(path, facecolor="none", zorder=3, **_ZONE_STYLE[kind]))


def _values(levels: pd.DataFrame | None, lead: int, name: str) -> dict:
    """asset_id -> the asset's value of `name` at `lead` (its max), to rank labels."""
    if levels is None:
        return {}
    rows = levels[levels["lead"] == lead]
    return dict(zip(rows["asset_id"], rows[f"{name}_max"], strict=True))


def _ring_own_sites(ax: Axes, basemap: Basemap, own_sites: tuple[str, ...]) -> None:
    """A wide ring in OWN_SITE_COLOUR around each asset of `own_sites`, outside its level marker."""
    points = basemap.assets.geometry.representative_point()[basemap.assets["asset_id"].isin(own_sites)]
    ax.scatter(points.x, points.y, s=420, facecolors="none", edgecolors=OWN_SITE_COLOUR, linewidths=2.6, zorder=6)


def _draw_assets(ax: Axes, basemap: Basemap, asset_levels: dict, values: dict,
                 extent: tuple[float, float, float, float]) -> None:
    """Markers coloured by alert level (white below it) and up to MAX_LABELS names, alerting and
    highest value first, each placed where it overlaps no other label and stays inside the map."""
    assets = basemap.assets
    if basemap.asset_outlines is not None:
        ax.add_artist(PathPatch(basemap.asset_outlines, facecolor="none", edgecolor="#222222", linewidth=0.8,
                                zorder=4))
    points = assets.geometry.representative_point()
    level = assets["asset_id"].map(asset_levels).fillna(0).astype(int).clip(0, 3).to_numpy()
    alerting = set(assets["asset_id"][level > 0])
    quiet = level == 0
    ax.scatter(points.x[quiet], points.y[quiet], s=28, c="white", edgecolors="#555555", linewidths=0.9, zorder=5)
    for k in (1, 2, 3):
        at = level == k
        ax.scatter(points.x[at], points.y[at], s=70 + 25 * k, c="black", zorder=6)  # a ring on any colour
        ax.scatter(points.x[at], points.y[at], s=35 + 15 * k, c=_marker_colour(k), edgecolors="white",
                   linewidths=1.4, zorder=6)
    names = assets["name"] if "name" in assets else assets["asset_id"]
    inside = (points.x > extent[0]) & (points.x < extent[1]) & (points.y > extent[2]) & (points.y < extent[3])
    ranked = sorted(
        zip(assets["asset_id"][inside], names[inside], points[inside], strict=True),
        key=lambda item: (item[0] not in alerting, -np.nan_to_num(values.get(item[0], np.nan), nan=-np.inf)),
    )
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    taken: list = []  # window extents of the labels placed so far
    for asset_id, name, point in ranked:
        if len(taken) == MAX_LABELS:
            break
        for dx, dy, ha, va in _LABEL_SPOTS:  # the first spot clear of the frame and other labels wins
            label = ax.annotate(str(name), (point.x, point.y), xytext=(dx, dy), textcoords="offset points",
                                ha=ha, va=va, fontsize=7.5, path_effects=_HALO, zorder=7,
                                fontweight="bold" if asset_id in alerting else "normal")
            box = label.get_window_extent(renderer)
            fits = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
            if fits and not any(box.overlaps(other) for other in taken):
                taken.append(box)
                break
            label.remove()


def _scale_bar(ax: Axes, extent: tuple[float, float, float, float]) -> None:
    """A bar of a round length near a fifth of the map's width, lower left."""
    width_m = extent[1] - extent[0]
    length_m = max((n for n in (50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000) if n <= width_m / 4),
                   default=width_m / 4)
    x = extent[0] + 0.04 * width_m
    y = extent[2] + 0.05 * (extent[3] - extent[2])
    ax.plot([x, x + length_m], [y, y], color="black", linewidth=3, solid_capstyle="butt", zorder=8,
            path_effects=[patheffects.withStroke(linewidth=5, foreground="white")])
    label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
    ax.text(x + length_m / 2, y + 0.025 * (extent[3] - extent[2]), label, ha="center", va="bottom",
            fontsize=8, path_effects=_HALO, zorder=8)


def _north_arrow(ax: Axes) -> None:
    """An arrow pointing up, top right (the grid is projected with north up)."""
    ax.annotate("N", xy=(0.95, 0.95), xytext=(0.95, 0.83), xycoords="axes fraction", ha="center", va="center",
                fontsize=10, fontweight="bold", path_effects=_HALO, zorder=8,
                arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": 1.5})


def _level_note(level: xr.DataArray) -> str:
    """'Flood levels: possible from 1%, likely from 5%, very likely from 20%', and the like for
    MET Malaysia's heat levels (with the days they must hold) and NEA's WBGT bands."""
    starts = [float(v) for v in level.attrs["level_starts"]]
    if level.name == "flood_level":
        values = [f"{round(v * 100, 2):g}%" for v in starts]
        return "Flood levels: possible from {}, likely from {}, very likely from {}".format(*values)
    if level.name == "wbgt_band":
        return "WBGT bands (Singapore NEA): moderate from {:g} °C, high from {:g} °C".format(*starts)
    days = int(level.attrs.get("sustained_days", 1))
    held = f"held {days} days" if days > 1 else "on the day alone"
    return (f"MET Malaysia heat levels (median max {held}): "
            "alert {:g}, heatwave {:g}, extreme {:g} °C".format(*starts))


def _draw_warning_areas(ax: Axes, forecast: xr.Dataset, lead: int, extent: tuple[float, float, float, float]) -> None:
    """The zones and districts at level 1 or above at `lead`: outlined in the level's colour on a dark
    edge (readable on any blue), lowest level first, each labelled 'Level 2: <name>' inside its
    north-west corner (else at a point inside it) where the label overlaps no other."""
    at = forecast.sel(lead=lead)
    levels = at["area_flood_level"].values
    on = (levels >= 1) & np.isin(at["area_kind"].values, OUTLINED_AREA_KINDS)
    order = np.flatnonzero(on)[np.argsort(levels[on], kind="stable")]
    frame = shapely.box(extent[0], extent[2], extent[1], extent[3])
    renderer = ax.figure.canvas.get_renderer()
    taken: list = []
    for i in order:
        level, geometry = int(levels[i]), shapely.from_wkt(str(at["area_geometry"].values[i]))
        path = _path(gpd.GeoSeries([geometry]))
        if path is None:
            continue
        ax.add_artist(PathPatch(path, facecolor="none", edgecolor=LEVEL_COLOURS["area_flood_level"][level],
                                linewidth=2.6, zorder=3.5,
                                path_effects=[patheffects.withStroke(linewidth=4, foreground="#222222"),
                                              patheffects.Normal()]))
        inside = geometry.intersection(frame)
        if inside.is_empty:
            continue
        west, _, _, north = inside.bounds
        spot = inside.representative_point()
        for x, y, dx, dy, ha, va in ((west, north, 5, -5, "left", "top"), (spot.x, spot.y, 0, 0, "center", "center")):
            label = ax.annotate(f"Level {level}: {at['area_name'].values[i]}", (x, y), xytext=(dx, dy),
                                textcoords="offset points", ha=ha, va=va, fontsize=7.5, fontweight="bold",
                                zorder=7, path_effects=_HALO)
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in taken):
                taken.append(box)
                break
            label.remove()


def _city_warning_notes(forecast: xr.Dataset, lead: int) -> list[str]:
    """'Warning areas: the city at level 1 (watch), 12% chance of a flood somewhere in it' and what the
    outlines and levels mean."""
    at = forecast.sel(lead=lead)
    kinds, levels = at["area_kind"].values, at["area_flood_level"].values
    words = [word.lower() for word in LEVEL_WORDS["area_flood_level"]]
    outlined = int(((levels >= 1) & np.isin(kinds, OUTLINED_AREA_KINDS)).sum())
    city = np.flatnonzero(kinds == "city")
    notes = []
    if city.size:
        level, chance = int(levels[city[0]]), float(at["area_flood_probability"].values[city[0]])
        notes.append(f"Warning areas: the city at level {level} ({words[level]}), {round(chance * 100):g}% chance "
                     "of a flood somewhere in it")
    notes.append(f"Outlined: {outlined} zone{'s' if outlined != 1 else ''} or district{'s' if outlined != 1 else ''}"
                 " at level 1 or above. Levels: " + ", ".join(f"{k} {words[k]}" for k in range(1, len(words))))
    return notes


def _marker_colour(level: int) -> str:
    """Sites use warning colours (yellow, orange, red) on both panels: they must stand out."""
    return ("#ffffff", "#ffd92f", "#fd8d3c", ALERT_COLOUR)[level]


def _legend_handles(with_alerts: bool, with_buildings: bool, with_waterways: bool, with_areas: bool = False,
                    with_own_sites: bool = False) -> list:
    site = {"marker": "o", "linestyle": "none", "markeredgecolor": "#555555"}
    handles = [
        Line2D([], [], color="#111111", linewidth=1.8, label="Heritage core zone"),
        Line2D([], [], color="#444444", linewidth=1.1, linestyle=(0, (4, 2)), label="Buffer zone"),
        Patch(facecolor=SEA_COLOUR, edgecolor="none", label="Sea"),
    ]
    if with_areas:
        handles.append(Line2D([], [], color=LEVEL_COLOURS["area_flood_level"][2], linewidth=2.6,
                              path_effects=[patheffects.withStroke(linewidth=4, foreground="#222222")],
                              label="Zone or district on flood warning"))
    if with_waterways:
        handles.append(Line2D([], [], color=WATER_COLOUR, linewidth=1.2, label="River, canal or drain"))
    if with_buildings:
        handles.append(Patch(facecolor=BUILDING_COLOUR, edgecolor="none", label="Buildings"))
    if with_alerts:
        ring = [patheffects.withStroke(linewidth=3, foreground="black")]
        handles += [
            Line2D([], [], markerfacecolor=_marker_colour(k), markeredgecolor="white", markeredgewidth=1.4,
                   marker="o", linestyle="none", markersize=6 + k, path_effects=ring, label=label)
            for k, label in ((1, "Site on alert"), (2, "Site on alert: serious"), (3, "Site on alert: severe"))
        ]
        handles.append(Line2D([], [], markerfacecolor="white", markersize=6, label="Site below its alert level",
                              **site))
    else:
        handles.append(Line2D([], [], markerfacecolor="white", markersize=6, label="Heritage site", **site))
    if with_own_sites:
        handles.append(Line2D([], [], marker="o", linestyle="none", markersize=13, markerfacecolor="none",
                              markeredgecolor=OWN_SITE_COLOUR, markeredgewidth=2.6, label="Your sites"))
    return handles


CROP_MARGIN_M = 500.0  # a manager's map shows their sites with this much around them


def manager_crops(managers: list, forecast: xr.Dataset, levels: pd.DataFrame, basemap: Basemap,
                  folder: Path) -> list[Path]:
    """Per manager (`id`, `assets`) and lead, the briefing map cropped to their sites, ringed
    (`<id>_map_d<lead>.png`) for the digest."""
    assets = basemap.assets.set_index("asset_id")
    crops = []
    for manager in managers:
        sites = assets.loc[assets.index.intersection(list(manager.assets))]
        if sites.empty:
            continue
        xmin, ymin, xmax, ymax = sites.total_bounds
        window = forecast.sel(x=slice(xmin - CROP_MARGIN_M, xmax + CROP_MARGIN_M),
                              y=slice(ymax + CROP_MARGIN_M, ymin - CROP_MARGIN_M))
        if min(window.sizes["x"], window.sizes["y"]) < 4:
            continue  # the sites lie off the grid: the digest links the full maps instead
        crops += [render_map(window, lead, basemap=basemap, levels=levels, own_sites=tuple(manager.assets),
                             path=folder / f"{manager.id}_map_d{lead}.png") for lead in forecast.lead.values.tolist()]
    return crops
