"""Re-embedding a store with another encoder: every stored sample is cut again from its source video and
embedded anew, so all the store's embeddings carry one model tag and stay comparable."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, select

from app.errors import UserError
from app.ingest.pipeline import model_tag
from app.store import Database, repo
from app.store import models as m
from app.training.crops import exact_crops, read_crops, source_paths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReembedResult:
    """Tracks and samples re-embedded, and the new model tag."""

    tracks: int
    samples: int
    tag: str


def reembed_store(db: Database, encoder: object, *, progress: Callable[[int, int], None] | None = None,
                  batch: int = 64) -> ReembedResult:
    """Replace every stored embedding by ``encoder``'s embedding of the same crop (track, frame).

    All sources must still have their video (a UserError lists those that do not): mixing encoders in one
    store would make its tracks incomparable.
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
    missing = [str(sid) for sid, p in paths.items() if p is None]
    if missing:
        raise UserError(f"cannot re-embed: the video of source(s) {', '.join(missing)} is gone (or live); "
                        f"re-ingest them or restore the files")
    total, done, n_tracks = len(quality), 0, 0
    for sid, requests in plan.items():
        cut = read_crops(paths[sid], requests)  # type: ignore[arg-type]
        by_track: dict[int, list[int]] = {}
        for i, (r, _, _) in enumerate(cut):
            by_track.setdefault(r.track_id, []).append(i)
        for lo in range(0, len(cut), batch):
            part = cut[lo:lo + batch]
            emb = encoder.encode([c for _, c, _ in part], [k for _, _, k in part])  # type: ignore[attr-defined]
            for j, (r, _, _) in enumerate(part):
                cut[lo + j] = (r, emb.take([j]), None)  # type: ignore[call-overload]
            done += len(part)
            if progress is not None:
                progress(done, total)
        with db.session() as s:
            for tid, idx in by_track.items():
                s.execute(delete(m.Embedding).where(m.Embedding.track_id == tid))
                embs = [cut[i][1] for i in idx]
                g = np.concatenate([e.global_feat for e in embs])  # type: ignore[attr-defined]
                p = np.concatenate([e.parts for e in embs])  # type: ignore[attr-defined]
                v = np.concatenate([e.visibility for e in embs])  # type: ignore[attr-defined]
                fr = [cut[i][0].frame for i in idx]
                repo.add_embeddings(s, tid, fr, [quality[(tid, f)] for f in fr], g, p, v, tag)
                n_tracks += 1
    log.info("re-embedded %d samples of %d tracks with %s", done, n_tracks, tag)
    return ReembedResult(n_tracks, done, tag)
