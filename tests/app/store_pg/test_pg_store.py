"""Issue 12: what a PostgreSQL store must do like a SQLite one: the append-only audit trail (plpgsql triggers),
concurrent audit appends keeping one hash chain, and an adapted encoder every node finds."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.config import Config
from app.privacy import audit
from app.store import open_database

ROOT = Path(__file__).resolve().parents[3]


def test_audit_trail_is_append_only_and_one_chain_on_postgresql(postgres_server):
    db = open_database(postgres_server.url())
    with ThreadPoolExecutor(4) as pool:  # four appenders at once: the lock keeps the chain linear
        list(pool.map(lambda i: audit.record(db, "search", f"op{i % 4}", {"n": i}), range(40)))
    result = audit.verify(db)
    assert result.ok and result.n_rows == 40, result.problems
    for sql in ("DELETE FROM audit_log WHERE id = 1", "UPDATE audit_log SET who = 'x' WHERE id = 2",
                "TRUNCATE audit_log"):
        with pytest.raises(IntegrityError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(sql))
    assert audit.verify(db).n_rows == 40
    db.close()


def test_adapted_encoder_reaches_another_node_through_the_database(postgres_server, tmp_path, monkeypatch):
    from app.training.active import active_checkpoint, set_active_encoder, with_active_encoder

    url = postgres_server.url()
    monkeypatch.setenv("REIDWATCH_FILES", str(tmp_path / "node-a"))
    db = open_database(url)
    ckpt = db.side_path(".models") / "adapted-1.safetensors"
    ckpt.parent.mkdir(parents=True)
    payload = bytes(range(256)) * 40_000  # 10 MB: two chunks and a bit
    ckpt.write_bytes(payload)
    set_active_encoder(db, ckpt, tag="pgfa;site")
    set_active_encoder(db, ckpt, tag="pgfa;site")  # replacing it drops the old copy
    with db.session() as s:
        assert s.execute(text("SELECT count(*) FROM pg_largeobject_metadata")).scalar() == 1
    db.close()
    ckpt.unlink()  # node B never had the file
    env = {"REIDWATCH_FILES": str(tmp_path / "node-b"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    info = subprocess.run([sys.executable, "-m", "app.cli", "info", "--db", url], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env)
    assert info.returncode == 0, info.stderr
    line = next(x for x in info.stdout.splitlines() if x.startswith("encoder:"))
    fetched = Path(line.split()[1])
    assert fetched.is_relative_to(tmp_path / "node-b") and "(pgfa;site)" in line
    assert hashlib.sha256(fetched.read_bytes()).digest() == hashlib.sha256(payload).digest()
    monkeypatch.setenv("REIDWATCH_FILES", str(tmp_path / "node-c"))
    db_c = open_database(url)
    weights = with_active_encoder(Config(), db_c).encoder.weights  # what ingest and watch load
    assert weights is not None and Path(weights).read_bytes() == payload
    assert active_checkpoint(db_c) == Path(weights)  # fetched once, then reused
    db_c.close()


def test_purge_on_postgresql_deletes_the_same_rows(postgres_server, tmp_path):
    from datetime import timedelta

    from app.identity.linking import link_store
    from app.privacy.retention import purge
    from devkit.synthetic_store import T0, build_store

    counts = {}
    for backend, where in (("sqlite", str(tmp_path / "p.db")), ("postgresql", postgres_server.url())):
        store = build_store(where, persons=3, stays=2, cameras=("A", "B"))
        link_store(store.db, Config(), threshold=0.5)
        result = purge(store.db, {"A": T0 + timedelta(seconds=200)}, who="test")  # camera A's first stays
        with store.db.engine.connect() as conn:
            left = tuple(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                         for t in ("tracks", "observations", "embeddings", "identities", "audit_log"))
        counts[backend] = (result.tracks_deleted, result.identities_deleted, left)
        assert result.bytes_before > 0 and result.bytes_after > 0
        assert result.vacuum == ("left to the database server" if backend == "postgresql" else result.vacuum)
        store.db.close()
    assert counts["postgresql"] == counts["sqlite"] and counts["sqlite"][0] == 3, counts
