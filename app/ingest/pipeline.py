"""Per-camera processing: detections -> tracks -> observations, best samples -> embeddings -> store.

``CameraProcessor`` is shared by file ingest (app.ingest.job) and live cameras (app.live): it owns one
camera's tracker, buffers observations and writes them in batched commits, keeps each open track's
best samples and embeds them, batched across tracks, when the track closes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import cv2
import numpy as np

from app.ingest.sampling import Sample, TrackSampler, crop_box, overlap_with_others, sample_quality, sharpness
from app.store import Database, repo
from app.store.records import ObservationRecord
from trackers.types import Detections, Tracker, Tracks

log = logging.getLogger(__name__)
THUMB_HEIGHT = 128


class EncoderLike(Protocol):
    device: str

    def encode(self, crops: list[np.ndarray], keypoints: list[np.ndarray | None]) -> object: ...


def model_tag(encoder: object) -> str:
    """A short description of the encoder stored with each embedding (backbone, weights, parts, mode)."""
    info = getattr(encoder, "weights_info", None)
    parts = getattr(getattr(encoder, "model", None), "parts", None)
    bits = ["pgfa"]
    if info is not None:
        bits += [f"backbone={getattr(info, 'backbone', '?')}", f"source={getattr(info, 'source', '?')}"]
        mode = getattr(info, "feature_mode", None) or getattr(encoder, "feature_mode", None)
        if mode:
            bits.append(f"mode={mode}")
    if parts:
        bits.append(f"parts={parts}")
    return ";".join(bits)


def thumbnail_jpeg(crop_bgr: np.ndarray) -> bytes | None:
    if crop_bgr.size == 0:
        return None
    h, w = crop_bgr.shape[:2]
    scale = THUMB_HEIGHT / max(h, 1)
    img = cv2.resize(crop_bgr, (max(1, round(w * scale)), THUMB_HEIGHT), interpolation=cv2.INTER_LINEAR)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 88])
    return buf.tobytes() if ok else None


@dataclass
class _OpenTrack:
    local_id: int
    db_id: int | None
    last_frame: int
    sampler: TrackSampler


@dataclass
class ProcessorStats:
    frames: int = 0
    detections: int = 0
    observations: int = 0
    tracks_closed: int = 0
    embeddings: int = 0
    closed_track_ids: list[int] = field(default_factory=list)


class CameraProcessor:
    """One camera's tracker and its path into the store. Not thread-safe: one processing thread owns it."""

    def __init__(
        self, *, db: Database, camera_id: int, source_id: int, tracker: Tracker, encoder: EncoderLike,
        samples_per_track: int = 6, close_after_frames: int = 60, local_id_offset: int = 0,
        embed_batch: int = 32,
    ) -> None:
        self.db = db
        self.camera_id = camera_id
        self.source_id = source_id
        self.tracker = tracker
        self.encoder = encoder
        self.samples_per_track = samples_per_track
        self.close_after = close_after_frames
        self.offset = local_id_offset
        self.embed_batch = embed_batch
        self.tag = model_tag(encoder)
        self.stats = ProcessorStats()
        self._open: dict[int, _OpenTrack] = {}
        self._obs: list[tuple[int, ObservationRecord]] = []  # (local_id, record with track_id=0)
        self._closing: list[_OpenTrack] = []
        self._first_seen: dict[int, tuple[int, datetime]] = {}

    # ------------------------------------------------------------------ per frame
    def process(self, frame_index: int, image: np.ndarray, detections: Detections, t: datetime) -> Tracks:
        features = None
        if getattr(self.tracker, "needs_features", False) and len(detections):
            features = self._detection_features(image, detections)
        tracks = self.tracker.update(detections, image, features)
        self.stats.frames += 1
        self.stats.detections += len(detections)
        fh, fw = image.shape[:2]
        overlaps = overlap_with_others(tracks.boxes) if len(tracks) else np.zeros(0)
        for i in range(len(tracks)):
            local = int(tracks.ids[i]) + self.offset
            box = tracks.boxes[i]
            kps = tracks.keypoints[i]
            ot = self._open.get(local)
            if ot is None:
                ot = _OpenTrack(local, None, frame_index, TrackSampler(k=self.samples_per_track, min_gap=3))
                self._open[local] = ot
                self._first_seen[local] = (frame_index, t)
            ot.last_frame = frame_index
            predicted = bool(tracks.det_index[i] < 0)
            rec = ObservationRecord(0, frame_index, t, tuple(float(v) for v in box), float(tracks.scores[i]),
                                    kps, predicted)
            self._obs.append((local, rec))
            if not predicted:
                self._consider_sample(ot, frame_index, image, box, kps, float(overlaps[i]), (fh, fw))
        for local in [k for k, ot in self._open.items() if frame_index - ot.last_frame > self.close_after]:
            self._closing.append(self._open.pop(local))
        return tracks

    def _consider_sample(self, ot: _OpenTrack, frame: int, image: np.ndarray, box: np.ndarray, kps: np.ndarray,
                         overlap: float, frame_hw: tuple[int, int]) -> None:
        # cheap score first; the crop and its sharpness only when the sample could be kept
        rough = sample_quality(box, kps, overlap, 300.0, frame_hw)
        if not ot.sampler.would_take(frame, rough):
            return
        crop, cut = crop_box(image, box)
        if crop.shape[0] < 8 or crop.shape[1] < 4:
            return
        q = sample_quality(box, kps, overlap, sharpness(crop), frame_hw)
        local_kps = kps.copy()
        local_kps[:, 0] -= cut[0]
        local_kps[:, 1] -= cut[1]
        ot.sampler.add(Sample(frame, q, crop, local_kps))

    def _detection_features(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        crops, kps = [], []
        for box, kp in zip(detections.boxes, detections.keypoints, strict=True):
            crop, cut = crop_box(image, box)
            if crop.size == 0:
                crop = np.zeros((16, 8, 3), np.uint8)
            local = kp.copy()
            local[:, 0] -= cut[0]
            local[:, 1] -= cut[1]
            crops.append(crop[:, :, ::-1])
            kps.append(local)
        emb = self.encoder.encode(crops, kps)
        return np.asarray(emb.global_feat, np.float32)  # type: ignore[attr-defined]

    def open_track_samples(self, min_samples: int = 1) -> dict[int, list[Sample]]:
        """Tracker id -> the best samples kept so far, for tracks still open (live re-identification)."""
        return {ot.local_id - self.offset: list(ot.sampler.samples) for ot in self._open.values()
                if len(ot.sampler.samples) >= min_samples}

    # ------------------------------------------------------------------ writing
    def flush(self, frames_done: int | None = None, *, status: str | None = None) -> None:
        """Write buffered observations and the tracks that closed; one transaction."""
        closing, self._closing = self._closing, []
        with self.db.session() as s:
            ids: dict[int, int] = {}
            for local, _ in self._obs:
                ot = self._open.get(local) or next((c for c in closing if c.local_id == local), None)
                if ot is None:
                    continue
                if ot.db_id is None:
                    f0, t0 = self._first_seen[local]
                    ot.db_id = repo.create_track(s, source_id=self.source_id, camera_id=self.camera_id,
                                                 local_id=local, frame=f0, t=t0)
                ids[local] = ot.db_id
            rows = [ObservationRecord(ids[loc], r.frame, r.t, r.box, r.score, r.keypoints, r.predicted)
                    for loc, r in self._obs if loc in ids]
            repo.add_observations(s, rows)
            self.stats.observations += len(rows)
            self._obs = []
            self._write_closed(s, closing)
            if frames_done is not None:
                repo.set_source_progress(s, self.source_id, frames_done=frames_done, status=status)

    def _write_closed(self, s: object, closing: list[_OpenTrack]) -> None:
        closing = [c for c in closing if c.db_id is not None]
        if not closing:
            return
        batch: list[tuple[_OpenTrack, Sample]] = [(c, smp) for c in closing for smp in c.sampler.samples]
        for start in range(0, len(batch), self.embed_batch):
            part = batch[start:start + self.embed_batch]
            emb = self.encoder.encode([smp.crop_bgr[:, :, ::-1] for _, smp in part], [smp.keypoints for _, smp in part])
            by_track: dict[int, list[int]] = {}
            for j, (c, _) in enumerate(part):
                by_track.setdefault(c.db_id, []).append(j)  # type: ignore[arg-type]
            for tid, rows in by_track.items():
                idx = np.array(rows)
                repo.add_embeddings(
                    s, tid, [part[j][1].frame for j in rows], [part[j][1].quality for j in rows],
                    np.asarray(emb.global_feat)[idx], np.asarray(emb.parts)[idx],  # type: ignore[attr-defined]
                    np.asarray(emb.visibility)[idx], self.tag,  # type: ignore[attr-defined]
                )
                self.stats.embeddings += len(rows)
        for c in closing:
            best = c.sampler.best()
            if best is not None:
                jpeg = thumbnail_jpeg(best.crop_bgr)
                if jpeg:
                    repo.set_thumbnail(s, c.db_id, jpeg)  # type: ignore[arg-type]
            self.stats.tracks_closed += 1
            self._first_seen.pop(c.local_id, None)
            self.stats.closed_track_ids.append(c.db_id)  # type: ignore[arg-type]

    def close_all(self, frames_done: int | None = None, *, status: str | None = None) -> None:
        """Close every open track (end of video, Ctrl-C, camera stopped) and write everything."""
        self._closing.extend(self._open.values())
        self._open.clear()
        self.flush(frames_done, status=status)


def frame_time(start: datetime, frame_index: int, fps: float) -> datetime:
    return start + timedelta(seconds=frame_index / fps)
