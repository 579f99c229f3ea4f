"""Live capture: one thread per camera that keeps only the newest frame and reconnects on its own.

:class:`CameraCapture` reads one source (an RTSP/HTTP URL through OpenCV's FFmpeg backend, a local video file,
or a device number) on its own daemon thread. Each decoded frame replaces the previous one in a
``queue.Queue(maxsize=1)``, so a slow consumer always gets the newest frame and never a backlog; frames it
never took are counted as dropped. When the camera drops, stalls (no frame for ``stall_timeout_s``) or never
answers, the thread waits and reopens with exponential backoff (``backoff_initial_s`` doubling up to
``backoff_max_s``), independently of other cameras; frames flow again when the camera is back. Nothing is ever
invented while a camera is away: :meth:`CameraCapture.get` just returns ``None``.

:class:`app.live.group.CameraGroup` starts and stops several captures and hands out their frames round-robin.

Opening a stream, and the FFmpeg options it needs, live in :mod:`app.live.stream`.

Credentials stay in the :class:`CameraCapture` (see :mod:`app.live.redact`): its ``source``, ``repr``,
health values, log lines and errors only ever show the redacted URL.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2

from app.live.health import CameraHealth, CameraState, diagnose_rtsp
from app.live.redact import STREAM_SCHEMES, redact_text, redact_url
from app.live.stream import TRANSPORTS, CapturedFrame, _open_stream, _utcnow

log = logging.getLogger(__name__)

class _SourceGone(Exception):
    """Opening failed in a way retrying cannot fix (file missing, credentials rejected)."""


class CameraCapture:
    """Capture one camera on a background thread, keeping only its newest frame.

    ``url`` is a stream URL (``rtsp://user:pass@host:554/stream``), a local video file (played at its own frame
    rate; it ends in state ``stopped`` unless ``loop``), or a device number (int or digit string). The URL,
    credentials included, is kept in this object only, to reconnect; everything it shows is redacted.

    Use: ``start()``, then ``get(timeout)`` as often as the consumer can, and ``stop()``. ``health`` is a
    snapshot at any time. One consumer per capture (or one :class:`CameraGroup`).

    Streams: ``transport`` is FFmpeg's ``rtsp_transport`` (TCP by default: no losses behind NAT or on busy
    Wi-Fi); ``open_timeout_s`` bounds connecting and reading the stream's header; a read that waits
    ``stall_timeout_s`` without a frame marks the stream ``stalled`` and reopens it. ``decode_threads=1``
    (one decoder thread per camera, 0 lets FFmpeg choose) because FFmpeg's frame threading holds frames
    back, which adds latency and hands out stale frames when a stream stalls; cameras decode in parallel
    anyway.
    """

    def __init__(
        self,
        name: str,
        url: str | int | os.PathLike[str],
        *,
        transport: str = "tcp",
        stall_timeout_s: float = 5.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        open_timeout_s: float = 5.0,
        loop: bool = False,
        decode_threads: int = 1,
    ) -> None:
        if not name or not name.strip():
            raise ValueError("name: expected a non-empty camera name")
        if transport not in TRANSPORTS:
            raise ValueError(f"transport: expected one of {', '.join(TRANSPORTS)}, got {transport!r}")
        for label, value in (
            ("stall_timeout_s", stall_timeout_s),
            ("backoff_initial_s", backoff_initial_s),
            ("backoff_max_s", backoff_max_s),
            ("open_timeout_s", open_timeout_s),
        ):
            if not value > 0:
                raise ValueError(f"{label}: expected > 0, got {value}")
        if decode_threads < 0:
            raise ValueError(f"decode_threads: expected >= 0 (0: FFmpeg decides), got {decode_threads}")
        if backoff_max_s < backoff_initial_s:
            raise ValueError(
                f"backoff_max_s ({backoff_max_s}) is below backoff_initial_s ({backoff_initial_s})"
            )
        self.name = name
        if isinstance(url, int) or (isinstance(url, str) and url.isdigit()):
            self._kind, self.__url = "device", str(int(url))
        elif isinstance(url, str) and "://" in url:
            scheme = url.split("://", 1)[0].lower()
            if scheme not in STREAM_SCHEMES:
                raise ValueError(f"{name}: unsupported URL scheme {scheme!r} in {redact_url(url)}")
            self._kind, self.__url = "stream", url
        else:
            self._kind, self.__url = "file", os.fspath(url)
        self.source = redact_url(self.__url)
        self.transport = transport
        self.stall_timeout_s = float(stall_timeout_s)
        self.backoff_initial_s = float(backoff_initial_s)
        self.backoff_max_s = float(backoff_max_s)
        self.open_timeout_s = float(open_timeout_s)
        self.loop = loop
        self.decode_threads = decode_threads
        self._queue: queue.Queue[CapturedFrame] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._done = threading.Event()
        self._listeners: list[threading.Event] = []
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._health = CameraHealth(
            camera=name, source=self.source, state=CameraState.CONNECTING, since=_utcnow()
        )

    def __repr__(self) -> str:
        return (
            f"CameraCapture(name={self.name!r}, source={self.source!r}, state={self._health.state.value!r})"
        )

    # ----------------------------------------------------------------- public API
    def start(self) -> None:
        """Start the capture thread (once per object)."""
        if self._thread is not None:
            raise RuntimeError(f"capture {self.name!r} was already started; create a new CameraCapture")
        self._thread = threading.Thread(target=self._run, name=f"capture-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Ask the thread to stop and wait up to ``timeout`` s; True when it has ended.

        A thread blocked inside OpenCV returns within ``open_timeout_s`` or ``stall_timeout_s``; being a daemon
        thread it never keeps the process alive.
        """
        self.request_stop()
        if self._thread is None:
            self._set(state=CameraState.STOPPED)
            self._done.set()
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def request_stop(self) -> None:
        """Ask the thread to stop without waiting for it (see :meth:`stop`)."""
        self._stop.set()

    def add_listener(self, event: threading.Event) -> None:
        """Set ``event`` whenever a frame arrives or the capture ends (call before :meth:`start`)."""
        self._listeners.append(event)

    def get(self, timeout: float | None = None) -> CapturedFrame | None:
        """The newest frame not yet taken, waiting up to ``timeout`` s (None: until one comes or the capture ends).

        Returns None on timeout, and at once when the capture has ended and nothing is left.
        """
        if self._thread is None:
            raise RuntimeError(f"capture {self.name!r} is not started")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = 0.1 if deadline is None else min(0.1, max(0.0, deadline - time.monotonic()))
            try:
                return self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                if self._done.is_set() and self._queue.empty():
                    return None
                if deadline is not None and time.monotonic() >= deadline:
                    return None

    def poll(self) -> CapturedFrame | None:
        """The newest frame not yet taken, without waiting."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    @property
    def health(self) -> CameraHealth:
        """The camera's current state and counters (a consistent snapshot)."""
        with self._lock:
            return self._health

    @property
    def ended(self) -> bool:
        """True once the capture thread has finished (stopped, file ended, or failed)."""
        return self._done.is_set()

    def __enter__(self) -> CameraCapture:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- state
    def _set(self, **changes: Any) -> CameraHealth:
        with self._lock:
            old = self._health
            if "state" in changes and changes["state"] != old.state:
                changes.setdefault("since", _utcnow())
            self._health = replace(old, **changes)
            return self._health

    def _offer(self, frame: CapturedFrame) -> None:
        """Put ``frame`` in the one-slot queue, replacing (and counting) a frame nobody took."""
        dropped = 0
        try:
            self._queue.put_nowait(frame)
        except queue.Full:
            try:
                self._queue.get_nowait()
                dropped = 1
            except queue.Empty:  # the consumer took it meanwhile
                pass
            self._queue.put_nowait(frame)  # we are the only producer: the slot is free now
        with self._lock:
            h = self._health
            self._health = replace(
                h,
                frames_received=h.frames_received + 1,
                frames_dropped=h.frames_dropped + dropped,
                last_frame_time=frame.wall_time,
            )
        for event in self._listeners:
            event.set()

    # ----------------------------------------------------------------- thread
    def _open(self) -> cv2.VideoCapture:
        """Open the source; raises _SourceGone when retrying cannot help, returns a closed capture otherwise."""
        if self._kind == "stream":
            return _open_stream(
                self.__url,
                transport=self.transport,
                open_timeout_s=self.open_timeout_s,
                read_timeout_s=self.stall_timeout_s,
                decode_threads=self.decode_threads,
            )
        if self._kind == "device":
            return cv2.VideoCapture(int(self.__url))
        if not Path(self.__url).is_file():
            raise _SourceGone(f"video file not found: {self.__url}")
        cap = cv2.VideoCapture(self.__url, cv2.CAP_FFMPEG)
        if not cap.isOpened():
            raise _SourceGone(f"not a video OpenCV can decode: {self.__url}")
        return cap

    def _why_not_opened(self) -> tuple[str, bool]:
        if self._kind == "stream" and self.__url.lower().startswith(("rtsp://", "rtsps://")):
            d = diagnose_rtsp(self.__url, timeout_s=min(3.0, self.open_timeout_s))
            return d.reason, d.auth_failed
        return "the source could not be opened", False

    def _run(self) -> None:
        delay = self.backoff_initial_s
        first = True  # no session has delivered frames yet
        try:
            while not self._stop.is_set():
                h = self.health
                trying = (
                    CameraState.CONNECTING if first and not h.failed_attempts else CameraState.RECONNECTING
                )
                self._set(state=trying, retry_at=None)
                cap = self._open()
                if not cap.isOpened():
                    cap.release()
                    reason, final = self._why_not_opened()
                    previous = self.health.last_error
                    h = self._set(failed_attempts=self.health.failed_attempts + 1, last_error=reason)
                    if final:
                        raise _SourceGone(reason)
                    if h.failed_attempts == 1 or reason != previous:
                        log.warning("camera %s: cannot open %s: %s; retrying", self.name, self.source, reason)
                    else:
                        log.debug("camera %s: attempt %d failed: %s", self.name, h.failed_attempts, reason)
                    self._wait(CameraState.RECONNECTING, delay)
                    delay = min(2 * delay, self.backoff_max_s)
                    continue
                try:
                    frames, outcome = self._pump(cap, reconnect=not first)
                finally:
                    cap.release()
                first = False
                if frames:
                    delay = self.backoff_initial_s
                if outcome in ("stop", "end"):
                    break
                state = CameraState.STALLED if outcome == "stalled" else CameraState.RECONNECTING
                message = (
                    f"no frame for {self.stall_timeout_s:g} s"
                    if outcome == "stalled"
                    else "the stream ended or the connection was lost"
                )
                self._set(last_error=message)
                log.warning("camera %s: %s; reconnecting to %s", self.name, message, self.source)
                self._wait(state, delay)
                delay = min(2 * delay, self.backoff_max_s)
            self._set(state=CameraState.STOPPED, retry_at=None)
        except _SourceGone as exc:
            self._set(state=CameraState.FAILED, last_error=str(exc), retry_at=None)
            log.error("camera %s: giving up on %s: %s", self.name, self.source, redact_text(str(exc)))
        except Exception as exc:  # never let a capture thread die silently
            self._set(
                state=CameraState.FAILED,
                last_error=redact_text(f"{type(exc).__name__}: {exc}"),
                retry_at=None,
            )
            log.error("camera %s: capture thread failed: %s", self.name, redact_text(repr(exc)))
        finally:
            self._done.set()
            for event in self._listeners:
                event.set()

    def _wait(self, state: CameraState, delay: float) -> None:
        self._set(state=state, retry_at=_utcnow() + timedelta(seconds=delay))
        self._stop.wait(delay)

    def _pump(self, cap: cv2.VideoCapture, *, reconnect: bool) -> tuple[int, str]:
        """Read frames until stop / end of file / lost / stalled; returns (frames read, outcome)."""
        period = 0.0
        if self._kind == "file":
            fps = cap.get(cv2.CAP_PROP_FPS)
            period = 1.0 / fps if 0 < fps < 1000 else 1.0 / 25
        frames = 0
        next_due = time.monotonic()
        while not self._stop.is_set():
            t0 = time.monotonic()
            ok, image = cap.read()
            if self._kind == "stream" and time.monotonic() - t0 >= 0.95 * self.stall_timeout_s:
                # The read timed out. A frame it may still return was drained from the decoder after the
                # timeout: it is old, so it is dropped rather than passed off as new.
                return frames, "stalled"
            if not ok or image is None:
                if self._kind == "file":
                    if self.loop and frames and cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
                        continue
                    return frames, "end"
                return frames, "lost"
            if image.ndim == 2:
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            with self._lock:
                index = self._health.frames_received
            self._offer(CapturedFrame(camera=self.name, frame_index=index, wall_time=_utcnow(), image=image))
            frames += 1
            if frames == 1:
                self._set(
                    state=CameraState.LIVE,
                    failed_attempts=0,
                    last_error=None,
                    retry_at=None,
                    reconnects=self.health.reconnects + int(reconnect),
                )
                log.info("camera %s: live%s (%s)", self.name, " again" if reconnect else "", self.source)
            if period:
                next_due = max(next_due + period, time.monotonic() - period)
                self._stop.wait(max(0.0, next_due - time.monotonic()))
        return frames, "stop"
