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
