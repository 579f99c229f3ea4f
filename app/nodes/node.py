"""One ``watch --node`` process: lease free registered cameras, watch them with a live monitor, heartbeat.

The monitor (app.live.monitor.LiveMonitor, started with no camera) runs on its own thread; this loop polls
the store every ``poll_s`` seconds:

1. heartbeat: health and frames/s of every held camera go to its lease row; a lease lost (PostgreSQL: the
   lock connection died; SQLite: the row was taken after it expired) stops that camera at once;
2. cameras unregistered meanwhile are stopped and given back;
3. free cameras are taken up to this node's fair share, ``ceil(registered / live nodes)`` (and
   ``max_cameras``); a camera still free after three polls (its peers are full, or cannot open it) is taken
   past the share. A node only takes free cameras: one that comes back never steals a camera mid-stream.

On exit the monitor stores everything it holds, then the leases are given back.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError

from app.errors import UserError
from app.live.monitor import CameraSpec, MonitorStats
from app.nodes.leases import Leases, LeaseStatus
from app.nodes.registry import Registered, registered_cameras, resolve_url
from app.store import Database

log = logging.getLogger(__name__)


class MonitorLike(Protocol):
    """What the node needs of a live monitor (app.live.monitor.LiveMonitor)."""

    stats: MonitorStats

    def add_camera(self, spec: CameraSpec) -> None: ...  # noqa: D102
    def remove_camera(self, name: str) -> None: ...  # noqa: D102
    def health(self) -> dict[str, Any]: ...  # noqa: D102
    def stop(self) -> None: ...  # noqa: D102
    def run(self, duration_s: float | None = None, *, keep_running: bool = False) -> MonitorStats: ...  # noqa: D102


@dataclass
class NodeStats:
    """What a node did: cameras taken and lost over its life (names), and the monitor's counts."""

    taken: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    monitor: MonitorStats | None = None


class CameraNode:
    """Serves registered cameras on behalf of node ``leases.node`` until ``stop()`` or the duration ends."""

    def __init__(self, db: Database, leases: Leases, monitor: MonitorLike, *, max_cameras: int | None = None,
                 poll_s: float = 3.0, secrets: dict[str, str] | None = None,
                 on_change: Callable[[str, str], None] | None = None) -> None:
        if max_cameras is not None and max_cameras < 1:
            raise UserError("--max-cameras must be at least 1")
        if not poll_s > 0:
            raise UserError("--poll-interval must be positive")
        self.db = db
        self.leases = leases
        self.monitor = monitor
        self.max_cameras = max_cameras
        self.poll_s = poll_s
        self.secrets = secrets or {}
        self.on_change = on_change  # (camera, "taken" | "lost" | "released")
        self.stats = NodeStats()
        self._names: dict[int, str] = {}  # held camera id -> name
        self._frames: dict[int, tuple[float, int]] = {}  # camera id -> (time, frames) at the last heartbeat
        self._unusable: set[str] = set()  # cameras this node cannot open (URL missing here): warned once
        self._free_since: dict[int, float] = {}  # camera id -> when this node first saw it without a lease row
        self._stop = threading.Event()

    def stop(self) -> None:
        """End the node (thread-safe)."""
        self._stop.set()

    # ------------------------------------------------------------------ one poll
    def _status(self) -> dict[int, LeaseStatus]:
        health = self.monitor.health()
        now = time.monotonic()
        out: dict[int, LeaseStatus] = {}
        for cid, name in self._names.items():
            st = self.monitor.stats.cameras.get(name)
            frames = st.frames if st is not None else 0
            t0, f0 = self._frames.get(cid, (now, frames))
            fps = (frames - f0) / (now - t0) if now > t0 else 0.0
            self._frames[cid] = (now, frames)
            h = health.get(name)
            state = h.state.value if h is not None else "connecting"
            out[cid] = LeaseStatus(state, round(max(fps, 0.0), 2), frames)
        return out

    def _drop(self, cid: int, why: str) -> None:
        name = self._names.pop(cid, None)
        self._frames.pop(cid, None)
        if name is None:
            return
        self.monitor.remove_camera(name)
        self.stats.lost.append(name)
        log.warning("node %s: camera %s %s", self.leases.node, name, why)
        self._changed(name, "lost" if why.startswith("lost") else "released")

    def _changed(self, name: str, what: str) -> None:
        from app.ops.metrics import count_lease_change

        count_lease_change(name, self.leases.node)  # reidwatch_lease_changes_total{camera,node}
        if self.on_change is not None:
            self.on_change(name, what)

    def poll(self) -> None:
        """Heartbeat, give up what is lost or unregistered, take free cameras up to the fair share."""
        for cid in self.leases.renew(self._status()):
            self._drop(cid, "lost (another node may take it)")
        cams = registered_cameras(self.db)
        by_id = {c.id: c for c in cams}
        for cid in [c for c in self._names if c not in by_id]:
            self._drop(cid, "was unregistered: stopped")
            self.leases.release(cid)
        share = math.ceil(len(cams) / self.leases.live_nodes())
        now = time.monotonic()
        unheld = {c.id for c in cams if c.node is None}
        self._free_since = {cid: self._free_since.get(cid, now) for cid in unheld}
        for cam in cams:
            if cam.id in self._names or cam.name in self._unusable:
                continue
            if self.max_cameras is not None and len(self._names) >= self.max_cameras:
                break
            # past the fair share only for a camera nobody else took for 3 polls (peers full or unable to open it)
            left_over = now - self._free_since.get(cam.id, now) >= 3 * self.poll_s
            if len(self._names) >= share and not left_over:
                continue
            self._take(cam)

    def _take(self, cam: Registered) -> None:
        try:
            url = resolve_url(cam, self.secrets)
        except UserError as exc:
            self._unusable.add(cam.name)
            log.warning("node %s cannot open camera %s: %s", self.leases.node, cam.name, exc)
            return
        if not self.leases.try_acquire(cam.id):
            return
        self._names[cam.id] = cam.name
        self.monitor.add_camera(CameraSpec(cam.name, url))
        self.stats.taken.append(cam.name)
        log.info("node %s: took camera %s", self.leases.node, cam.name)
        self._changed(cam.name, "taken")

    # ------------------------------------------------------------------ life
    def run(self, duration_s: float | None = None) -> NodeStats:
        """Serve cameras until stop(), the duration, or the monitor ends; gives every lease back on the way out."""
        self.leases.start()
        result: dict[str, Any] = {}

        def watch() -> None:
            try:
                result["stats"] = self.monitor.run(None, keep_running=True)
            except BaseException as exc:  # re-raised on the node's thread
                result["error"] = exc
            finally:
                self._stop.set()

        worker = threading.Thread(target=watch, name=f"node-{self.leases.node}", daemon=True)
        worker.start()
        deadline = None if duration_s is None else time.monotonic() + duration_s
        try:
            self._stop.wait(min(self.poll_s, 1.0))  # let peers starting together announce themselves
            while not self._stop.is_set():
                try:
                    self.poll()
                except SQLAlchemyError as exc:  # the store is away: keep watching, try again next poll
                    log.warning("node %s: store unavailable (%s); retrying", self.leases.node, type(exc).__name__)
                wait = self.poll_s if deadline is None else min(self.poll_s, deadline - time.monotonic())
                if wait <= 0 or self._stop.wait(wait):
                    break
        finally:
            self.monitor.stop()
            worker.join()
            self.leases.close()
        if "error" in result:
            raise result["error"]
        self.stats.monitor = result.get("stats", self.monitor.stats)
        return self.stats
