"""Person crops for adaptation and re-embedding: re-read from the source videos the store points to, or, for
tracks whose video is not there (live cameras, moved or deleted files), the crops kept at ingest.

The store keeps every observation's box and keypoints (``observations``) and each source's file path
(``sources.uri``), so any number of crops per track can be cut again from a video without growing the store: an
existing store is adaptable as it is. A live (RTSP) source keeps no video; its tracks' training crops are kept
at ingest instead (``track_crops``, ``app.ingest.training_crops``; ``[ingest] keep_crops``), and a file source
whose video is gone uses them too when it has some. Crops are cut exactly as ingest cuts its samples
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
from app.ingest.training_crops import spread
from app.store import Database
from app.store import models as m
from app.store.crops import TrackCrop, track_crops

log = logging.getLogger(__name__)
MIN_HEIGHT = 24  # px: smaller boxes carry too little to learn from


@dataclass(frozen=True)
class CropRequest:
    """One crop to cut: track id, frame index, box (x1, y1, x2, y2) and COCO-17 keypoints in frame pixels."""

    track_id: int
    frame: int
    box: tuple[float, float, float, float]
    keypoints: np.ndarray


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
        for i in spread(len(rows), per_track):
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


def decode_crop(crop: TrackCrop) -> tuple[np.ndarray, np.ndarray] | None:
    """A stored crop as (RGB image, keypoints (17, 3) in its pixels); None when the JPEG does not decode."""
    img = cv2.imdecode(np.frombuffer(crop.jpeg, np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.shape[0] < 8 or img.shape[1] < 4:
        return None
    return np.ascontiguousarray(img[:, :, ::-1]), crop.keypoints.copy()


@dataclass(frozen=True)
class TrainingCrops:
    """Crops of the tracks asked for: RGB images, keypoints in their pixels, the owning track id of each, and
    which tracks' crops came from a video, from the crops stored at ingest, or from neither (left out)."""

    crops: list[np.ndarray]
    keypoints: list[np.ndarray]
    track_ids: np.ndarray  # (N,) int64
    from_video: tuple[int, ...]
    from_stored: tuple[int, ...]
    left_out: tuple[int, ...]

    def summary(self) -> dict[str, int]:
        """Tracks per origin, for the model card."""
        return {"video": len(self.from_video), "stored": len(self.from_stored), "left_out": len(self.left_out)}


def load_training_crops(db: Database, track_ids: list[int], per_track: int,
                        progress: Callable[[int, int], None] | None = None) -> TrainingCrops:
    """Up to ``per_track`` crops of each track spread over its time in view: cut from its source's video when the
    file is there, else taken from the crops stored at ingest (live cameras; a video gone); logged per source."""
    with db.session() as s:
        plan = plan_crops(s, track_ids, per_track)
        paths = source_paths(s, list(plan))
        no_video = sorted({r.track_id for sid, reqs in plan.items() if paths.get(sid) is None for r in reqs})
        stored = track_crops(s, no_video)
        q = select(m.Source.id, m.Source.uri).where(m.Source.id.in_(list(plan)))
        uris = {int(i): str(u) for i, u in s.execute(q)}  # a live camera's URL is stored without credentials
    crops: list[np.ndarray] = []
    kps: list[np.ndarray] = []
    owner: list[int] = []
    video_t: set[int] = set()
    stored_t: set[int] = set()
    left: set[int] = set()
    total = sum(len(v) for v in plan.values())
    for sid, requests in sorted(plan.items()):
        path = paths.get(sid)
        if path is not None:
            for r, crop, kp in read_crops(path, requests):
                crops.append(crop)
                kps.append(kp)
                owner.append(r.track_id)
                video_t.add(r.track_id)
        else:
            tids = sorted({r.track_id for r in requests})
            n_before = len(crops)
            for tid in tids:
                rows = stored.get(tid, [])
                for i in spread(len(rows), per_track):
                    got = decode_crop(rows[int(i)])
                    if got is not None:
                        crops.append(got[0])
                        kps.append(got[1])
                        owner.append(tid)
                        stored_t.add(tid)
                if tid not in stored_t:
                    left.add(tid)
            n_left = len([t for t in tids if t in left])
            log.info("source %d (%s, no video file): %d tracks from %d crops stored at ingest", sid,
                     uris.get(sid, "?"), len(tids) - n_left, len(crops) - n_before)
            log.debug("source %d: tracks from stored crops: %s", sid, [t for t in tids if t not in left])
            if n_left:
                log.warning("source %d (%s): no video file and no stored crops for %d tracks: they are left out",
                            sid, uris.get(sid, "?"), n_left)
        if progress is not None:
            progress(len(crops), total)
    return TrainingCrops(crops, kps, np.array(owner, np.int64), tuple(sorted(video_t)), tuple(sorted(stored_t)),
                         tuple(sorted(left)))


def pick_stored(crops: list[TrackCrop], k: int, min_gap: int = 3) -> list[TrackCrop]:
    """The ``k`` best stored crops by quality, at least ``min_gap`` frames apart (as ingest picks its samples),
    by frame. Pure."""
    chosen: list[TrackCrop] = []
    for c in sorted(crops, key=lambda c: (-c.quality, c.frame)):
        if len(chosen) >= k:
            break
        if all(abs(c.frame - o.frame) >= min_gap for o in chosen):
            chosen.append(c)
    return sorted(chosen, key=lambda c: c.frame)
