"""Ingesting one video file: validate, recognise re-runs, decode -> detect -> track -> embed -> store."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from app.errors import UserError
from app.ingest.pipeline import CameraProcessor, EncoderLike, frame_time
from app.ingest.video import FrameReader, content_hash, probe_video
from app.store import Database, repo
from trackers.types import Detector, Tracker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    source_id: int
    status: str  # complete | incomplete | skipped
    frames: int
    tracks: int
    embeddings: int
    message: str
    track_ids: tuple[int, ...] = ()


ProgressFn = Callable[[int, int], None]  # (frames done, frames total)


def ingest_video(
    db: Database, path: str | Path, *, camera: str, detector: Detector, tracker: Tracker, encoder: EncoderLike,
    start: datetime | None = None, fps: float | None = None, force: bool = False, batch_frames: int = 1,
    samples_per_track: int = 6, flush_every: int = 25, progress: ProgressFn | None = None,
    settings: dict | None = None, max_frames: int | None = None,
) -> IngestResult:
    """Ingest one file into the store. Ctrl-C (KeyboardInterrupt) commits what was processed, marks the
    source incomplete and re-raises; a second run resumes after the last stored frame."""
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
                                f"(camera {existing.camera}); nothing to do (use --force to redo it)")
        if existing is not None and (force or existing.camera != camera):
            if existing.camera != camera and not force:
                raise UserError(f"{info.path.name} was ingested as camera {existing.camera!r}, not {camera!r}; "
                                f"use --force to redo it under {camera!r}")
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
    proc = CameraProcessor(db=db, camera_id=cam.id, source_id=source.id, tracker=tracker, encoder=encoder,
                           samples_per_track=samples_per_track, close_after_frames=max(30, int(fps * 4)),
                           local_id_offset=offset)
    total = info.frame_count or 0
    done = resume_from
    try:
        with FrameReader(info, start_frame=resume_from) as reader:
            batch: list = []
            stopped_early = False
            for fr in reader:
                if max_frames is not None and fr.index >= max_frames:
                    stopped_early = True
                    break
                batch.append(fr)
                if len(batch) < batch_frames:
                    continue
                done = _process_batch(proc, detector, batch, t0, fps) + 1
                batch = []
                if proc.stats.frames % flush_every == 0:
                    proc.flush(done)
                if progress:
                    progress(done, total)
            if batch:
                done = _process_batch(proc, detector, batch, t0, fps) + 1
                if progress:
                    progress(done, total)
            error = reader.error
    except KeyboardInterrupt:
        proc.close_all(done, status="incomplete")
        log.warning("interrupted at frame %d: what was processed is stored; run the same command again to resume",
                    done)
        raise
    except BaseException:
        proc.close_all(done, status="incomplete")
        raise
    status = "incomplete" if stopped_early else "complete"
    proc.close_all(done, status=status)
    msg = f"{info.path.name}: {proc.stats.frames} frames, {proc.stats.tracks_closed} tracks, " \
          f"{proc.stats.embeddings} embeddings stored as source {source.id} (camera {camera})"
    if error:
        log.warning("%s: %s; the frames before it are stored", info.path.name, error)
        msg += f"; warning: {error}"
    return IngestResult(source.id, status, proc.stats.frames, proc.stats.tracks_closed, proc.stats.embeddings, msg,
                        tuple(proc.stats.closed_track_ids))


def _process_batch(proc: CameraProcessor, detector: Detector, batch: list, t0: datetime, fps: float) -> int:
    dets = detector.detect_batch([fr.image for fr in batch])
    for fr, d in zip(batch, dets, strict=True):
        proc.process(fr.index, fr.image, d, frame_time(t0, fr.index, fps))
    return batch[-1].index
