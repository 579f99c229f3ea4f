"""Work off the UI thread: store queries and decisions, video ingestion, frame decoding.

Every result comes back to the UI thread by a Qt signal carrying plain data (dataclasses from ``app``,
numbers, strings, ``QImage`` values); no widget is touched from a worker.

- :class:`TaskRunner` runs plain functions on a small thread pool and calls back on the UI thread.
- :class:`IngestWorker` ingests queued files one by one through the application runtime
  (``app.runtime.Runtime.ingest``, whose detector and encoder are shared with search and live monitoring),
  with per-file progress and cancellation.
- :class:`FrameWorker` decodes video frames and fetches their overlays for the player; only the newest
  request is served, so scrubbing never queues up work.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QCoreApplication,
    QDeadlineTimer,
    QObject,
    QRunnable,
    QThread,
    QThreadPool,
    Signal,
    Slot,
)
from PySide6.QtGui import QImage

from app.errors import UserError
from app.ingest.job import AlreadyIngestedError
from app.live.redact import redact_text
from app.runtime import IngestRequest, Runtime
from app.store import Database
from ui.models.jobs import REDO_OPTION

log = logging.getLogger(__name__)

DoneFn = Callable[[Any], None]
ErrorFn = Callable[[str], None]


def describe_error(exc: BaseException) -> str:
    """One line for the status bar: a UserError's own text, else the exception type and message; always with
    URL credentials redacted (fail closed: a camera URL in any error never reaches the screen)."""
    if isinstance(exc, UserError):
        return redact_text(str(exc))
    return redact_text(f"{type(exc).__name__}: {exc}")


class _Task(QRunnable):
    def __init__(self, runner: TaskRunner, token: int, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._runner, self._token, self._fn, self._args, self._kwargs = runner, token, fn, args, kwargs

    def run(self) -> None:
        try:
            value = self._fn(*self._args, **self._kwargs)
        except Exception as exc:  # reported to the UI, never lost in a pool thread
            if not isinstance(exc, UserError):
                log.exception("background task %s failed", getattr(self._fn, "__name__", self._fn))
            self._report(False, describe_error(exc))
        else:
            self._report(True, value)

    def _report(self, ok: bool, value: object) -> None:
        try:
            self._runner.finished_raw.emit(self._token, ok, value)
        except RuntimeError:  # the window closed while this ran: nobody is waiting for the result
            log.debug("result of background task %d dropped: its runner is gone", self._token)


class TaskRunner(QObject):
    """Runs functions on a thread pool and delivers their results on the UI thread.

    ``submit(fn, *args, on_done=..., on_error=..., key=...)``: ``on_done(result)`` or ``on_error(message)`` is
    called on the UI thread. With ``key``, only the newest task of that key reports back (an older result
    arriving late is dropped), so a quick second refresh never shows the first one's stale rows.
    """

    busy_changed = Signal(int)  # tasks in flight
    task_failed = Signal(str)  # a failure with no on_error handler
    finished_raw = Signal(int, bool, object)  # internal: (token, ok, value), emitted from pool threads

    def __init__(self, *, max_threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._tokens = itertools.count(1)
        self._callbacks: dict[int, tuple[DoneFn | None, ErrorFn | None, str | None]] = {}
        self._latest: dict[str, int] = {}
        self.finished_raw.connect(self._on_finished)

    @property
    def pending(self) -> int:
        return len(self._callbacks)

    def submit(
        self, fn: Callable[..., Any], *args: Any, on_done: DoneFn | None = None, on_error: ErrorFn | None = None,
        key: str | None = None, **kwargs: Any,
    ) -> int:
        token = next(self._tokens)
        self._callbacks[token] = (on_done, on_error, key)
        if key is not None:
            self._latest[key] = token
        self._pool.start(_Task(self, token, fn, args, kwargs))
        self.busy_changed.emit(self.pending)
        return token

    @Slot(int, bool, object)
    def _on_finished(self, token: int, ok: bool, value: object) -> None:
        on_done, on_error, key = self._callbacks.pop(token, (None, None, None))
        self.busy_changed.emit(self.pending)
        if key is not None and self._latest.get(key) != token:
            return  # superseded by a newer task of the same key
        if ok:
            if on_done is not None:
                on_done(value)
        elif on_error is not None:
            on_error(str(value))
        else:
            self.task_failed.emit(str(value))

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Process events until no task is in flight (for the screenshot command and tests)."""
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:
            QCoreApplication.processEvents()
            self._pool.waitForDone(20)
        QCoreApplication.processEvents()
        return not self.pending

    def shutdown(self, timeout_s: float | None = None) -> bool:
        """Drop queued tasks and wait for running ones (all of them by default: a decision or a linking run
        half done is worse than a window that takes a moment to close). Returns whether all finished."""
        self._pool.clear()
        return bool(self._pool.waitForDone(-1 if timeout_s is None else int(timeout_s * 1000)))


# ---------------------------------------------------------------------------------------------- ingestion
class IngestCancelled(KeyboardInterrupt):
    """Raised from the progress callback: ``ingest_video`` then stores what it has and marks it incomplete."""


class IngestWorker(QThread):
    """Ingests queued files one at a time with the runtime's shared detector and encoder.

    Signals carry the job id given by :meth:`enqueue`. ``job_finished`` status is complete, incomplete,
    skipped or cancelled; its message is one line for the operator (ingest summary plus linking summary).
    """

    job_started = Signal(int)
    job_progress = Signal(int, int, int)  # job id, frames done, frames total (0 = unknown)
    job_finished = Signal(int, str, str)  # job id, status, message
    job_failed = Signal(int, str)  # job id, message
    state_changed = Signal(str)  # "loading models", "idle", ...
    device_resolved = Signal(str)  # e.g. "CPU" or "GPU cuda:0 (NVIDIA H100)"

    def __init__(self, *, db: Database, runtime: Runtime, progress_interval_s: float = 0.1,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._db = db
        self._runtime = runtime
        self._interval = progress_interval_s
        self._jobs: deque[tuple[int, IngestRequest]] = deque()
        self._cancelled: set[int] = set()
        self._cond = threading.Condition()
        self._stopping = False
        self._ids = itertools.count(1)

    def set_database(self, db: Database) -> None:
        """Store the next jobs in another database (call only while no job is running)."""
        with self._cond:
            self._db = db

    def enqueue(self, request: IngestRequest) -> int:
        with self._cond:
            job_id = next(self._ids)
            self._jobs.append((job_id, request))
            self._cond.notify_all()
        return job_id

    def cancel(self, job_id: int) -> None:
        with self._cond:
            self._cancelled.add(job_id)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Cancel everything and end the thread (the running file is stored as incomplete)."""
        with self._cond:
            self._stopping = True
            self._cancelled.update(j for j, _ in self._jobs)
            self._cond.notify_all()
        self.wait(QDeadlineTimer(int(timeout_s * 1000)))

    def _is_cancelled(self, job_id: int) -> bool:
        with self._cond:
            return self._stopping or job_id in self._cancelled

    def run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._stopping:
                    self._cond.wait()
                if self._stopping and not self._jobs:
                    return
                job_id, request = self._jobs.popleft()
                db = self._db
            if self._is_cancelled(job_id):
                self.job_finished.emit(job_id, "cancelled", f"{request.path.name}: cancelled before it started")
                continue
            self.job_started.emit(job_id)
            try:
                status, message = self._ingest(db, job_id, request)
            except IngestCancelled:
                self.job_finished.emit(job_id, "cancelled", f"{request.path.name}: cancelled; the frames "
                                       "processed so far are stored (add the file again to resume)")
            except Exception as exc:
                if not isinstance(exc, UserError):
                    log.exception("ingesting %s failed", request.path)
                self.job_failed.emit(job_id, f"{request.path.name}: {describe_error(exc)}")
            else:
                self.job_finished.emit(job_id, status, message)
            self.state_changed.emit("idle")

    def _ingest(self, db: Database, job_id: int, request: IngestRequest) -> tuple[str, str]:
        last = [0.0]
        reported = [False]

        def progress(done: int, total: int) -> None:
            if self._is_cancelled(job_id):
                raise IngestCancelled
            now = time.monotonic()
            if now - last[0] >= self._interval or (total and done >= total):
                last[0] = now
                self.job_progress.emit(job_id, done, total)

        def on_state(text: str) -> None:
            if text.startswith("ingesting") and not reported[0]:
                reported[0] = True
                self.device_resolved.emit(self._runtime.models().device_label)
            self.state_changed.emit(text)

        try:
            outcome = self._runtime.ingest(db, request, progress=progress, on_state=on_state)
        except AlreadyIngestedError as exc:
            raise UserError(f"{exc}: add it again with “{REDO_OPTION}” ticked") from None
        message = outcome.message
        if outcome.result.status == "skipped":
            message += f" (to redo it, add it again with “{REDO_OPTION}” ticked)"
        return outcome.result.status, message


# ---------------------------------------------------------------------------------------------- player frames
@dataclass(frozen=True)
class FrameRequest:
    source_id: int
    uri: str
    frame: int


@dataclass(frozen=True)
class FrameResult:
    """A decoded frame (RGB ``QImage``) and the overlays stored for it (``app.store.queries.Overlay`` values)."""

    source_id: int
    frame: int
    image: QImage
    overlays: tuple


class FrameWorker(QThread):
    """Decodes frames for the player. Only the newest pending request is served; sequential requests
    read on without seeking, so playback costs one decode per frame."""

    frame_ready = Signal(object)  # FrameResult
    failed = Signal(str)

    def __init__(self, *, db: Database, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._db = db
        self._cond = threading.Condition()
        self._pending: FrameRequest | None = None
        self._busy = False
        self._stopping = False

    @property
    def idle(self) -> bool:
        with self._cond:
            return self._pending is None and not self._busy

    def set_database(self, db: Database) -> None:
        with self._cond:
            self._db = db

    def request(self, request: FrameRequest) -> None:
        with self._cond:
            self._pending = request
            self._cond.notify_all()

    def stop(self, timeout_s: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self.wait(QDeadlineTimer(int(timeout_s * 1000)))

    def run(self) -> None:
        import cv2

        from app.store.queries import frame_overlays

        cap = None
        opened: str | None = None
        next_index = -1  # the frame a plain read() returns
        try:
            while True:
                with self._cond:
                    while self._pending is None and not self._stopping:
                        self._cond.wait()
                    req = self._pending
                    if self._stopping or req is None:
                        return
                    self._pending, self._busy = None, True
                    db = self._db
                try:
                    if opened != req.uri:
                        if cap is not None:
                            cap.release()
                        cap = cv2.VideoCapture(req.uri)
                        if not cap.isOpened():
                            opened, cap = None, None
                            raise UserError(f"cannot open video {req.uri}")
                        opened, next_index = req.uri, 0
                    if cap is None:  # not reached: a failed open raised above
                        raise UserError(f"cannot open video {req.uri}")
                    if req.frame != next_index:
                        cap.set(cv2.CAP_PROP_POS_FRAMES, req.frame)
                    ok, bgr = cap.read()
                    if not ok or bgr is None:
                        next_index = -1
                        raise UserError(f"frame {req.frame} cannot be decoded from {Path(req.uri).name}")
                    next_index = req.frame + 1
                    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                    h, w = rgb.shape[:2]
                    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
                    overlays = tuple(frame_overlays(db, req.source_id, req.frame))
                    self.frame_ready.emit(FrameResult(req.source_id, req.frame, image, overlays))
                except Exception as exc:
                    if not isinstance(exc, UserError):
                        log.exception("decoding frame %d of %s failed", req.frame, req.uri)
                    self.failed.emit(describe_error(exc))
                finally:
                    with self._cond:
                        self._busy = False
        finally:
            if cap is not None:
                cap.release()
