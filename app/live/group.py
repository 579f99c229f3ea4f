"""Several cameras at once: start and stop them together and take their newest frames round-robin."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator

from app.live.capture import CameraCapture, CapturedFrame
from app.live.health import CameraHealth


class CameraGroup:
    """Several captures started and stopped together; :meth:`get` hands out newest frames round-robin.

    One consumer thread calls :meth:`get` (or iterates :meth:`frames`); each call returns the newest frame of
    the next camera that has one, so a busy camera cannot starve the others.
    """

    def __init__(self, captures: Iterable[CameraCapture]) -> None:
        self._captures = list(captures)
        names = [c.name for c in self._captures]
        if len(set(names)) != len(names):
            raise ValueError(f"camera names must be unique, got {names}")
        self._ready = threading.Event()
        for c in self._captures:
            c.add_listener(self._ready)
        self._next = 0

    @property
    def captures(self) -> tuple[CameraCapture, ...]:
        """The captures, in the order given."""
        return tuple(self._captures)

    def __len__(self) -> int:
        return len(self._captures)

    def start(self) -> None:
        """Start every capture thread."""
        for c in self._captures:
            c.start()

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Stop every capture (all at once, then wait); True when every thread has ended."""
        for c in self._captures:
            c.request_stop()
        deadline = None if timeout is None else time.monotonic() + timeout
        ok = True
        for c in self._captures:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ok = c.stop(left) and ok
        return ok

    def health(self) -> dict[str, CameraHealth]:
        """Camera name -> its current health."""
        return {c.name: c.health for c in self._captures}

    def get(self, timeout: float | None = None) -> CapturedFrame | None:
        """The newest frame of the next camera (round-robin) that has one; None on timeout or when all ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        n = len(self._captures)
        while True:
            self._ready.clear()
            for k in range(n):
                i = (self._next + k) % n
                frame = self._captures[i].poll()
                if frame is not None:
                    self._next = (i + 1) % n
                    return frame
            if all(c.ended for c in self._captures):
                return None
            wait = 0.5 if deadline is None else deadline - time.monotonic()
            if wait <= 0:
                return None
            self._ready.wait(min(wait, 0.5))

    def frames(self, stop: threading.Event | None = None, poll_s: float = 0.5) -> Iterator[CapturedFrame]:
        """Yield frames until every capture has ended or ``stop`` is set."""
        while stop is None or not stop.is_set():
            frame = self.get(timeout=poll_s)
            if frame is not None:
                yield frame
            elif all(c.ended for c in self._captures):
                return

    def __enter__(self) -> CameraGroup:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
