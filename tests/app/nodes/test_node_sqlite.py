"""`reidwatch watch --node` on a SQLite store, with the camera's credentials in a node's secrets file: the store
holds the bare URL, the node opens the credentialed one, `camera list` shows the node, health and frames/s while it
runs, and on exit the camera is free again, its session complete, and the password nowhere in the store or log."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli import main
from app.nodes.registry import registered_cameras
from app.store import open_database
from devkit.rtsp import RtspServer, gst_rtsp_missing
from tests.app.nodes.test_failover import walking_clip
from tests.conftest import missing

pytestmark = [pytest.mark.rtsp, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "sq-l1te-Pw9"


def test_node_on_sqlite_with_a_secrets_file(tmp_path, shared_data):
    if reason := gst_rtsp_missing():
        missing(reason)
    srv = RtspServer(walking_clip(shared_data, tmp_path / "walk.avi"), log_dir=tmp_path, size=(320, 240), fps=5,
                     user="op", password=PASSWORD, max_seconds=300)
    db_path = tmp_path / "site.db"
    log_path = tmp_path / "node.log"
    config = tmp_path / "config.toml"
    config.write_text('[detector]\nimgsz = 320\nengine = "torch"\n[encoder]\nbackbone = "mobilenetv2"\n'
                      'engine = "torch"\n')
    secrets = tmp_path / "secrets.toml"
    proc = None
    try:
        srv.start()
        assert main(["camera", "add", "gate", "--url", srv.url, "--db", str(db_path)]) == 0
        secrets.write_text(f'gate = "{srv.url_with("op", PASSWORD)}"\n')
        os.chmod(secrets, 0o600)
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "--config", str(config), "watch", "--node", "solo", "--secrets",
                 str(secrets), "--db", str(db_path), "--duration", "20", "--no-link", "--device", "cpu",
                 "--poll-interval", "1"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=log, stderr=subprocess.STDOUT)
        db = open_database(db_path)
        seen = None
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and proc.poll() is None:
            cam = registered_cameras(db)[0]
            if cam.node == "solo" and cam.health == "live" and cam.fps > 0:
                seen = cam
                break
            time.sleep(0.5)
        assert seen is not None, log_path.read_text()[-3000:]
        assert proc.wait(120) == 0, log_path.read_text()[-3000:]
        after = registered_cameras(db)[0]
        assert after.node is None, "the node gave its camera back on exit"
        db.close()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        srv.stop()
    out = log_path.read_text()
    assert "took 1 camera lease(s)" in out and PASSWORD not in out and "Traceback" not in out
    con = sqlite3.connect(db_path)
    try:
        assert con.execute("SELECT count(*) FROM observations").fetchone()[0] > 0
        redacted = srv.url.replace("rtsp://", "rtsp://***@")  # the session's URL, credentials masked
        assert con.execute("SELECT uri, status FROM sources").fetchall() == [(redacted, "complete")]
    finally:
        con.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("site.db*"))
    assert srv.url.encode() in stored and PASSWORD.encode() not in stored
