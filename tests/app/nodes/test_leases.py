"""Camera leases on a real SQLite file and a real PostgreSQL server: a node's cameras are free the moment its
process is killed (SIGKILL), a live node's never are, a node name runs once, and a node learns when it lost a
lease (SQLite: its row expired and was taken; PostgreSQL: its lock connection was cut)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from app.errors import UserError
from app.nodes.leases import open_leases
from app.nodes.registry import add_camera, registered_cameras
from app.store import open_database

ROOT = Path(__file__).resolve().parents[3]

HOLDER = """
import sys, time
from app.nodes.leases import open_leases
from app.nodes.registry import registered_cameras
from app.store import open_database
db = open_database(sys.argv[1])
leases = open_leases(db, "a")
leases.start()
print([c.name for c in registered_cameras(db)[:2] if leases.try_acquire(c.id)], flush=True)
time.sleep(120)
"""


def store_with_cameras(url: str, n: int = 3):  # type: ignore[no-untyped-def]
    db = open_database(url)
    for i in range(n):
        add_camera(db, f"cam{i}", f"rtsp://127.0.0.1:9/{i}")
    return db


def test_a_killed_node_frees_its_cameras_and_a_live_one_keeps_them(store_url):
    db = store_with_cameras(store_url)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, store_url], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    b = open_leases(db, "b")
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "['cam0', 'cam1']"
        b.start()
        assert b.live_nodes() == 2
        cams = registered_cameras(db)
        assert [(c.name, c.node) for c in cams] == [("cam0", "a"), ("cam1", "a"), ("cam2", None)]
        assert [b.try_acquire(c.id) for c in cams] == [False, False, True], "a live node's cameras stay its own"
        with pytest.raises(UserError, match="already running"):
            open_leases(db, "a").start()
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        start = time.monotonic()
        while not b.try_acquire(cams[0].id):
            assert time.monotonic() - start < 10, "the killed node's camera never came free"
            time.sleep(0.1)
        assert b.try_acquire(cams[1].id)
        assert b.live_nodes() == 1
        assert b.renew({}) == []
        assert {c.node for c in registered_cameras(db)} == {"b"}
    finally:
        holder.kill()
        holder.wait()
        b.close()
    assert {c.node for c in registered_cameras(db)} == {None}, "a node that stops gives its cameras back"
    db.close()


def test_sqlite_lease_expires_and_its_holder_learns_it_lost(tmp_path):
    db = store_with_cameras(str(tmp_path / "s.db"), 1)
    cam = registered_cameras(db)[0]
    a = open_leases(db, "a", ttl_s=0.3)  # both in this process: only the expiry frees the camera
    b = open_leases(db, "b", ttl_s=0.3)
    a.start()
    b.start()
    assert a.try_acquire(cam.id) and not b.try_acquire(cam.id)
    time.sleep(0.5)  # a misses its heartbeats (a frozen or cut-off node)
    assert b.try_acquire(cam.id)
    assert a.renew({}) == [cam.id] and cam.id not in a.held
    assert b.renew({}) == []
    a.close()
    b.close()
    db.close()


def test_postgres_node_whose_connection_is_cut_gives_up_its_cameras(postgres_server):
    url = postgres_server.url()
    db = store_with_cameras(url, 2)
    cams = registered_cameras(db)
    a, b = open_leases(db, "a"), open_leases(db, "b")
    a.start()
    b.start()
    try:
        assert all(a.try_acquire(c.id) for c in cams)
        with db.session() as s:  # the server drops a's session, as after a network cut
            s.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE application_name = 'reidwatch node a'"))
        start = time.monotonic()
        for c in cams:  # the backend exits a moment after the signal, freeing its locks
            while not b.try_acquire(c.id):
                assert time.monotonic() - start < 10, "the cut session's locks were never freed"
                time.sleep(0.05)
        assert sorted(a.renew({})) == sorted(c.id for c in cams) and not a.held
        assert not a.try_acquire(cams[0].id), "a new session takes only free cameras"
        assert {c.node for c in registered_cameras(db)} == {"b"}
    finally:
        a.close()
        b.close()
        db.close()
