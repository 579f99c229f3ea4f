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
from datetime import datetime, timezone

from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError

from app.ingest.pipeline import CameraProcessor, EncoderLike, _short, thumbnail_jpeg
from app.ingest.tracklife import keep_newest
from app.live.capture import CameraCapture, CapturedFrame
from app.live.health import CameraHealth, CameraState
from app.live.redact import redact_url
from app.live.writer import flush_cameras, write_until_done
from app.ops.metrics import track_monitor, track_processor
from app.store import Database, repo
from app.store import models as m
from app.store.records import as_utc
from trackers.types import Detector, Tracker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraSpec:
    """A camera to watch: its name and stream URL (the URL never appears in repr or logs)."""

    name: str
    url: str  # may hold credentials: kept in memory only, handed to CameraCapture

    def __repr__(self) -> str:  # never print the secret
        return f"CameraSpec(name={self.name!r}, url={redact_url(self.url)!r})"


@dataclass(frozen=True)
class Alert:
    """A watched identity seen on a camera: when, by which track, at what descriptor distance."""

    camera: str
    identity_id: int
    identity_name: str | None
    track_id: int  # the stored track; while ``live``, the camera tracker's id of the still-open track
    time: datetime
    distance: float | None
    thumbnail: bytes | None
    live: bool = False  # raised while the person is in view, before the track is stored


@dataclass(frozen=True)
class LiveIdentity:
    """The stored identity an open track looks like, found while the person is still in view."""

    identity_id: int
    name: str | None
    distance: float
    watch: bool


@dataclass
class CameraStats:
    """Running counts of one watched camera and its last health line."""

    frames: int = 0
    observations: int = 0
    tracks: int = 0
    last_health: str = "connecting"


@dataclass
class MonitorStats:
    """Per-camera counts, the alerts raised and the number of linking runs of one ``LiveMonitor``."""

    cameras: dict[str, CameraStats] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    link_runs: int = 0


LinkFn = Callable[[Database, list[str], list[int]], object]  # (db, cameras, newly closed track ids)


class LiveMonitor:
    """Watches several cameras until ``stop()`` or the duration ends; everything is committed on exit."""

    def __init__(
        self, *, db: Database, cameras: list[CameraSpec], detector: Detector, encoder: EncoderLike,
        tracker_factory: Callable[[], Tracker], link: LinkFn | None = None, flush_interval_s: float = 2.0,
        link_interval_s: float = 20.0, close_after_s: float = 4.0, capture_options: dict | None = None,
        on_alert: Callable[[Alert], None] | None = None, on_health: Callable[[CameraHealth], None] | None = None,
        on_frame: Callable[[str, CapturedFrame, object], None] | None = None,
        reid_interval_s: float = 3.0, training_crops: int = 16, drop_scenery: bool = True,
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
        self.close_after_s, self.drop_scenery = close_after_s, drop_scenery  # drop_scenery: [tracker] scenery
        self.training_crops = training_crops  # per track: no video is kept ([ingest] training_crops, keep_crops)
        self.shutdown_write_s = 60.0  # how long the last write may be retried against a busy store
        self.max_pending_links = 100_000
        self.capture_options = capture_options or {}
        self.on_alert = on_alert
        self.on_health = on_health
        self.on_frame = on_frame
        self.stats = MonitorStats()
        track_monitor(self)  # --metrics-port: health, reconnects, lag of every camera (app.ops.metrics)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._captures: dict[str, CameraCapture] = {}
        self._procs: dict[str, CameraProcessor] = {}
        self._camera_ids: dict[str, int] = {}
        self._last_state: dict[str, CameraState] = {}
        self._pending_closed: list[int] = []
        self._commands: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()
        self.reid_interval_s = reid_interval_s
        self._live_ids: dict[str, dict[int, LiveIdentity]] = {}
        self._alerted: set[tuple[str, int]] = set()

    def live_identities(self, camera: str) -> dict[int, LiveIdentity]:
        """Tracker id -> identity for the camera's open tracks recognised so far (thread-safe snapshot)."""
        return dict(self._live_ids.get(camera, {}))

    def add_camera(self, spec: CameraSpec) -> None:
        """Start watching another camera (thread-safe; takes effect in the worker loop)."""
        self._commands.put(("add", spec))
        self._wake.set()

    def remove_camera(self, name: str) -> None:
        """Stop watching a camera: its open tracks are closed and stored (thread-safe)."""
        self._commands.put(("remove", name))
        self._wake.set()

    def stop(self) -> None:
        """Ask the worker loop to end; open tracks are closed and stored on the way out (thread-safe)."""
        self._stop.set()
        self._wake.set()

    def health(self) -> dict[str, CameraHealth]:
        """Camera name -> current health of every watched camera."""
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
        proc = self._procs.get(name)
        if proc is not None:
            self._write_until_done({name: proc}, status="complete")
            self._procs.pop(name, None)
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
        last_flush = last_link = last_reid = time.monotonic()
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
                if self.reid_interval_s > 0 and now - last_reid >= self.reid_interval_s:
                    try:
                        self._recognise_open_tracks()
                    except Exception:  # recognition is a bonus: it must never stop live capture
                        log.exception("live recognition failed; capture goes on")
                    last_reid = now
        finally:
            self._shutdown()
        return self.stats

    def _process(self, frames: list[CapturedFrame]) -> None:
        detections = self.detector.detect_batch([f.image for f in frames])
        for f, dets in zip(frames, detections, strict=True):
            proc = self._procs.get(f.camera) or self._new_processor(f)
            if proc is None:
                continue  # the store refused the new session: the next frame tries again
            tracks = proc.process(f.frame_index, f.image, dets, f.wall_time)
            st = self.stats.cameras[f.camera]
            st.frames += 1
            st.observations += len(tracks)
            if self.on_frame is not None:
                self.on_frame(f.camera, f, tracks)

    def _new_processor(self, f: CapturedFrame) -> CameraProcessor | None:
        spec = next(s for s in self.specs if s.name == f.camera)
        h, w = f.image.shape[:2]
        try:
            with self.db.session() as s:
                src = repo.create_source(
                    s, camera_id=self._camera_ids[f.camera], uri=redact_url(spec.url), content_hash=None,
                    start_time=f.wall_time, fps=0.0, frame_count=0, width=w, height=h, settings={"live": True},
                )
        except SQLAlchemyError as exc:
            log.warning("camera %s: cannot start a live session in the store yet (%s)", f.camera, _short(exc))
            return None
        proc = CameraProcessor(db=self.db, camera_id=self._camera_ids[f.camera], source_id=src.id,
                               tracker=self.tracker_factory(), encoder=self.encoder, drop_scenery=self.drop_scenery,
                               close_after_s=self.close_after_s, training_crops=self.training_crops)
        self._procs[f.camera] = proc
        track_processor(f.camera, proc)  # --metrics-port (app.ops.metrics)
        log.info("camera %s: live session stored as source %d", f.camera, src.id)
        return proc

    def _flush(self, status: str | None = None) -> bool:
        ok, closed = flush_cameras(self._procs, self._frames_of, status)
        self._collect_closed(closed)
        return ok

    def _frames_of(self, name: str) -> int:
        return self.stats.cameras[name].frames

    def _collect_closed(self, closed: dict[str, list[int]]) -> None:
        for name, ids in closed.items():
            self._pending_closed.extend(ids)
            self.stats.cameras[name].tracks += len(ids)

    def _write_until_done(self, procs: dict[str, CameraProcessor] | None = None, *, status: str) -> bool:
        return write_until_done(self._procs if procs is None else procs, self._frames_of, status=status,
                                timeout_s=self.shutdown_write_s, on_closed=self._collect_closed)

    def _link(self) -> None:
        closed, self._pending_closed = self._pending_closed, []
        try:
            self.link(self.db, [s.name for s in self.specs], closed)  # type: ignore[misc]
        except Exception:  # linking must never stop live capture; the tracks are retried next time
            log.exception("live linking of %d closed track(s) failed; retried at the next run", len(closed))
            self._pending_closed, dropped = keep_newest(closed + self._pending_closed, self.max_pending_links)
            if dropped:
                log.error("%d closed tracks will not be linked live (run `reidwatch link`)", dropped)
            return
        self.stats.link_runs += 1
        try:
            self._alerts(closed)
        except Exception:
            log.exception("watchlist check after linking failed; capture goes on")

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
                if any(a.live and a.camera == cam and a.identity_id == ident for a in self.stats.alerts[-50:]):
                    continue  # already announced while the person was in view
                dist = s.scalar(select(m.Match.distance).where(or_(m.Match.track_a == tid, m.Match.track_b == tid))
                                .order_by(m.Match.distance).limit(1))
                self._raise(Alert(cam, ident, name, tid, as_utc(end), dist, thumb))

    def _recognise_open_tracks(self) -> None:
        """Match open tracks against stored identities (one batched encoder call for every camera), so the
        operator sees who is on screen and watchlist alerts fire while the person is still in view."""
        from app.identity.search import search_descriptor
        from reid_core.track_descriptors import aggregate_samples

        todo: list[tuple[str, int, list]] = []
        for name, proc in self._procs.items():
            known = self._live_ids.setdefault(name, {})
            open_samples = proc.open_track_samples()
            for tid in [t for t in known if t not in open_samples]:
                del known[tid]  # closed: the stored track takes over
            todo += [(name, tid, smp) for tid, smp in open_samples.items() if tid not in known]
        if not todo:
            return
        with self.db.session() as s:
            setting = repo.get_setting(s, "link.threshold")
        if not setting or "value" not in setting:
            return  # nothing linked yet: no operating point to judge a match by
        threshold = float(setting["value"])
        crops = [smp.crop_bgr[:, :, ::-1] for _, _, samples in todo for smp in samples]
        kps = [smp.keypoints for _, _, samples in todo for smp in samples]
        emb = self.encoder.encode(crops, kps)
        start = 0
        for name, tid, samples in todo:
            idx = list(range(start, start + len(samples)))
            start += len(samples)
            desc = aggregate_samples(emb.global_feat[idx], emb.parts[idx], emb.visibility[idx])  # type: ignore[attr-defined]
            hits = search_descriptor(self.db, desc, k=1)
            if not hits or hits[0].identity_id is None or hits[0].distance > threshold:
                continue
            hit = hits[0]
            with self.db.session() as s:
                ident = s.get(m.Identity, hit.identity_id)
                watch = bool(ident and ident.watch)
            live = LiveIdentity(hit.identity_id, hit.identity_name, float(hit.distance), watch)
            self._live_ids[name][tid] = live
            if watch and (name, tid) not in self._alerted:
                self._alerted.add((name, tid))
                best = max(samples, key=lambda x: x.quality)
                self._raise(Alert(name, live.identity_id, live.name, tid, datetime.now(timezone.utc), live.distance,
                                  thumbnail_jpeg(best.crop_bgr), live=True))

    def _raise(self, alert: Alert) -> None:
        self.stats.alerts.append(alert)
        who = f"identity {alert.identity_id}" + (f" ({alert.identity_name})" if alert.identity_name else "")
        log.warning("WATCHLIST: %s seen on camera %s at %s (distance %s)", who, alert.camera,
                    alert.time.isoformat(timespec="seconds"),
                    "n/a" if alert.distance is None else f"{alert.distance:.3f}")
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
            self._write_until_done(status="complete")
            if self.link is not None and self._pending_closed:
                self._link()
        finally:
            for cap in self._captures.values():
                cap.stop(timeout=5)
            self._report_health()
