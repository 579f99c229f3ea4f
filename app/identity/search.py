"""Search by example: rank stored tracks by PGFA distance to a track or to a person in an image.

Candidates come from the store's FAISS index over the descriptor table (``app.identity.ann``: loaded from disk,
extended with new tracks, rebuilt after deletions), filtered there by camera and time; the best ``rerank`` of them
are then ranked by exact eq. 8 on their stored descriptors (the aggregate of their samples,
``app.store.descriptor_table``), which is the final word.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import UserError
from app.identity import ann, confidence
from app.store import Database, repo
from app.store import descriptor_table as dt
from app.store import models as m
from app.store.records import as_utc
from reid_core import track_descriptors as lm

log = logging.getLogger(__name__)

RERANK = 100  # candidates re-ranked exactly (at least 5 k)


@dataclass(frozen=True)
class SearchHit:
    """One search result: a track, its identity, camera, time span, best frame and descriptor distance."""

    track_id: int
    identity_id: int | None
    identity_name: str | None
    camera: str
    source_id: int
    start_time: datetime
    end_time: datetime
    best_frame: int
    distance: float
    confidence: float | None = None  # app.identity.confidence: 1 - share of known-different pairs this close


def search_descriptor(db: Database, query: lm.TrackDescriptors, *, k: int = 20, cameras: list[str] | None = None,
                      t_from: datetime | None = None, t_to: datetime | None = None,
                      exclude: frozenset[int] | set[int] = frozenset(), rerank: int | None = None) -> list[SearchHit]:
    """The ``k`` tracks closest to one descriptor (a single row), filtered by camera and time window."""
    if k < 1:
        raise UserError(f"-k must be at least 1, not {k}")
    if t_from is not None and t_to is not None and t_to < t_from:
        raise UserError("the time window ends before it starts (--to is before --from)")
    with db.session() as s:
        cam_ids = repo.camera_ids(s, cameras)
    index = ann.index_for(db)
    pool = max(rerank or RERANK, 5 * k)
    with index.lock:
        if len(index) == 0:
            return []
        dims = index.meta.get("dims")
        if dims and list(dims) != [query.global_feat.shape[1], *query.parts.shape[1:]]:
            raise UserError(f"the query's embedding {[query.global_feat.shape[1], *query.parts.shape[1:]]} does not "
                            f"compare with the store's {list(dims)} (another encoder or colour setting): search with "
                            f"the store's own encoder, or re-embed the store (`reidwatch reembed`)")
        a = index.arrays
        allowed = None
        if cam_ids is not None:
            allowed = np.isin(a["camera"], cam_ids)
        if t_from is not None:
            allowed = (a["t_end"] >= t_from.timestamp()) & (True if allowed is None else allowed)
        if t_to is not None:
            allowed = (a["t_start"] <= t_to.timestamp()) & (True if allowed is None else allowed)
        if allowed is not None and int(allowed.sum()) <= pool:  # few enough to rank them all exactly
            ids = a["track_ids"][allowed]
        else:
            pos, _ = index.search(index.reduce(query), pool + len(exclude), allowed)
            ids = a["track_ids"][pos[0][pos[0] >= 0]]
    ids = np.array([t for t in ids.tolist() if t not in exclude], np.int64)
    if len(ids) == 0:
        return []
    with db.session() as s:
        kept, desc = dt.load(s, ids.tolist())
        if desc is None:  # the candidates went away meanwhile (a purge in another process)
            return []
        if len(kept) < len(ids):
            dt.bump_epoch(s)  # rows deleted behind the index's back: rebuild it next time
        dist = query_distance(query, desc)
        order = np.argsort(dist, kind="stable")[:k]
        return _hits(s, [kept[i] for i in order], dist[order].tolist())


def query_distance(query: lm.TrackDescriptors, gallery: lm.TrackDescriptors) -> np.ndarray:
    """Eq. 8 from one query row to N stored (unit) descriptors: (N,) float32."""
    return lm.unit_distance(query, gallery)[0]


def _hits(s: Session, ids: list[int], dist: list[float]) -> list[SearchHit]:
    rows = {r[0]: r for r in s.execute(
        select(m.Track.id, m.Track.identity_id, m.Identity.name, m.Camera.name, m.Track.source_id,
               m.Track.start_time, m.Track.end_time)
        .join(m.Camera, m.Camera.id == m.Track.camera_id)
        .outerjoin(m.Identity, m.Identity.id == m.Track.identity_id).where(m.Track.id.in_(ids)))}
    best = {}
    for tid, frame, _ in s.execute(select(m.Embedding.track_id, m.Embedding.frame, m.Embedding.quality)
                                   .where(m.Embedding.track_id.in_(ids)).order_by(m.Embedding.quality)):
        best[tid] = frame  # ordered by quality: the last one wins
    cal = confidence.load_calibration(s)
    return [SearchHit(t, rows[t][1], rows[t][2], rows[t][3], rows[t][4], as_utc(rows[t][5]), as_utc(rows[t][6]),
                      int(best.get(t, -1)), float(d), cal.confidence(float(d)) if cal else None)
            for t, d in zip(ids, dist, strict=True) if t in rows]


def search_by_track(db: Database, track_id: int, *, k: int = 20, cameras: list[str] | None = None,
                    t_from: datetime | None = None, t_to: datetime | None = None,
                    include_same_stay: bool = False) -> list[SearchHit]:
    """Tracks that look like ``track_id``, closest first; the track itself and (by default) the other fragments of
    its stay are left out."""
    with db.session() as s:
        tr = s.get(m.Track, int(track_id))
        if tr is None:
            raise UserError(f"no track {track_id} in the store")
        kept, desc = dt.load(s, [tr.id])
        if desc is None:
            raise UserError(f"track {track_id} has no embeddings (too short or too small to embed); pick another")
        exclude = {tr.id}
        if not include_same_stay and tr.stay_id is not None:
            exclude |= set(s.scalars(select(m.Track.id).where(m.Track.source_id == tr.source_id,
                                                              m.Track.stay_id == tr.stay_id)))
    return search_descriptor(db, desc, k=k, cameras=cameras, t_from=t_from, t_to=t_to, exclude=exclude)


def embed_image(detector: Any, encoder: Any, image_bgr: np.ndarray) -> lm.TrackDescriptors:
    """Detect the largest person in a BGR image with the pose detector and embed it with the PGFA encoder."""
    from app.ingest.sampling import crop_box

    img = np.asarray(image_bgr)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise UserError(f"expected a colour image (H, W, 3) uint8, got {img.dtype} {img.shape}")
    dets = detector.detect(img)
    if len(dets) == 0:
        raise UserError("no person found in the image; use a photo or frame where the person is clearly visible")
    areas = (dets.boxes[:, 2] - dets.boxes[:, 0]) * (dets.boxes[:, 3] - dets.boxes[:, 1])
    i = int(np.argmax(areas))
    crop, cut = crop_box(img, dets.boxes[i])
    kps = dets.keypoints[i].copy()
    kps[:, 0] -= cut[0]
    kps[:, 1] -= cut[1]
    emb = encoder.encode([np.ascontiguousarray(crop[:, :, ::-1])], [kps])
    log.info("query person: box %s, score %.2f", np.round(dets.boxes[i]).astype(int).tolist(), dets.scores[i])
    return lm.aggregate_samples(emb.global_feat, emb.parts, emb.visibility)


def search_by_image(db: Database, detector: Any, encoder: Any, image_bgr: np.ndarray, *, k: int = 20,
                    cameras: list[str] | None = None, t_from: datetime | None = None,
                    t_to: datetime | None = None) -> list[SearchHit]:
    """Tracks that look like the (largest) person in ``image_bgr``, closest first. ``detector`` and ``encoder``
    are the runtime's shared models (``app.runtime.Runtime.search_by_image``)."""
    import torch  # only an image query needs it: a search by track starts without loading torch

    with torch.inference_mode():
        query = embed_image(detector, encoder, image_bgr)
    return search_descriptor(db, query, k=k, cameras=cameras, t_from=t_from, t_to=t_to)
