"""Linking as data arrives: stitching a new source's occlusion fragments, linking after an ingest, and giving
live tracks an identity as they close, without relinking the whole store (see app.identity.linking for full runs)."""

from __future__ import annotations

import logging

import numpy as np
from sqlalchemy import func, insert, select, update

from app.config import Config
from app.errors import UserError
from app.identity import ann
from app.identity import cluster as lk
from app.identity import constraints as lc
from app.identity.decisions import new_identity
from app.identity.linking import (
    DEFAULT_AGGREGATION,
    DEFAULT_THRESHOLD,
    DENSE_LIMIT,
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
from app.store import descriptor_table as dt
from app.store import models as m
from app.store.locks import IDENTITIES, acquire
from reid_core import track_descriptors as lm

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
    """Stitch the new source's fragments into stays, then relink the whole store, or, past DENSE_LIMIT tracks,
    link only the new source's tracks into their neighbourhoods (``link_new_tracks``); a one-line summary."""
    joins = stitch_source(db, source_id)
    with db.session() as s:
        n_tracks = s.scalar(select(func.count(m.Track.id))) or 0
        new = [int(t) for t in s.scalars(select(m.Track.id).where(m.Track.source_id == source_id))]
    if n_tracks <= DENSE_LIMIT or not new:
        summary = link_store(db, cfg, who="ingest")
        return f"{joins} occlusion joins; {summary.message}"
    got = link_new_tracks(db, cfg, new)
    linked = [i for i in got.values() if i is not None]
    return (f"{joins} occlusion joins; {len(linked)} new tracks linked into their neighbourhoods "
            f"({len(set(linked))} identities; run `reidwatch link` to relink the whole store)")


def link_new_tracks(db: Database, cfg: Config, track_ids: list[int], *, candidates: int = 50) -> dict[int, int | None]:
    """Live cameras and new ingests into a large store: give new tracks an identity without relinking the store.
    Each joins the identity whose tracks (among its ``candidates`` nearest in the search index) are closest on
    average, with the last run's distance and threshold, when no hard constraint or operator decision forbids
    it; else a new identity. Only the new tracks' neighbourhoods are read. A later ``link_store`` may
    reorganise. Returns track id -> identity id (None: no embeddings)."""
    with db.session() as s:
        last = s.scalar(select(m.LinkRun).order_by(m.LinkRun.id.desc()).limit(1))
        threshold = cfg.link.threshold if cfg.link.threshold is not None else (
            last.threshold if last is not None else DEFAULT_THRESHOLD)
        aggregation = (last.params or {}).get("aggregation", DEFAULT_AGGREGATION) if last else DEFAULT_AGGREGATION
        kept, descs = dt.load(s, sorted({int(t) for t in track_ids}))
    out: dict[int, int | None] = {int(t): None for t in track_ids}
    if descs is None:
        return out
    index = ann.index_for(db)  # holds the new tracks too: they may join each other
    with index.lock:
        pos, _ = index.search(index.reduce(descs), candidates + 1, nprobe=ann.NPROBE)  # as linking's candidates
        near = [index.track_ids[p[p >= 0]].tolist() for p in pos]
    with db.session() as s:
        acquire(s, IDENTITIES)  # two nodes never give one person two new identities (app.store.locks)
        table = load_track_table(s, track_ids=sorted(set(kept).union(*near)))
        row = {int(t): i for i, t in enumerate(table.ids)}
        ident = {int(t): int(x) for t, x in zip(table.ids, table.identity, strict=True)}
        pair_kind = aggregation in ("pair_min", "pair_mean")
        half = None
        if pair_kind or aggregation == "mean":
            ids, all_descs, samples = descriptors_for(s, table.ids.tolist(), aggregation=aggregation,
                                                      samples=pair_kind)
        else:  # the neighbourhoods' rows as stored (float16): each new track converts only its own neighbours'
            ids, half = dt.load_half(s, table.ids.tolist())
            all_descs, samples = None, {}
        drow = {t: i for i, t in enumerate(ids)}
        if all_descs is None and half is None:  # the new tracks' rows went away meanwhile
            return out
        _, op_cannot = operator_pairs(s, table)
        refused = {(min(a, b), max(a, b)) for a, b in op_cannot}
        windows = transition_windows(s)
        keys = stay_keys(table)
        assigned: dict[int, list[int]] = {}
        matches = []
        for i, tid in enumerate(kept):
            others = [t for t in near[i] if t != tid and ident.get(t, -1) >= 0 and t in drow]
            rows = np.array([row[tid], *(row[t] for t in others)], np.int64)
            sub = take_tracks(table, rows)
            if pair_kind:
                dist = distance_matrix([tid, *others], all_descs.take([drow[t] for t in (tid, *others)]),
                                       samples, aggregation)[0, 1:]
            else:
                at = [drow[t] for t in others]
                near_d = all_descs.take(at) if half is None else lm.TrackDescriptors(*(x[at] for x in half))  # type: ignore[union-attr]
                dist = lm.unit_distance(descs.take([i]), near_d)[0]
            cannot = hard_constraints(sub, cfg, windows)[0, 1:] if others else np.zeros(0, bool)
            by_ident: dict[int, list[int]] = {}
            for j, t in enumerate(others):
                by_ident.setdefault(ident[t], []).append(j)
            best, best_d = None, threshold
            for who, js in by_ident.items():
                if cannot[js].any() or any((min(row[tid], row[others[j]]), max(row[tid], row[others[j]]))
                                           in refused for j in js):
                    continue
                d = float(dist[js].mean())
                if d < best_d:
                    best, best_d = who, d
            target = best if best is not None else new_identity(s)
            ident[tid] = target
            assigned.setdefault(target, []).append(tid)
            out[tid] = target
            if best is not None:
                j = min(by_ident[best], key=lambda j: dist[j])
                a, b = row[others[j]], row[tid]
                gap = float(lc.time_gaps(table.t_start[[a, b]], table.t_end[[a, b]])[0, 1])
                matches.append({"run_id": None, "track_a": int(others[j]), "track_b": tid,
                                "distance": float(dist[j]), "status": "auto",
                                "kind": lk.link_kind(bool(table.camera[a] == table.camera[b]),
                                                     bool(keys[a] == keys[b]), gap, occlusion_gap_s=OCCLUSION_GAP_S)})
            log.info("track %d -> identity %s (%s)", tid, target, f"distance {best_d:.3f}" if best else "new")
        for target, tids in assigned.items():
            s.execute(update(m.Track).where(m.Track.id.in_(tids)).values(identity_id=target))
        if matches:
            s.execute(insert(m.Match), matches)
    return out
