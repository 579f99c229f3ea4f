"""The audit trail through the real CLI: one row per audited action, append-only, tampering detected."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from app.cli import main
from app.privacy import audit
from app.store import models as m
from app.store import open_database


def _rows(db_path: Path) -> list[audit.AuditRow]:
    db = open_database(db_path, create=False)
    try:
        return audit.list_rows(db)
    finally:
        db.close()


def _cli(*argv: str) -> int:
    return main(["-q", *argv])


def test_chain_is_pure_and_detects_edits() -> None:
    from datetime import datetime

    at = datetime(2026, 12, 1, 10, 0, 0, 123456)
    h1 = audit.row_hash(audit.GENESIS, 1, at, "a", "search", '{"x":1}')
    h2 = audit.row_hash(h1, 2, at, "b", "export", "{}")
    rows = [(1, at, "a", "search", '{"x":1}', audit.GENESIS, h1), (2, at, "b", "export", "{}", h1, h2)]
    assert audit.chain_problems(rows) == (2, h2, [])
    edited = [(1, at, "a", "search", '{"x":2}', audit.GENESIS, h1), rows[1]]
    assert "edited" in audit.chain_problems(edited)[2][0]
    assert "deleted or inserted" in audit.chain_problems([rows[1]])[2][0]
    assert audit.canonical({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'


def test_each_audited_cli_action_leaves_exactly_one_row(linked, tmp_path: Path, capsys) -> None:
    db = str(linked.db.path)
    linked.db.close()
    before = _rows(linked.db.path)
    assert [r.action for r in before] == ["camera", "camera"]  # the two cameras the store was built with

    with sqlite3.connect(db) as con:
        t1, t2, t3 = (r[0] for r in con.execute("SELECT id FROM tracks ORDER BY id LIMIT 3"))
        ident = con.execute("SELECT identity_id FROM tracks WHERE id = ?", (t1,)).fetchone()[0]
        ident_b = con.execute("SELECT identity_id FROM tracks WHERE id = ?", (t2,)).fetchone()[0]
    steps = [
        (["search", "--track", str(t1), "-k", "5", "--camera", "B", "--who", "alice"], "search",
         lambda d: d["query"] == {"track": t1} and d["filters"]["cameras"] == ["B"] and d["n_results"] == 5
         and ident in d["subjects"]["identities"]),
        (["report", "--out", str(tmp_path / "r.json"), "--identity", str(ident), "--who", "bob"], "export",
         lambda d: d["file"] == "r.json" and d["scope"]["identities"] == [ident] and d["subjects"]["identities"]
         == [ident]),
        (["match", "confirm", str(t1), str(t2), "--who", "carol"], "confirm",
         lambda d: d["track_a"] == t1 and d["track_b"] == t2),
        (["match", "reject", str(t1), str(t3), "--who", "carol"], "reject", lambda d: d["track_b"] == t3),
        (["identity", "rename", str(ident), "Man in brown", "--who", "dan"], "rename",
         lambda d: d["name"] == "Man in brown"),
        (["identity", "watch", str(ident), "--who", "dan"], "watch", lambda d: d["watch"] is True),
        (["identity", "hold", str(ident), "--reason", "case 7", "--who", "erin"], "hold",
         lambda d: d["reason"] == "case 7" and d["hold"] is True),
        (["identity", "undo", "--who", "dan"], "undo", lambda d: d["kind"] == "watch"),
        (["purge", "--older-than", "3650", "--who", "frank"], "purge", lambda d: d["tracks"] == 0),
    ]
    seen = len(before)
    for argv, action, check in steps:
        assert _cli(*argv, "--db", db) == 0, argv
        rows = _rows(Path(db))
        assert len(rows) == seen + 1, (argv, [r.action for r in rows[seen:]])
        row = rows[-1]
        assert row.action == action
        assert row.who == argv[argv.index("--who") + 1]
        assert check(row.details), row.details
        seen += 1
    with sqlite3.connect(db) as con:
        ids = [r[0] for r in con.execute("SELECT id FROM identities ORDER BY id")]
    a, b = ids[0], ids[1]
    for argv, action in ((["identity", "merge", str(a), str(b)], "merge"),
                         (["identity", "split", str(a), "--track", _a_track(db, a)], "split")):
        assert _cli(*argv, "--db", db) == 0
        rows = _rows(Path(db))
        assert [r.action for r in rows[seen:]] == [action]
        assert rows[-1].who == audit.os_user()  # no --who: the OS user
        seen += 1
    assert ident_b is not None
    capsys.readouterr()
    assert _cli("audit", "--db", db, "--json", "--who", "carol") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["action"] for r in listed] == ["confirm", "reject"]
    assert _cli("audit", "--db", db, "--action", "hold") == 0
    assert "case 7" in capsys.readouterr().out
    assert _cli("audit", "verify", "--db", db) == 0
    assert "intact" in capsys.readouterr().out


def _a_track(db: str, identity: int) -> str:
    with sqlite3.connect(db) as con:
        return str(con.execute("SELECT id FROM tracks WHERE identity_id = ? ORDER BY id DESC LIMIT 1",
                               (identity,)).fetchone()[0])


def test_rows_cannot_be_edited_or_deleted_through_sql(linked) -> None:
    audit.record(linked.db, "search", "x", {"q": 1})
    with sqlite3.connect(linked.db.path) as con:
        for sql in ("DELETE FROM audit_log WHERE id = 1", "UPDATE audit_log SET who = 'y' WHERE id = 1"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                con.execute(sql)


@pytest.mark.parametrize("tamper", ["edit", "delete_middle", "delete_last"])
def test_a_tampered_row_fails_audit_verify(linked, tamper: str, capsys) -> None:
    for i in range(4):
        audit.record(linked.db, "search", f"op{i}", {"query": {"track": i}})
    path = str(linked.db.path)
    linked.db.close()
    assert _cli("audit", "verify", "--db", path) == 0
    with sqlite3.connect(path) as con:  # someone with the file drops the guard and changes history
        con.execute("DROP TRIGGER audit_log_no_update")
        con.execute("DROP TRIGGER audit_log_no_delete")
        last = con.execute("SELECT max(id) FROM audit_log").fetchone()[0]
        if tamper == "edit":
            con.execute("UPDATE audit_log SET details = ? WHERE id = 4", (json.dumps({"query": {"track": 99}}),))
        elif tamper == "delete_middle":
            con.execute("DELETE FROM audit_log WHERE id = 4")
        else:
            con.execute("DELETE FROM audit_log WHERE id = ?", (last,))
    capsys.readouterr()
    assert _cli("audit", "verify", "--db", path) == 1
    out = capsys.readouterr().out
    assert "NOT intact" in out and "TAMPERED" in out


def test_adaptation_hook_and_operator(linked) -> None:
    audit.set_operator("  Desk  Operator ")
    try:
        row = audit.record(linked.db, "adapt", details={"checkpoint": "site.safetensors"})
        assert row.who == "Desk Operator"
    finally:
        audit.set_operator(None)
    assert audit.record(linked.db, "adapt").who == audit.os_user()
    with pytest.raises(ValueError, match="unknown audit action"):
        audit.record(linked.db, "peek")
    with linked.db.session() as s:
        assert s.query(m.AuditEntry).filter_by(action="adapt").count() == 2


def test_an_adaptation_run_through_the_cli_leaves_one_row_even_when_it_fails(tmp_path: Path, capsys) -> None:
    path = tmp_path / "empty.db"
    open_database(path).close()
    assert _cli("adapt", "--db", str(path), "--who", "trainer", "--epochs", "1") == 2  # nothing to learn from
    rows = _rows(path)
    assert [(r.action, r.who, r.details["status"]) for r in rows] == [("adapt", "trainer", "failed")]
    assert rows[0].details["options"]["epochs"] == 1 and "UserError" in rows[0].details["error"]


def test_camera_changes_leave_one_row_each(tmp_path: Path) -> None:
    from app.store import repo

    db = open_database(tmp_path / "c.db")
    try:
        for url in (None, "rtsp://***@10.0.0.5/s1", "rtsp://***@10.0.0.5/s1", "rtsp://***@10.0.0.6/s1"):
            with db.session() as s:
                repo.get_or_create_camera(s, "gate", kind="rtsp", url_redacted=url)
        rows = audit.list_rows(db)
        assert [(r.action, r.details["change"]) for r in rows] == [("camera", "added"), ("camera", "url"),
                                                                  ("camera", "url")]
        assert rows[-1].details["before"] == "rtsp://***@10.0.0.5/s1" and rows[-1].details["subjects"] == {
            "cameras": ["gate"]}
    finally:
        db.close()


def test_concurrent_appends_keep_one_chain(tmp_path: Path) -> None:
    import threading

    db = open_database(tmp_path / "c.db")
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for j in range(20):
                audit.record(db, "search", f"op{i}", {"n": j})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        res = audit.verify(db)
        assert res.ok and res.n_rows == 80, res.problems
    finally:
        db.close()
