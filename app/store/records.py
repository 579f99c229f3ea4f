"""Plain frozen dataclasses: what the storage layer hands to the rest of the application."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np


def as_utc(dt: datetime) -> datetime:
    """SQLite keeps no time zone: every stored time is UTC, made aware again on the way out."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


@dataclass(frozen=True)
class CameraInfo:
    """A stored camera (``kind`` is ``file`` or ``rtsp``; the URL has no credentials)."""

    id: int
    name: str
    kind: str
    url_redacted: str | None


@dataclass(frozen=True)
class SourceInfo:
    """A stored source (video file or live session): camera, URI, start time (UTC), fps, size, progress."""

    id: int
    camera_id: int
    camera: str
    uri: str
    content_hash: str | None
    start_time: datetime
    fps: float
    frame_count: int
    width: int
    height: int
    status: str
    frames_done: int


@dataclass(frozen=True)
class TrackInfo:
    """A stored track: where (camera, source, tracker id), when (frames, UTC times), stay and identity."""

    id: int
    source_id: int
    camera_id: int
    camera: str
    local_id: int
    stay_id: int | None
    identity_id: int | None
    first_frame: int
    last_frame: int
    start_time: datetime
    end_time: datetime
    n_obs: int


@dataclass(frozen=True)
class ObservationRecord:
    """One box (x1, y1, x2, y2 in pixels) of a track in one frame, its score and keypoints."""

    track_id: int
    frame: int
    t: datetime
    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray  # (17, 3) float32
    predicted: bool


@dataclass(frozen=True)
class TrackEmbeddings:
    """All stored embedding samples of one track. global_feat (S, Dg), parts (S, P, Dp), visibility (S, P)."""

    track_id: int
    global_feat: np.ndarray
    parts: np.ndarray
    visibility: np.ndarray
    quality: np.ndarray


@dataclass(frozen=True)
class IdentityInfo:
    """A stored identity: name, watchlist flag, how many tracks, on which cameras, first and last seen."""

    id: int
    name: str | None
    watch: bool
    n_tracks: int
    cameras: tuple[str, ...]
    first_seen: datetime | None
    last_seen: datetime | None


@dataclass(frozen=True)
class MatchInfo:
    """A stored match between two tracks: distance, kind (occlusion/reentry/cross_camera) and status."""

    id: int
    track_a: int
    track_b: int
    distance: float
    kind: str
    status: str


@dataclass(frozen=True)
class DecisionInfo:
    """A stored operator decision (confirm, reject, rename, merge, split): on what, by whom, when."""

    id: int
    kind: str
    track_a: int | None
    track_b: int | None
    identity_id: int | None
    value: str | None
    who: str
    at: datetime
