"""Retention on a real store: exactly the tracks before the cut go (with everything stored for them), watched
and held identities keep theirs, identities left empty go, the space comes back; the cut computation is pure."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.config import Config, RetentionConfig, load_config
from app.errors import UserError
from app.identity import decisions
from app.privacy import audit
from app.privacy.hold import set_hold
from app.privacy.retention import camera_cuts, cutoffs, purge
from app.privacy.schedule import DailyPurge, purge_quietly
from app.store import models as m
from app.store import open_database
from devkit.synthetic_store import T0

CUT = T0 + timedelta(seconds=230)  # camera A's first stays (ending 60..160 s) are older; everything else newer


def _days_to(cut: datetime) -> float:
    return (datetime.now(timezone.utc) - cut).total_seconds() / 86400


def _snapshot(path: Path) -> dict[str, set]:
    with sqlite3.connect(path) as con:
        return {
            "tracks": {r[0] for r in con.execute("SELECT id FROM tracks")},
            "obs": {r for r in con.execute("SELECT id, track_id FROM observations")},
            "emb": {r for r in con.execute("SELECT id, track_id FROM embeddings")},
            "matches": {r for r in con.execute("SELECT id, track_a, track_b FROM matches")},
            "identities": {r[0] for r in con.execute("SELECT id FROM identities")},
            "thumbs": {r[0] for r in con.execute("SELECT id FROM tracks WHERE thumbnail IS NOT NULL")},
        }


def _expected_gone(path: Path, cut_a: datetime | None, cut_b: datetime | None) -> set[int]:
    naive = {k: v.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ") if v else None
             for k, v in (("A", cut_a), ("B", cut_b))}
    with sqlite3.connect(path) as con:
        rows = con.execute("SELECT t.id, c.name, t.end_time, i.watch, i.hold FROM tracks t JOIN cameras c ON "
                           "c.id = t.camera_id LEFT JOIN identities i ON i.id = t.identity_id").fetchall()
    return {tid for tid, cam, end, watch, hold in rows
            if naive[cam] is not None and end < naive[cam] and not watch and not hold}


def _lonely_old_track(st) -> tuple[int, int]:
    """An extra old camera-A track that is alone in a new identity (which the purge must empty and remove)."""
    from devkit.synthetic_store import add_track

    rng = np.random.default_rng(3)
    tid = add_track(st.db, camera="A", start_s=170, duration_s=20, global_feat=rng.random((2, 64), np.float32),
                    parts=rng.random((2, 3, 32), np.float32), visibility=np.ones((2, 3), bool))
    with st.db.session() as s:
        ident = m.Identity(created_at=datetime(2026, 11, 27), watch=0)
        s.add(ident)
        s.flush()
        s.get(m.Track, tid).identity_id = ident.id
        return tid, ident.id


def test_cutoffs_are_per_camera_and_pure() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
    policy = RetentionConfig(days=30, cameras={"gate": 7})
    assert cutoffs(now, policy, ["gate", "hall"]) == {"gate": now - timedelta(days=7), "hall": now - timedelta(days=30)}
    assert cutoffs(now, RetentionConfig(cameras={"gate": 7}), ["gate", "hall"]) == {"gate": now - timedelta(days=7)}
    assert cutoffs(now, policy, ["gate", "hall"], older_than_days=1, only_camera="hall") == {
        "hall": now - timedelta(days=1)}
    assert cutoffs(now, RetentionConfig(), ["gate"]) == {}
    with pytest.raises(UserError):
        RetentionConfig(days=0)
    with pytest.raises(UserError):
        RetentionConfig(cameras={"gate": "a week"})


def test_purge_removes_exactly_the_rows_before_the_cut_and_keeps_held_and_watched(linked) -> None:
    path = linked.db.path
    lonely, lonely_ident = _lonely_old_track(linked)
    old_a = sorted(_expected_gone(path, CUT, None))
    with sqlite3.connect(path) as con:
        idents = {t: con.execute("SELECT identity_id FROM tracks WHERE id = ?", (t,)).fetchone()[0] for t in old_a}
    held_track, watched_track = old_a[0], old_a[1]
    set_hold(linked.db, idents[held_track], reason="court order 12", who="legal")
    decisions.set_watch(linked.db, idents[watched_track], True, who="ops")
    gone = _expected_gone(path, CUT, None)
    assert held_track not in gone and watched_track not in gone and lonely in gone and len(gone) == len(old_a) - 2
    before = _snapshot(path)

    cuts = camera_cuts(linked.db, Config().retention, older_than_days=_days_to(CUT), only_camera="A")
    dry = purge(linked.db, cuts, dry_run=True)
    assert set(dry.plan.track_ids) == gone and dry.plan.kept_protected == 2 and dry.plan.identities_emptied == 1
    assert _snapshot(path) == before  # a dry run changes nothing

    result = purge(linked.db, cuts, who="dpo")
    after = _snapshot(path)
    assert result.tracks_deleted == len(gone) and result.identities_deleted == 1
    assert after["tracks"] == before["tracks"] - gone
    assert after["obs"] == {o for o in before["obs"] if o[1] not in gone}
    assert after["emb"] == {e for e in before["emb"] if e[1] not in gone}
    assert after["thumbs"] == before["thumbs"] - gone
    assert after["matches"] == {x for x in before["matches"] if x[1] not in gone and x[2] not in gone}
    assert after["identities"] == before["identities"] - {lonely_ident}
    assert {held_track, watched_track} <= after["tracks"]
    rows = audit.list_rows(linked.db, action="purge")
    assert len(rows) == 1 and rows[0].who == "dpo" and rows[0].details["tracks"] == len(gone)
    assert audit.verify(linked.db).ok


def test_purge_cli_with_per_camera_config_dry_run_and_space_returned(linked, tmp_path: Path, capsys) -> None:
    path = linked.db.path
    with linked.db.session() as s:  # large thumbnails on the old tracks: their pages must come back
        rng = np.random.default_rng(0)
        for t in s.query(m.Track).all():
            t.thumbnail = rng.integers(0, 255, 300_000, np.uint8).tobytes()
    linked.db.close()
    cut_b = T0 + timedelta(seconds=1230)  # camera B's first stays end at 1060..1160 s
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"[retention]\ndays = {_days_to(CUT):.9f}\n[retention.cameras]\nB = {_days_to(cut_b):.9f}\n")
    assert load_config(cfg).retention.cameras == {"B": pytest.approx(_days_to(cut_b), abs=1e-3)}
    gone = _expected_gone(path, CUT, cut_b)
    assert len(gone) == 10
    before = _snapshot(path)
    capsys.readouterr()
    assert main(["-q", "--config", str(cfg), "purge", "--dry-run", "--db", str(path)]) == 0
    assert capsys.readouterr().out.startswith("would purge 10 tracks")
    assert _snapshot(path) == before
    size0 = path.stat().st_size + Path(f"{path}-wal").stat().st_size
    assert main(["-q", "--config", str(cfg), "purge", "--db", str(path)]) == 0
    assert "purged 10 tracks" in capsys.readouterr().out
    assert _snapshot(path)["tracks"] == before["tracks"] - gone
    size1 = path.stat().st_size + (Path(f"{path}-wal").stat().st_size if Path(f"{path}-wal").exists() else 0)
    assert size0 - size1 > 10 * 250_000  # the thumbnails' pages went back to the file system
    assert main(["-q", "purge", "--db", str(path)]) == 2  # no retention set and no --older-than


def test_automatic_purges_after_ingest_and_daily(linked) -> None:
    policy = RetentionConfig(days=_days_to(CUT))
    assert purge_quietly(linked.db, RetentionConfig()) is None  # no retention: nothing runs
    msg = purge_quietly(linked.db, policy)
    assert msg is not None and msg.startswith("retention: purged 5 tracks")
    assert purge_quietly(linked.db, policy) is None  # nothing left to do: no message, no audit row
    assert [r.who for r in audit.list_rows(linked.db, action="purge")] == ["retention"]
    daily = DailyPurge(linked.db, RetentionConfig(days=_days_to(T0 + timedelta(seconds=700))), interval_s=3600)
    daily.start()
    deadline = datetime.now() + timedelta(seconds=30)
    while daily.runs < 1 and datetime.now() < deadline:
        daily._stop.wait(0.05)
    daily.stop()
    assert daily.runs == 1
    assert len(audit.list_rows(linked.db, action="purge")) == 2  # the daily run at start deleted stay 1 of A


def test_held_identity_keeps_hold_through_merge_and_needs_a_reason(linked) -> None:
    with linked.db.session() as s:
        a, b = (i for (i,) in s.query(m.Identity.id).order_by(m.Identity.id).limit(2))
    with pytest.raises(UserError, match="reason"):
        set_hold(linked.db, b, reason="  ")
    set_hold(linked.db, b, reason="inquiry")
    decisions.merge_identities(linked.db, [a, b])
    with linked.db.session() as s:
        target = s.get(m.Identity, a)
        assert target.hold == 1 and target.hold_reason == "inquiry"
    assert set_hold(linked.db, a, False).hold is False


def test_migration_from_0001_keeps_identities(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import create_engine

    from app.store.db import _alembic_config

    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    cfg = _alembic_config(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO cameras (id, name, kind, created_at) VALUES (1, 'A', 'file', '2026-01-01')")
        conn.exec_driver_sql("INSERT INTO sources (id, camera_id, uri, start_time, fps, frame_count, width, height, "
                             "status, frames_done, settings, created_at) VALUES (1, 1, 'a.mp4', '2026-01-01', 10, 0, "
                             "0, 0, 'complete', 0, '{}', '2026-01-01')")
        conn.exec_driver_sql("INSERT INTO identities (id, name, watch, created_at) VALUES (1, 'x', 1, '2026-01-01')")
        conn.exec_driver_sql("INSERT INTO tracks (id, source_id, camera_id, local_id, identity_id, first_frame, "
                             "last_frame, start_time, end_time, n_obs) VALUES (1, 1, 1, 1, 1, 0, 9, '2026-01-01', "
                             "'2026-01-01 00:00:01', 0)")
    engine.dispose()
    db = open_database(path)
    try:
        with db.session() as s:
            assert s.get(m.Track, 1).identity_id == 1
            ident = s.get(m.Identity, 1)
            assert ident.hold == 0 and ident.watch == 1
        assert audit.record(db, "search", "t").prev_hash == audit.GENESIS
    finally:
        db.close()


def test_identity_show_names_the_hold(linked, capsys) -> None:
    with linked.db.session() as s:
        ident = s.query(m.Identity.id).order_by(m.Identity.id).first()[0]
    path = str(linked.db.path)
    linked.db.close()
    assert main(["-q", "identity", "hold", str(ident), "--reason", "inquiry 9", "--db", path]) == 0
    capsys.readouterr()
    assert main(["-q", "identity", "show", str(ident), "--db", path]) == 0
    assert "legal hold: inquiry 9" in capsys.readouterr().out
    assert main(["-q", "identity", "hold", str(ident), "--off", "--db", path]) == 0
    assert "legal hold lifted" in capsys.readouterr().out
    assert main(["-q", "identity", "show", str(ident), "--db", path]) == 0
    assert "legal hold" not in capsys.readouterr().out


def test_a_track_held_after_the_plan_is_not_deleted(linked) -> None:
    """A legal hold placed between a purge's plan and its delete (another node, an operator) wins."""
    from app.privacy.hold import set_hold
    from app.privacy.retention import _delete_batch

    tid, ident = _lonely_old_track(linked)
    set_hold(linked.db, ident, reason="case 2026-115")
    with linked.db.session() as s:
        deleted, gone = _delete_batch(s, [tid])
    assert (deleted, gone) == (0, 0)
    with linked.db.session() as s:
        assert s.get(m.Track, tid) is not None and s.get(m.Identity, ident) is not None
    set_hold(linked.db, ident, on=False)
    with linked.db.session() as s:
        assert _delete_batch(s, [tid]) == (1, 1)
