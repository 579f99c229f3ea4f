"""Person crops for adaptation and re-embedding, re-read from the source videos the store points to.

The store keeps every observation's box and keypoints (``observations``) and each source's file path
(``sources.uri``), so any number of crops per track can be cut again from the video without growing the
store: an existing store is adaptable as it is. Live (RTSP) sources keep no video; their tracks are skipped
for training (with a log line) and cannot be re-embedded. Crops are cut exactly as ingest cuts its samples
(``app.ingest.sampling.crop_box``, 5% padding) and keypoints are moved into crop pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.ingest.sampling import crop_box
from app.store import models as m

log = logging.getLogger(__name__)
MIN_HEIGHT = 24  # px: smaller boxes carry too little to learn from


@dataclass(frozen=True)
class CropRequest:
    """One crop to cut: track id, frame index, box (x1, y1, x2, y2) and COCO-17 keypoints in frame pixels."""

    track_id: int
    frame: int
    box: tuple[float, float, float, float]
    keypoints: np.ndarray


def _spread(n: int, k: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, num=min(n, k)).round().astype(np.int64)) if n else np.zeros(0, np.int64)


def plan_crops(s: Session, track_ids: list[int], per_track: int) -> dict[int, list[CropRequest]]:
    """Source id -> crops to cut: up to ``per_track`` detected (not predicted) observations per track, spread
    evenly over its time in view, boxes at least MIN_HEIGHT tall."""
    q = (select(m.Observation.track_id, m.Observation.frame, m.Observation.x1, m.Observation.y1, m.Observation.x2,
                m.Observation.y2, m.Observation.keypoints, m.Track.source_id)
         .join(m.Track, m.Track.id == m.Observation.track_id)
         .where(m.Observation.track_id.in_(track_ids), m.Observation.predicted == 0,
                (m.Observation.y2 - m.Observation.y1) >= MIN_HEIGHT)
         .order_by(m.Observation.track_id, m.Observation.frame))
    by_track: dict[int, list] = {}
    for row in s.execute(q):
        by_track.setdefault(row[0], []).append(row)
    out: dict[int, list[CropRequest]] = {}
    for rows in by_track.values():
        for i in _spread(len(rows), per_track):
            tid, frame, x1, y1, x2, y2, kp, src = rows[int(i)]
            out.setdefault(int(src), []).append(
                CropRequest(int(tid), int(frame), (x1, y1, x2, y2), np.frombuffer(kp, np.float32).reshape(17, 3)))
    return out


def exact_crops(s: Session, frames_by_track: dict[int, list[int]]) -> dict[int, list[CropRequest]]:
    """Source id -> crops for given (track, frame) pairs (the stored embedding samples, to re-embed)."""
    wanted = {(t, f) for t, fs in frames_by_track.items() for f in fs}
    q = (select(m.Observation.track_id, m.Observation.frame, m.Observation.x1, m.Observation.y1, m.Observation.x2,
                m.Observation.y2, m.Observation.keypoints, m.Track.source_id)
         .join(m.Track, m.Track.id == m.Observation.track_id)
         .where(m.Observation.track_id.in_(list(frames_by_track))))
    out: dict[int, list[CropRequest]] = {}
    for tid, frame, x1, y1, x2, y2, kp, src in s.execute(q):
        if (tid, frame) in wanted:
            wanted.discard((tid, frame))
            out.setdefault(int(src), []).append(
                CropRequest(int(tid), int(frame), (x1, y1, x2, y2), np.frombuffer(kp, np.float32).reshape(17, 3)))
    return out


def source_paths(s: Session, source_ids: list[int]) -> dict[int, Path | None]:
    """Source id -> its video file when it still exists (None for live sources and moved files)."""
    out: dict[int, Path | None] = {}
    for src in s.scalars(select(m.Source).where(m.Source.id.in_(source_ids))):
        path = Path(src.uri)
        out[src.id] = path if path.is_file() else None
    return out


def read_crops(path: Path, requests: list[CropRequest],
               progress: Callable[[int], None] | None = None) -> list[tuple[CropRequest, np.ndarray, np.ndarray]]:
    """Cut the requested crops from one video, read once in order: (request, RGB crop, keypoints in crop px)."""
    by_frame: dict[int, list[CropRequest]] = {}
    for r in requests:
        by_frame.setdefault(r.frame, []).append(r)
    out = []
    cap = cv2.VideoCapture(str(path))
    try:
        frame_no, last = 0, max(by_frame) if by_frame else -1
        while frame_no <= last:
            if frame_no not in by_frame:
                if not cap.grab():
                    break
                frame_no += 1
                continue
            ok, image = cap.read()
            if not ok:
                break
            for r in by_frame[frame_no]:
                crop, cut = crop_box(image, np.asarray(r.box, np.float32))
                if crop.shape[0] < 8 or crop.shape[1] < 4:
                    continue
                kp = r.keypoints.copy()
                kp[:, 0] -= cut[0]
                kp[:, 1] -= cut[1]
                out.append((r, np.ascontiguousarray(crop[:, :, ::-1]), kp))
            if progress is not None:
                progress(len(out))
            frame_no += 1
    finally:
        cap.release()
    if len(out) < len(requests):
        log.warning("%s: cut %d of %d crops (the video is shorter than the store remembers?)", path, len(out),
                    len(requests))
    return out
