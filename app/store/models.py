"""SQLAlchemy 2.0 typed declarative models. Rows never leave app.store: queries return dataclasses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    """Ids are never reused (SQLite AUTOINCREMENT): decisions and reports refer to them."""


class Camera(Base):
    """A named camera: a video-file camera or an RTSP stream (URL kept without credentials)."""

    __tablename__ = "cameras"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="file")  # file | rtsp
    url_redacted: Mapped[str | None] = mapped_column(String(2000), default=None)  # never holds credentials
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # registered for `watch --node`: "env:VAR" or a URL without credentials (app.nodes.registry); else None
    stream_ref: Mapped[str | None] = mapped_column(String(2000), default=None)


class CameraLease(Base):
    """Which node watches a registered camera (one row per camera), its heartbeat, health and frames/s."""

    __tablename__ = "camera_leases"
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True)
    node: Mapped[str] = mapped_column(String(200), index=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # SQLite: free after this; PostgreSQL: display
    health: Mapped[str] = mapped_column(String(32), default="connecting")
    fps: Mapped[float] = mapped_column(Float, default=0.0)
    frames: Mapped[int] = mapped_column(Integer, default=0)


class Node(Base):
    """A ``watch --node`` process running now (its row goes when it stops; a dead one's row goes stale)."""

    __tablename__ = "nodes"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Source(Base):
    """One ingested video file (or one live session of a camera)."""

    __tablename__ = "sources"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    uri: Mapped[str] = mapped_column(String(4000))  # file path or redacted URL
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    fps: Mapped[float] = mapped_column(Float)
    frame_count: Mapped[int] = mapped_column(Integer, default=0)
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | complete | incomplete
    frames_done: Mapped[int] = mapped_column(Integer, default=0)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    camera: Mapped[Camera] = relationship()


class Identity(Base):
    """A person: the tracks linked to it, an optional name, and whether it is on the watchlist."""

    __tablename__ = "identities"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    watch: Mapped[int] = mapped_column(Integer, default=0)  # 1 = on the watchlist
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    hold: Mapped[int] = mapped_column(Integer, default=0)  # 1 = legal hold: retention never purges its tracks
    hold_reason: Mapped[str | None] = mapped_column(String(2000), default=None)


class Track(Base):
    """One tracker track: a continuous stay of a person in one camera's view (or a piece of one)."""

    __tablename__ = "tracks"
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    local_id: Mapped[int] = mapped_column(Integer)  # the tracker's id within the source
    stay_id: Mapped[int | None] = mapped_column(Integer, default=None)  # fragments joined across occlusions
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"), index=True)
    first_frame: Mapped[int] = mapped_column(Integer)
    last_frame: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    end_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)  # retention cuts on it
    n_obs: Mapped[int] = mapped_column(Integer, default=0)
    thumbnail: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # JPEG
    __table_args__ = (UniqueConstraint("source_id", "local_id"), {"sqlite_autoincrement": True})


class Observation(Base):
    """One box of a track in one frame, in pixels, with its 17 pose keypoints."""

    __tablename__ = "observations"
    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    frame: Mapped[int] = mapped_column(Integer)  # 0-based video frame index
    t: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    keypoints: Mapped[bytes] = mapped_column(LargeBinary)  # float32 (17, 3): x, y, confidence
    predicted: Mapped[int] = mapped_column(Integer, default=0)  # 1 = tracker prediction, no detection
    __table_args__ = (Index("ix_observations_track_frame", "track_id", "frame"), {"sqlite_autoincrement": True})


class Embedding(Base):
    """One re-ID sample of a track: global and per-part descriptors (float16), part visibility bits."""

    __tablename__ = "embeddings"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    frame: Mapped[int] = mapped_column(Integer)
    quality: Mapped[float] = mapped_column(Float)
    global_feat: Mapped[bytes] = mapped_column(LargeBinary)  # float16 (Dg,)
    parts: Mapped[bytes] = mapped_column(LargeBinary)  # float16 (P, Dp)
    visibility: Mapped[int] = mapped_column(Integer)  # bit i set = part i visible
    model_tag: Mapped[str] = mapped_column(String(200))


class TrackDescriptor(Base):
    """One aggregated PGFA descriptor per embedded track (reid_core.track_descriptors.aggregate_many of its samples),
    written with the samples; search and linking read it, never the samples. float16 unit rows; ``id`` grows
    with every write, so an index knows which rows it has not seen."""

    __tablename__ = "track_descriptors"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), unique=True)
    model_tag: Mapped[str] = mapped_column(String(200))
    n_samples: Mapped[int] = mapped_column(Integer)
    global_feat: Mapped[bytes] = mapped_column(LargeBinary)  # float16 (Dg,)
    parts: Mapped[bytes] = mapped_column(LargeBinary)  # float16 (P, Dp), a stripe never seen is zeros
    visibility: Mapped[int] = mapped_column(Integer)  # bit i set = stripe i seen in some sample


class TrackCrop(Base):
    """A training crop of a track whose video is not kept (app.store.crops): JPEG (height capped), the frame, the
    box cut from it (frame pixels) and the 17 keypoints in the JPEG's pixels. Goes with its track."""

    __tablename__ = "track_crops"
    __table_args__ = (UniqueConstraint("track_id", "frame", name="uq_track_crops_track_frame"),
                      {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    frame: Mapped[int] = mapped_column(Integer)
    x1: Mapped[int] = mapped_column(Integer)
    y1: Mapped[int] = mapped_column(Integer)
    x2: Mapped[int] = mapped_column(Integer)
    y2: Mapped[int] = mapped_column(Integer)
    quality: Mapped[float] = mapped_column(Float)
    keypoints: Mapped[bytes] = mapped_column(LargeBinary)  # float32 (17, 3) in the JPEG's pixels, confidence
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)


class Decision(Base):
    """An operator's decision; every linking run respects it."""

    __tablename__ = "decisions"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # confirm | reject | rename | merge | split
    track_a: Mapped[int | None] = mapped_column(Integer, default=None)
    track_b: Mapped[int | None] = mapped_column(Integer, default=None)
    identity_id: Mapped[int | None] = mapped_column(Integer, default=None)
    value: Mapped[str | None] = mapped_column(String(2000), default=None)
    who: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    undone: Mapped[int] = mapped_column(Integer, default=0)


class LinkRun(Base):
    """One linking run: when, the threshold used, its parameters and statistics."""

    __tablename__ = "link_runs"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    threshold: Mapped[float] = mapped_column(Float)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    stats: Mapped[dict] = mapped_column(JSON, default=dict)


class Match(Base):
    """A link between two tracks proposed by a linking run (with its distance) or decided by an operator."""

    __tablename__ = "matches"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("link_runs.id", ondelete="CASCADE"), index=True)
    track_a: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    track_b: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    distance: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(16))  # occlusion | reentry | cross_camera
    status: Mapped[str] = mapped_column(String(16), default="auto")  # auto | confirmed | rejected


class AuditEntry(Base):
    """One audit-trail row: who did what, when. Append-only (triggers refuse edits); rows are chained by hash."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"), {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=False))  # naive UTC, microseconds kept
    who: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32), index=True)
    details: Mapped[str] = mapped_column(Text)  # canonical JSON, exactly the bytes that were hashed
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Setting(Base):
    """Key/value facts about the store (calibrated threshold, encoder weights used, ...)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON)


class QueueJob(Base):
    """One queued ingest job (``reidwatch ingest --queue``): a file for a camera, its state and who ran it.

    ``id`` is the Celery task id (a UUID). The broker holds the message; this row lets ``reidwatch queue`` show
    every job from any machine (app.queue.jobs)."""

    __tablename__ = "queue_jobs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(String(4000))
    camera: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending | running | done | failed
    worker: Mapped[str | None] = mapped_column(String(255), default=None)  # the last worker that took it
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(2000), default=None)
    message: Mapped[str | None] = mapped_column(String(2000), default=None)
    source_id: Mapped[int | None] = mapped_column(Integer, default=None)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
