"""The live page's behaviour: a :class:`app.live.monitor.LiveMonitor` on a worker thread, plain data back.

:class:`LiveController` asks the application runtime (``app.runtime.Runtime.live_monitor``, whose detector and
encoder are shared with ingest and search) for a monitor *inside* its worker thread, runs the monitor there until :meth:`LiveController.stop`, and hands everything to the GUI thread
through Qt signals: the monitor's callbacks emit private signals connected with queued connections to slots
of this object (which lives in the GUI thread), and those slots emit the public signals. So every public
signal is emitted on the GUI thread, whatever a receiver is (a widget method or a lambda).

Frames never queue up. The worker turns each processed frame into a :class:`LiveFrame` (downscaled to the
tile size, RGB ``QImage``, boxes in display pixels) and puts it in a one-slot-per-camera mailbox, replacing
any frame the GUI has not taken yet; it posts a wake-up only when the mailbox was empty. However slow the
GUI thread is, it finds at most one frame per camera, the newest.

Camera URLs may hold passwords: they are kept in this object (to restart the worker) and in the monitor's
captures, in memory only; every signal carries only the redacted URL.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QImage

from app.config import store_location
from app.errors import UserError
from app.live.capture import CapturedFrame
from app.live.health import CameraHealth
from app.live.monitor import Alert, CameraSpec, LiveMonitor
from app.live.options import LiveOptions
from app.live.redact import CameraSpecError, parse_camera_spec, redact_text, redact_url
from app.runtime import Runtime
from trackers.types import Tracks

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TileOverlay:
    """One tracked person on a displayed frame. box: x1, y1, x2, y2 in the *displayed* image's pixels."""

    track_id: int
    box: tuple[float, float, float, float]
    predicted: bool  # the tracker's prediction, no detection this frame
    identity: str | None = None  # who the live re-identification thinks this is ("P7 Anna"), when it knows

    def __post_init__(self) -> None:
        if len(self.box) != 4:
            raise ValueError(f"box: expected 4 values (x1, y1, x2, y2), got {len(self.box)}")


@dataclass(frozen=True, kw_only=True)
class LiveFrame:
    """A processed frame ready to show: ``image`` is RGB, at most the tile size; ``source_size`` is (w, h)."""

    camera: str
    frame_index: int
    time: datetime  # UTC, when the frame was decoded
    image: QImage
    source_size: tuple[int, int]
    overlays: tuple[TileOverlay, ...]

    def __post_init__(self) -> None:
        if self.image.isNull() or self.image.format() != QImage.Format.Format_RGB888:
            raise ValueError(f"image: expected a non-null RGB888 QImage, got format {self.image.format()}")
        if self.time.tzinfo is None:
            raise ValueError("time: expected a timezone-aware datetime, got a naive one")


def display_scale(src_w: int, src_h: int, max_w: int, max_h: int) -> float:
    """The factor that fits a ``src_w`` x ``src_h`` frame inside ``max_w`` x ``max_h``; never above 1."""
    if min(src_w, src_h) <= 0:
        raise ValueError(f"frame size: expected positive, got {src_w}x{src_h}")
    if min(max_w, max_h) <= 0:
        return 1.0
    return min(1.0, max_w / src_w, max_h / src_h)


def identity_label(identity_id: int, name: str | None) -> str:
    return f"P{identity_id}" + (f" {name}" if name else "")


def make_live_frame(frame: CapturedFrame, tracks: Tracks, max_size: tuple[int, int],
                    identities: dict | None = None) -> LiveFrame:
    """Downscale ``frame.image`` (H, W, 3) BGR to fit ``max_size`` (w, h), convert to RGB, scale the boxes.

    Runs on the worker thread: resizing there keeps the GUI thread's work per frame to one small paint.
    """
    h, w = frame.image.shape[:2]
    scale = display_scale(w, h, *max_size)
    small = frame.image
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(frame.image, size, interpolation=cv2.INTER_AREA)
    rgb = np.ascontiguousarray(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    sh, sw = rgb.shape[:2]
    image = QImage(rgb.data, sw, sh, 3 * sw, QImage.Format.Format_RGB888).copy()  # owns its pixels
    sx, sy = sw / w, sh / h
    overlays = tuple(
        TileOverlay(track_id=int(tid), box=(float(b[0] * sx), float(b[1] * sy), float(b[2] * sx), float(b[3] * sy)),
                    predicted=bool(di < 0),
                    identity=(identity_label(identities[int(tid)].identity_id, identities[int(tid)].name)
                              if identities and int(tid) in identities else None))
        for tid, b, di in zip(tracks.ids, tracks.boxes, tracks.det_index, strict=True)
    )
    return LiveFrame(camera=frame.camera, frame_index=frame.frame_index, time=frame.wall_time, image=image,
                     source_size=(w, h), overlays=overlays)


@dataclass
class DisplayStats:
    """Per camera: frames the worker offered for display and frames the GUI thread received."""

    offered: int = 0
    shown: int = 0

    @property
    def replaced(self) -> int:
        """Frames overwritten in the mailbox before the GUI took them (the backlog that never formed)."""
        return self.offered - self.shown


class LiveController(QObject):
    """Owns the live monitor (on a worker thread) and the cameras' credentials; talks to the page by signals.

    ``add_camera`` starts the worker on first use (loading the models takes a few seconds: see
    ``state_changed``); ``stop`` ends it and stores everything. Call ``stop`` when the window closes
    (it is also connected to ``QCoreApplication.aboutToQuit``).
    """

    frame_ready = Signal(object)  # LiveFrame: the newest processed frame of a camera
    health_changed = Signal(object)  # CameraHealth
    alert_raised = Signal(object)  # app.live.monitor.Alert
    camera_added = Signal(str, str)  # name, redacted URL
    camera_removed = Signal(str)
    state_changed = Signal(str)  # one line for the page's status label
    failed = Signal(str)  # the worker stopped on an error (one line)

    _frames_waiting = Signal()
    _health_in = Signal(object)
    _alert_in = Signal(object)
    _state_in = Signal(str)
    _failed_in = Signal(str)

    def __init__(self, db_path: Path | str, runtime: Runtime, *, options: LiveOptions | None = None,
                 autostart: bool = True, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.db_path = store_location(db_path)  # a SQLite file, or a PostgreSQL URL (kept as text)
        self.autostart = autostart  # start the worker on the first add_camera (else: call start())
        self.runtime = runtime
        self.options = options or LiveOptions()
        self._lock = threading.Lock()  # guards _specs, _monitor, _stopping, the mailbox and the display stats
        self._specs: dict[str, CameraSpec] = {}  # changed by the GUI thread only, under the lock
        self._names: frozenset[str] = frozenset()  # read by the worker without the lock: replaced, never mutated
        self._monitor: LiveMonitor | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._mailbox: dict[str, LiveFrame] = {}
        self._stats: dict[str, DisplayStats] = {}
        self._display_size = (640, 360)
        queued = Qt.ConnectionType.QueuedConnection
        self._frames_waiting.connect(self._drain_frames, queued)
        self._health_in.connect(self._on_health_gui, queued)
        self._alert_in.connect(self.alert_raised, queued)
        self._state_in.connect(self.state_changed, queued)
        self._failed_in.connect(self.failed, queued)
        self._health_timer = QTimer(self)
        self._health_timer.setInterval(self.options.health_refresh_ms)
        self._health_timer.timeout.connect(self.refresh_health)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop)

    # ------------------------------------------------------------------ GUI-thread API
    def cameras(self) -> dict[str, str]:
        """Camera name -> redacted URL, in the order they were added."""
        return {name: redact_url(spec.url) for name, spec in self._specs.items()}

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def add_camera(self, name: str, url: str) -> str:
        """Watch another camera; returns its redacted URL. Raises CameraSpecError (one line, redacted)."""
        name, url = parse_camera_spec(f"{name.strip()}={url.strip()}")
        if name in self._specs:
            raise CameraSpecError(f"a camera named {name!r} is already watched")
        spec = CameraSpec(name, url)
        with self._lock:
            self._specs[name] = spec
            self._names = frozenset(self._specs)
            self._stats[name] = DisplayStats()
            monitor = self._monitor
            if monitor is not None:
                monitor.add_camera(spec)
        redacted = redact_url(url)
        log.info("live: camera %s added (%s)", name, redacted)
        self.camera_added.emit(name, redacted)
        if self.autostart:
            self.start()
        return redacted

    def remove_camera(self, name: str) -> None:
        """Stop watching ``name``; its open tracks are closed and stored by the monitor."""
        if name not in self._specs:
            return
        with self._lock:
            del self._specs[name]
            self._names = frozenset(self._specs)
            self._mailbox.pop(name, None)
            self._stats.pop(name, None)
            if self._monitor is not None:
                self._monitor.remove_camera(name)
        log.info("live: camera %s removed", name)
        self.camera_removed.emit(name)

    def set_display_size(self, width: int, height: int) -> None:
        """The largest tile's size in device pixels: frames are downscaled to fit it in the worker."""
        self._display_size = (max(1, int(width)), max(1, int(height)))

    def display_stats(self) -> dict[str, DisplayStats]:
        with self._lock:
            return {k: DisplayStats(v.offered, v.shown) for k, v in self._stats.items()}

    @Slot()
    def refresh_health(self) -> None:
        """Emit every watched camera's current health (counters and durations move even without a change)."""
        monitor = self._monitor
        if monitor is None:
            return
        for name, health in monitor.health().items():
            if name in self._specs:
                self.health_changed.emit(health)

    @Slot()
    def stop(self, timeout_s: float = 60.0) -> bool:
        """Stop the worker (everything processed is stored); True when it has ended."""
        self._health_timer.stop()
        with self._lock:
            self._stopping = True
            if self._monitor is not None:
                self._monitor.stop()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout_s)
        if thread.is_alive():
            log.warning("live monitor did not stop within %.0f s", timeout_s)
            return False
        self._thread = None
        return True

    def start(self) -> None:
        """Start the worker (load the models, watch every camera added so far); nothing if it runs."""
        if self.running:
            return
        with self._lock:
            self._stopping = False
        self._thread = threading.Thread(target=self._work, name="live-monitor", daemon=True)
        self._thread.start()
        self._health_timer.start()

    # ------------------------------------------------------------------ worker thread
    def _work(self) -> None:
        from app.store import open_database

        db = None
        try:
            models = self.runtime.models(on_state=lambda text: self._state_in.emit(f"{text}…"))
            db = open_database(self.db_path)
            with self._lock:
                if self._stopping:
                    return
                # Cameras added while the models loaded start with the monitor; later ones go through
                # add_camera under the same lock, so none is lost or added twice.
                self._monitor = self.runtime.live_monitor(
                    db, list(self._specs.values()), options=self.options,
                    on_alert=self.on_alert, on_health=self.on_health, on_frame=self.on_frame,
                )
                monitor = self._monitor
            self._state_in.emit(f"watching on {models.device_label}")
            monitor.run(keep_running=True)
            self._state_in.emit("stopped; everything processed is stored")
        except UserError as exc:
            self._failed_in.emit(redact_text(str(exc)))
        except Exception as exc:  # the page shows it (redacted); the traceback goes to the (redacted) log
            log.exception("live monitor failed")
            self._failed_in.emit(redact_text(f"live monitor failed: {type(exc).__name__}: {exc}"))
        finally:
            with self._lock:
                self._monitor = None
            if db is not None:
                db.close()

    def on_alert(self, alert: Alert) -> None:
        """Monitor callback (any thread): ``alert_raised`` follows on the GUI thread."""
        self._alert_in.emit(alert)

    def on_health(self, health: CameraHealth) -> None:
        """Monitor callback (any thread): ``health_changed`` follows on the GUI thread."""
        self._health_in.emit(health)

    def on_frame(self, camera: str, frame: CapturedFrame, tracks: object) -> None:
        """Monitor callback (worker thread): newest frame into the mailbox, one wake-up at most."""
        if camera not in self._names:
            return  # removed meanwhile
        monitor = self._monitor
        known = monitor.live_identities(camera) if monitor is not None else None
        live = make_live_frame(frame, tracks if isinstance(tracks, Tracks) else Tracks.empty(),
                               self._display_size, known)
        with self._lock:
            wake = not self._mailbox
            self._mailbox[camera] = live
            stats = self._stats.get(camera)
            if stats is not None:
                stats.offered += 1
        if wake:
            self._frames_waiting.emit()

    # ------------------------------------------------------------------ GUI-thread slots
    @Slot()
    def _drain_frames(self) -> None:
        with self._lock:
            frames, self._mailbox = self._mailbox, {}
            for name in frames:
                if name in self._stats:
                    self._stats[name].shown += 1
        for name, frame in frames.items():
            if name in self._specs:
                self.frame_ready.emit(frame)

    @Slot(object)
    def _on_health_gui(self, health: CameraHealth) -> None:
        if health.camera in self._specs:
            self.health_changed.emit(health)


__all__ = ["Alert", "DisplayStats", "LiveController", "LiveFrame", "LiveOptions", "TileOverlay",
           "display_scale", "make_live_frame"]
