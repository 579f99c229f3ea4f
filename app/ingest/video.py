"""Video files: validation with clear errors, content hashing, and a bounded reader thread."""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from app.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe_video`` found: path, frame rate (frames/s), frame count and size in pixels."""

    path: Path
    fps: float
    frame_count: int  # as the container says; may be 0 or wrong for some files
    width: int
    height: int


def content_hash(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of the file's bytes: the same file ingested twice is recognised whatever its name."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def probe_video(path: str | Path) -> VideoInfo:
    """Open a video and read its first frame; one clear UserError for anything that is not a usable video."""
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"video file not found: {p}")
    if not p.is_file():
        raise UserError(f"not a file: {p}")
    if p.stat().st_size == 0:
        raise UserError(f"video file is empty: {p}")
    try:
        with p.open("rb") as f:
            f.read(1)
    except OSError as exc:
        raise UserError(f"cannot read {p}: {exc.strerror or exc}") from None
    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            raise UserError(f"not a video OpenCV can decode: {p}")
        ok, frame = cap.read()
        if not ok or frame is None:
            raise UserError(f"video has no decodable frames: {p}")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        h, w = frame.shape[:2]
    finally:
        cap.release()
    if not (0.5 <= fps <= 1000):
        log.warning("%s reports %.3g frames/s; assuming 25 (pass --fps to set it)", p.name, fps)
        fps = 25.0
    return VideoInfo(p, fps, max(count, 0), w, h)


_END = object()


@dataclass(frozen=True)
class Frame:
    """One decoded frame and its index in the file."""

    index: int  # 0-based index in the file
    image: np.ndarray  # BGR uint8 (H, W, 3)


def put_unless_stopped(q: queue.Queue, item: object, stop: threading.Event, poll_s: float = 0.2) -> bool:
    """Put ``item`` on the bounded queue ``q``, waiting while it is full; False if ``stop`` is set first."""
    while not stop.is_set():
        try:
            q.put(item, timeout=poll_s)
            return True
        except queue.Full:
            continue
    return False


class FrameReader:
    """Decodes frames on a thread into a bounded queue; iterate to consume. ``stop()`` ends it early.

    ``error`` holds a message when decoding stopped before the container's frame count.
    """

    def __init__(self, info: VideoInfo, *, start_frame: int = 0, queue_size: int = 16) -> None:
        self._info = info
        self._start = start_frame
        self._q: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"reader-{info.path.name}", daemon=True)
        self.frames_read = 0
        self.error: str | None = None

    def __enter__(self) -> FrameReader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop decoding, drain the queue and join the thread (up to 5 s)."""
        self._stop.set()
        try:
            while True:
                self._q.get_nowait()
        except queue.Empty:
            pass
        self._thread.join(timeout=5)

    def _put(self, item: object) -> bool:
        return put_unless_stopped(self._q, item, self._stop)

    def _run(self) -> None:
        cap = cv2.VideoCapture(str(self._info.path))
        try:
            index = 0
            if self._start > 0:
                if not cap.set(cv2.CAP_PROP_POS_FRAMES, self._start) or int(cap.get(cv2.CAP_PROP_POS_FRAMES)) != self._start:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    while index < self._start and cap.grab():  # exact seek for codecs that cannot
                        index += 1
                index = self._start
            while not self._stop.is_set():
                ok, image = cap.read()
                if not ok or image is None:
                    break
                if not self._put(Frame(index, image)):
                    return
                index += 1
                self.frames_read += 1
            expected = self._info.frame_count
            if expected and index < expected - 1 and not self._stop.is_set():
                self.error = f"decoding stopped at frame {index} of {expected} (truncated or damaged file?)"
        except cv2.error as exc:  # pragma: no cover - depends on codec failures
            self.error = f"decoding failed at frame {self.frames_read}: {exc}"
        finally:
            cap.release()
            self._put(_END)

    def __iter__(self) -> Iterator[Frame]:
        while True:
            item = self._q.get()
            if item is _END:
                return
            yield item  # type: ignore[misc]
