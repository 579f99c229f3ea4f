"""Linking as data arrives: stitching a new source's occlusion fragments, linking after an ingest, and giving
live tracks an identity as they close, without relinking the whole store (see app.identity.linking for full runs)."""

from __future__ import annotations

import logging

import numpy as np
from sqlalchemy import select

from app.config import Config
from app.errors import UserError
from app.identity import cluster as lk
from app.identity import constraints as lc
from app.identity.decisions import new_identity
from app.identity.linking import (
    DEFAULT_AGGREGATION,
    DEFAULT_THRESHOLD,
    OCCLUSION_GAP_S,
    descriptors_for,
    distance_matrix,
    hard_constraints,
    link_store,
    load_track_table,
    operator_pairs,
    stay_keys,
    take_tracks,
    transition_windows,
)
from app.store import Database, repo
from app.store import models as m

log = logging.getLogger(__name__)


def stitch_source(db: Database, source_id: int, *, use_appearance: bool = True) -> int:
    """Join one source's fragments broken by occlusions (``trackers.stitch``: motion gates, optional appearance
    term) and store them as stay ids. Settings scale with the source's frame rate; the frame size keeps a person
    walking out of the view from being joined to someone walking in. Returns the number of joins."""
    from dataclasses import replace

    from trackers.stitch import StitchConfig, stitch_tracklets, summarize_tracklets
    from trackers.types import TrackRows

    with db.session() as s:
        src = repo.get_source(s, source_id)
        if src is None:
            raise UserError(f"no source {source_id} in the store")
        tracks = repo.list_tracks(s, source_id=source_id)
        if not tracks:
            return 0
        obs = [o for o in repo.observations(s, [t.id for t in tracks]) if not o.predicted]
        if not obs:
            return 0
        rows = TrackRows(frames=np.array([o.frame for o in obs]), ids=np.array([o.track_id for o in obs]),
                         boxes=np.array([o.box for o in obs]), scores=np.array([o.score for o in obs]))
        config = StitchConfig.for_frame_rate(src.fps if src.fps and src.fps > 0 else 7.0)
        summaries = summarize_tracklets(rows, velocity_window=config.velocity_window, max_speed=config.max_speed)
        if use_appearance:
            kept, descs, _ = descriptors_for(s, [t.id for t in tracks])
            look = {t: descs.global_feat[i] for i, t in enumerate(kept)} if descs is not None else {}
            summaries = [replace(x, appearance=look.get(x.track_id)) for x in summaries]
        frame_size = (src.width, src.height) if src.width and src.height else None
        mapping = stitch_tracklets(summaries, config, frame_size=frame_size)
        for t in tracks:
            mapping.setdefault(t.id, t.id)
        repo.set_stay_ids(s, mapping)
    joins = sum(1 for k, v in mapping.items() if k != v)
    log.info("source %d: %d fragment joins across occlusions", source_id, joins)
    return joins


def link_after_ingest(db: Database, cfg: Config, source_id: int) -> str:
    """Stitch the new source's fragments into stays, then relink the whole store; a one-line summary."""
    joins = stitch_source(db, source_id)
    summary = link_store(db, cfg, who="ingest")
    return f"{joins} occlusion joins; {summary.message}"


def link_new_tracks(db: Database, cfg: Config, track_ids: list[int], *, candidates: int = 50) -> dict[int, int | None]:
    """Live cameras: give newly closed tracks an identity without relinking the store. Each joins the identity
    whose tracks (among its ``candidates`` nearest by search) are closest on average, with the last run's
    distance and threshold, when no hard constraint or operator decision forbids it; else a new identity.
    A later ``link_store`` may reorganise. Returns track id -> identity id (None: no embeddings)."""
    from app.identity.search import search_descriptor

    with db.session() as s:
        last = s.scalar(select(m.LinkRun).order_by(m.LinkRun.id.desc()).limit(1))
        threshold = cfg.link.threshold if cfg.link.threshold is not None else (
            last.threshold if last is not None else DEFAULT_THRESHOLD)
        aggregation = (last.params or {}).get("aggregation", DEFAULT_AGGREGATION) if last else DEFAULT_AGGREGATION
        kept, descs, _ = descriptors_for(s, sorted(int(t) for t in track_ids))
    out: dict[int, int | None] = {int(t): None for t in track_ids}
    if descs is None:
        return out
    for i, tid in enumerate(kept):
        hits = search_descriptor(db, descs.take([i]), k=candidates, exclude={tid})
        with db.session() as s:
            near = [h.track_id for h in hits if h.identity_id is not None]
            table = load_track_table(s, track_ids=[tid, *near])
            ids, near_descs, samples = descriptors_for(s, table.ids.tolist())
            if near_descs is None:
                continue
            row = {t: j for j, t in enumerate(table.ids.tolist())}
            sub = take_tracks(table, np.array([row[t] for t in ids], np.int64))
            dist = distance_matrix(ids, near_descs, samples, aggregation)
            cannot = hard_constraints(sub, cfg, transition_windows(s))
            _, op_cannot = operator_pairs(s, sub)
            for a, b in op_cannot:
                cannot[a, b] = cannot[b, a] = True
            me = ids.index(tid)
            by_ident: dict[int, list[int]] = {}
            for j, t in enumerate(ids):
                if t != tid:
                    by_ident.setdefault(int(sub.identity[j]), []).append(j)
            best, best_d = None, threshold
            for ident, js in by_ident.items():
                if ident < 0 or cannot[me, js].any():
                    continue
                d = float(dist[me, js].mean())
                if d < best_d:
                    best, best_d = ident, d
            target = best if best is not None else new_identity(s)
            s.query(m.Track).filter(m.Track.id == tid).update({m.Track.identity_id: target}, synchronize_session=False)
            if best is not None:
                j = min(by_ident[best], key=lambda j: dist[me, j])
                keys = stay_keys(sub)
                gap = float(lc.time_gaps(sub.t_start, sub.t_end)[me, j])
                s.add(m.Match(run_id=None, track_a=int(ids[j]), track_b=tid, distance=float(dist[me, j]),
                              kind=lk.link_kind(bool(sub.camera[me] == sub.camera[j]), bool(keys[me] == keys[j]),
                                                gap, occlusion_gap_s=OCCLUSION_GAP_S), status="auto"))
            out[tid] = target
        log.info("track %d -> identity %s (%s)", tid, target, f"distance {best_d:.3f}" if best else "new")
    return out
