"""Camera leases: which ``watch --node`` process watches which registered camera, tied to the node's life.

Two backends behind one interface (:func:`open_leases`):

- **PostgreSQL**: a session-level advisory lock per camera (``pg_try_advisory_lock(NS_CAMERA, camera_id)``),
  held on one dedicated connection for the node's life. The server drops the locks when that connection dies
  (kill -9, power loss, network cut: TCP keepalives on both ends find a dead peer within about 11 s), so
  another node's next ``try_acquire`` succeeds. The node's name is locked the same way (``NS_NODE``), which
  refuses a second node of that name and lets every node count the live nodes from ``pg_locks``. The
  ``camera_leases`` rows are only for display; a node that loses its lock connection stops its cameras.
- **SQLite** (one machine): the ``camera_leases`` row *is* the lease. It expires ``ttl_s`` after its last
  heartbeat, and a row whose process (same host, ``pid``) is gone is free at once.

Either way a node only ever takes *free* cameras; it never takes one from a live node.
"""

from __future__ import annotations

import logging
import os
import socket
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, create_engine, delete, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from app.errors import UserError
from app.store import Database
from app.store import models as m
from app.store.records import as_utc

log = logging.getLogger(__name__)
NS_CAMERA = 0x52574341  # "RWCA": advisory-lock namespace (first int4 key) of camera leases
NS_NODE = 0x5257434E  # "RWCN": namespace of node names
HOST = socket.gethostname()
_LOCK = text("SELECT pg_try_advisory_lock(CAST(:ns AS integer), CAST(:key AS integer))")
_UNLOCK = text("SELECT pg_advisory_unlock(CAST(:ns AS integer), CAST(:key AS integer))")


@dataclass(frozen=True)
class LeaseStatus:
    """What a node reports for one held camera at a heartbeat."""

    health: str
    fps: float
    frames: int


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)  # naive UTC, as the store keeps times


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def node_key(name: str) -> int:
    """The node name's second advisory-lock key (a signed 32-bit CRC)."""
    v = zlib.crc32(name.encode())
    return v - (1 << 32) if v >= 1 << 31 else v


class _NameTaken(Exception):
    """Another session holds this node name's lock."""


class Leases:
    """The camera leases of one node (base: the row bookkeeping both backends share)."""

    def __init__(self, db: Database, node: str, *, ttl_s: float = 15.0) -> None:
        self.db = db
        self.node = node
        self.ttl = timedelta(seconds=ttl_s)
        self.pid = os.getpid()
        self.held: dict[int, datetime] = {}  # camera id -> since (naive UTC)

    # ------------------------------------------------------------------ interface
    def start(self) -> None:
        """Announce the node (refuses a second live node of the same name)."""
        self._announce()

    def live_nodes(self) -> int:
        """How many nodes are running now (this one included)."""
        with self.db.session() as s:
            rows = s.execute(select(m.Node.host, m.Node.pid, m.Node.expires)).all()
        return max(1, sum(1 for host, pid, exp in rows if self._alive(host, pid, exp, _now())))

    def try_acquire(self, camera_id: int) -> bool:
        """Take the camera if no live node holds it; True when this node now holds it."""
        raise NotImplementedError

    def renew(self, status: dict[int, LeaseStatus]) -> list[int]:
        """Heartbeat: store health and frames/s of the held cameras; returns the ids of leases lost."""
        raise NotImplementedError

    def release(self, camera_id: int) -> None:
        """Give one camera back."""
        self.held.pop(camera_id, None)
        self._delete_row(camera_id)

    def close(self) -> None:
        """Give every camera back and remove the node's row."""
        for cid in list(self.held):
            try:
                self.release(cid)
            except SQLAlchemyError as exc:
                log.warning("could not release camera %d: %s", cid, type(exc).__name__)
        try:
            with self.db.session() as s:
                s.execute(delete(m.Node).where(m.Node.name == self.node, m.Node.pid == self.pid,
                                               m.Node.host == HOST))
        except SQLAlchemyError as exc:
            log.warning("could not remove node %s from the store: %s", self.node, type(exc).__name__)

    # ------------------------------------------------------------------ rows
    def _alive(self, host: str, pid: int, expires: datetime, now: datetime) -> bool:
        if host == HOST and not pid_alive(pid):
            return False
        return as_utc(expires) > as_utc(now)

    def _announce(self) -> None:
        now = _now()
        with self.db.session() as s:
            row = s.get(m.Node, self.node)
            if row is not None and (row.host, row.pid) != (HOST, self.pid) \
                    and self._alive(row.host, row.pid, row.expires, now):
                raise UserError(f"a node named {self.node} is already running (on {row.host}, pid {row.pid}); "
                                "give each node its own --node name")
            if row is None:
                s.add(m.Node(name=self.node, host=HOST, pid=self.pid, started=now, heartbeat=now,
                             expires=now + self.ttl))
            else:
                row.host, row.pid, row.started, row.heartbeat, row.expires = HOST, self.pid, now, now, now + self.ttl

    def _insert_row(self, camera_id: int, since: datetime) -> None:
        with self.db.session() as s:
            s.add(m.CameraLease(camera_id=camera_id, node=self.node, host=HOST, pid=self.pid, since=since,
                                heartbeat=since, expires=since + self.ttl, health="connecting", fps=0.0, frames=0))

    def _delete_row(self, camera_id: int) -> None:
        with self.db.session() as s:
            s.execute(delete(m.CameraLease).where(m.CameraLease.camera_id == camera_id,
                                                  m.CameraLease.node == self.node, m.CameraLease.pid == self.pid))

    def _write_heartbeat(self, status: dict[int, LeaseStatus]) -> list[int]:
        """Update the held rows; the ids whose row is no longer this node's."""
        now = _now()
        missing: list[int] = []
        with self.db.session() as s:
            s.execute(update(m.Node).where(m.Node.name == self.node, m.Node.pid == self.pid)
                      .values(heartbeat=now, expires=now + self.ttl))
            for cid, since in self.held.items():
                st = status.get(cid, LeaseStatus("connecting", 0.0, 0))
                res = s.execute(
                    update(m.CameraLease)
                    .where(m.CameraLease.camera_id == cid, m.CameraLease.node == self.node,
                           m.CameraLease.pid == self.pid, m.CameraLease.since == since)
                    .values(heartbeat=now, expires=now + self.ttl, health=st.health[:32], fps=st.fps,
                            frames=st.frames)
                )
                if res.rowcount == 0:  # type: ignore[attr-defined]
                    missing.append(cid)
        return missing


class SqliteLeases(Leases):
    """Leases as expiring rows (one machine: a dead process's rows are free at once)."""

    def try_acquire(self, camera_id: int) -> bool:
        """Take the camera if no live node holds it; True when this node now holds it."""
        now = _now()
        try:
            with self.db.session() as s:
                row = s.get(m.CameraLease, camera_id)
                if row is not None:
                    if self._alive(row.host, row.pid, row.expires, now):
                        return False
                    gone = s.execute(delete(m.CameraLease).where(
                        m.CameraLease.camera_id == camera_id, m.CameraLease.node == row.node,
                        m.CameraLease.pid == row.pid, m.CameraLease.since == row.since))
                    if gone.rowcount == 0:  # type: ignore[attr-defined]
                        return False  # another node took it first
                s.add(m.CameraLease(camera_id=camera_id, node=self.node, host=HOST, pid=self.pid, since=now,
                                    heartbeat=now, expires=now + self.ttl, health="connecting", fps=0.0, frames=0))
        except IntegrityError:
            return False
        self.held[camera_id] = now
        return True

    def renew(self, status: dict[int, LeaseStatus]) -> list[int]:
        """Heartbeat: store health and frames/s of the held cameras; returns the ids of leases lost."""
        lost = self._write_heartbeat(status)
        for cid in lost:
            self.held.pop(cid, None)
        return lost


class PostgresLeases(Leases):
    """Leases as session-level advisory locks on one dedicated connection; rows for display."""

    def __init__(self, db: Database, node: str, *, ttl_s: float = 15.0) -> None:
        super().__init__(db, node, ttl_s=ttl_s)
        self._engine = create_engine(
            db.engine.url, poolclass=NullPool,
            connect_args={"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
                          "application_name": f"reidwatch node {node}"[:63], "connect_timeout": 10},
        )
        self._conn: Connection | None = None

    def _connect(self) -> Connection:
        """A new lock session holding the node name's lock; _NameTaken when another session holds it."""
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        for setting in ("tcp_keepalives_idle = 5", "tcp_keepalives_interval = 2", "tcp_keepalives_count = 3"):
            conn.execute(text(f"SET {setting}"))  # the server notices a dead node within ~11 s
        if not conn.scalar(_LOCK, {"ns": NS_NODE, "key": node_key(self.node)}):
            conn.close()
            raise _NameTaken(self.node)
        return conn

    def _lock_conn(self) -> Connection | None:
        """The lock session, reconnected after a loss; None while that fails (the next poll tries again)."""
        if self._conn is None:
            try:
                self._conn = self._connect()
            except _NameTaken:  # our old session is not dead on the server yet (network cut): wait
                log.warning("node %s: the server still holds the previous session; waiting", self.node)
            except SQLAlchemyError as exc:
                log.warning("node %s: cannot reach the store (%s); retrying", self.node, type(exc).__name__)
        return self._conn

    def start(self) -> None:
        """Open the lock connection (locks the node name) and announce the node."""
        if self._conn is None:
            try:
                self._conn = self._connect()
            except _NameTaken:
                raise UserError(f"a node named {self.node} is already running; give each node its own --node "
                                "name") from None
        self._announce()

    def live_nodes(self) -> int:
        """Live nodes, counted from the node-name locks the server holds."""
        with self.db.session() as s:
            n = s.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                              "AND classid = CAST(:ns AS oid) AND objsubid = 2 AND database = "
                              "(SELECT oid FROM pg_database WHERE datname = current_database())"),
                         {"ns": NS_NODE & 0xFFFFFFFF})
        return max(1, int(n or 0))

    def try_acquire(self, camera_id: int) -> bool:
        """Take the camera if no live node holds it; True when this node now holds it."""
        conn = self._lock_conn()
        if conn is None or not conn.scalar(_LOCK, {"ns": NS_CAMERA, "key": camera_id}):
            return False
        since = _now()
        try:
            with self.db.session() as s:  # the lock is ours: any row left is a dead node's
                s.execute(delete(m.CameraLease).where(m.CameraLease.camera_id == camera_id))
                s.add(m.CameraLease(camera_id=camera_id, node=self.node, host=HOST, pid=self.pid, since=since,
                                    heartbeat=since, expires=since + self.ttl, health="connecting", fps=0.0,
                                    frames=0))
        except SQLAlchemyError:
            conn.scalar(_UNLOCK, {"ns": NS_CAMERA, "key": camera_id})
            raise
        self.held[camera_id] = since
        return True

    def _locked(self) -> set[int] | None:
        """Camera ids whose lock this node's connection holds; None when the connection is gone."""
        conn = self._lock_conn()
        if conn is None:
            return None
        try:
            rows = conn.execute(text(
                "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid() "
                "AND classid = CAST(:ns AS oid) AND objsubid = 2"), {"ns": NS_CAMERA & 0xFFFFFFFF}).all()
        except SQLAlchemyError as exc:
            log.error("node %s lost its lease connection (%s): its cameras are given up", self.node,
                      type(exc).__name__)
            self._drop_conn()
            return None
        return {int(r[0]) for r in rows}

    def _drop_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except SQLAlchemyError:
                pass

    def renew(self, status: dict[int, LeaseStatus]) -> list[int]:
        """Heartbeat: store health and frames/s of the held cameras; returns the ids of leases lost."""
        locked = self._locked()
        lost = [cid for cid in self.held if locked is None or cid not in locked]
        for cid in lost:
            self.held.pop(cid, None)
        try:
            for cid in self._write_heartbeat(status):  # our lock, but the row went: write it again
                self._insert_row(cid, self.held[cid])
        except SQLAlchemyError as exc:  # display rows only: the locks decide
            log.warning("node %s: heartbeat not stored (%s)", self.node, type(exc).__name__)
        return lost

    def release(self, camera_id: int) -> None:
        """Give one camera back (row and lock)."""
        super().release(camera_id)
        if self._conn is not None:
            try:
                self._conn.scalar(_UNLOCK, {"ns": NS_CAMERA, "key": camera_id})
            except SQLAlchemyError:  # the session is gone, and its locks with it
                self._drop_conn()

    def close(self) -> None:
        """Give every camera back; closing the lock connection frees any lock left."""
        try:
            super().close()
        finally:
            self._drop_conn()  # closing the session frees every lock it held
            self._engine.dispose()


def open_leases(db: Database, node: str, *, ttl_s: float = 15.0) -> Leases:
    """The lease backend for ``db``'s engine (PostgreSQL: advisory locks; SQLite: expiring rows)."""
    name = db.engine.dialect.name
    if name == "postgresql":
        return PostgresLeases(db, node, ttl_s=ttl_s)
    if name == "sqlite":
        return SqliteLeases(db, node, ttl_s=ttl_s)
    raise UserError(f"camera leases need SQLite or PostgreSQL, not {name}")

