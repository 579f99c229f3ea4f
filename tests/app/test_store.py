"""The store on both backends (SQLite file, PostgreSQL server): migrations, round trips, schema guards; SQLite's
WAL and unwritable paths."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from app.errors import SchemaTooNewError, UserError
from app.store import models as m
from app.store import open_database, repo
from app.store.records import ObservationRecord

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


def _fill(db):
    with db.session() as s:
        cam = repo.get_or_create_camera(s, "gate")
        src = repo.create_source(s, camera_id=cam.id, uri="/videos/a.avi", content_hash="abc", start_time=T0,
                                 fps=10.0, frame_count=100, width=640, height=480, settings={"imgsz": 1280})
        tid = repo.create_track(s, source_id=src.id, camera_id=cam.id, local_id=1, frame=5, t=T0)
        kps = np.arange(51, dtype=np.float32).reshape(17, 3)
        rows = [ObservationRecord(tid, f, T0 + timedelta(seconds=f / 10), (1.0, 2.0, 30.0, 90.0), 0.9, kps, False)
                for f in range(5, 15)]
        repo.add_observations(s, rows)
        g = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
        parts = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
        vis = np.array([[True, False, True], [True, True, True]])
        repo.add_embeddings(s, tid, [6, 12], [0.5, 0.7], g, parts, vis, "pgfa;parts=3")
    return src, tid, kps, g, parts, vis


def test_round_trip(store_url):
    db = open_database(store_url)
    src, tid, kps, g, parts, vis = _fill(db)
    with db.session() as s:
        (t,) = repo.list_tracks(s, source_id=src.id)
        assert (t.first_frame, t.last_frame, t.n_obs) == (5, 14, 10)
        assert t.start_time == T0 and t.end_time == T0 + timedelta(seconds=1.4)  # aware UTC out, both backends
        obs = repo.observations(s, [tid])
        assert len(obs) == 10 and np.array_equal(obs[0].keypoints, kps) and obs[3].t == T0 + timedelta(seconds=0.8)
        emb = repo.track_embeddings(s, [tid])[tid]
        np.testing.assert_allclose(emb.global_feat, g, atol=1e-2)  # stored as float16
        np.testing.assert_array_equal(emb.visibility, vis)
        assert s.get(m.Source, src.id).settings == {"imgsz": 1280}  # JSON
    db.close()
    db2 = open_database(store_url)  # reopening an up-to-date store keeps everything
    with db2.session() as s:
        assert len(repo.list_tracks(s)) == 1 and repo.find_source_by_hash(s, "abc").id == src.id
    db2.close()


def test_round_trip_and_wal(tmp_path):
    db = open_database(tmp_path / "s.db")
    src, tid, kps, g, parts, vis = _fill(db)
    with db.session() as s:
        (t,) = repo.list_tracks(s, source_id=src.id)
        assert (t.first_frame, t.last_frame, t.n_obs) == (5, 14, 10)
        assert t.start_time == T0 and t.end_time == T0 + timedelta(seconds=1.4)
        obs = repo.observations(s, [tid])
        assert len(obs) == 10 and np.array_equal(obs[0].keypoints, kps)
        emb = repo.track_embeddings(s, [tid])[tid]
        np.testing.assert_allclose(emb.global_feat, g, atol=1e-2)  # stored as float16
        assert emb.parts.shape == (2, 3, 4)
        np.testing.assert_array_equal(emb.visibility, vis)
        assert repo.find_source_by_hash(s, "abc").id == src.id
    db.close()
    mode = sqlite3.connect(tmp_path / "s.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    # reopening an up-to-date store keeps everything
    db2 = open_database(tmp_path / "s.db")
    with db2.session() as s:
        assert len(repo.list_tracks(s)) == 1


def test_delete_source_removes_derived_rows(store_url):
    db = open_database(store_url)
    src, tid, *_ = _fill(db)
    with db.session() as s:
        repo.delete_source(s, src.id)
    with db.session() as s:
        assert repo.list_tracks(s) == [] and repo.observations(s, [tid]) == []
        assert repo.track_embeddings(s) == {}


def test_newer_schema_is_refused_without_touching_data(tmp_path):
    path = tmp_path / "s.db"
    db = open_database(path)
    _fill(db)
    db.close()
    con = sqlite3.connect(path)
    con.execute("UPDATE alembic_version SET version_num='9999_future'")
    con.commit()
    con.close()
    with pytest.raises(SchemaTooNewError, match="newer than this reidwatch"):
        open_database(path)
    con = sqlite3.connect(path)
    assert con.execute("SELECT count(*) FROM observations").fetchone()[0] == 10
    con.close()


def test_newer_schema_is_refused_on_either_backend(store_url):
    db = open_database(store_url)
    _fill(db)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num='9999_future'"))
    db.close()
    with pytest.raises(SchemaTooNewError, match="newer than this reidwatch"):
        open_database(store_url)
    engine = create_engine(store_url if "://" in store_url else f"sqlite:///{store_url}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM observations")).scalar() == 10
    engine.dispose()


def test_not_a_database_and_unwritable_paths(tmp_path):
    bogus = tmp_path / "notes.db"
    bogus.write_text("this is not sqlite\n" * 100)
    with pytest.raises(UserError, match="cannot open database"):
        open_database(bogus)
    assert bogus.read_text().startswith("this is not sqlite")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="cannot create database"):
        open_database(blocker / "sub" / "s.db")
    with pytest.raises(UserError, match="directory"):
        open_database(tmp_path)
    with pytest.raises(UserError, match="no database"):
        open_database(tmp_path / "missing.db", create=False)


def test_settings(store_url):
    db = open_database(store_url)
    with db.session() as s:
        assert repo.get_setting(s, "k") is None
        repo.put_setting(s, "k", {"threshold": 0.4})
    with db.session() as s:
        repo.put_setting(s, "k", {"threshold": 0.5})
    with db.session() as s:
        assert repo.get_setting(s, "k") == {"threshold": 0.5}
