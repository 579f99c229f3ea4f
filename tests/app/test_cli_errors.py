"""Bad input gets one clear error line and a non-zero exit, never a traceback, and loses nothing stored."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from app.store import open_database, repo


def rw(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("reidwatch: error:")]
    assert len(errors) == 1, proc.stderr
    assert needle in errors[0], errors[0]


def test_help_lists_commands():
    proc = rw("--help")
    assert proc.returncode == 0
    for cmd in ("ingest", "export-mot", "info"):
        assert cmd in proc.stdout
    proc = rw("ingest", "--help")
    assert proc.returncode == 0 and "--camera" in proc.stdout and "--db" in proc.stdout


def test_missing_file(tmp_path):
    assert_one_line_error(rw("ingest", str(tmp_path / "nope.mp4"), "--camera", "a", "--db", str(tmp_path / "s.db")),
                          "not found")


def test_text_file_named_mp4(tmp_path):
    fake = tmp_path / "clip.mp4"
    fake.write_text("hello, I am not a video\n" * 50)
    assert_one_line_error(rw("ingest", str(fake), "--camera", "a", "--db", str(tmp_path / "s.db")), "not a video")


def test_zero_frame_video(tmp_path):
    empty = tmp_path / "empty.avi"
    w = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    w.release()
    proc = rw("ingest", str(empty), "--camera", "a", "--db", str(tmp_path / "s.db"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "reidwatch: error:" in proc.stderr


def test_unwritable_db(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    video = tmp_path / "v.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    w.write(np.zeros((48, 64, 3), np.uint8))
    w.release()
    assert_one_line_error(rw("ingest", str(video), "--camera", "a", "--db", str(blocker / "x" / "s.db")),
                          "cannot create database")


def test_newer_schema_db_keeps_data(tmp_path):
    path = tmp_path / "s.db"
    db = open_database(path)
    with db.session() as s:
        repo.get_or_create_camera(s, "kept")
    db.close()
    con = sqlite3.connect(path)
    con.execute("UPDATE alembic_version SET version_num='ffff_from_the_future'")
    con.commit()
    con.close()
    assert_one_line_error(rw("info", "--db", str(path)), "newer than this reidwatch")
    con = sqlite3.connect(path)
    assert con.execute("SELECT name FROM cameras").fetchall() == [("kept",)]


def test_export_mot_unknown_camera(tmp_path):
    path = tmp_path / "s.db"
    open_database(path).close()
    assert_one_line_error(rw("export-mot", "--camera", "nowhere", "--out", str(tmp_path / "o.txt"), "--db",
                             str(path)), "no camera named 'nowhere'")


def test_bad_start_time(tmp_path, vtest_clip: Path):
    assert_one_line_error(rw("ingest", str(vtest_clip), "--camera", "a", "--start", "yesterday-ish", "--db",
                             str(tmp_path / "s.db")), "cannot read --start")


def test_bad_config_file(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[detector]\nimgsize = 3\n")
    assert_one_line_error(rw("--config", str(cfg), "info", "--db", str(tmp_path / "s.db")), "unknown key")
