"""Re-embedding a store with another encoder: every stored sample is cut again from its source video and
embedded anew, so all the store's embeddings carry one model tag and stay comparable.

A track whose source has no video file (a live camera; a file moved or deleted) is re-embedded from the crops
kept at ingest (``track_crops``): its samples become the best of those (by quality, a few frames apart), as many
as it had. A track with neither a video nor stored crops cannot be re-embedded: the store is left unchanged and
a UserError names its sources.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import delete, select

from app.errors import UserError
from app.ingest.pipeline import model_tag
from app.store import Database, repo
from app.store import models as m
from app.store.crops import track_crops
from app.store.descriptor_table import bump_epoch
from app.training.crops import decode_crop, exact_crops, pick_stored, read_crops, source_paths

log = logging.getLogger(__name__)
Cut = tuple[int, int, float, np.ndarray, np.ndarray]  # track id, frame, quality, RGB crop, keypoints in crop px


@dataclass(frozen=True)
class ReembedResult:
    """Tracks and samples re-embedded, and the new model tag; ``from_stored``: tracks re-embedded from the crops
    stored at ingest (no video)."""

    tracks: int
    samples: int
    tag: str
    from_stored: int = 0


def _stored_plan(db: Database, track_ids: list[int], counts: dict[int, int]) -> dict[int, list[Cut]]:
    """Track id -> the stored crops to embed (decoded), for tracks without a video; UserError when some have none."""
    with db.session() as s:
        stored = track_crops(s, track_ids)
    out: dict[int, list[Cut]] = {}
    for tid in track_ids:
        cuts: list[Cut] = []
        for c in pick_stored(stored.get(tid, []), counts[tid]):
            got = decode_crop(c)
            if got is not None:
                cuts.append((tid, c.frame, c.quality, got[0], got[1]))
        if cuts:
            out[tid] = cuts
    return out


def reembed_store(db: Database, encoder: object, *, progress: Callable[[int, int], None] | None = None,
                  batch: int = 64) -> ReembedResult:
    """Replace every stored embedding by ``encoder``'s embedding of the same crop (track, frame), cut from the
    source video, or of the crops stored at ingest for tracks without a video (see the module).

    Every track must have one or the other (a UserError lists the sources that do not, and nothing changes):
    mixing encoders in one store would make its tracks incomparable.
    """
    tag = model_tag(encoder)
    with db.session() as s:
        rows = s.execute(select(m.Embedding.track_id, m.Embedding.frame, m.Embedding.quality)).all()
        frames: dict[int, list[int]] = {}
        quality: dict[tuple[int, int], float] = {}
        for tid, frame, q in rows:
            frames.setdefault(int(tid), []).append(int(frame))
            quality[(int(tid), int(frame))] = float(q)
        plan = exact_crops(s, frames)
        paths = source_paths(s, list(plan))
    no_video = {sid: sorted({r.track_id for r in reqs}) for sid, reqs in plan.items() if paths.get(sid) is None}
    stored = _stored_plan(db, [t for ts in no_video.values() for t in ts], {t: len(f) for t, f in frames.items()})
    missing = [f"{sid} ({sum(t not in stored for t in ts)} tracks)" for sid, ts in sorted(no_video.items())
               if any(t not in stored for t in ts)]
    if missing:
        raise UserError(f"cannot re-embed: source(s) {', '.join(missing)} have no video file and no crops stored at "
                        f"ingest; restore the files (or purge those tracks)")
    total = len(quality) - sum(len(frames[t]) for t in stored) + sum(len(c) for c in stored.values())
    done, n_tracks = 0, 0
    for sid, requests in plan.items():
        path = paths.get(sid)
        if path is not None:
            cuts = [(r.track_id, r.frame, quality[(r.track_id, r.frame)], crop, kp)
                    for r, crop, kp in read_crops(Path(path), requests)]
        else:
            cuts = [c for t in no_video[sid] for c in stored[t]]
            log.info("source %d: %d tracks re-embedded from %d crops stored at ingest (no video)", sid,
                     len(no_video[sid]), len(cuts))
        n_tracks += _embed_and_store(db, encoder, tag, cuts, batch, done, total, progress)
        done += len(cuts)
    log.info("re-embedded %d samples of %d tracks with %s", done, n_tracks, tag)
    return ReembedResult(n_tracks, done, tag, len(stored))


def _embed_and_store(db: Database, encoder: object, tag: str, cuts: list[Cut], batch: int, done: int, total: int,
                     progress: Callable[[int, int], None] | None) -> int:
    """Embed one source's crops in batches, then replace its tracks' samples in one transaction; returns tracks."""
    embs = []
    for lo in range(0, len(cuts), batch):
        part = cuts[lo:lo + batch]
        embs.append(encoder.encode([c[3] for c in part], [c[4] for c in part]))  # type: ignore[attr-defined]
        if progress is not None:
            progress(done + lo + len(part), total)
    if not embs:
        return 0
    g = np.concatenate([np.asarray(e.global_feat) for e in embs])
    p = np.concatenate([np.asarray(e.parts) for e in embs])
    v = np.concatenate([np.asarray(e.visibility) for e in embs])
    by_track: dict[int, list[int]] = {}
    for i, c in enumerate(cuts):
        by_track.setdefault(c[0], []).append(i)
    with db.session() as s:
        bump_epoch(s)  # search indexes rebuild
        for tid, idx in by_track.items():
            s.execute(delete(m.Embedding).where(m.Embedding.track_id == tid))
            s.execute(delete(m.TrackDescriptor).where(m.TrackDescriptor.track_id == tid))  # rewritten below
            repo.add_embeddings(s, tid, [cuts[i][1] for i in idx], [cuts[i][2] for i in idx], g[idx], p[idx], v[idx],
                                tag)
    return len(by_track)
