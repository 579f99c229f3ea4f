"""How sure a match is, in terms an operator can use: measured against pairs known to be different people.

Linking calibrates its threshold on *known-different* pairs: two tracks that overlap in time in one camera are
two people. Their distances are what "two different people" look like on this site, with these cameras and this
encoder. For a distance ``d``, the share of known-different pairs at least as close as ``d`` says how often two
different people here look that much alike; the confidence is one minus that share::

    confidence(d) = 1 - P(distance of a known-different pair <= d)

99 % reads "only 1 in 100 pairs of different people seen on this site were this close"; 50 % is as close as the
median pair of different people, a coin toss. It is not the probability that the two tracks are one person
(that would also need how often the same person comes back, which depends on who walks past), but unlike a raw
distance (0.11 and 0.15 look alike; they may be 99 % and 60 %) its meaning is the same in every store.

Each linking run stores :data:`N_QUANTILES` quantiles of its known-different distances, per kind of distance, in
the setting :data:`SETTING_KEY`: the run's own aggregation (``pair_min`` by default: what the proposed matches in
review are measured in) and ``visible_mean`` (one descriptor per track: what search and operator decisions
measure). Kinds with fewer than :data:`MIN_PAIRS` known-different pairs are not stored: no confidence is shown
rather than a made-up one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store import models as m
from app.store import repo

if TYPE_CHECKING:
    from reid_core.track_descriptors import TrackDescriptors

SETTING_KEY = "link.calibration"
SEARCH_KIND = "visible_mean"  # search and operator decisions compare one descriptor per track
N_QUANTILES = 201  # every half percent
MIN_PAIRS = 10
_VERSION = 1


def quantiles_of(distances: np.ndarray, n: int = N_QUANTILES) -> list[float]:
    """``n`` evenly spaced quantiles (0 %, ..., 100 %) of ``distances``, as plain floats (rounded to 1e-6)."""
    d = np.asarray(distances, np.float64).ravel()
    d = d[np.isfinite(d)]
    if d.size == 0:
        raise ValueError("no finite distances to take quantiles of")
    return [round(float(x), 6) for x in np.quantile(d, np.linspace(0.0, 1.0, n))]


def share_closer(distance: float, quantiles: Iterable[float]) -> float:
    """The share (0..1) of known-different pairs whose distance is at most ``distance``, read off their quantiles
    by linear interpolation (0 below the smallest, 1 at or beyond the largest)."""
    q = np.asarray(list(quantiles), np.float64)
    if q.size < 2 or np.any(np.diff(q) < 0):
        raise ValueError("quantiles: expected at least two values in non-decreasing order")
    levels = np.linspace(0.0, 1.0, q.size)
    values = np.unique(q)
    at_most = levels[np.searchsorted(q, values, side="right") - 1]  # the share at or below each distinct value
    if distance < values[0]:
        return 0.0
    if values.size == 1:
        return 1.0
    return float(np.interp(distance, values, at_most, right=1.0))


def confidence_from_quantiles(distance: float, quantiles: Iterable[float]) -> float:
    """``1 - share_closer(distance, quantiles)``: 1.0 when no known-different pair was as close."""
    return 1.0 - share_closer(distance, quantiles)


def format_confidence(confidence: float | None) -> str:
    """'97 %' for a table or a report; '>99 %' / '<1 %' at the ends (the quantiles resolve half a percent);
    an em dash when there is no calibration."""
    if confidence is None or confidence != confidence:
        return "—"
    if confidence > 0.99:
        return ">99 %"
    if confidence < 0.01:
        return "<1 %"
    return f"{round(100 * confidence)} %"


@dataclass(frozen=True)
class DistanceCalibration:
    """Known-different distance quantiles per kind of distance (``pair_min``, ``visible_mean``, ...)."""

    quantiles: Mapping[str, tuple[float, ...]]
    pairs: Mapping[str, int]  # how many known-different pairs each kind was measured on
    run_id: int | None = None

    def confidence(self, distance: float | None, kind: str = SEARCH_KIND) -> float | None:
        """The confidence of a match at ``distance`` measured as ``kind``; None without a calibration for that
        kind, or for no distance (a negative distance means the tracks had no embeddings)."""
        q = self.quantiles.get(kind)
        if q is None or distance is None or distance < 0 or distance != distance:
            return None
        return confidence_from_quantiles(float(distance), q)


def calibration_value(distances: Mapping[str, np.ndarray], *, run_id: int | None,
                      previous: Mapping | None = None) -> dict:
    """The JSON stored under :data:`SETTING_KEY`: quantiles per kind with at least :data:`MIN_PAIRS` distances;
    kinds measured by an earlier run and not by this one are kept (older matches were measured in them)."""
    kinds: dict[str, dict] = {}
    if previous and previous.get("version") == _VERSION:
        kinds.update(previous.get("kinds", {}))
    for kind, d in distances.items():
        d = np.asarray(d, np.float64).ravel()
        d = d[np.isfinite(d)]
        if d.size >= MIN_PAIRS:
            kinds[kind] = {"pairs": int(d.size), "quantiles": quantiles_of(d), "run_id": run_id}
        else:
            kinds.pop(kind, None)  # too few pairs now: the old figures no longer describe this store
    return {"version": _VERSION, "run_id": run_id, "kinds": kinds}


def save_calibration(s: Session, distances: Mapping[str, np.ndarray], *, run_id: int | None) -> dict:
    """Store the known-different distances of a linking run (see :func:`calibration_value`); returns the value."""
    value = calibration_value(distances, run_id=run_id, previous=repo.get_setting(s, SETTING_KEY))
    repo.put_setting(s, SETTING_KEY, value)
    return value


def load_calibration(s: Session) -> DistanceCalibration | None:
    """The stored calibration, or None when no linking run has stored one (or it is unreadable)."""
    value = repo.get_setting(s, SETTING_KEY)
    if not value or value.get("version") != _VERSION:
        return None
    try:
        kinds = {k: (tuple(float(x) for x in v["quantiles"]), int(v["pairs"])) for k, v in value["kinds"].items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if not kinds:
        return None
    return DistanceCalibration({k: q for k, (q, _n) in kinds.items()}, {k: n for k, (_q, n) in kinds.items()},
                               value.get("run_id"))


def paired_descriptor_distance(descs: TrackDescriptors, ia: np.ndarray, ib: np.ndarray, *,
                               block: int = 512) -> np.ndarray:
    """Eq. 8 descriptor distance of the pairs (ia[k], ib[k]) of rows of ``descs``: (len(ia),) float64."""
    from reid_core import track_descriptors as lm  # torch: only linking runs need it

    ia, ib = np.asarray(ia, np.int64), np.asarray(ib, np.int64)
    out = np.empty(len(ia), np.float64)
    for lo in range(0, len(ia), block):
        a, b = descs.take(ia[lo:lo + block]), descs.take(ib[lo:lo + block])
        out[lo:lo + block] = np.diagonal(lm.descriptor_distance(a, b))
    return out


def run_kinds(s: Session, run_ids: Iterable[int | None]) -> dict[int | None, str]:
    """Linking run id -> the kind of distance its matches were measured in (None, for matches an operator
    decided outside any run, -> the descriptor distance)."""
    ids = {r for r in run_ids if r is not None}
    kinds: dict[int | None, str] = {None: SEARCH_KIND}
    if ids:
        for rid, params in s.execute(select(m.LinkRun.id, m.LinkRun.params).where(m.LinkRun.id.in_(ids))):
            kinds[rid] = str((params or {}).get("aggregation") or SEARCH_KIND)
    return kinds


def match_confidences(s: Session, match_ids: Iterable[int]) -> dict[int, float | None]:
    """Stored match id -> its confidence, from its distance and the kind its linking run measured it in (None
    where there is no calibration for that kind)."""
    ids = sorted(set(match_ids))
    out: dict[int, float | None] = dict.fromkeys(ids)
    cal = load_calibration(s)
    if cal is None or not ids:
        return out
    rows = s.execute(select(m.Match.id, m.Match.run_id, m.Match.distance).where(m.Match.id.in_(ids))).all()
    kinds = run_kinds(s, (r for _i, r, _d in rows))
    for mid, run_id, distance in rows:
        out[mid] = cal.confidence(distance, kinds.get(run_id, SEARCH_KIND))
    return out
