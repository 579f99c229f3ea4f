"""What a linking run works out before it clusters: track distances, hard constraints, operator decisions as
must/cannot pairs, and the calibrated threshold. Shared by the dense run (``app.identity.linking``) and the sparse
one (``app.identity.link_sparse``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from app.config import Config
from app.errors import UserError
from app.identity import cluster as lk
from app.identity import confidence
from app.identity import constraints as lc
from app.identity.tables import (
    DEFAULT_AGGREGATION,
    TrackTable,
    constraint_events,
    stay_keys,
)
from app.store import repo
from reid_core import track_descriptors as lm

log = logging.getLogger(__name__)


DEFAULT_THRESHOLDS = {"pair_min": 0.21, "pair_mean": 0.24, "visible_mean": 0.14, "mean": 0.14}
DEFAULT_THRESHOLD = DEFAULT_THRESHOLDS["visible_mean"]
PAIR_SAMPLE_LIMIT = 6000  # "auto" compares every sample pair (pair_min) up to this many samples in all
MAX_FALSE_RATE = 0.02
MAX_NEGATIVE_PAIRS = 200_000

# ---------------------------------------------------------------- descriptors


def distance_matrix(kept: list[int], descs: lm.TrackDescriptors, samples: dict, aggregation: str) -> np.ndarray:
    """(N, N) track distances for the chosen aggregation (descriptor distance, or min/mean over sample pairs)."""
    if aggregation in ("visible_mean", "mean"):
        return lm.descriptor_distance(descs, descs)
    if aggregation not in lm.AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; valid: {', '.join(lm.AGGREGATIONS)}")
    owner = np.concatenate([np.full(len(samples[t].global_feat), i) for i, t in enumerate(kept)])
    g = np.concatenate([samples[t].global_feat for t in kept])
    p = np.concatenate([samples[t].parts for t in kept])
    v = np.concatenate([samples[t].visibility for t in kept])
    return lm.sample_pair_distance(g, p, v, owner, len(kept), reduce=aggregation.split("_")[1])


def half_split_distances(kept: list[int], samples: dict, aggregation: str = DEFAULT_AGGREGATION, *,
                         min_samples: int = 4) -> np.ndarray:
    """Known-same distances: each track with enough samples, early half of its samples vs late half."""
    out = []
    for t in kept:
        e = samples.get(t)
        if e is None or len(e.global_feat) < min_samples:
            continue
        h = len(e.global_feat) // 2
        if aggregation in ("pair_min", "pair_mean"):
            owner = (np.arange(len(e.global_feat)) >= h).astype(np.int64)
            d = lm.sample_pair_distance(e.global_feat, e.parts, e.visibility, owner, 2,
                                        reduce=aggregation.split("_")[1])
            out.append(float(d[0, 1]))
            continue
        mode = aggregation if aggregation in ("visible_mean", "mean") else DEFAULT_AGGREGATION
        a = lm.aggregate_samples(e.global_feat[:h], e.parts[:h], e.visibility[:h], mode=mode)
        b = lm.aggregate_samples(e.global_feat[h:], e.parts[h:], e.visibility[h:], mode=mode)
        out.append(float(lm.descriptor_distance(a, b)[0, 0]))
    return np.array(out, np.float64)


# ---------------------------------------------------------------- constraints
def transition_windows(s: Session) -> dict[tuple[int, int], tuple[float, float]]:
    """The optional camera-to-camera prior, setting ``link.transitions``: {"A->B": [min_s, max_s], ...}."""
    raw = repo.get_setting(s, "link.transitions") or {}
    cams = {c.name: c.id for c in repo.list_cameras(s)}
    out = {}
    for key, (lo, hi) in raw.items():
        a, _, b = key.partition("->")
        if a in cams and b in cams:
            out[(cams[a], cams[b])] = (float(lo), float(hi))
        else:
            log.warning("link.transitions: unknown camera in %r, ignored", key)
    return out


def hard_constraints(table: TrackTable, cfg: Config, windows: dict) -> np.ndarray:
    """(N, N) bool: pairs that cannot be one person whatever they look like."""
    cam, t0, t1 = table.camera, table.t_start, table.t_end
    out = lc.overlap_cannot_link(cam, t0, t1)
    known = np.isfinite(table.first_centre).all(axis=1) & np.isfinite(table.last_centre).all(axis=1)
    if known.any():
        idx = np.flatnonzero(known)
        out[np.ix_(idx, idx)] |= lc.speed_cannot_link(cam[idx], t0[idx], t1[idx], table.first_centre[idx],
                                                      table.last_centre[idx], table.height[idx],
                                                      max_speed_px_s=cfg.link.max_speed_px_s)
    out |= lc.gap_cannot_link(cam, t0, t1, max_gap_s=cfg.link.reentry_max_gap_s)
    if windows:
        out |= lc.transition_cannot_link(cam, t0, t1, windows)
    return out


def operator_pairs(s: Session, table: TrackTable) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Must / cannot pairs as row indices of ``table``: stays first, then operator decisions (later wins)."""
    keys = stay_keys(table)
    events: list[tuple[str, int, int]] = []
    first_of: dict[int, int] = {}
    for i, k in enumerate(keys):
        if k in first_of:
            events.append(("must", int(table.ids[first_of[k]]), int(table.ids[i])))
        else:
            first_of[int(k)] = i
    events += constraint_events(s)
    must, cannot = lc.resolve_constraints(events)
    row = {int(t): i for i, t in enumerate(table.ids)}
    keep = lambda pairs: [(row[a], row[b]) for a, b in pairs if a in row and b in row]  # noqa: E731
    return keep(must), keep(cannot)


def trained_pairs(s: Session, sub: TrackTable) -> list[tuple[int, int]]:
    """Row pairs the store's site-adapted encoder was trained to tell apart (setting ``encoder.active``)."""
    pairs = (repo.get_setting(s, "encoder.active") or {}).get("trained_pairs") or []
    row = {int(t): i for i, t in enumerate(sub.ids)}
    return [(row[a], row[b]) for a, b in pairs if a in row and b in row]


def calibrate(sub: TrackTable, kept: list[int], samples: dict, dist: np.ndarray, cannot: np.ndarray,
               must: list[tuple[int, int]], aggregation: str, linkage: str,
               trained: list[tuple[int, int]] | None = None) -> lk.Calibration:
    """Known-different pairs: time-overlapping tracks of one camera; known-same: halves of one track and
    stitched fragments. The threshold is the highest at which clustering, told about only part of the
    known-different pairs, joins at most MAX_FALSE_RATE of the others (``lk.calibrate_by_clustering``)."""
    ia, ib = _known_different_pairs(sub, len(kept), must, trained)
    different = dist[ia, ib]
    keys = stay_keys(sub)
    stitched = [dist[a, b] for a, b in must if keys[a] == keys[b]]
    same = np.concatenate([half_split_distances(kept, samples, aggregation), np.array(stitched, np.float64)])
    pairwise = lk.calibrate_threshold(same, different, default=DEFAULT_THRESHOLDS[aggregation],
                                      max_false_rate=MAX_FALSE_RATE)
    if not pairwise.calibrated:
        return pairwise
    t_cluster, levels = lk.calibrate_by_clustering(dist, list(zip(ia.tolist(), ib.tolist(), strict=True)),
                                                   cannot=cannot, must=must, linkage=linkage,
                                                   max_false_rate=MAX_FALSE_RATE)
    # The hidden pairs only sample people who met; two who never met may look closer. So never go beyond
    # where 99% of the known-same pairs are linked, unless known-different pairs only start further out.
    guard = max(float(np.quantile(same, 0.99)), float(np.quantile(different, 0.05)))
    t = min(t_cluster, guard)
    return lk.Calibration(
        t, True, len(same), len(different), float((same < t).mean()), float((levels < t).mean()),
        f"clustering joins {float((levels < t).mean()):.1%} of {len(different)} known-different pairs hidden from "
        f"it (target <= {MAX_FALSE_RATE:.0%}; that allows {t_cluster:.3f}, capped at {guard:.3f} = max(99% of "
        f"known-same, 5% of known-different)); pairwise, {float((different < t).mean()):.0%} of them are closer")


def _known_different_pairs(sub: TrackTable, n: int, must: list[tuple[int, int]],
                           trained: list[tuple[int, int]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rows (ia, ib) of pairs known to be two people: time-overlapping tracks of one camera that no operator
    joined (at most MAX_NEGATIVE_PAIRS of them, a fixed sample)."""
    overlap = lc.overlap_cannot_link(sub.camera, sub.t_start, sub.t_end)
    group = lk.must_link_components(n, must)
    overlap &= group[:, None] != group[None, :]  # an operator said these are one person after all
    if trained:  # pairs a site-adapted encoder was trained apart look artificially far: calibrate on the others
        untrained = overlap.copy()
        for a, b in trained:
            untrained[a, b] = untrained[b, a] = False
        if np.triu(untrained, 1).sum() >= 10:
            overlap = untrained
    ia, ib = np.nonzero(np.triu(overlap, 1))
    if len(ia) > MAX_NEGATIVE_PAIRS:
        pick = np.random.default_rng(0).choice(len(ia), MAX_NEGATIVE_PAIRS, replace=False)
        ia, ib = ia[pick], ib[pick]
    return ia, ib


def save_confidence_calibration(s: Session, sub: TrackTable, descs: lm.TrackDescriptors | None, dist: np.ndarray,
                                 must: list[tuple[int, int]], aggregation: str, run_id: int,
                                 trained: list[tuple[int, int]] | None = None) -> None:
    """Known-different distances of this run for ``app.identity.confidence``: in the run's own kind (proposed
    matches) and as descriptor distances (search, operator decisions). Pairs a site-adapted encoder was trained
    apart (``trained``) are left out, as calibration leaves them out: they look artificially far to it, and
    would make every confidence too high."""
    ia, ib = _known_different_pairs(sub, len(dist), must, trained)
    kinds = {aggregation: dist[ia, ib]}
    if aggregation != confidence.SEARCH_KIND and descs is not None:
        kinds[confidence.SEARCH_KIND] = confidence.paired_descriptor_distance(descs, ia, ib)
    confidence.save_calibration(s, kinds, run_id=run_id)


def choose_threshold(threshold: float | None, cfg: Config, cal: lk.Calibration) -> tuple[float, str]:
    """The threshold of a run and where it came from: given, configured, else the calibration's."""
    if threshold is not None:
        if not 0.0 < threshold < 2.0:
            raise UserError(f"--threshold must lie between 0 and 2 (PGFA distance), not {threshold}")
        return float(threshold), "given"
    if cfg.link.threshold is not None:
        return float(cfg.link.threshold), "config"
    return cal.threshold, "calibrated" if cal.calibrated else "default (too few known pairs to calibrate)"




@dataclass(frozen=True)
class Clustering:
    """What a run decided before writing: the embedded rows of the table (``rows``, ``sub``), their cluster
    labels, the spanning links (sub rows, distance), constraints counted, the threshold and its calibration, and
    the (sub-)set the calibration looked at, for the confidence calibration."""

    method: str
    aggregation: str
    rows: np.ndarray
    sub: TrackTable
    labels: np.ndarray
    links: list[tuple[int, int, float]]
    must: list[tuple[int, int]]
    cannot_pairs: int
    cal: lk.Calibration
    chosen: float
    source: str
    cal_sub: TrackTable
    cal_descs: lm.TrackDescriptors | None
    cal_dist: np.ndarray
    cal_must: list[tuple[int, int]]

