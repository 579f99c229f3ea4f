"""Linking tracks into identities: within a camera (occlusions, re-entries) and across cameras.

One run (``link_store``):
1. load every track with embeddings (of the chosen cameras) and its descriptor (the aggregate of its samples,
   stored with them: ``app.store.descriptor_table``);
2. hard constraints: tracks overlapping in time in one camera are two people, so are pairs that would need an
   impossible speed in one camera, same-camera pairs further apart than ``reentry_max_gap_s`` and pairs outside
   an optional camera-to-camera transition window (setting ``link.transitions``);
3. operator decisions become must-link / cannot-link (``app.identity.decisions.constraint_events``); fragments of one stay
   (joined across an occlusion by ``trackers.stitch``) are must-linked unless an operator said otherwise;
4. the threshold is calibrated from pairs known to be different (time-overlapping tracks in one camera) and
   known to be the same (early vs late halves of one track, stitched fragments), unless given;
5. constrained average-linkage clustering (one N x N matrix up to DENSE_LIMIT tracks; beyond, candidate pairs
   from the search index and one component at a time, ``app.identity.link_sparse``, with the same result on
   small stores); clusters keep the ids (and names) of the identities they mostly hold, links are the edges of
   each cluster's minimum spanning tree, stored as ``matches`` for review.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.orm import Session

from app.config import Config
from app.errors import UserError
from app.identity import cluster as lk
from app.identity.link_inputs import (  # noqa: F401  (re-exported: incremental linking, tests, benchmarks)
    DEFAULT_THRESHOLD,
    DEFAULT_THRESHOLDS,
    MAX_FALSE_RATE,
    PAIR_SAMPLE_LIMIT,
    Clustering,
    calibrate,
    choose_threshold,
    distance_matrix,
    half_split_distances,
    hard_constraints,
    operator_pairs,
    save_confidence_calibration,
    trained_pairs,
    transition_windows,
)
from app.identity.tables import (  # noqa: F401  (re-exported)
    DEFAULT_AGGREGATION,
    OCCLUSION_GAP_S,
    TrackTable,
    descriptors_for,
    load_track_table,
    new_identity,
    stay_keys,
    take_tracks,
)
from app.store import Database, repo
from app.store import models as m
from app.store.locks import IDENTITIES, acquire
from reid_core import track_descriptors as lm

log = logging.getLogger(__name__)

DENSE_LIMIT = 3000  # "auto" links up to this many tracks with one N x N matrix, more with app.identity.link_sparse


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


# ---------------------------------------------------------------- the run
def link_store(db: Database, cfg: Config, *, cameras: list[str] | None = None, threshold: float | None = None,
               who: str = "reidwatch", aggregation: str = "auto", linkage: str = "average",
               method: str = "auto") -> LinkSummary:
    """(Re)link all tracks (of those cameras) into identities, respecting every operator decision.

    ``method``: ``dense`` (one N x N matrix), ``sparse`` (candidate pairs from the search index, clustering per
    component: ``app.identity.link_sparse``; same result, any size) or "auto": dense up to DENSE_LIMIT tracks.

    ``aggregation``: how a track's samples enter the distance: ``pair_min`` (closest pair of samples),
    ``pair_mean``, ``visible_mean`` (one descriptor per track, stripes averaged where visible), ``mean``; "auto"
    takes pair_min (best on the vtest benchmark) up to PAIR_SAMPLE_LIMIT samples, visible_mean beyond.
    """
    started = time.perf_counter()
    if aggregation not in (*lm.AGGREGATIONS, "auto"):
        raise UserError(f"unknown aggregation {aggregation!r}; valid: auto, {', '.join(lm.AGGREGATIONS)}")
    with db.session() as s:
        acquire(s, IDENTITIES)  # runs, incremental linking and decisions take turns (app.store.locks)
        camera_ids = None
        if cameras is not None:
            known = {c.name: c.id for c in repo.list_cameras(s)}
            missing = [c for c in cameras if c not in known]
            if missing:
                raise UserError(f"unknown camera(s) {', '.join(missing)} (cameras: {', '.join(known) or 'none'})")
            camera_ids = [known[c] for c in cameras]
        table = load_track_table(s, camera_ids=camera_ids)
        if method not in ("auto", "dense", "sparse"):
            raise UserError(f"unknown linking method {method!r}; valid: auto, dense, sparse")
        if method == "sparse" or (method == "auto" and len(table) > DENSE_LIMIT):
            from app.identity import link_sparse

            if aggregation not in ("auto", DEFAULT_AGGREGATION):
                raise UserError(f"linking {len(table)} tracks runs on descriptors: --aggregation "
                                f"{DEFAULT_AGGREGATION} (or auto), not {aggregation}")
            aggregation = DEFAULT_AGGREGATION
            res = link_sparse.cluster_sparse(db, s, cfg, table, threshold=threshold, linkage=linkage)
        else:
            res = _cluster_dense(s, cfg, table, threshold=threshold, linkage=linkage, aggregation=aggregation)
            aggregation = res.aggregation
        sub, rows, labels, cal, chosen, source = res.sub, res.rows, res.labels, res.cal, res.chosen, res.source
        n, must = len(sub), res.must
        # tracks without embeddings follow their stay; alone, they stay unlinked
        run = m.LinkRun(at=repo._naive_utc(repo.utcnow()), threshold=chosen, params={}, stats={})
        s.add(run)
        s.flush()
        ident_of = _assign_identities(s, sub, labels)
        _follow_stays(s, table, rows, ident_of, sub)
        n_links = _write_matches(s, run.id, sub, res.links, [int(t) for t in table.ids])
        _drop_empty_identities(s)
        n_ident = len(set(labels.tolist()))
        elapsed = time.perf_counter() - started
        run.params = {"cameras": cameras, "aggregation": aggregation, "linkage": linkage, "who": who,
                      "method": res.method,
                      "threshold_source": source, "max_speed_px_s": cfg.link.max_speed_px_s,
                      "reentry_max_gap_s": cfg.link.reentry_max_gap_s, "max_false_rate": MAX_FALSE_RATE}
        run.stats = {"tracks": len(table), "embedded_tracks": n, "identities": n_ident, "links": n_links,
                     "must_pairs": len(must), "cannot_pairs": res.cannot_pairs, "seconds": round(elapsed, 3),
                     "calibration": {"calibrated": cal.calibrated, "threshold": cal.threshold, "n_same": cal.n_same,
                                     "n_different": cal.n_different, "same_rate": cal.same_rate,
                                     "different_rate": cal.different_rate, "reason": cal.reason}}
        repo.put_setting(s, "link.threshold", {"value": chosen, "source": source, "calibrated": cal.calibrated,
                                                "run_id": run.id, "reason": cal.reason,
                                                "at": repo.utcnow().isoformat(timespec="seconds")})
        save_confidence_calibration(s, res.cal_sub, res.cal_descs, res.cal_dist, res.cal_must, aggregation,
                                     run.id, trained_pairs(s, res.cal_sub))
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


def _cluster_dense(s: Session, cfg: Config, table: TrackTable, *, threshold: float | None, linkage: str,
                   aggregation: str) -> Clustering:
    """Every embedded track against every other: one (N, N) matrix of distances and of constraints."""
    kept, descs, samples = descriptors_for(s, [int(t) for t in table.ids],
                                           aggregation=DEFAULT_AGGREGATION if aggregation == "auto" else aggregation)
    if aggregation == "auto":
        n_samples = sum(len(samples[t].global_feat) for t in kept if t in samples)
        aggregation = "pair_min" if n_samples <= PAIR_SAMPLE_LIMIT else DEFAULT_AGGREGATION
        log.info("linking %d tracks (%d samples) with %s distances", len(kept), n_samples, aggregation)
    pos = {t: i for i, t in enumerate(table.ids.tolist())}
    rows = np.array([pos[t] for t in kept], np.int64)
    sub = take_tracks(table, rows)
    dist = distance_matrix(kept, descs, samples, aggregation) if descs is not None else np.zeros((0, 0))
    cannot = hard_constraints(sub, cfg, transition_windows(s))
    must, op_cannot = operator_pairs(s, sub)
    for a, b in op_cannot:
        cannot[a, b] = cannot[b, a] = True
    cal = calibrate(sub, kept, samples, dist, cannot, must, aggregation, linkage, trained_pairs(s, sub))
    chosen, source = choose_threshold(threshold, cfg, cal)
    labels = lk.constrained_agglomerative(dist, chosen, cannot=cannot, must=must, linkage=linkage)
    links = [(i, j, float(dist[i, j])) for i, j in lk.spanning_links(dist, labels)]
    return Clustering("dense", aggregation, rows, sub, labels, links, must, int(cannot.sum()) // 2, cal, chosen,
                      source, sub, descs, dist, must)


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
    fresh = [c for c in sorted(set(labels.tolist())) if c not in ident_of]
    if fresh:  # one bulk insert (a million-track run makes hundreds of thousands), ids in the rows' order
        now = repo._naive_utc(repo.utcnow())
        ident_of.update(zip(fresh, s.scalars(insert(m.Identity).returning(m.Identity.id, sort_by_parameter_order=True),
                                             [{"name": None, "watch": 0, "created_at": now} for _ in fresh]),
                            strict=True))
    s.execute(update(m.Track), [{"id": t, "identity_id": ident_of[c]}  # bulk update by primary key
                                for t, c in zip(sub.ids.tolist(), labels.tolist(), strict=True)])
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


def _write_matches(s: Session, run_id: int, sub: TrackTable, links: list[tuple[int, int, float]],
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
    for i, j, d in links:
        a, b = int(sub.ids[i]), int(sub.ids[j])
        if (min(a, b), max(a, b)) in decided:
            continue
        gap = max(sub.t_start[j] - sub.t_end[i], sub.t_start[i] - sub.t_end[j])
        kind = lk.link_kind(bool(sub.camera[i] == sub.camera[j]), bool(keys[i] == keys[j]), float(gap),
                            occlusion_gap_s=OCCLUSION_GAP_S)
        rows.append({"run_id": run_id, "track_a": a, "track_b": b, "distance": d, "kind": kind,
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
