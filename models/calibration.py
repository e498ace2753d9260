"""Probability calibration of the flood classifier: isotonic or Platt, chosen by held-out Brier.

The booster learns on a drawn sample (all floods, few non-floods), so its raw output is not a
population probability. A calibration maps the raw output to one, fitted with the sampling
weights on a period the booster never saw. Every map here is monotone non-decreasing and
returns values in [0, 1], and is stored as plain numbers on the model card.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

_EPS = 1e-9


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class Calibration:
    """A monotone map from raw booster output (0..1) to a population probability (0..1).

    The fitted map gives the chance of a *reported* flood; dividing by `report_rate` (the share
    of floods an inventory reports, capped at 1) turns it into the chance of a flood: the
    positive-unlabelled correction of Elkan and Noto (2008) with a known label frequency.

    'platt' and 'prior': 1 / (1 + exp(-(slope * logit(raw) + intercept))), slope > 0.
    'isotonic': linear interpolation through the knots (`knots_raw`, `knots_prob`), flat beyond.
    """

    method: Literal["isotonic", "platt", "prior"]
    slope: float = 1.0
    intercept: float = 0.0
    knots_raw: tuple[float, ...] = ()
    knots_prob: tuple[float, ...] = ()
    report_rate: float = 1.0  # P(report | flood): the fitted report probability is divided by it

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            reported = np.interp(np.asarray(raw, float), self.knots_raw, self.knots_prob)
        else:
            reported = 1 / (1 + np.exp(-(self.slope * _logit(raw) + self.intercept)))
        return np.minimum(reported / self.report_rate, 1.0)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, record: dict) -> Calibration:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in record.items()})


def prior_correction(negative_weight: float) -> Calibration:
    """The odds of the drawn sample divided by `negative_weight` (King and Zeng 2001), as a map."""
    if negative_weight < 1:
        raise ValueError(f"`negative_weight` must be >= 1, got {negative_weight}")
    return Calibration("prior", slope=1.0, intercept=-float(np.log(negative_weight)))


def fit_platt(raw: np.ndarray, observed: np.ndarray, weight: np.ndarray) -> Calibration:
    """Weighted logistic regression of `observed` (0/1) on logit(`raw`) (Platt 1999).

    The slope is kept positive (a non-increasing fit keeps the rank and takes slope 0+).
    """
    model = LogisticRegression(C=1e6, max_iter=1000)
    model.fit(_logit(raw)[:, None], observed, sample_weight=weight)
    return Calibration("platt", slope=max(float(model.coef_[0, 0]), 1e-6), intercept=float(model.intercept_[0]))


def fit_isotonic(raw: np.ndarray, observed: np.ndarray, weight: np.ndarray) -> Calibration:
    """Weighted isotonic (non-decreasing) regression of `observed` (0/1) on `raw`."""
    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    model.fit(np.asarray(raw, float), observed, sample_weight=weight)
    return Calibration("isotonic", knots_raw=tuple(map(float, model.X_thresholds_)),
                       knots_prob=tuple(map(float, model.y_thresholds_)))


FITS = {"isotonic": fit_isotonic, "platt": fit_platt}


def day_folds(day: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Two folds (0/1 per row) of whole days: the days with an event (any `observed` row 1) go to
    the folds in turn in time order, and so do the days without, so each fold holds about half
    the event days and no day is in both. Halves of the period in time can leave a fold without
    a single event when floods cluster in one season, and then no held-out score exists."""
    day, observed = np.asarray(day), np.asarray(observed)
    days, at = np.unique(day, return_inverse=True)
    event_day = np.bincount(at, weights=observed, minlength=len(days)) > 0
    turn = np.empty(len(days), int)
    for flag in (True, False):
        turn[event_day == flag] = np.arange(int((event_day == flag).sum())) % 2
    return turn[at]


def choose_calibration(
    raw: np.ndarray, observed: np.ndarray, weight: np.ndarray, fold: np.ndarray,
) -> tuple[Calibration, dict[str, float]]:
    """The better of isotonic and Platt by held-out weighted Brier, refitted on all rows.

    `fold` (0/1 per row, e.g. `day_folds`) gives two-fold cross-validation: each method is fitted
    on one fold and scored on the other.
    Returns the chosen map and each method's held-out Brier score; a tie goes to Platt.
    """
    raw, observed, weight, fold = (np.asarray(a) for a in (raw, observed, weight, fold))
    if observed.sum() == 0:
        raise ValueError("no flooded rows in the calibration period: cannot calibrate")
    brier = {}
    for name, fit in FITS.items():
        squared = 0.0
        for held in (0, 1):
            fitted, scored = fold != held, fold == held
            if observed[fitted].sum() == 0 or not scored.any():
                squared = np.inf
                break
            prob = fit(raw[fitted], observed[fitted], weight[fitted])(raw[scored])
            squared += float(np.sum(weight[scored] * (prob - observed[scored]) ** 2))
        brier[name] = squared / float(weight.sum())
    best = min(sorted(brier, reverse=True), key=brier.get)  # "platt" first: it wins a tie
    return FITS[best](raw, observed, weight), brier


def fit_guarded_isotonic(raw: np.ndarray, observed: np.ndarray, weight: np.ndarray | None = None, *,
                         min_events: int) -> Calibration:
    """Isotonic calibration with guard rails: every step rests on at least `min_events` events.

    Rows are sorted by `raw`; walking down from the highest, a bin closes each time it holds
    `min_events` events (0/1 `observed`), and the rest joins the lowest bin. Adjacent bins whose
    rates fall with `raw` are pooled (pool adjacent violators) until the rates rise. The map runs
    through (weighted mean raw, weighted event rate) of each bin, linear between and flat beyond the
    outermost bins: monotone, inside [0, 1], and never past the data; it reaches a high value only
    where a bin's events say so. Fewer than `min_events` events in all: one bin, the overall rate.
    """
    if min_events < 1:
        raise ValueError(f"`min_events` must be >= 1, got {min_events}")
    raw, observed = np.asarray(raw, float), np.asarray(observed, float)
    weight = np.ones_like(raw) if weight is None else np.asarray(weight, float)
    if not (raw.shape == observed.shape == weight.shape) or raw.ndim != 1 or raw.size == 0:
        raise ValueError("`raw`, `observed` and `weight` must be 1-D arrays of one length > 0")
    order = np.argsort(-raw, kind="stable")
    events_above = np.cumsum(observed[order])  # events among the rows from the top down
    closes = np.searchsorted(events_above, np.arange(min_events, events_above[-1] + 1, min_events))
    edges = np.unique(np.clip(np.append(closes + 1, raw.size), 1, raw.size))
    if len(edges) > 1 and events_above[-1] - events_above[edges[-2] - 1] < min_events:
        edges = np.delete(edges, -2)  # too few events below the last full bin: join it
    bins = np.repeat(np.arange(len(edges)), np.diff(np.append(0, edges)))[np.argsort(order)]
    bins = len(edges) - 1 - bins  # 0: the lowest scores
    mass = np.bincount(bins, weight)
    blocks = [[float(np.bincount(bins, weight * raw)[k]), float(np.bincount(bins, weight * observed)[k]),
               float(mass[k])] for k in range(len(edges))]
    pooled = []  # pool adjacent violators: [sum w*raw, sum w*observed, sum w]
    for block in blocks:
        pooled.append(block)
        while len(pooled) > 1 and pooled[-2][1] / pooled[-2][2] >= pooled[-1][1] / pooled[-1][2]:
            last = pooled.pop()
            pooled[-1] = [a + b for a, b in zip(pooled[-1], last, strict=True)]
    return Calibration("isotonic", knots_raw=tuple(b[0] / b[2] for b in pooled),
                       knots_prob=tuple(b[1] / b[2] for b in pooled))
