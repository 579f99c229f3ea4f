"""Issue 11: `reidwatch watch` survives camera restarts and freezes with nothing lost, as a user runs it.

One `reidwatch watch` process against a real GStreamer RTSP server on 127.0.0.1, people in view. The server
is stopped and started again (down 2 s, 8 s and 30 s) and frozen with SIGSTOP/SIGCONT (the connection stays
open, nothing arrives). After every recovery rows are stored again; the watcher exits 0 at ``--duration``;
the store passes ``integrity_check``; no (track, frame) and no (source, local id) is stored twice.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.app.live.test_watch import PASSWORD, people_video

pytestmark = [pytest.mark.rtsp, pytest.mark.slow]
DURATION_S = 150


def query(db_path: Path, sql: str, *args: object) -> list[tuple]:
    if not db_path.exists():
        return []
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(sql, args).fetchall()
    except sqlite3.OperationalError:  # the schema is not created yet
        return []
    finally:
        con.close()


def rows_after(db_path: Path, after: datetime) -> int:
    stamp = after.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
    got = query(db_path, "SELECT count(*) FROM observations WHERE t > ?", stamp)
    return got[0][0] if got else 0


def wait_rows_after(db_path: Path, after: datetime, proc: subprocess.Popen, timeout: float) -> float:
    """Seconds until an observation captured after ``after`` is stored; fails when none comes in time."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        assert proc.poll() is None, "the watcher must keep running"
        if rows_after(db_path, after) > 0:
            return time.monotonic() - start
        time.sleep(0.3)
    raise AssertionError(f"no rows stored within {timeout} s after the camera came back")


def test_watch_keeps_storing_through_restarts_and_freezes(tmp_path, shared_data, rtsp_server):
    video = people_video(shared_data, tmp_path / "people.avi")
    srv = rtsp_server(video, user="op", password=PASSWORD, max_seconds=DURATION_S + 120)
    db_path = tmp_path / "watch.db"
    config = tmp_path / "config.toml"
    config.write_text('[detector]\nimgsz = 320\n[encoder]\nbackbone = "mobilenetv2"\n[tracker]\nmemory_s = 1.0\n')
    log_path = tmp_path / "watch.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "--config", str(config), "watch", "--camera",
             f"live={srv.url_with('op', PASSWORD)}", "--duration", str(DURATION_S), "--db", str(db_path),
             "--device", "cpu", "--stall-timeout", "2", "--backoff-max", "1", "--link-interval", "5"],
            stdout=log, stderr=subprocess.STDOUT, text=True,
        )
    try:
        wait_rows_after(db_path, datetime(2000, 1, 1, tzinfo=timezone.utc), proc, 120)
        recoveries = {}
        for kind, down_s in (("restart", 2.0), ("restart", 8.0), ("freeze", 5.0), ("restart", 30.0)):
            if kind == "restart":
                srv.stop()
                time.sleep(down_s)
                srv.start()
            else:
                srv.pause()
                time.sleep(down_s)
                srv.resume()
            back = datetime.now(timezone.utc)
            recoveries[f"{kind} {down_s:g} s"] = wait_rows_after(db_path, back, proc, 45)
        rc = proc.wait(DURATION_S + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = log_path.read_text()
    assert rc == 0, out[-3000:]
    assert "Traceback" not in out and "IntegrityError" not in out and PASSWORD not in out
    assert "live again" in out
    assert query(db_path, "PRAGMA integrity_check") == [("ok",)]
    assert query(db_path, "SELECT track_id, frame FROM observations GROUP BY track_id, frame HAVING count(*) > 1") \
        == [], "no (track, frame) pair is stored twice"
    assert query(db_path, "SELECT source_id, local_id FROM tracks GROUP BY source_id, local_id HAVING count(*) > 1") \
        == []
    assert query(db_path, "SELECT DISTINCT status FROM sources") == [("complete",)]
    (n_obs,), = query(db_path, "SELECT count(*) FROM observations")
    (n_tracks, summed), = query(db_path, "SELECT count(*), sum(n_obs) FROM tracks")
    assert n_obs == summed and n_tracks >= 2, "every observation belongs to a track that counts it"
    assert query(db_path, "SELECT count(*) FROM tracks WHERE thumbnail IS NULL") == [(0,)], \
        "every track was closed (embedded and given a thumbnail) by the end"
    print("recovery (camera back -> rows stored):", {k: round(v, 1) for k, v in recoveries.items()})
