"""Per-camera processing: detections -> tracks -> observations, best samples -> embeddings -> store.

``CameraProcessor`` is shared by file ingest (app.ingest.job) and live cameras (app.live): it owns one
camera's tracker, buffers observations and writes them in batched commits, keeps each open track's
best samples and embeds them, batched across tracks, when the track closes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

import numpy as np
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.ingest.sampling import (
    Sample,
    TrackSampler,
    crop_box,
    overlap_with_others,
    sample_quality,
    sharpness,
    thumbnail_jpeg,
)
from app.ingest.scenery import apply_scenery, log_scenery
from app.ingest.tracklife import LocalIds, expired, is_gap, keep_newest, long_refind, unconfirmed_refind
from app.ingest.training_crops import CropReservoir, new_reservoir, write_track_crops
from app.ops.metrics import timed_write
from app.store import Database, repo
from app.store.records import ObservationRecord
from trackers.clutter import Cut, SceneryWatch, patch
from trackers.types import Detections, Tracker, Tracks

log = logging.getLogger(__name__)


class EncoderLike(Protocol):
    """What the pipeline needs of a re-ID encoder: its device and a batch ``encode``."""

    device: str

    def encode(self, crops: list[np.ndarray], keypoints: list[np.ndarray | None]) -> object:
        """Embed RGB crops (H, W, 3) with keypoints (17, 3) in crop coordinates; returns an object with
        ``global_feat`` (N, Dg), ``parts`` (N, P, Dp) and ``visibility`` (N, P)."""
        ...


def model_tag(encoder: object) -> str:
    """A short description of the encoder stored with each embedding (backbone, weights, parts, mode)."""
    info = getattr(encoder, "weights_info", None)
    parts = getattr(encoder, "parts", None) or getattr(getattr(encoder, "model", None), "parts", None)
    bits = ["pgfa"]
    if info is not None:
        bits += [f"backbone={getattr(info, 'backbone', '?')}", f"source={getattr(info, 'source', '?')}"]
        mode = getattr(info, "feature_mode", None) or getattr(encoder, "feature_mode", None)
        if mode:
            bits.append(f"mode={mode}")
    if parts:
        bits.append(f"parts={parts}")
    colour = getattr(encoder, "colour_cue", None)
    if isinstance(colour, str):
        bits.append(f"colour={colour}")  # the last two stripes are colour (reid_core.colour)
    path = getattr(info, "path", None)
    if getattr(info, "source", None) == "checkpoint" and path is not None:
        bits.append(f"weights={getattr(path, 'name', path)}")  # an adapted or trained checkpoint, by file name
    return ";".join(bits)


@dataclass
class _OpenTrack:
    local_id: int
    db_id: int | None
    last_frame: int
    sampler: TrackSampler
    tracker_id: int = 0
    first_frame: int = 0
    first_t: datetime | None = None
    last_t: datetime | None = None
    seen_t: datetime | None = None  # the last frame with a detection (last_t also counts the tracker's predictions)
    embedded: _Embedded | None = None  # computed once, before the transaction that writes the closed track
    crops: CropReservoir | None = None  # training crops, kept when the video is not (app.ingest.training_crops)
    scenery: SceneryWatch = field(default_factory=SceneryWatch)  # trackers.clutter: decided when the track closes
    drop: bool = False  # the whole track is scenery, or an unconfirmed refind
    refound: bool = False  # opened by a long refind (tracklife.long_refind)
    detections: int = 0  # frames with a detection (not the tracker's predictions)
    cuts: list[Cut] = field(default_factory=list)  # still, unsure stretches cut out of a person's track
    @property
    def unconfirmed(self) -> bool:  # left out: a refind part lost again at once (tracklife.unconfirmed_refind)
        return unconfirmed_refind(self.refound, self.detections)


@dataclass(frozen=True)
class _Embedded:
    frames: list[int]
    qualities: list[float]
    global_feat: np.ndarray
    parts: np.ndarray
    visibility: np.ndarray


@dataclass
class ProcessorStats:
    """Running counts of one ``CameraProcessor`` and the store ids of the tracks it closed."""

    frames: int = 0
    detections: int = 0
    observations: int = 0
    tracks_closed: int = 0
    embeddings: int = 0
    closed_track_ids: list[int] = field(default_factory=list)
    flush_failures: int = 0  # failed writes (each retried by the next flush)
    rows_dropped: int = 0  # observations given up because the buffer bound was reached while the store failed
    tracker_resets: int = 0  # gaps in the frames (camera outage or stall) after which the tracker started afresh
    clutter_dropped: int = 0  # closed tracks of scenery (trackers.clutter), removed from the store
    scenery_cuts: int = 0  # still, unsure stretches cut out of the tracks of people
    refinds_split: int = 0  # tracks found again after refind_after_s unseen, split off as new tracks
    refinds_unconfirmed: int = 0  # of those new tracks, the ones lost again at once and left out


class CameraProcessor:
    """One camera's tracker and its path into the store. Not thread-safe: one processing thread owns it.

    A track closes when it has not been seen for ``close_after_s`` seconds of frame time; a gap that long
    between two frames (a camera outage or stall) closes every open track and resets the tracker. Local ids
    come from :class:`app.ingest.tracklife.LocalIds`: a ``(source, local id)`` is never written twice, whatever
    ids the tracker hands out again. Writes are retried: a failed flush keeps its batch buffered (at most
    ``max_buffered_rows`` observations and ``max_closing`` closed tracks) for the next one.
    """

    def __init__(
        self, *, db: Database, camera_id: int, source_id: int, tracker: Tracker, encoder: EncoderLike,
        samples_per_track: int = 6, close_after_s: float = 4.0, local_id_offset: int = 0,
        embed_batch: int = 32, max_buffered_rows: int = 200_000, max_closing: int = 5_000,
        training_crops: int = 0, drop_scenery: bool = True, refind_after_s: float | None = None,
    ) -> None:
        if not close_after_s > 0:
            raise ValueError(f"close_after_s: expected > 0, got {close_after_s}")
        if refind_after_s is not None and not refind_after_s > 0:
            raise ValueError(f"refind_after_s: expected > 0 or None, got {refind_after_s}")
        self.db = db
        self.camera_id = camera_id
        self.source_id = source_id
        self.tracker = tracker
        self.encoder = encoder
        self.samples_per_track = samples_per_track
        self.close_after_s = float(close_after_s)
        self.offset = local_id_offset
        self.max_buffered_rows = max_buffered_rows
        self.max_closing = max_closing
        self.embed_batch = embed_batch
        self.training_crops = training_crops  # per track, for adaptation; 0 = none (the video is kept)
        self.drop_scenery = drop_scenery  # trackers.clutter: scenery tracks left out, stretches cut out
        self.refind_after_s = refind_after_s  # app.ingest.tracklife.long_refind (None: the tracker decides)
        self.tag = model_tag(encoder)
        self.stats = ProcessorStats()
        self._ids = LocalIds(local_id_offset)
        self._open: dict[int, _OpenTrack] = {}  # tracker id -> its open track
        self._obs: list[tuple[_OpenTrack, ObservationRecord]] = []  # records with track_id=0 until written
        self._closing: list[_OpenTrack] = []
        self._last_t: datetime | None = None

    # ------------------------------------------------------------------ per frame
    def process(self, frame_index: int, image: np.ndarray, detections: Detections, t: datetime) -> Tracks:
        """Track one BGR frame's detections, buffer the observations, keep the best crops per track and queue
        tracks unseen for ``close_after_s`` for writing; returns the tracker's output. Call ``flush`` to
        write."""
        if is_gap(self._last_t, t, self.close_after_s):
            self._end_all_open()
        self._last_t = t
        features = None
        if getattr(self.tracker, "needs_features", False) and len(detections):
            features = self._detection_features(image, detections)
        tracks = self.tracker.update(detections, image, features)
        self.stats.frames += 1
        self.stats.detections += len(detections)
        fh, fw = image.shape[:2]
        overlaps = overlap_with_others(tracks.boxes) if len(tracks) else np.zeros(0)
        for i in range(len(tracks)):
            tid = int(tracks.ids[i])
            box = tracks.boxes[i]
            kps = tracks.keypoints[i]
            predicted = bool(tracks.det_index[i] < 0)
            ot = self._open.get(tid)
            refound = ot is not None and not predicted and long_refind(ot.seen_t, t, self.refind_after_s)
            if refound:
                self._close(tid)
                self.stats.refinds_split += 1
                ot = None
            if ot is None:
                ot = _OpenTrack(self._ids.open(tid), None, frame_index,
                                TrackSampler(k=self.samples_per_track, min_gap=3), tracker_id=tid,
                                first_frame=frame_index, first_t=t, crops=new_reservoir(self.training_crops),
                                refound=refound)
                self._open[tid] = ot
            ot.last_frame = frame_index
            ot.last_t = t
            if not predicted:
                ot.seen_t = t
                ot.detections += 1
            rec = ObservationRecord(0, frame_index, t, tuple(float(v) for v in box), float(tracks.scores[i]),
                                    kps, predicted)
            self._obs.append((ot, rec))
            if not predicted:
                since = None
                if self.drop_scenery:
                    ot.scenery.add(frame_index, t.timestamp(), box, float(tracks.scores[i]), patch(image, box))
                    since = ot.scenery.scenery_since()
                if since is not None:  # standing on scenery: its crops would crowd out the person's
                    ot.sampler.samples = [x for x in ot.sampler.samples if x.frame < since]
                    if ot.crops is not None:
                        ot.crops.drop_frames(lambda f, since=since: f >= since)
                    continue
                self._consider_sample(ot, frame_index, image, box, kps, float(overlaps[i]), (fh, fw))
                if ot.crops is not None:
                    ot.crops.offer(frame_index, t, image, box, kps, float(overlaps[i]))
        seen = {k: ot.last_t for k, ot in self._open.items() if ot.last_t is not None}
        for tid in expired(seen, t, self.close_after_s):
            self._close(tid)
        self._bound()
        return tracks

    def _close(self, tracker_id: int) -> None:
        ot = self._open.pop(tracker_id)
        if self.drop_scenery:
            ot.drop, ot.cuts = ot.scenery.finish()
        if ot.unconfirmed:
            ot.drop, ot.cuts = True, []
        if ot.cuts:  # the samples and crops of a person's track come from the person only
            ot.sampler.samples = [x for x in ot.sampler.samples if not any(c.covers(x.frame) for c in ot.cuts)]
            if ot.crops is not None:
                ot.crops.drop_frames(lambda f: any(c.covers(f) for c in ot.cuts))
        if ot.crops is not None:
            ot.crops.finish()  # JPEG-encoded now, outside the write transaction; the raw crops are freed
        self._closing.append(ot)
        self._ids.close(tracker_id)

    def _end_all_open(self) -> None:
        """No frame for longer than a track lives: close every open track and start the tracker afresh."""
        for tid in list(self._open):
            self._close(tid)
        self._ids.close_all()
        self.tracker.reset()
        self.stats.tracker_resets += 1

    def _bound(self) -> None:
        if len(self._obs) > self.max_buffered_rows:
            self._obs, dropped = keep_newest(self._obs, self.max_buffered_rows)
            self.stats.rows_dropped += dropped
            log.error("source %d: the store has failed for a long time; %d buffered observations dropped "
                      "(bound %d)", self.source_id, dropped, self.max_buffered_rows)
        if len(self._closing) > self.max_closing:
            self._closing, dropped = keep_newest(self._closing, self.max_closing)
            log.error("source %d: %d closed tracks dropped unwritten (bound %d)", self.source_id, dropped,
                      self.max_closing)

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
        return {tid: list(ot.sampler.samples) for tid, ot in self._open.items()
                if len(ot.sampler.samples) >= min_samples}

    # ------------------------------------------------------------------ writing
    def flush(self, frames_done: int | None = None, *, status: str | None = None) -> bool:
        """Write buffered observations and the tracks that closed in one short transaction; True when written.

        The closed tracks' embeddings are computed first, outside the transaction (once per track). When the
        write fails (the store locked beyond its busy timeout, a full disk) nothing is lost: the batch stays
        buffered and the next flush writes it; False is returned and the error logged.
        """
        obs, closing = list(self._obs), list(self._closing)
        dropped = {id(c) for c in closing if c.drop}
        self._embed([c for c in closing if id(c) not in dropped])
        created: dict[int, int] = {}  # local id -> new track id; applied only once the commit succeeded
        try:
            with timed_write("flush"), self.db.session() as s:  # latency and errors: app.ops.metrics
                rows = []
                for ot, r in obs:
                    if id(ot) in dropped or any(c.covers(r.frame) for c in ot.cuts):
                        continue
                    track_id = ot.db_id or created.get(ot.local_id)
                    if track_id is None:
                        track_id = repo.create_track(s, source_id=self.source_id, camera_id=self.camera_id,
                                                     local_id=ot.local_id, frame=ot.first_frame,
                                                     t=ot.first_t or r.t)
                        created[ot.local_id] = track_id
                    rows.append(replace(r, track_id=track_id))
                repo.add_observations(s, rows)
                gone = apply_scenery(s, closing, created)
                closed = self._write_closed(s, [c for c in closing if id(c) not in gone], created)
                if frames_done is not None:
                    repo.set_source_progress(s, self.source_id, frames_done=frames_done, status=status)
        except SQLAlchemyError as exc:
            self.stats.flush_failures += 1
            log.warning("source %d: writing %d observations and %d closed tracks failed (%s); kept for the next "
                        "flush", self.source_id, len(obs), len(closing), _short(exc))
            return False
        for ot in [o for o, _ in obs] + closing:
            if ot.db_id is None:
                ot.db_id = created.get(ot.local_id)
        del self._obs[:len(obs)]
        del self._closing[:len(closing)]
        self.stats.observations += len(rows)
        self.stats.tracks_closed += len(closed)
        unconfirmed = sum(1 for c in closing if c.unconfirmed)
        self.stats.refinds_unconfirmed += unconfirmed
        self.stats.clutter_dropped += len(dropped) - unconfirmed
        self.stats.scenery_cuts += sum(len(c.cuts) for c in closing if id(c) not in dropped)
        log_scenery(self.source_id, closing)
        self.stats.embeddings += sum(len(c.embedded.frames) for c in closing if c.embedded and c.db_id)
        self.stats.closed_track_ids.extend(closed)
        return True

    def _embed(self, closing: list[_OpenTrack]) -> None:
        """Embed the best samples of closed tracks not embedded yet, batched across tracks."""
        todo = [c for c in closing if c.embedded is None]
        batch: list[tuple[_OpenTrack, Sample]] = [(c, smp) for c in todo for smp in c.sampler.samples]
        feats: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for start in range(0, len(batch), self.embed_batch):
            part = batch[start:start + self.embed_batch]
            emb = self.encoder.encode([smp.crop_bgr[:, :, ::-1] for _, smp in part], [smp.keypoints for _, smp in part])
            feats.append((np.asarray(emb.global_feat), np.asarray(emb.parts),  # type: ignore[attr-defined]
                          np.asarray(emb.visibility)))  # type: ignore[attr-defined]
        if feats:
            g, p, v = (np.concatenate([f[i] for f in feats]) for i in range(3))
        start = 0
        for c in todo:
            n = len(c.sampler.samples)
            rows = slice(start, start + n)
            start += n
            smp = c.sampler.samples
            c.embedded = _Embedded([x.frame for x in smp], [x.quality for x in smp],
                                   g[rows] if n else np.zeros(0), p[rows] if n else np.zeros(0),
                                   v[rows] if n else np.zeros(0))

    def _write_closed(self, s: Session, closing: list[_OpenTrack], created: dict[int, int]) -> list[int]:
        written = []
        for c in closing:
            track_id = c.db_id or created.get(c.local_id)
            if track_id is None:
                continue  # never seen in a written observation: nothing to close
            e = c.embedded
            if e is not None and e.frames:
                repo.add_embeddings(s, track_id, e.frames, e.qualities, e.global_feat, e.parts, e.visibility,
                                    self.tag)
            best = c.sampler.best()
            jpeg = thumbnail_jpeg(best.crop_bgr) if best is not None else None
            if jpeg:
                repo.set_thumbnail(s, track_id, jpeg)
            write_track_crops(s, track_id, c.crops)
            written.append(track_id)
        return written

    def close_all(self, frames_done: int | None = None, *, status: str | None = None) -> bool:
        """Close every open track (end of video, Ctrl-C, camera stopped) and write everything; True when
        written (False: the batch stays buffered, call again to retry)."""
        for tid in list(self._open):
            self._close(tid)
        return self.flush(frames_done, status=status)

    @property
    def buffered(self) -> int:
        """Observations and closed tracks waiting to be written."""
        return len(self._obs) + len(self._closing)


def _short(exc: BaseException) -> str:
    """One line about a store error (the driver's message, without SQLAlchemy's SQL and parameters)."""
    orig = getattr(exc, "orig", None)
    return f"{type(orig or exc).__name__}: {orig or exc}".splitlines()[0][:300]
