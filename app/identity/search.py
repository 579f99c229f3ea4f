"""Search by example: rank stored tracks by PGFA distance to a track or to a person in an image.

Speed: every track is summarised by one aggregated descriptor (``app.identity.descriptors.aggregate_samples``). A
process keeps one in-memory ``TrackIndex`` per store, built once in blocks and then extended as tracks arrive.
Small stores keep the exact descriptors. Large ones (more than ``EXACT_LIMIT`` tracks) keep them projected on
their principal directions (uncentred PCA fitted on the first ``EXACT_LIMIT`` tracks: raw MobileNetV2
descriptors are 2560 + 3 x 1280 floats, projected 128 + 3 x 64), rank coarsely with eq. 8 on the projections,
then re-rank the closest ``rerank`` candidates exactly from their stored samples.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import UserError
from app.identity import confidence
from app.identity import descriptors as lm
from app.store import Database, repo
from app.store import models as m
from app.store.records import as_utc

log = logging.getLogger(__name__)

EXACT_LIMIT = 2048
GLOBAL_DIMS = 128
PART_DIMS = 64
BLOCK = 2000


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


@dataclass(frozen=True)
class Projection:
    """Uncentred PCA bases: global (Dg, dg), stripes (Dp, dp); a basis is None when no reduction is needed."""

    global_basis: np.ndarray | None
    part_basis: np.ndarray | None

    def apply(self, d: lm.TrackDescriptors) -> lm.TrackDescriptors:
        """Project and re-normalise (N rows)."""
        g = d.global_feat if self.global_basis is None else lm._unit(d.global_feat @ self.global_basis)
        p = d.parts if self.part_basis is None else lm._unit(d.parts @ self.part_basis)
        return lm.TrackDescriptors(g, p * d.visibility[:, :, None], d.visibility)


def fit_projection(d: lm.TrackDescriptors, *, global_dims: int | None = None, part_dims: int | None = None
                   ) -> Projection:
    """Principal directions (uncentred, so dot products of unit vectors are kept best) of N descriptors;
    ``GLOBAL_DIMS`` / ``PART_DIMS`` by default."""
    def basis(x: np.ndarray, k: int) -> np.ndarray | None:
        if x.shape[1] <= k or len(x) < 2:
            return None
        # randomised SVD: the top-k right singular vectors of the (uncentred) n x D matrix
        _, _, v = torch.svd_lowrank(torch.from_numpy(np.ascontiguousarray(x, np.float32)), q=min(k + 16, *x.shape),
                                    niter=4, M=None)
        return np.ascontiguousarray(v[:, :k].numpy())

    visible_parts = d.parts[d.visibility]
    return Projection(basis(d.global_feat, global_dims or GLOBAL_DIMS), basis(visible_parts, part_dims or PART_DIMS))


def load_descriptors(s: Session, track_ids: list[int]) -> tuple[list[int], lm.TrackDescriptors | None, dict[int, int]]:
    """Aggregated descriptors of those tracks that have embeddings -> (ids kept, descriptors, best frame per id)."""
    q = (select(m.Embedding.track_id, m.Embedding.frame, m.Embedding.quality, m.Embedding.global_feat,
                m.Embedding.parts, m.Embedding.visibility, m.Embedding.model_tag)
         .where(m.Embedding.track_id.in_(track_ids)).order_by(m.Embedding.track_id, m.Embedding.id))
    rows = s.execute(q).all()
    if not rows:
        return [], None, {}
    kept = sorted({r[0] for r in rows})
    pos = {t: i for i, t in enumerate(kept)}
    owner = np.array([pos[r[0]] for r in rows], np.int64)
    g = np.frombuffer(b"".join(r[3] for r in rows), np.float16).reshape(len(rows), -1).astype(np.float32)
    flat = np.frombuffer(b"".join(r[4] for r in rows), np.float16).reshape(len(rows), -1).astype(np.float32)
    n_parts = _parts_from_tag(rows[0][6], flat.shape[1])
    bits = np.array([r[5] for r in rows], np.int64)
    vis = (bits[:, None] >> np.arange(n_parts)[None, :] & 1).astype(bool)
    desc = lm.aggregate_many(g, flat.reshape(len(rows), n_parts, -1), vis, owner, len(kept))
    best: dict[int, tuple[float, int]] = {}
    for r in rows:
        if r[0] not in best or r[2] > best[r[0]][0]:
            best[r[0]] = (r[2], r[1])
    order = [pos[t] for t in track_ids if t in pos]  # the caller's order
    return [kept[i] for i in order], desc.take(np.array(order, np.int64)), {t: f for t, (_, f) in best.items()}


def _parts_from_tag(tag: str, flat_dim: int) -> int:
    for piece in tag.split(";"):
        if piece.startswith("parts="):
            return int(piece.split("=", 1)[1])
    return 3 if flat_dim % 3 == 0 else 1


class TrackIndex:
    """Descriptors of every embedded track of one store, laid out for eq. 8 (``gallery``), with camera and time
    for filtering. Use under ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget every track (the lock stays)."""
        self.ids = np.zeros(0, np.int64)
        self.camera = np.zeros(0, np.int64)
        self.t_start = np.zeros(0, np.float64)
        self.t_end = np.zeros(0, np.float64)
        self.gallery: lm.PreparedDescriptors | None = None
        self.raw_dims: tuple[int, int, int] | None = None  # (Dg, P, Dp) of the stored embeddings
        self.projection: Projection | None = None
        self.version: tuple[int, int, int, int] = (-1, -1, -1, -1)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def exact(self) -> bool:
        """True when the gallery holds full-size descriptors (no PCA projection)."""
        return self.projection is None

    def nbytes(self) -> int:
        """Bytes held by the gallery tensors (0 when empty)."""
        g = self.gallery
        return 0 if g is None else sum(x.element_size() * x.nelement() for x in (g.glob, g.parts, g.vis))

    def _unprepared(self) -> lm.TrackDescriptors:
        g = self.gallery
        if g is None:
            raise RuntimeError("the index is empty")
        n, p = g.vis.shape
        return lm.TrackDescriptors(g.glob.numpy(), g.parts.reshape(n, p, -1).numpy(), g.vis.numpy() > 0)

    def add(self, ids: np.ndarray, camera: np.ndarray, t_start: np.ndarray, t_end: np.ndarray,
            desc: lm.TrackDescriptors) -> None:
        """Append tracks not yet indexed. The first time the index would pass ``EXACT_LIMIT`` tracks, it fits the
        projection on the first ``EXACT_LIMIT`` and projects everything from then on."""
        dims = (desc.global_feat.shape[1], *desc.parts.shape[1:])
        if self.raw_dims is not None and dims != self.raw_dims:
            raise UserError(f"the store holds embeddings of different sizes {self.raw_dims} and {dims}: tracks "
                            f"embedded with different encoders cannot be compared; re-ingest with one encoder")
        self.raw_dims = dims  # type: ignore[assignment]
        if self.projection is None and len(self) + len(desc) > EXACT_LIMIT:
            existing = self._unprepared() if self.gallery is not None else None
            everything = lm.TrackDescriptors.stack([x for x in (existing, desc) if x is not None])
            self.projection = fit_projection(everything.take(np.arange(min(len(everything), EXACT_LIMIT))))
            self.gallery = lm.prepare(self.projection.apply(existing)) if existing is not None else None
            log.info("search index passes %d tracks: descriptors projected to %d + %d x %d floats", EXACT_LIMIT,
                     *self._projected_dims())
        new = lm.prepare(self.projection.apply(desc) if self.projection is not None else desc)
        g = self.gallery
        self.gallery = new if g is None else lm.PreparedDescriptors(
            torch.cat([g.glob, new.glob]), torch.cat([g.parts, new.parts]), torch.cat([g.vis, new.vis]))
        self.ids = np.concatenate([self.ids, ids])
        self.camera = np.concatenate([self.camera, camera])
        self.t_start = np.concatenate([self.t_start, t_start])
        self.t_end = np.concatenate([self.t_end, t_end])

    def _projected_dims(self) -> tuple[int, int, int]:
        dg, p, dp = self.raw_dims  # type: ignore[misc]
        pr = self.projection
        if pr is not None:
            dg = pr.global_basis.shape[1] if pr.global_basis is not None else dg
            dp = pr.part_basis.shape[1] if pr.part_basis is not None else dp
        return dg, p, dp

    def distances(self, query: lm.TrackDescriptors) -> np.ndarray:
        """(len(query), N) eq. 8 distances (approximate when projected)."""
        if self.gallery is None:
            return np.zeros((len(query), 0), np.float32)
        dims = (query.global_feat.shape[1], *query.parts.shape[1:])
        if dims != self.raw_dims:
            raise UserError(f"query features have sizes {dims} but the store's have {self.raw_dims}: "
                            f"embed with the encoder the store was built with")
        q = self.projection.apply(query) if self.projection is not None else query
        return lm.prepared_distance(lm.prepare(q), self.gallery)


_INDEXES: dict[Path, TrackIndex] = {}
_INDEXES_LOCK = threading.Lock()


def _store_version(s: Session) -> tuple[int, int, int, int]:
    min_emb, max_emb = s.execute(select(func.min(m.Embedding.id), func.max(m.Embedding.id))).one()
    n_tracks, max_track = s.execute(select(func.count(m.Track.id), func.max(m.Track.id))).one()
    # the smallest embedding id moves when stored embeddings are replaced (`reidwatch reembed` / `adapt`)
    return int(max_emb or 0), int(n_tracks or 0), int(max_track or 0), int(min_emb or 0)


def track_index(db: Database) -> TrackIndex:
    """The process's index for this store, brought up to date (new tracks appended; rebuilt after deletions)."""
    with _INDEXES_LOCK:
        index = _INDEXES.setdefault(Path(db.path).resolve(), TrackIndex())
    with index.lock, db.session() as s:
        version = _store_version(s)
        if version == index.version:
            return index
        old_emb, old_count, old_max, old_min = index.version
        new_tracks = s.scalar(select(func.count(m.Track.id)).where(m.Track.id > old_max)) if old_max >= 0 else -1
        if old_max < 0 or version[1] - old_count != new_tracks or version[3] != old_min:
            # first build, tracks were deleted, or embeddings were replaced
            index.reset()
            old_emb = 0
        todo = sorted(set(s.scalars(select(m.Embedding.track_id).where(m.Embedding.id > old_emb).distinct()))
                      - set(index.ids.tolist()))
        for lo in range(0, len(todo), BLOCK):
            block = todo[lo:lo + BLOCK]
            kept, desc, _ = load_descriptors(s, block)
            if desc is None:
                continue
            meta = {r[0]: r[1:] for r in s.execute(select(m.Track.id, m.Track.camera_id, m.Track.start_time,
                                                          m.Track.end_time).where(m.Track.id.in_(kept)))}
            index.add(np.array(kept, np.int64), np.array([meta[t][0] for t in kept], np.int64),
                      np.array([as_utc(meta[t][1]).timestamp() for t in kept]),
                      np.array([as_utc(meta[t][2]).timestamp() for t in kept]), desc)
        index.version = version
        log.debug("search index for %s: %d tracks", db.path, len(index))
    return index




def search_descriptor(db: Database, query: lm.TrackDescriptors, *, k: int = 20, cameras: list[str] | None = None,
                      t_from: datetime | None = None, t_to: datetime | None = None, exclude: frozenset[int] | set[int] = frozenset(),
                      rerank: int | None = None) -> list[SearchHit]:
    """The ``k`` tracks closest to one descriptor (a single row), filtered by camera and time window."""
    if k < 1:
        raise UserError(f"-k must be at least 1, not {k}")
    if t_from is not None and t_to is not None and t_to < t_from:
        raise UserError("the time window ends before it starts (--to is before --from)")
    index = track_index(db)
    with db.session() as s:
        cam_ids = repo.camera_ids(s, cameras)
    with index.lock:
        if index.gallery is None:
            return []
        mask = ~np.isin(index.ids, np.fromiter(exclude, np.int64, len(exclude)))
        if cam_ids is not None:
            mask &= np.isin(index.camera, cam_ids)
        if t_from is not None:
            mask &= index.t_end >= t_from.timestamp()
        if t_to is not None:
            mask &= index.t_start <= t_to.timestamp()
        cand = np.flatnonzero(mask)
        if len(cand) == 0:
            return []
        coarse = index.distances(query)[0][cand]
        pool = len(cand) if index.exact else min(len(cand), rerank or max(10 * k, 200))
        top = np.argpartition(coarse, pool - 1)[:pool] if pool < len(cand) else np.arange(len(cand))
        ids, dist = index.ids[cand[top]], coarse[top]
        exact = index.exact
    with db.session() as s:
        if not exact:  # re-rank the pool with the exact descriptors
            kept, desc, _ = load_descriptors(s, ids.tolist())
            if desc is None:  # the candidates' samples went away (source re-ingested meanwhile)
                return []
            ids, dist = np.array(kept, np.int64), lm.prepared_distance(lm.prepare(query), lm.prepare(desc))[0]
        order = np.argsort(dist, kind="stable")[:k]
        return _hits(s, ids[order].tolist(), dist[order].tolist())


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
        kept, desc, _ = load_descriptors(s, [tr.id])
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
    with torch.inference_mode():
        query = embed_image(detector, encoder, image_bgr)
    return search_descriptor(db, query, k=k, cameras=cameras, t_from=t_from, t_to=t_to)
