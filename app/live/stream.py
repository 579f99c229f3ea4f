"""Opening one stream and the frames it yields.

FFmpeg options. OpenCV reads FFmpeg's capture options from the process-wide environment variable
``OPENCV_FFMPEG_CAPTURE_OPTIONS`` (``key;value|key;value``) each time a capture is opened; FFmpeg 8 no longer
accepts ``?tcp`` in the URL. So :func:`_open_stream` sets ``rtsp_transport`` in that variable, under a lock,
just before each open, keeping any other options the user put there. OpenCV itself serialises opens with a
global mutex, so the lock costs nothing extra; the variable only changes when cameras ask for different
transports. A consequence of OpenCV's mutex worth knowing: a camera that silently drops packets holds every
other camera's (re)open back for up to its ``open_timeout_s``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone

import cv2
import numpy as np

TRANSPORTS = ("tcp", "udp", "udp_multicast", "http", "https")
_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_OPEN_LOCK = threading.Lock()
_USER_OPTIONS = os.environ.get(_ENV)  # whatever the user set before we touched it


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, kw_only=True)
class CapturedFrame:
    """One decoded frame. image: (H, W, 3) uint8 BGR; wall_time: UTC, taken right after decoding."""

    camera: str
    frame_index: int  # 0, 1, 2, ... per capture, across reconnects
    wall_time: datetime
    image: np.ndarray

    def __post_init__(self) -> None:
        if not isinstance(self.image, np.ndarray) or self.image.ndim != 3 or self.image.shape[2] != 3:
            shape = getattr(self.image, "shape", type(self.image).__name__)
            raise ValueError(f"image: expected shape (H, W, 3), got {shape}")
        if self.image.dtype != np.uint8:
            raise ValueError(f"image: expected dtype uint8, got {self.image.dtype}")
        if self.frame_index < 0:
            raise ValueError(f"frame_index: expected >= 0, got {self.frame_index}")
        if self.wall_time.tzinfo is None:
            raise ValueError("wall_time: expected a timezone-aware datetime, got a naive one")


def _ffmpeg_options(transport: str) -> str:
    """The user's own ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` with ``rtsp_transport`` set to ``transport``."""
    pairs = [p for p in (_USER_OPTIONS or "").split("|") if p and not p.startswith("rtsp_transport;")]
    return "|".join([f"rtsp_transport;{transport}", *pairs])


def _open_stream(
    url: str, *, transport: str, open_timeout_s: float, read_timeout_s: float, decode_threads: int
) -> cv2.VideoCapture:
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, max(1, int(open_timeout_s * 1000)),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC, max(1, int(read_timeout_s * 1000)),
        cv2.CAP_PROP_N_THREADS, decode_threads,
    ]  # fmt: skip
    options = _ffmpeg_options(transport)
    with _OPEN_LOCK:
        if os.environ.get(_ENV) != options:
            os.environ[_ENV] = options
        return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
