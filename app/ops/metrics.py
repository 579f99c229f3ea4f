"""Prometheus metrics of a node: cameras, store writes, the ingest queue and camera leases.

``serve_metrics(port)`` starts the HTTP endpoint (``/metrics``) in a daemon thread; ``ingest``, ``watch`` and
``worker`` call it for ``--metrics-port``. Per-camera figures are not counted twice: a collector reads, at each
scrape, the state the pipeline already keeps (``CameraProcessor.stats``, ``LiveMonitor.health()``), registered with
:func:`track_processor` and :func:`track_monitor` (weak references: a finished job disappears from the scrape).

Exported:

- ``reidwatch_camera_frames_total``, ``..._detections_total``, ``..._observations_total``, ``..._tracks_total``
  (closed tracks stored), ``..._frames_per_second`` (between two scrapes), per ``camera``;
- live cameras: ``reidwatch_camera_state{camera,state}`` (1 for the current state), ``..._reconnects_total``,
  ``..._frames_dropped_total``, ``..._lag_seconds`` (since the last frame arrived);
- ``reidwatch_store_write_seconds{op}`` (histogram) and ``reidwatch_store_write_errors_total{op}``;
- set by the queue and lease code: ``reidwatch_queue_jobs{state}`` (:func:`set_queue_jobs`) and
  ``reidwatch_lease_changes_total{camera,node}`` (:func:`count_lease_change`).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from app.errors import UserError

log = logging.getLogger(__name__)

STORE_WRITE_SECONDS = Histogram(
    "reidwatch_store_write_seconds", "Time of one write transaction to the store", ["op"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
STORE_WRITE_ERRORS = Counter("reidwatch_store_write_errors", "Store writes that failed (retried later)", ["op"])
QUEUE_JOBS = Gauge("reidwatch_queue_jobs", "Queued ingest jobs by state", ["state"])
LEASE_CHANGES = Counter("reidwatch_lease_changes", "Camera leases taken or lost by a node", ["camera", "node"])
QUEUE_STATES = ("pending", "running", "done", "failed")


def set_queue_jobs(counts: Mapping[str, int]) -> None:
    """The queue's depth: jobs per state (pending, running, done, failed); states not given are set to 0."""
    for state in {*QUEUE_STATES, *counts}:
        QUEUE_JOBS.labels(state=state).set(int(counts.get(state, 0)))


def count_lease_change(camera: str, node: str) -> None:
    """One lease change: ``node`` took (or gave up) ``camera``."""
    LEASE_CHANGES.labels(camera=camera, node=node).inc()


@contextmanager
def timed_write(op: str) -> Iterator[None]:
    """Time one store write; an exception counts as an error of ``op`` and is raised again."""
    errors = STORE_WRITE_ERRORS.labels(op=op)  # exported from the first write on, at 0 while all is well
    t0 = time.perf_counter()
    try:
        yield
    except BaseException:
        errors.inc()
        raise
    finally:
        STORE_WRITE_SECONDS.labels(op=op).observe(time.perf_counter() - t0)


class _Cameras(Collector):
    """Reads the registered processors and monitors at each scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: dict[str, weakref.ref[Any]] = {}
        self._monitors: weakref.WeakSet[Any] = weakref.WeakSet()
        self._rate: dict[str, tuple[float, int]] = {}  # camera -> (time, frames) at the last scrape

    def add_processor(self, camera: str, proc: Any) -> None:
        with self._lock:
            self._procs[camera] = weakref.ref(proc)
            self._rate.setdefault(camera, (time.monotonic(), 0))

    def add_monitor(self, monitor: Any) -> None:
        with self._lock:
            self._monitors.add(monitor)

    def _fps(self, camera: str, frames: int, now: float) -> float:
        t, n = self._rate.get(camera, (now, frames))
        if now - t < 0.5:
            return 0.0 if now == t else max(0.0, (frames - n) / (now - t))
        self._rate[camera] = (now, frames)
        return max(0.0, (frames - n) / (now - t)) if frames >= n else 0.0

    def collect(self) -> Iterator[Any]:
        lab = ["camera"]
        fam = {k: CounterMetricFamily(f"reidwatch_camera_{k}", doc, labels=lab) for k, doc in (
            ("frames", "Frames processed (detected and tracked)"), ("detections", "People detected"),
            ("observations", "Tracked boxes stored or buffered"), ("tracks", "Closed tracks written to the store"),
            ("reconnects", "Times a live stream came back after being lost"),
            ("frames_dropped", "Live frames replaced by a newer one before processing"))}
        fps = GaugeMetricFamily("reidwatch_camera_frames_per_second", "Frames processed per second", labels=lab)
        lag = GaugeMetricFamily("reidwatch_camera_lag_seconds", "Seconds since the last live frame arrived",
                                labels=lab)
        state = GaugeMetricFamily("reidwatch_camera_state", "Capture state of a live camera (1 = current)",
                                  labels=["camera", "state"])
        now, wall = time.monotonic(), datetime.now(timezone.utc)
        with self._lock:
            procs = {name: ref() for name, ref in self._procs.items()}
            monitors = list(self._monitors)
            for name, proc in procs.items():
                if proc is None:
                    self._procs.pop(name, None)
                    continue
                st = proc.stats
                for key, value in (("frames", st.frames), ("detections", st.detections),
                                   ("observations", st.observations), ("tracks", st.tracks_closed)):
                    fam[key].add_metric([name], value)
                fps.add_metric([name], self._fps(name, st.frames, now))
        for monitor in monitors:
            for name, h in monitor.health().items():
                fam["reconnects"].add_metric([name], h.reconnects)
                fam["frames_dropped"].add_metric([name], h.frames_dropped)
                for s in type(h.state):
                    state.add_metric([name, s.value], 1.0 if s == h.state else 0.0)
                if h.last_frame_time is not None:
                    lag.add_metric([name], max(0.0, (wall - h.last_frame_time).total_seconds()))
        yield from (*fam.values(), fps, lag, state)


CAMERAS = _Cameras()
REGISTRY.register(CAMERAS)


def track_processor(camera: str, proc: Any) -> None:
    """Export a camera's ``CameraProcessor`` (its ``stats``) while it lives; the newest one per camera counts."""
    CAMERAS.add_processor(camera, proc)


def track_monitor(monitor: Any) -> None:
    """Export a ``LiveMonitor``'s camera health (state, reconnects, dropped frames, lag) while it lives."""
    CAMERAS.add_monitor(monitor)


def serve_metrics(port: int, addr: str = "127.0.0.1") -> int:
    """Serve ``/metrics`` on ``addr:port`` (0: a free port) in a daemon thread; the port it listens on.

    UserError when the port cannot be bound (in use, privileged)."""
    try:
        server, _thread = start_http_server(int(port), addr=addr)
    except (OSError, OverflowError) as exc:
        raise UserError(f"cannot serve metrics on {addr}:{port}: {exc.strerror or exc}") from None
    bound = int(server.server_address[1])
    log.info("Prometheus metrics on http://%s:%d/metrics", addr, bound)
    return bound


def add_metrics_arguments(p: Any) -> None:
    """``--metrics-port`` and ``--metrics-addr`` for a command that runs for a while (ingest, watch, worker)."""
    p.add_argument("--metrics-port", type=int, metavar="PORT",
                   help="serve Prometheus metrics on this port (http://ADDR:PORT/metrics)")
    p.add_argument("--metrics-addr", default="127.0.0.1", metavar="ADDR",
                   help="address the metrics endpoint listens on (default 127.0.0.1; 0.0.0.0 lets a Prometheus "
                        "on another machine scrape it)")


def serve_from_args(args: Any) -> int | None:
    """Start the endpoint when ``--metrics-port`` was given; the bound port, or None."""
    port = getattr(args, "metrics_port", None)
    if port is None:
        return None
    return serve_metrics(port, getattr(args, "metrics_addr", "127.0.0.1"))
