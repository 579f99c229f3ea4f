"""Live monitoring: several cameras -> one inference worker -> per-camera processors -> store -> linking.

One capture thread per camera keeps only its newest frame (app.live.capture). This module's worker takes
the newest frame of every camera that has one, detects people in all of them in one batched call, feeds
each camera's own tracker and ``CameraProcessor`` (the same path as file ingest), flushes to the store in
batched commits, links closed tracks into identities every ``link_interval_s`` and raises watchlist alerts.
Memory stays flat: captures hold one frame each, processors flush closed tracks, caches are bounded.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select

from app.live.capture import CameraCapture, CapturedFrame
from app.live.health import CameraHealth, CameraState
from app.live.redact import redact_url
from app.pipeline import CameraProcessor, EncoderLike
from app.store import Database
from app.store import models as m
from app.store import repo
from app.store.records import as_utc
from trackers.types import Detector, Tracker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraSpec:
    name: str
    url: str  # may hold credentials: kept in memory only, handed to CameraCapture

    def __repr__(self) -> str:  # never print the secret
        return f"CameraSpec(name={self.name!r}, url={redact_url(self.url)!r})"


@dataclass(frozen=True)
class Alert:
    camera: str
    identity_id: int
    identity_name: str | None
    track_id: int
    time: datetime
    distance: float | None
    thumbnail: bytes | None


@dataclass
class CameraStats:
    frames: int = 0
    observations: int = 0
    tracks: int = 0
    last_health: str = "connecting"


@dataclass
class MonitorStats:
    cameras: dict[str, CameraStats] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    link_runs: int = 0


LinkFn = Callable[[Database, list[str]], None]


class LiveMonitor:
    """Watches several cameras until ``stop()`` or the duration ends; everything is committed on exit."""

    def __init__(
        self, *, db: Database, cameras: list[CameraSpec], detector: Detector, encoder: EncoderLike,
        tracker_factory: Callable[[], Tracker], link: LinkFn | None = None, flush_interval_s: float = 2.0,
        link_interval_s: float = 20.0, close_after_frames: int = 75, capture_options: dict | None = None,
        on_alert: Callable[[Alert], None] | None = None, on_health: Callable[[CameraHealth], None] | None = None,
        on_frame: Callable[[str, CapturedFrame, object], None] | None = None,
    ) -> None:
        names = [c.name for c in cameras]
        if len(set(names)) != len(names):
            raise ValueError(f"camera names must be unique, got {names}")
        self.db = db
        self.specs = cameras
        self.detector = detector
        self.encoder = encoder
        self.tracker_factory = tracker_factory
        self.link = link
        self.flush_interval_s = flush_interval_s
        self.link_interval_s = link_interval_s
        self.close_after = close_after_frames
        self.capture_options = capture_options or {}
        self.on_alert = on_alert
        self.on_health = on_health
        self.on_frame = on_frame
        self.stats = MonitorStats()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._captures: dict[str, CameraCapture] = {}
        self._procs: dict[str, CameraProcessor] = {}
        self._camera_ids: dict[str, int] = {}
        self._last_state: dict[str, CameraState] = {}
        self._pending_closed: list[int] = []
        self._commands: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()

    def add_camera(self, spec: CameraSpec) -> None:
        """Start watching another camera (thread-safe; takes effect in the worker loop)."""
        self._commands.put(("add", spec))
        self._wake.set()

    def remove_camera(self, name: str) -> None:
        """Stop watching a camera: its open tracks are closed and stored (thread-safe)."""
        self._commands.put(("remove", name))
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def health(self) -> dict[str, CameraHealth]:
        return {name: cap.health for name, cap in list(self._captures.items())}

    # ------------------------------------------------------------------ main loop
    def _start_camera(self, spec: CameraSpec) -> None:
        if spec.name in self._captures:
            raise ValueError(f"camera {spec.name!r} is already watched")
        with self.db.session() as s:
            cam = repo.get_or_create_camera(s, spec.name, kind="rtsp", url_redacted=redact_url(spec.url))
            self._camera_ids[spec.name] = cam.id
        cap = CameraCapture(spec.name, spec.url, **self.capture_options)
        cap.add_listener(self._wake)
        self._captures[spec.name] = cap
        self.stats.cameras.setdefault(spec.name, CameraStats())
        cap.start()

    def _stop_camera(self, name: str) -> None:
        cap = self._captures.get(name)
        if cap is None:
            return
        cap.request_stop()
        proc = self._procs.pop(name, None)
        if proc is not None:
            proc.close_all(self.stats.cameras[name].frames, status="complete")
            self._pending_closed.extend(proc.stats.closed_track_ids)
            self.stats.cameras[name].tracks += len(proc.stats.closed_track_ids)
        cap.stop(timeout=5)
        self._captures.pop(name, None)  # last: health() shows the camera until all its data is stored
        self.specs = [s for s in self.specs if s.name != name]
        self._last_state.pop(name, None)
        if self.on_health is not None:
            self.on_health(cap.health)

    def _apply_commands(self) -> None:
        while True:
            try:
                verb, arg = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                if verb == "add":
                    spec = arg  # type: ignore[assignment]
                    self.specs = [s for s in self.specs if s.name != spec.name] + [spec]  # type: ignore[union-attr]
                    self._start_camera(spec)  # type: ignore[arg-type]
                else:
                    self._stop_camera(str(arg))
            except ValueError as exc:
                log.warning("%s", exc)

    def run(self, duration_s: float | None = None, *, keep_running: bool = False) -> MonitorStats:
        """Watch until stop(), the duration, or (unless keep_running, as the UI wants) every camera has ended."""
        for spec in self.specs:
            self._start_camera(spec)
        deadline = None if duration_s is None else time.monotonic() + duration_s
        last_flush = last_link = time.monotonic()
        try:
            while not self._stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self._apply_commands()
                self._report_health()
                frames = [f for f in (cap.poll() for cap in self._captures.values()) if f is not None]
                if not frames:
                    if not keep_running and self._captures and all(cap.ended for cap in self._captures.values()):
                        break
                    self._wake.wait(0.2)
                    self._wake.clear()
                    continue
                self._process(frames)
                now = time.monotonic()
                if now - last_flush >= self.flush_interval_s:
                    self._flush()
                    last_flush = now
                if self.link is not None and now - last_link >= self.link_interval_s and self._pending_closed:
                    self._link()
                    last_link = now
        finally:
            self._shutdown()
        return self.stats

    def _process(self, frames: list[CapturedFrame]) -> None:
        detections = self.detector.detect_batch([f.image for f in frames])
        for f, dets in zip(frames, detections):
            proc = self._procs.get(f.camera) or self._new_processor(f)
            tracks = proc.process(f.frame_index, f.image, dets, f.wall_time)
            st = self.stats.cameras[f.camera]
            st.frames += 1
            st.observations += len(tracks)
            if self.on_frame is not None:
                self.on_frame(f.camera, f, tracks)

    def _new_processor(self, f: CapturedFrame) -> CameraProcessor:
        spec = next(s for s in self.specs if s.name == f.camera)
        h, w = f.image.shape[:2]
        with self.db.session() as s:
            src = repo.create_source(
                s, camera_id=self._camera_ids[f.camera], uri=redact_url(spec.url), content_hash=None,
                start_time=f.wall_time, fps=0.0, frame_count=0, width=w, height=h, settings={"live": True},
            )
        proc = CameraProcessor(db=self.db, camera_id=self._camera_ids[f.camera], source_id=src.id,
                               tracker=self.tracker_factory(), encoder=self.encoder,
                               close_after_frames=self.close_after)
        self._procs[f.camera] = proc
        log.info("camera %s: live session stored as source %d", f.camera, src.id)
        return proc

    def _flush(self, status: str | None = None) -> None:
        for name, proc in self._procs.items():
            before = len(proc.stats.closed_track_ids)
            if status is None:
                proc.flush(self.stats.cameras[name].frames)
            else:
                proc.close_all(self.stats.cameras[name].frames, status=status)
            new = proc.stats.closed_track_ids[before:]
            self._pending_closed.extend(new)
            self.stats.cameras[name].tracks += len(new)
            proc.stats.closed_track_ids.clear()  # keep memory flat over hours

    def _link(self) -> None:
        closed, self._pending_closed = self._pending_closed, []
        try:
            self.link(self.db, [s.name for s in self.specs])  # type: ignore[misc]
        except Exception:  # linking must never stop live capture
            log.exception("live linking failed; capture goes on")
            return
        self.stats.link_runs += 1
        self._alerts(closed)

    def _alerts(self, track_ids: list[int]) -> None:
        if not track_ids:
            return
        with self.db.session() as s:
            rows = s.execute(
                select(m.Track.id, m.Track.end_time, m.Track.thumbnail, m.Camera.name, m.Identity.id, m.Identity.name)
                .join(m.Camera, m.Camera.id == m.Track.camera_id)
                .join(m.Identity, m.Identity.id == m.Track.identity_id)
                .where(m.Track.id.in_(track_ids), m.Identity.watch == 1)
            ).all()
            for tid, end, thumb, cam, ident, name in rows:
                dist = s.scalar(select(m.Match.distance).where(or_(m.Match.track_a == tid, m.Match.track_b == tid))
                                .order_by(m.Match.distance).limit(1))
                alert = Alert(cam, ident, name, tid, as_utc(end), dist, thumb)
                self.stats.alerts.append(alert)
                log.warning("WATCHLIST: identity %d%s seen on camera %s at %s (track %d, distance %s)", ident,
                            f" ({name})" if name else "", cam, alert.time, tid,
                            "n/a" if dist is None else f"{dist:.3f}")
                if self.on_alert is not None:
                    self.on_alert(alert)

    def _report_health(self) -> None:
        for name, cap in self._captures.items():
            h = cap.health
            if self._last_state.get(name) != h.state:
                self._last_state[name] = h.state
                self.stats.cameras[name].last_health = h.state.value
                log.info("camera %s: %s", name, h.describe())
                if self.on_health is not None:
                    self.on_health(h)

    def _shutdown(self) -> None:
        for cap in self._captures.values():
            cap.request_stop()
        try:
            self._flush(status="complete")
            if self.link is not None and self._pending_closed:
                self._link()
        finally:
            for cap in self._captures.values():
                cap.stop(timeout=5)
            self._report_health()
