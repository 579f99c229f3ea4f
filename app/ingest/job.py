"""Ingesting one video file: validate, recognise re-runs, decode -> detect -> track -> embed -> store."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from app.errors import UserError
from app.ingest.overlap import DetectAhead, overlap_default
from app.ingest.pipeline import CameraProcessor, EncoderLike
from app.ingest.resume import close_unfinished_tracks
from app.ingest.tracklife import frame_time
from app.ingest.video import FrameReader, content_hash, probe_video
from app.ops.metrics import track_processor
from app.store import Database, repo
from trackers.types import Detector, Tracker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    """Outcome of ingesting one video: its source row, status, counts and the ids of the tracks written."""

    source_id: int
    status: str  # complete | incomplete | skipped
    frames: int
    tracks: int
    embeddings: int
    message: str
    track_ids: tuple[int, ...] = ()


class AlreadyIngestedError(UserError):
    """The file is in the store under another camera; each front end says how to redo it (``force``)."""

    def __init__(self, message: str, *, camera: str) -> None:
        super().__init__(message)
        self.camera = camera


ProgressFn = Callable[[int, int], None]  # (frames done, frames total)


def ingest_video(
    db: Database, path: str | Path, *, camera: str, detector: Detector, tracker: Tracker, encoder: EncoderLike,
    start: datetime | None = None, fps: float | None = None, force: bool = False, batch_frames: int = 1,
    samples_per_track: int = 6, flush_every: int = 25, progress: ProgressFn | None = None,
    settings: dict | None = None, max_frames: int | None = None, close_after_s: float = 4.0,
    overlap: bool | None = None, training_crops: int = 0, drop_scenery: bool = True,
    refind_after_s: float | None = None,
) -> IngestResult:
    """Ingest one file into the store. Ctrl-C (KeyboardInterrupt) commits what was processed, marks the
    source incomplete and re-raises; a second run resumes after the last stored frame. ``overlap`` runs
    detection on its own thread ahead of tracking and writes (None: ``overlap_default()``). ``training_crops``: crops
    kept per track for adaptation (0: none, the video is re-read; ``app.ingest.training_crops``)."""
    info = probe_video(path)
    fps = fps or info.fps
    digest = content_hash(info.path)
    resume_from = 0
    offset = 0
    with db.session() as s:
        existing = repo.find_source_by_hash(s, digest)
        if existing is not None and existing.status == "complete" and not force:
            return IngestResult(existing.id, "skipped", 0, 0, 0,
                                f"{info.path.name} was already ingested as source {existing.id} "
                                f"(camera {existing.camera}); nothing to do")
        if existing is not None and (force or existing.camera != camera):
            if existing.camera != camera and not force:
                raise AlreadyIngestedError(f"{info.path.name} was ingested as camera {existing.camera!r}, not "
                                           f"{camera!r}; it can be redone under {camera!r}", camera=camera)
            repo.delete_source(s, existing.id)
            existing = None
        cam = repo.get_or_create_camera(s, camera, kind="file")
        if existing is not None:
            source = existing
            resume_from = repo.last_frame_of_source(s, source.id) + 1
            offset = repo.max_local_id(s, source.id)
            log.info("resuming source %d (%s) at frame %d", source.id, info.path.name, resume_from)
        else:
            if start is None:
                start = datetime.fromtimestamp(info.path.stat().st_mtime, timezone.utc)
                log.info("no --start given: using the file's modification time %s as the start time",
                         start.isoformat(timespec="seconds"))
            source = repo.create_source(
                s, camera_id=cam.id, uri=str(info.path.resolve()), content_hash=digest, start_time=start, fps=fps,
                frame_count=info.frame_count, width=info.width, height=info.height, settings=settings or {},
            )
    t0 = source.start_time
    if resume_from > 0:
        close_unfinished_tracks(db, source.id, info, encoder, samples_per_track=samples_per_track)
    proc = CameraProcessor(db=db, camera_id=cam.id, source_id=source.id, tracker=tracker, encoder=encoder,
                           samples_per_track=samples_per_track, close_after_s=close_after_s,
                           local_id_offset=offset, training_crops=training_crops, drop_scenery=drop_scenery,
                           refind_after_s=refind_after_s)
    track_processor(camera, proc)  # --metrics-port: frames, detections, tracks of this camera
    total = info.frame_count or 0
    done = resume_from
    try:
        threaded = overlap_default() if overlap is None else overlap
        with FrameReader(info, start_frame=resume_from) as reader, DetectAhead(
            reader, detector, batch_frames=batch_frames, max_frames=max_frames, threaded=threaded
        ) as ahead:
            for batch, dets in ahead:
                done = _track_batch(proc, batch, dets, t0, fps) + 1
                if len(batch) == batch_frames and proc.stats.frames % flush_every == 0:
                    proc.flush(done)
                if progress:
                    progress(done, total)
            stopped_early = ahead.stopped_early
            error = reader.error
    except KeyboardInterrupt:
        _write_all(proc, done, "incomplete")
        log.warning("interrupted at frame %d: what was processed is stored; run the same command again to resume",
                    done)
        raise
    except BaseException:
        _write_all(proc, done, "incomplete")
        raise
    status = "incomplete" if stopped_early else "complete"
    _write_all(proc, done, status)
    msg = f"{info.path.name}: {proc.stats.frames} frames, {proc.stats.tracks_closed} tracks, " \
          f"{proc.stats.embeddings} embeddings stored as source {source.id} (camera {camera})"
    if proc.stats.clutter_dropped:
        n = proc.stats.clutter_dropped
        msg += f"; {n} track{'s' if n != 1 else ''} of scenery left out (still, unsure detections)"
    if proc.stats.refinds_split:
        n = proc.stats.refinds_split
        msg += f"; {n} refind{'s' if n != 1 else ''} after more than {proc.refind_after_s:g} s unseen split off as " \
               "new tracks (stitching and linking decide whether each is the same person)"
        if proc.stats.refinds_unconfirmed:
            msg += f", {proc.stats.refinds_unconfirmed} of them lost again at once and left out"
    if proc.stats.scenery_cuts:
        n = proc.stats.scenery_cuts
        msg += f"; {n} stretch{'es' if n != 1 else ''} of scenery cut out of people's tracks"
    if error:
        log.warning("%s: %s; the frames before it are stored", info.path.name, error)
        msg += f"; warning: {error}"
    return IngestResult(source.id, status, proc.stats.frames, proc.stats.tracks_closed, proc.stats.embeddings, msg,
                        tuple(proc.stats.closed_track_ids))


def _write_all(proc: CameraProcessor, done: int, status: str, *, tries: int = 6) -> None:
    """Close every open track and write all that is buffered, retrying a store that stays busy."""
    for attempt in range(tries):
        if proc.close_all(done, status=status):
            return
        time.sleep(min(8.0, 0.5 * 2**attempt))
    raise UserError(f"could not write to the store after {tries} attempts (another program holds it); "
                    f"{proc.buffered} buffered items not stored; run the same command again to resume")


def _track_batch(proc: CameraProcessor, batch: list, dets: list, t0: datetime, fps: float) -> int:
    for fr, d in zip(batch, dets, strict=True):
        proc.process(fr.index, fr.image, d, frame_time(t0, fr.index, fps))
    return batch[-1].index
