"""Linking tracks into identities: within a camera (occlusions, re-entries) and across cameras.

One run (``link_store``):
1. load every track with embeddings (of the chosen cameras) and aggregate its samples into one PGFA
   descriptor per track (``app.identity.descriptors.aggregate_samples``);
2. hard constraints: tracks overlapping in time in one camera are two people, so are pairs that would need an
   impossible speed in one camera, same-camera pairs further apart than ``reentry_max_gap_s`` and pairs outside
   an optional camera-to-camera transition window (setting ``link.transitions``);
3. operator decisions become must-link / cannot-link (``app.identity.decisions.constraint_events``); fragments of one stay
   (joined across an occlusion by ``trackers.stitch``) are must-linked unless an operator said otherwise;
4. the threshold is calibrated from pairs known to be different (time-overlapping tracks in one camera) and
   known to be the same (early vs late halves of one track, stitched fragments), unless given;
5. constrained average-linkage clustering; clusters keep the ids (and names) of the identities they mostly
   hold, links are the edges of each cluster's minimum spanning tree, stored as ``matches`` for review.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, insert, or_, select
from sqlalchemy.orm import Session

from app.config import Config
from app.errors import UserError
from app.identity import cluster as lk
from app.identity import confidence
from app.identity import constraints as lc
from app.identity import descriptors as lm
from app.identity.tables import (
    DEFAULT_AGGREGATION,
    OCCLUSION_GAP_S,
    TrackTable,
    constraint_events,
    descriptors_for,
    load_track_table,
    new_identity,
    stay_keys,
    take_tracks,
)
from app.store import Database, repo
from app.store import models as m

log = logging.getLogger(__name__)

# used uncalibrated (the store holds too few known pairs): what calibration chose on the vtest benchmark with the
# offline MobileNetV2 ImageNet features (bench/bench_linking.py)
DEFAULT_THRESHOLDS = {"pair_min": 0.21, "pair_mean": 0.24, "visible_mean": 0.14, "mean": 0.14}
DEFAULT_THRESHOLD = DEFAULT_THRESHOLDS["visible_mean"]
PAIR_SAMPLE_LIMIT = 6000  # "auto" compares every sample pair (pair_min) up to this many samples in all
MAX_FALSE_RATE = 0.02
MAX_NEGATIVE_PAIRS = 200_000


@dataclass(frozen=True)
class LinkSummary:
    """Outcome of one linking run: counts, the distance threshold used and whether it was calibrated."""

    run_id: int
    tracks: int
    identities: int
    links: int
    threshold: float
    calibrated: bool
    message: str


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
        e = samples[t]
        if len(e.global_feat) < min_samples:
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


# ---------------------------------------------------------------- the run
def link_store(db: Database, cfg: Config, *, cameras: list[str] | None = None, threshold: float | None = None,
               who: str = "reidwatch", aggregation: str = "auto", linkage: str = "average") -> LinkSummary:
    """(Re)link all tracks (of those cameras) into identities, respecting every operator decision.

    ``aggregation``: how a track's samples enter the distance: ``pair_min`` (closest pair of samples),
    ``pair_mean``, ``visible_mean`` (one descriptor per track, stripes averaged where visible), ``mean``; "auto"
    takes pair_min (best on the vtest benchmark) up to PAIR_SAMPLE_LIMIT samples, visible_mean beyond.
    """
    started = time.perf_counter()
    if aggregation not in (*lm.AGGREGATIONS, "auto"):
        raise UserError(f"unknown aggregation {aggregation!r}; valid: auto, {', '.join(lm.AGGREGATIONS)}")
    with db.session() as s:
        camera_ids = None
        if cameras is not None:
            known = {c.name: c.id for c in repo.list_cameras(s)}
            missing = [c for c in cameras if c not in known]
            if missing:
                raise UserError(f"unknown camera(s) {', '.join(missing)} (cameras: {', '.join(known) or 'none'})")
            camera_ids = [known[c] for c in cameras]
        table = load_track_table(s, camera_ids=camera_ids)
        kept, descs, samples = descriptors_for(s, [int(t) for t in table.ids],
                                               aggregation=DEFAULT_AGGREGATION if aggregation == "auto" else aggregation)
        if aggregation == "auto":
            n_samples = sum(len(samples[t].global_feat) for t in kept)
            aggregation = "pair_min" if n_samples <= PAIR_SAMPLE_LIMIT else DEFAULT_AGGREGATION
            log.info("linking %d tracks (%d samples) with %s distances", len(kept), n_samples, aggregation)
        pos = {t: i for i, t in enumerate(table.ids.tolist())}
        rows = np.array([pos[t] for t in kept], np.int64)
        sub = take_tracks(table, rows)
        n = len(kept)
        dist = distance_matrix(kept, descs, samples, aggregation) if descs is not None else np.zeros((0, 0))
        cannot = hard_constraints(sub, cfg, transition_windows(s))
        must, op_cannot = operator_pairs(s, sub)
        for a, b in op_cannot:
            cannot[a, b] = cannot[b, a] = True
        trained = _trained_pairs(s, sub)
        cal = _calibrate(sub, kept, samples, dist, cannot, must, aggregation, linkage, trained)
        chosen, source = _choose_threshold(threshold, cfg, cal)
        labels = lk.constrained_agglomerative(dist, chosen, cannot=cannot, must=must, linkage=linkage)
        # tracks without embeddings follow their stay; alone, they stay unlinked
        run = m.LinkRun(at=repo._naive_utc(repo.utcnow()), threshold=chosen, params={}, stats={})
        s.add(run)
        s.flush()
        ident_of = _assign_identities(s, sub, labels)
        _follow_stays(s, table, rows, ident_of, sub)
        n_links = _write_matches(s, run.id, sub, labels, dist, [int(t) for t in table.ids])
        _drop_empty_identities(s)
        n_ident = len(set(labels.tolist()))
        elapsed = time.perf_counter() - started
        run.params = {"cameras": cameras, "aggregation": aggregation, "linkage": linkage, "who": who,
                      "threshold_source": source, "max_speed_px_s": cfg.link.max_speed_px_s,
                      "reentry_max_gap_s": cfg.link.reentry_max_gap_s, "max_false_rate": MAX_FALSE_RATE}
        run.stats = {"tracks": len(table), "embedded_tracks": n, "identities": n_ident, "links": n_links,
                     "must_pairs": len(must), "cannot_pairs": int(cannot.sum()) // 2, "seconds": round(elapsed, 3),
                     "calibration": {"calibrated": cal.calibrated, "threshold": cal.threshold, "n_same": cal.n_same,
                                     "n_different": cal.n_different, "same_rate": cal.same_rate,
                                     "different_rate": cal.different_rate, "reason": cal.reason}}
        repo.put_setting(s, "link.threshold", {"value": chosen, "source": source, "calibrated": cal.calibrated,
                                                "run_id": run.id, "reason": cal.reason,
                                                "at": repo.utcnow().isoformat(timespec="seconds")})
        _save_confidence_calibration(s, sub, descs, dist, must, aggregation, run.id)
        run_id = run.id
    log.info("link threshold %.4f (%s; calibration: %s; known same %d, %.0f%% below; known different %d, "
             "%.1f%% below)", chosen, source, cal.reason, cal.n_same, 100 * _nan0(cal.same_rate), cal.n_different,
             100 * _nan0(cal.different_rate))
    msg = (f"linked {n} tracks into {n_ident} identities with {n_links} links "
           f"(threshold {chosen:.3f}, {source}; run {run_id}, {elapsed:.1f} s)")
    log.info("%s", msg)
    return LinkSummary(run_id, n, n_ident, n_links, chosen, cal.calibrated, msg)


def _nan0(x: float) -> float:
    return 0.0 if x != x else x


def _trained_pairs(s: Session, sub: TrackTable) -> list[tuple[int, int]]:
    """Row pairs the store's site-adapted encoder was trained to tell apart (setting ``encoder.active``)."""
    pairs = (repo.get_setting(s, "encoder.active") or {}).get("trained_pairs") or []
    row = {int(t): i for i, t in enumerate(sub.ids)}
    return [(row[a], row[b]) for a, b in pairs if a in row and b in row]


def _calibrate(sub: TrackTable, kept: list[int], samples: dict, dist: np.ndarray, cannot: np.ndarray,
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


def _save_confidence_calibration(s: Session, sub: TrackTable, descs: lm.TrackDescriptors | None, dist: np.ndarray,
                                 must: list[tuple[int, int]], aggregation: str, run_id: int) -> None:
    """Known-different distances of this run for ``app.identity.confidence``: in the run's own kind (proposed
    matches) and as descriptor distances (search, operator decisions)."""
    ia, ib = _known_different_pairs(sub, len(dist), must)
    kinds = {aggregation: dist[ia, ib]}
    if aggregation != confidence.SEARCH_KIND and descs is not None:
        kinds[confidence.SEARCH_KIND] = confidence.paired_descriptor_distance(descs, ia, ib)
    confidence.save_calibration(s, kinds, run_id=run_id)


def _choose_threshold(threshold: float | None, cfg: Config, cal: lk.Calibration) -> tuple[float, str]:
    if threshold is not None:
        if not 0.0 < threshold < 2.0:
            raise UserError(f"--threshold must lie between 0 and 2 (PGFA distance), not {threshold}")
        return float(threshold), "given"
    if cfg.link.threshold is not None:
        return float(cfg.link.threshold), "config"
    return cal.threshold, "calibrated" if cal.calibrated else "default (too few known pairs to calibrate)"


def _assign_identities(s: Session, sub: TrackTable, labels: np.ndarray) -> dict[int, int]:
    """Cluster label -> identity id. A cluster keeps the identity holding most of its tracks (ties: the lower
    id), each identity going to one cluster at most; the other clusters get new identities."""
    overlap = Counter((int(c), int(i)) for c, i in zip(labels, sub.identity, strict=True) if i >= 0)
    ident_of: dict[int, int] = {}
    taken: set[int] = set()
    for (c, i), _ in sorted(overlap.items(), key=lambda kv: (-kv[1], kv[0][1], kv[0][0])):
        if c not in ident_of and i not in taken and s.get(m.Identity, i) is not None:
            ident_of[c] = i
            taken.add(i)
    for c in sorted(set(labels.tolist())):
        if c not in ident_of:
            ident_of[c] = new_identity(s)
    by_ident: dict[int, list[int]] = {}
    for t, c in zip(sub.ids.tolist(), labels.tolist(), strict=True):
        by_ident.setdefault(ident_of[c], []).append(t)
    for iid, tids in by_ident.items():
        for lo in range(0, len(tids), 500):
            s.query(m.Track).filter(m.Track.id.in_(tids[lo:lo + 500])).update(
                {m.Track.identity_id: iid}, synchronize_session=False)
    return {t: ident_of[c] for t, c in zip(sub.ids.tolist(), labels.tolist(), strict=True)}


def _follow_stays(s: Session, table: TrackTable, rows: np.ndarray, ident_of: dict[int, int], sub: TrackTable
                  ) -> None:
    """Tracks without embeddings take the identity of an embedded fragment of their stay, else none."""
    keys = stay_keys(table)
    stay_ident = {int(k): ident_of[int(t)] for k, t in zip(stay_keys(sub), sub.ids, strict=True)}
    embedded = np.zeros(len(table), bool)
    embedded[rows] = True
    for i in np.flatnonzero(~embedded):
        tr = s.get(m.Track, int(table.ids[i]))
        if tr is not None:
            tr.identity_id = stay_ident.get(int(keys[i]))


def _write_matches(s: Session, run_id: int, sub: TrackTable, labels: np.ndarray, dist: np.ndarray,
                   scope: list[int]) -> int:
    """Replace the automatic links of the tracks in scope by this run's spanning links (decided ones stay)."""
    for lo in range(0, len(scope), 500):
        chunk = scope[lo:lo + 500]
        s.execute(delete(m.Match).where(m.Match.status == "auto",
                                        or_(m.Match.track_a.in_(chunk), m.Match.track_b.in_(chunk))))
    decided = {(min(a, b), max(a, b)) for a, b in s.execute(
        select(m.Match.track_a, m.Match.track_b).where(m.Match.status != "auto"))}
    keys = stay_keys(sub)
    rows = []
    for i, j in lk.spanning_links(dist, labels):
        a, b = int(sub.ids[i]), int(sub.ids[j])
        if (min(a, b), max(a, b)) in decided:
            continue
        gap = max(sub.t_start[j] - sub.t_end[i], sub.t_start[i] - sub.t_end[j])
        kind = lk.link_kind(bool(sub.camera[i] == sub.camera[j]), bool(keys[i] == keys[j]), float(gap),
                            occlusion_gap_s=OCCLUSION_GAP_S)
        rows.append({"run_id": run_id, "track_a": a, "track_b": b, "distance": float(dist[i, j]), "kind": kind,
                     "status": "auto"})
    if rows:
        s.execute(insert(m.Match), rows)
    return len(rows)


def _drop_empty_identities(s: Session) -> None:
    """Identities left without tracks go, unless an operator named, watched or held them."""
    used = select(m.Track.identity_id).where(m.Track.identity_id.is_not(None))
    s.execute(delete(m.Identity).where(m.Identity.id.not_in(used), m.Identity.name.is_(None),
                                       m.Identity.watch == 0, m.Identity.hold == 0))


# ---------------------------------------------------------------- after ingest
