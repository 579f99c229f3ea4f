"""A purge killed with SIGKILL half way leaves a consistent store, and running it again finishes the work."""

from __future__ import annotations

import importlib.util
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from app.privacy import audit
from app.store import open_database

ROOT = Path(__file__).resolve().parents[3]

PURGE = """
import sys
from datetime import datetime, timezone
from app.privacy.retention import purge
from app.store import open_database
db = open_database(sys.argv[1], create=False)
cut = datetime.fromisoformat(sys.argv[2])
def progress(done, total):
    print(done, total, flush=True)
purge(db, {f"cam{i}": cut for i in range(2)}, who="killed", batch=10, progress=progress)
print("finished", flush=True)
"""


def _bench():
    spec = importlib.util.spec_from_file_location("bench_purge", ROOT / "bench" / "bench_purge.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def _consistent(path: Path) -> None:
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA foreign_keys=ON")
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        for table in ("observations", "embeddings"):
            assert con.execute(f"SELECT count(*) FROM {table} WHERE track_id NOT IN (SELECT id FROM tracks)"
                               ).fetchone()[0] == 0
        # every track the purge reached went whole: a track left has all its observations and embeddings
        assert con.execute("SELECT count(*) FROM tracks t WHERE n_obs != (SELECT count(*) FROM observations o "
                           "WHERE o.track_id = t.id)").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM tracks t WHERE (SELECT count(*) FROM embeddings e "
                           "WHERE e.track_id = t.id) != 1").fetchone()[0] == 0


def test_sigkill_during_purge_leaves_a_consistent_store(tmp_path: Path) -> None:
    bench = _bench()
    path = tmp_path / "kill.db"
    bench.build(path, tracks=2000, obs=4, emb=1, cameras=2)
    cut = bench.T0 + timedelta(seconds=500 * bench.TRACK_S)  # half of each camera's 1000 tracks
    keep = bench.expected_left(path, cut)
    with sqlite3.connect(path) as con:
        n0 = con.execute("SELECT count(*) FROM tracks").fetchone()[0]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", PURGE, str(path), cut.isoformat()], stdout=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT)
    lines = []
    deadline = time.monotonic() + 120
    while len(lines) < 5 and time.monotonic() < deadline:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            break
        lines.append(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert len(lines) == 5 and "finished" not in "".join(lines)

    _consistent(path)
    with sqlite3.connect(path) as con:
        left = con.execute("SELECT count(*) FROM tracks").fetchone()[0]
    assert keep < left < n0  # killed half way: some batches went, whole
    db = open_database(path, create=False)
    try:
        assert audit.verify(db).ok
        rows = audit.list_rows(db, action="purge")
        assert [r.who for r in rows] == ["killed"]  # the plan was on record before the first deletion
        from app.privacy.retention import purge

        again = purge(db, {"cam0": cut, "cam1": cut}, who="rerun")
        assert again.tracks_deleted == left - keep
    finally:
        db.close()
    _consistent(path)
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT count(*) FROM tracks").fetchone()[0] == keep
    assert datetime.now(timezone.utc) > cut
