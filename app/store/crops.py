"""Training crops kept in the store for tracks whose video is not kept (live cameras): writes and reads.

Rows become :class:`TrackCrop` values before they leave; the JPEG stays encoded (callers decode what they use).
Rows go with their track (ON DELETE CASCADE), so retention purges and source deletion remove them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.store import models as m

CHUNK = 900  # ids per IN (...) list, under SQLite's limit of variables per statement


@dataclass(frozen=True)
class TrackCrop:
    """One stored crop: its track and frame, the box cut from the frame (x1, y1, x2, y2 in frame pixels), a
    quality score, the 17 COCO keypoints (17, 3) in the JPEG's pixels with confidences, and the JPEG bytes."""

    track_id: int
    frame: int
    box: tuple[int, int, int, int]
    quality: float
    keypoints: np.ndarray
    jpeg: bytes

    def __post_init__(self) -> None:
        kp = np.asarray(self.keypoints, np.float32)
        if kp.shape != (17, 3):
            raise ValueError(f"keypoints: expected shape (17, 3), got {kp.shape}")
        object.__setattr__(self, "keypoints", kp)


@dataclass(frozen=True)
class CropStats:
    """How many crops the store keeps, for how many tracks, and their JPEG bytes."""

    crops: int
    tracks: int
    jpeg_bytes: int


def add_track_crops(s: Session, track_id: int, crops: Sequence[TrackCrop]) -> None:
    """Store a track's crops (a frame already stored for the track is skipped: a retried write adds nothing)."""
    if not crops:
        return
    have = set(s.scalars(select(m.TrackCrop.frame).where(m.TrackCrop.track_id == track_id)))
    rows = [{"track_id": track_id, "frame": int(c.frame), "x1": int(c.box[0]), "y1": int(c.box[1]),
             "x2": int(c.box[2]), "y2": int(c.box[3]), "quality": float(c.quality),
             "keypoints": c.keypoints.astype(np.float32).tobytes(), "jpeg": bytes(c.jpeg)}
            for c in crops if int(c.frame) not in have]
    if rows:
        s.execute(m.TrackCrop.__table__.insert(), rows)


def track_crops(s: Session, track_ids: Iterable[int]) -> dict[int, list[TrackCrop]]:
    """Track id -> its stored crops by frame (tracks without any are absent)."""
    ids = sorted({int(t) for t in track_ids})
    out: dict[int, list[TrackCrop]] = {}
    for lo in range(0, len(ids), CHUNK):
        q = (select(m.TrackCrop).where(m.TrackCrop.track_id.in_(ids[lo:lo + CHUNK]))
             .order_by(m.TrackCrop.track_id, m.TrackCrop.frame))
        for r in s.scalars(q):
            out.setdefault(r.track_id, []).append(TrackCrop(
                r.track_id, r.frame, (r.x1, r.y1, r.x2, r.y2), r.quality,
                np.frombuffer(r.keypoints, np.float32).reshape(17, 3), r.jpeg))
    return out


def tracks_with_crops(s: Session, track_ids: Iterable[int]) -> set[int]:
    """Which of these tracks have stored crops."""
    ids = sorted({int(t) for t in track_ids})
    out: set[int] = set()
    for lo in range(0, len(ids), CHUNK):
        out.update(s.scalars(select(m.TrackCrop.track_id).where(m.TrackCrop.track_id.in_(ids[lo:lo + CHUNK]))
                             .distinct()))
    return out


def crop_stats(s: Session) -> CropStats:
    """Counts and JPEG bytes of every stored crop."""
    n, tracks, size = s.execute(select(func.count(m.TrackCrop.id), func.count(func.distinct(m.TrackCrop.track_id)),
                                       func.coalesce(func.sum(func.length(m.TrackCrop.jpeg)), 0))).one()
    return CropStats(int(n or 0), int(tracks or 0), int(size or 0))
