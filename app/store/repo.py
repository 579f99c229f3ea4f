"""Queries and writes over an open Session. Callers open the session; rows leave as dataclasses."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app.errors import UserError
from app.store import models as m
from app.store.records import (
    CameraInfo,
    ObservationRecord,
    SourceInfo,
    TrackEmbeddings,
    TrackInfo,
    as_utc,
)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def _naive_utc(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc).replace(tzinfo=None) if dt.tzinfo else dt


# ---------------------------------------------------------------- cameras and sources
def camera_info(c: m.Camera) -> CameraInfo:
    """A camera row as a ``CameraInfo``."""
    return CameraInfo(c.id, c.name, c.kind, c.url_redacted)


def get_or_create_camera(s: Session, name: str, *, kind: str = "file", url_redacted: str | None = None) -> CameraInfo:
    """The camera called ``name``, created if new; a changed redacted URL is updated."""
    from app.store.audit_log import append, subjects  # audited in the same transaction as the change

    cam = s.scalar(select(m.Camera).where(m.Camera.name == name))
    if cam is None:
        cam = m.Camera(name=name, kind=kind, url_redacted=url_redacted, created_at=_naive_utc(utcnow()))
        s.add(cam)
        s.flush()
        append(s, "camera", None, {"change": "added", "camera": name, "kind": kind, "url": url_redacted,
                                   "subjects": subjects(cameras=[name])})
    elif url_redacted and cam.url_redacted != url_redacted:
        append(s, "camera", None, {"change": "url", "camera": name, "url": url_redacted,
                                   "before": cam.url_redacted, "subjects": subjects(cameras=[name])})
        cam.url_redacted = url_redacted
    return camera_info(cam)


def list_cameras(s: Session) -> list[CameraInfo]:
    """Every camera, by name."""
    return [camera_info(c) for c in s.scalars(select(m.Camera).order_by(m.Camera.name))]


def camera_ids(s: Session, cameras: list[str] | None) -> list[int] | None:
    """Camera names -> ids (None stays None: every camera); an unknown name is a UserError listing the known ones."""
    if cameras is None:
        return None
    known = {c.name: c.id for c in list_cameras(s)}
    missing = [c for c in cameras if c not in known]
    if missing:
        raise UserError(f"unknown camera(s) {', '.join(missing)} (cameras: {', '.join(sorted(known)) or 'none'})")
    return [known[c] for c in cameras]


def camera_by_name(s: Session, name: str) -> CameraInfo | None:
    """The camera called ``name``, or None."""
    c = s.scalar(select(m.Camera).where(m.Camera.name == name))
    return camera_info(c) if c else None


def source_info(src: m.Source) -> SourceInfo:
    """A source row as a ``SourceInfo`` (times made UTC-aware)."""
    return SourceInfo(
        src.id, src.camera_id, src.camera.name, src.uri, src.content_hash, as_utc(src.start_time), src.fps,
        src.frame_count, src.width, src.height, src.status, src.frames_done,
    )


def find_source_by_hash(s: Session, content_hash: str) -> SourceInfo | None:
    """The newest source with this file hash (SHA-256 hex), or None."""
    src = s.scalar(select(m.Source).where(m.Source.content_hash == content_hash).order_by(m.Source.id.desc()))
    return source_info(src) if src else None


def create_source(
    s: Session, *, camera_id: int, uri: str, content_hash: str | None, start_time: datetime, fps: float,
    frame_count: int, width: int, height: int, settings: dict,
) -> SourceInfo:
    """Insert a source in status ``running`` with the ingest ``settings`` it was made with."""
    src = m.Source(
        camera_id=camera_id, uri=uri, content_hash=content_hash, start_time=_naive_utc(start_time), fps=fps,
        frame_count=frame_count, width=width, height=height, status="running", frames_done=0,
        settings=settings, created_at=_naive_utc(utcnow()),
    )
    s.add(src)
    s.flush()
    return source_info(src)


def set_source_progress(s: Session, source_id: int, *, frames_done: int, status: str | None = None) -> None:
    """Record how many frames of a source are stored, and optionally its new status."""
    values: dict = {"frames_done": frames_done}
    if status:
        values["status"] = status
    s.execute(update(m.Source).where(m.Source.id == source_id).values(**values))


def get_source(s: Session, source_id: int) -> SourceInfo | None:
    """The source with this id, or None."""
    src = s.get(m.Source, source_id)
    return source_info(src) if src else None


def list_sources(s: Session, camera_id: int | None = None) -> list[SourceInfo]:
    """Sources (of one camera, or all), by start time."""
    q = select(m.Source).order_by(m.Source.start_time)
    if camera_id is not None:
        q = q.where(m.Source.camera_id == camera_id)
    return [source_info(x) for x in s.scalars(q)]


def delete_source(s: Session, source_id: int) -> None:
    """Remove a source and everything derived from it (used by ``ingest --force``)."""
    track_ids = select(m.Track.id).where(m.Track.source_id == source_id)
    s.execute(delete(m.Embedding).where(m.Embedding.track_id.in_(track_ids)))
    s.execute(delete(m.TrackDescriptor).where(m.TrackDescriptor.track_id.in_(track_ids)))
    from app.store.descriptor_table import bump_epoch

    bump_epoch(s)  # search indexes rebuild
    s.execute(delete(m.Observation).where(m.Observation.track_id.in_(track_ids)))
    s.execute(delete(m.Match).where(m.Match.track_a.in_(track_ids) | m.Match.track_b.in_(track_ids)))
    s.execute(delete(m.Track).where(m.Track.source_id == source_id))
    s.execute(delete(m.Source).where(m.Source.id == source_id))


# ---------------------------------------------------------------- tracks and observations
def cut_frames(s: Session, track_id: int, ranges: Sequence[tuple[int, int]]) -> bool:
    """Remove a closing track's observations in the inclusive frame ``ranges`` (scenery it held before or after
    a person, ``trackers.clutter``) and recompute its span from the observations left; False when none is left
    (the caller removes the track)."""
    for first, last in ranges:
        s.execute(delete(m.Observation).where(m.Observation.track_id == int(track_id),
                                              m.Observation.frame.between(int(first), int(last))))
    lo, hi, t0, t1, n = s.execute(
        select(func.min(m.Observation.frame), func.max(m.Observation.frame), func.min(m.Observation.t),
               func.max(m.Observation.t), func.count()).where(m.Observation.track_id == int(track_id))).one()
    tr = s.get(m.Track, int(track_id))
    if tr is None or not n:
        return False
    tr.first_frame, tr.last_frame, tr.start_time, tr.end_time, tr.n_obs = int(lo), int(hi), t0, t1, int(n)
    return True


def delete_open_tracks(s: Session, track_ids: Sequence[int]) -> None:
    """Remove tracks that closed as scenery (``trackers.clutter``) or as unconfirmed refinds
    (``app.ingest.tracklife.unconfirmed_refind``) with their observations: written while they were open, they
    have no embeddings, crops, stays or matches yet."""
    if not track_ids:
        return
    ids = [int(t) for t in track_ids]
    s.execute(delete(m.Observation).where(m.Observation.track_id.in_(ids)))
    s.execute(delete(m.Track).where(m.Track.id.in_(ids)))


def track_info(t: m.Track, camera: str) -> TrackInfo:
    """A track row and its camera's name as a ``TrackInfo``."""
    return TrackInfo(
        t.id, t.source_id, t.camera_id, camera, t.local_id, t.stay_id, t.identity_id, t.first_frame,
        t.last_frame, as_utc(t.start_time), as_utc(t.end_time), t.n_obs,
    )


def max_local_id(s: Session, source_id: int) -> int:
    """The highest tracker id stored for a source (0 when none): resumed ingests number after it."""
    return int(s.scalar(select(func.max(m.Track.local_id)).where(m.Track.source_id == source_id)) or 0)


def last_frame_of_source(s: Session, source_id: int) -> int:
    """The last frame index with an observation in a source (-1 when none)."""
    v = s.scalar(
        select(func.max(m.Observation.frame)).join(m.Track).where(m.Track.source_id == source_id)
    )
    return -1 if v is None else int(v)


def create_track(s: Session, *, source_id: int, camera_id: int, local_id: int, frame: int, t: datetime) -> int:
    """Insert an empty track starting at ``frame`` / ``t`` and return its id."""
    tr = m.Track(
        source_id=source_id, camera_id=camera_id, local_id=local_id, first_frame=frame, last_frame=frame,
        start_time=_naive_utc(t), end_time=_naive_utc(t), n_obs=0,
    )
    s.add(tr)
    s.flush()
    return tr.id


def add_observations(s: Session, rows: Sequence[ObservationRecord]) -> None:
    """Bulk insert observations and extend their tracks' time spans."""
    if not rows:
        return
    s.execute(
        m.Observation.__table__.insert(),
        [
            {
                "track_id": r.track_id, "frame": r.frame, "t": _naive_utc(r.t), "x1": r.box[0], "y1": r.box[1],
                "x2": r.box[2], "y2": r.box[3], "score": r.score,
                "keypoints": np.asarray(r.keypoints, np.float32).tobytes(), "predicted": int(r.predicted),
            }
            for r in rows
        ],
    )
    spans: dict[int, list] = {}
    for r in rows:
        sp = spans.setdefault(r.track_id, [r.frame, r.frame, r.t, r.t, 0])
        sp[0], sp[1] = min(sp[0], r.frame), max(sp[1], r.frame)
        sp[2], sp[3] = min(sp[2], r.t), max(sp[3], r.t)
        sp[4] += 1
    for tid, (f0, f1, t0, t1, n) in spans.items():
        tr = s.get(m.Track, tid)
        if tr is None:
            continue
        tr.first_frame, tr.last_frame = min(tr.first_frame, f0), max(tr.last_frame, f1)
        tr.start_time = min(tr.start_time, _naive_utc(t0))
        tr.end_time = max(tr.end_time, _naive_utc(t1))
        tr.n_obs += n


def set_thumbnail(s: Session, track_id: int, jpeg: bytes) -> None:
    """Store a track's thumbnail (JPEG bytes)."""
    s.execute(update(m.Track).where(m.Track.id == track_id).values(thumbnail=jpeg))


def get_thumbnail(s: Session, track_id: int) -> bytes | None:
    """A track's thumbnail JPEG, or None."""
    return s.scalar(select(m.Track.thumbnail).where(m.Track.id == track_id))


def list_tracks(
    s: Session, *, camera_id: int | None = None, source_id: int | None = None, identity_id: int | None = None,
    t_from: datetime | None = None, t_to: datetime | None = None, ids: Iterable[int] | None = None,
) -> list[TrackInfo]:
    """Tracks matching every filter given (time filters keep tracks overlapping the span), by start time."""
    q = select(m.Track, m.Camera.name).join(m.Camera, m.Camera.id == m.Track.camera_id)
    if camera_id is not None:
        q = q.where(m.Track.camera_id == camera_id)
    if source_id is not None:
        q = q.where(m.Track.source_id == source_id)
    if identity_id is not None:
        q = q.where(m.Track.identity_id == identity_id)
    if t_from is not None:
        q = q.where(m.Track.end_time >= _naive_utc(t_from))
    if t_to is not None:
        q = q.where(m.Track.start_time <= _naive_utc(t_to))
    if ids is not None:
        q = q.where(m.Track.id.in_(list(ids)))
    q = q.order_by(m.Track.start_time, m.Track.id)
    return [track_info(t, cam) for t, cam in s.execute(q)]


def observations(s: Session, track_ids: Sequence[int]) -> list[ObservationRecord]:
    """Every observation of the tracks, by track then frame; keypoints (17, 3) float32."""
    q = (
        select(m.Observation)
        .where(m.Observation.track_id.in_(list(track_ids)))
        .order_by(m.Observation.track_id, m.Observation.frame)
    )
    return [
        ObservationRecord(
            o.track_id, o.frame, as_utc(o.t), (o.x1, o.y1, o.x2, o.y2), o.score,
            np.frombuffer(o.keypoints, np.float32).reshape(17, 3), bool(o.predicted),
        )
        for o in s.scalars(q)
    ]


def set_stay_ids(s: Session, mapping: dict[int, int]) -> None:
    """Set each track's stay id (track id -> stay id)."""
    for tid, stay in mapping.items():
        s.execute(update(m.Track).where(m.Track.id == tid).values(stay_id=stay))


# ---------------------------------------------------------------- embeddings
def add_embeddings(
    s: Session, track_id: int, frames: Sequence[int], quality: Sequence[float], global_feat: np.ndarray,
    parts: np.ndarray, visibility: np.ndarray, model_tag: str,
) -> None:
    """Store S samples: global_feat (S, Dg), parts (S, P, Dp), visibility (S, P) bool, as float16 blobs."""
    rows = []
    for i, frame in enumerate(frames):
        bits = int(sum(1 << j for j, v in enumerate(visibility[i]) if v))
        rows.append({
            "track_id": track_id, "frame": int(frame), "quality": float(quality[i]),
            "global_feat": np.asarray(global_feat[i], np.float16).tobytes(),
            "parts": np.asarray(parts[i], np.float16).tobytes(), "visibility": bits, "model_tag": model_tag,
        })
    if rows:
        s.execute(m.Embedding.__table__.insert(), rows)
        from app.store.descriptor_table import write_track  # aggregation maths: reid_core.track_descriptors

        write_track(s, track_id, global_feat, parts, visibility, model_tag)


def track_embeddings(s: Session, track_ids: Sequence[int] | None = None) -> dict[int, TrackEmbeddings]:
    """Every stored sample, grouped by track. Part vectors are reshaped from their stored dims."""
    q = select(m.Embedding).order_by(m.Embedding.track_id, m.Embedding.id)
    if track_ids is not None:
        q = q.where(m.Embedding.track_id.in_(list(track_ids)))
    grouped: dict[int, list[m.Embedding]] = {}
    for e in s.scalars(q):
        grouped.setdefault(e.track_id, []).append(e)
    out: dict[int, TrackEmbeddings] = {}
    for tid, es in grouped.items():
        g = np.stack([np.frombuffer(e.global_feat, np.float16) for e in es]).astype(np.float32)
        flat = np.stack([np.frombuffer(e.parts, np.float16) for e in es]).astype(np.float32)
        n_parts = _infer_parts(es[0], flat.shape[1])
        parts = flat.reshape(len(es), n_parts, -1)
        vis = np.array([[bool(e.visibility >> j & 1) for j in range(n_parts)] for e in es])
        out[tid] = TrackEmbeddings(tid, g, parts, vis, np.array([e.quality for e in es], np.float32))
    return out


def _infer_parts(e: m.Embedding, flat_dim: int) -> int:
    tag = e.model_tag
    for piece in tag.split(";"):
        if piece.startswith("parts="):
            return int(piece.split("=", 1)[1])
    return 3 if flat_dim % 3 == 0 else 1


# ---------------------------------------------------------------- settings
def get_setting(s: Session, key: str) -> dict | None:
    """The stored setting ``key``, or None."""
    row = s.get(m.Setting, key)
    return row.value if row else None


def put_setting(s: Session, key: str, value: dict) -> None:
    """Insert or replace the setting ``key``."""
    row = s.get(m.Setting, key)
    if row is None:
        s.add(m.Setting(key=key, value=value))
    else:
        row.value = value
