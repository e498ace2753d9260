"""Water at the door: how deep a flood near a place is, learnt from the depths people report.

A flood report (bundle obs/flood_events.csv) carries the depth of water seen (`depth_cm`). The
depth a flood reaches depends mostly on the ground: water pools in closed depressions and runs off
elsewhere. So the reports are split into a few bands of one static feature of the ground at the
report (by default the depth of the closed depression there, `depression_depth_m`, the worst of
the cells standing for the place, as for a heritage site: models.asset_cells) and each band keeps
its reports' depths as an empirical distribution, shrunk toward the depths of all reports by
`min_reports` reports' worth of them (a band's 139 shallow reports do not make a deep flood
impossible there: without it, no demo site would ever see water above its floor). A band with fewer
than `min_reports` reports has too few to stand on its own and takes the depths of all reports (pooled).

For a heritage site, in the band of its own ground:

- P(depth > floor | a flood near the site) = the band's share of reported depths above the site's
  raised floor (`floor_height_m`, missing = 0);
- the expected depth given a flood = the band's mean reported depth (cm);
- the chance of water above the floor = the chance of a flood near the site (its neighbourhood's,
  models.warning.areas) x P(depth > floor | flood).

Assumptions, stated so they can be checked: the depth is independent of the weather given the
band (a heavy storm is not assumed deeper than a light one: the reports are too few to say), and
of whether the flood near the site reaches the site itself: a flood somewhere in the neighbourhood
is taken to be at the site, with the depth a report on its kind of ground gives. That is cautious
(a flood near the site may leave it dry). Reported depths are what people saw, rounded to 5 cm,
and people report deep water more readily than shallow: the distribution leans deep, also cautious.

Pure: arrays in, a small dataclass of plain numbers out (storable on a model card).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

DEPTH_FEATURE = "depression_depth_m"  # the static feature whose bands split the reports
DEPTH_BAND_EDGES = (0.1, 0.5)  # m: flat ground (< 0.1), shallow hollows, closed depressions (>= 0.5)
MIN_REPORTS_PER_BAND = 20  # a band with fewer reports takes the pooled depths of all reports


@dataclass(frozen=True)
class DoorDepth:
    """Reported flood depths by band of `feature` (a depth distribution per band, cm).

    Band k holds feature values in [edges[k-1], edges[k]) (band 0 below edges[0], the last from
    edges[-1] up). Each band's distribution is its distinct depths `depth_cm[k]` with their
    `count[k]`; `n_reports[k]` counts the band's own reports and `pooled[k]` says the band had
    fewer than `min_reports` and holds all reports' depths instead.
    """

    feature: str
    edges: tuple[float, ...]
    depth_cm: tuple[tuple[float, ...], ...]
    count: tuple[tuple[float, ...], ...]  # reports of each depth, with the pooled prior's share
    n_reports: tuple[int, ...]
    pooled: tuple[bool, ...]
    min_reports: int

    def band(self, feature_values) -> np.ndarray:
        """The band of each feature value (int; -1 where NaN)."""
        values = np.asarray(feature_values, float)
        return np.where(np.isnan(values), -1, np.digitize(values, self.edges))

    def exceedance(self, feature_values, floor_cm) -> np.ndarray:
        """P(depth > floor_cm | a flood) at places of `feature_values` (1); NaN where the feature is
        NaN or the model has no reports. `floor_cm` broadcasts against `feature_values`."""
        band, floor = np.broadcast_arrays(self.band(feature_values), np.asarray(floor_cm, float))
        out = np.full(band.shape, np.nan)
        for k, (depths, counts) in enumerate(zip(self.depth_cm, self.count, strict=True)):
            mine = band == k
            if mine.any() and sum(counts):
                above = np.asarray(depths)[None, :] > floor[mine][:, None]
                out[mine] = (above * np.asarray(counts)).sum(axis=1) / sum(counts)
        return out

    def expected_cm(self, feature_values) -> np.ndarray:
        """The mean reported depth (cm) given a flood at places of `feature_values`; NaN as exceedance."""
        means = np.array([np.average(d, weights=c) if sum(c) else np.nan
                          for d, c in zip(self.depth_cm, self.count, strict=True)] + [np.nan])
        return means[self.band(feature_values)]  # -1 (NaN feature) reads the trailing NaN

    def to_dict(self) -> dict:
        """Plain numbers for a model card (JSON)."""
        return {"feature": self.feature, "edges": list(self.edges), "min_reports": self.min_reports,
                "bands": [{"depth_cm": list(d), "count": list(c), "n_reports": n, "pooled": p}
                          for d, c, n, p in zip(self.depth_cm, self.count, self.n_reports, self.pooled, strict=True)]}

    @classmethod
    def from_dict(cls, card: dict) -> DoorDepth:
        bands = card["bands"]
        return cls(card["feature"], tuple(float(e) for e in card["edges"]),
                   tuple(tuple(float(v) for v in b["depth_cm"]) for b in bands),
                   tuple(tuple(float(v) for v in b["count"]) for b in bands),
                   tuple(int(b["n_reports"]) for b in bands), tuple(bool(b["pooled"]) for b in bands),
                   int(card["min_reports"]))


def fit_door_depth(depth_cm, feature_values, *, feature: str = DEPTH_FEATURE,
                   edges: tuple[float, ...] = DEPTH_BAND_EDGES,
                   min_reports: int = MIN_REPORTS_PER_BAND) -> DoorDepth:
    """The reported depths (`depth_cm`, cm, one per report) by band of `feature_values` (the
    reports' `feature` at their cells): see DoorDepth. Reports missing either value are left out;
    with none left every band is empty (its predictions NaN)."""
    depth, values = np.asarray(depth_cm, float), np.asarray(feature_values, float)
    if depth.shape != values.shape:
        raise ValueError(f"`depth_cm` and `feature_values` differ in shape: {depth.shape} and {values.shape}")
    if list(edges) != sorted(set(edges)):
        raise ValueError(f"`edges` must increase strictly, got {edges}")
    if min_reports < 1:
        raise ValueError(f"`min_reports` must be >= 1, got {min_reports}")
    if (depth < 0).any():
        raise ValueError("`depth_cm` holds negative depths")
    keep = np.isfinite(depth) & np.isfinite(values)
    depth, band = depth[keep], np.digitize(values[keep], edges)
    everyone, every_count = np.unique(depth, return_counts=True)
    prior = min_reports * every_count / max(every_count.sum(), 1)  # `min_reports` reports' worth of all depths
    depths, counts, sizes, pooled = [], [], [], []
    for k in range(len(edges) + 1):
        own = depth[band == k]
        thin = own.size < min_reports
        own_count = np.zeros(everyone.size) if thin else np.bincount(np.searchsorted(everyone, own),
                                                                     minlength=everyone.size)
        counts_k = every_count.astype(float) if thin else own_count + prior
        depths.append(tuple(float(v) for v in everyone))
        counts.append(tuple(round(float(c), 6) for c in counts_k))
        sizes.append(int(own.size))
        pooled.append(bool(thin))
    return DoorDepth(feature, tuple(float(e) for e in edges), tuple(depths), tuple(counts), tuple(sizes),
                     tuple(pooled), int(min_reports))


def water_at_door(flood_chance, feature_values, floor_height_m, door: DoorDepth) -> dict[str, np.ndarray]:
    """At each place (arrays broadcast together): `flood_above_floor_probability`, the chance (1)
    that water rises above a floor `floor_height_m` (m above the ground; NaN or negative = 0) given
    the chance of a flood near the place `flood_chance`, and `flood_depth_expected_cm`, the mean
    depth (cm) if it floods, from `door` at the places' `feature_values` (module docstring)."""
    floor_m = np.nan_to_num(np.asarray(floor_height_m, float), nan=0.0).clip(min=0.0)
    given_flood = door.exceedance(feature_values, floor_m * 100.0)
    return {"flood_above_floor_probability": np.asarray(flood_chance, float) * given_flood,
            "flood_depth_expected_cm": np.broadcast_to(door.expected_cm(feature_values), given_flood.shape).copy()}


FORECAST_ATTR = "flood_depth_model"  # a forecast's attribute holding its DoorDepth as JSON


def forecast_door(attrs: dict) -> DoorDepth | None:
    """The depth model a forecast was made with (its attrs' FORECAST_ATTR, JSON); None without one."""
    text = attrs.get(FORECAST_ATTR)
    return None if not text else DoorDepth.from_dict(json.loads(text))
