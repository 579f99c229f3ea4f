"""After ``kill -9`` during an ingest, the resumed run closes the tracks that were open at the kill (issue 11).

Their observations were flushed, but their samples died with the process: the resumed run reads their best
frames from the video again and stores their embeddings and thumbnails, so every track can be linked.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def one(db: Path, sql: str) -> tuple:
    if not db.exists():
        return (None,)
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(sql).fetchone()
    except sqlite3.OperationalError:
        return (None,)
    finally:
        con.close()


def test_resume_after_kill_closes_the_tracks_open_at_the_kill(tmp_path, vtest_clip: Path) -> None:
    db = tmp_path / "s.db"
    config = tmp_path / "config.toml"
    config.write_text('[encoder]\nbackbone = "mobilenetv2"\n')
    cmd = [sys.executable, "-m", "app.cli", "--config", str(config), "ingest", str(vtest_clip), "--camera", "hall",
           "--db", str(db), "--device", "cpu", "--start", "2026-12-01T10:00:00"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if (one(db, "SELECT count(*) FROM observations")[0] or 0) > 0:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the ingest ended before it could be killed: " + (proc.stderr.read() or "")[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    open_at_kill = one(db, "SELECT count(*) FROM tracks WHERE thumbnail IS NULL")[0]
    assert open_at_kill > 0, "tracks were open (flushed observations, no samples stored) at the kill"
    killed_at = one(db, "SELECT max(frame) FROM observations")[0]
    assert killed_at < 39
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming source" in done.stderr and "left open by an interrupted run closed" in done.stderr
    assert one(db, "SELECT count(*) FROM tracks WHERE thumbnail IS NULL")[0] == 0, "every track closed"
    assert one(db, "SELECT count(*) FROM tracks t WHERE NOT EXISTS "
                   "(SELECT 1 FROM embeddings e WHERE e.track_id = t.id)")[0] == 0, "every track embedded"
    assert one(db, "SELECT status, frames_done FROM sources") == ("complete", 40)
    assert one(db, "SELECT count(*) FROM (SELECT track_id, frame FROM observations GROUP BY track_id, frame "
                   "HAVING count(*) > 1)")[0] == 0
    assert one(db, "SELECT count(DISTINCT frame) FROM observations")[0] >= 38
    assert one(db, "PRAGMA integrity_check") == ("ok",)
