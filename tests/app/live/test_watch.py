"""Live monitoring end to end: two real RTSP servers, the real detector, tracker and encoder, a real store.

One server is stopped mid-stream and started again: the monitor reconnects by itself, observations are
stored after the restart, nothing before it is lost, the other camera keeps running, and the password in
the camera URL is nowhere in the store or the logs.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.live.health import CameraState
from app.live.monitor import CameraSpec, LiveMonitor
from app.store import open_database, repo

pytestmark = [pytest.mark.rtsp, pytest.mark.slow]
PASSWORD = "s3cr3t-pa55"


def people_video(shared_data: Path, path: Path, frames: int = 60) -> Path:
    """Two basketball players (large, easy for the detector at a small input size) drifting sideways."""
    base = cv2.imread(str(shared_data / "basketball1.png"))
    h, w = base.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    for i in range(frames):
        shift = np.float32([[1, 0, (i % 30) - 15], [0, 1, 0]])
        writer.write(cv2.warpAffine(base, shift, (w, h), borderMode=cv2.BORDER_REPLICATE))
    writer.release()
    return path


def wait_for(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def stored_obs(db_path: Path, camera: str) -> list[str]:
    con = sqlite3.connect(db_path)
    try:
        return [r[0] for r in con.execute(
            "SELECT o.t FROM observations o JOIN tracks t ON t.id = o.track_id JOIN cameras c ON c.id = t.camera_id "
            "WHERE c.name = ?", (camera,))]
    finally:
        con.close()


def test_watch_survives_a_server_restart(tmp_path, shared_data, rtsp_server, caplog):
    from app.config import Config
    from app.identity.incremental import link_new_tracks
    from reid_core.weights import build_encoder
    from trackers.detector import YoloPoseDetector
    from trackers.registry import make_tracker

    caplog.set_level(logging.INFO)
    video = people_video(shared_data, tmp_path / "people.avi")
    srv_a = rtsp_server(video, user="op", password=PASSWORD)
    srv_b = rtsp_server(video)
    db_path = tmp_path / "live.db"
    db = open_database(db_path)
    monitor = LiveMonitor(
        db=db,
        cameras=[CameraSpec("north", srv_a.url_with("op", PASSWORD)), CameraSpec("south", srv_b.url)],
        detector=YoloPoseDetector(imgsz=416, device="cpu"),
        encoder=build_encoder(None, backbone="mobilenetv2", device="cpu"),
        tracker_factory=lambda: make_tracker("bytetrack"),
        link=lambda database, cameras, track_ids: link_new_tracks(database, Config(), track_ids),
        flush_interval_s=0.5, close_after_s=3.0, link_interval_s=2.0,
        capture_options={"stall_timeout_s": 2.0, "backoff_initial_s": 0.3, "backoff_max_s": 1.0},
    )
    seen_states: list[str] = []
    monitor.on_health = lambda h: seen_states.append(f"{h.camera}:{h.state.value}")
    worker = threading.Thread(target=monitor.run, kwargs={"duration_s": 150}, daemon=True)
    worker.start()
    try:
        assert wait_for(lambda: len(stored_obs(db_path, "north")) >= 5 and len(stored_obs(db_path, "south")) >= 5,
                        60), "both cameras store observations"
        before_restart = len(stored_obs(db_path, "north"))
        srv_a.stop()
        assert wait_for(lambda: monitor.health()["north"].state in (CameraState.STALLED, CameraState.RECONNECTING),
                        20)
        south_frames = monitor.stats.cameras["south"].frames
        srv_a.start()
        restarted = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
        assert wait_for(lambda: monitor.health()["north"].state == CameraState.LIVE, 40), "north reconnects alone"
        assert wait_for(lambda: any(t > restarted for t in stored_obs(db_path, "north")), 40)
        assert monitor.stats.cameras["south"].frames > south_frames, "south kept running during the outage"
    finally:
        monitor.stop()
        worker.join(60)
    assert not worker.is_alive()
    assert "north:reconnecting" in seen_states or "north:stalled" in seen_states
    assert len(stored_obs(db_path, "north")) >= before_restart, "nothing stored before the restart is lost"
    with db.session() as s:
        cams = {c.name: c for c in repo.list_cameras(s)}
        assert cams["north"].kind == "rtsp" and "***@" in cams["north"].url_redacted
        assert all(src.status == "complete" for src in repo.list_sources(s))
        embedded = set(repo.track_embeddings(s))
        assert embedded and all(t.identity_id is not None for t in repo.list_tracks(s) if t.id in embedded), \
            "closed tracks are linked into identities live"
    db.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("live.db*"))
    assert PASSWORD.encode() not in raw, "the password never reaches the database"
    assert PASSWORD not in caplog.text


def test_watch_cli_nothing_listening(tmp_path):
    """A camera where nothing listens: the watcher keeps retrying, ends on time, no traceback, no secret shown."""
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"rtsp://admin:{PASSWORD}@127.0.0.1:{port}/cam"
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "watch", "--camera", f"gate={url}", "--duration", "6", "--db",
         str(tmp_path / "w.db"), "--device", "cpu", "--no-link"],
        capture_output=True, text=True, timeout=180,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Traceback" not in out and PASSWORD not in out
    assert "gate: 0 frames processed" in proc.stdout
    assert "reconnecting" in out or "connecting" in out
    con = sqlite3.connect(tmp_path / "w.db")
    assert con.execute("SELECT url_redacted FROM cameras").fetchone()[0] == f"rtsp://***@127.0.0.1:{port}/cam"
    con.close()


def test_cameras_can_be_added_and_removed_while_running(tmp_path, shared_data, rtsp_server):
    from reid_core.weights import build_encoder
    from trackers.detector import YoloPoseDetector
    from trackers.registry import make_tracker

    video = people_video(shared_data, tmp_path / "people.avi", frames=30)
    srv = rtsp_server(video)
    db_path = tmp_path / "live.db"
    db = open_database(db_path)
    monitor = LiveMonitor(db=db, cameras=[], detector=YoloPoseDetector(imgsz=320, device="cpu"),
                          encoder=build_encoder(None, backbone="mobilenetv2", device="cpu"),
                          tracker_factory=lambda: make_tracker("bytetrack"), flush_interval_s=0.5)
    worker = threading.Thread(target=monitor.run, kwargs={"duration_s": 120, "keep_running": True}, daemon=True)
    worker.start()
    try:
        monitor.add_camera(CameraSpec("east", srv.url))
        assert wait_for(lambda: len(stored_obs(db_path, "east")) >= 3, 60)
        monitor.remove_camera("east")
        assert wait_for(lambda: "east" not in monitor.health(), 20)
        n = len(stored_obs(db_path, "east"))
        time.sleep(1.5)
        assert len(stored_obs(db_path, "east")) == n, "a removed camera stores nothing more"
        assert worker.is_alive(), "the monitor keeps running with no camera"
    finally:
        monitor.stop()
        worker.join(60)
    with db.session() as s:
        (src,) = repo.list_sources(s)
        assert src.status == "complete"


def test_live_reidentification_raises_watchlist_alert_while_in_view(tmp_path, shared_data, rtsp_server):
    """A person already in the store, on the watchlist, is recognised on a live camera before the track closes."""
    from app.config import Config
    from app.identity.decisions import rename_identity, set_watch
    from app.identity.linking import link_store
    from app.ingest.job import ingest_video
    from reid_core.weights import build_encoder
    from trackers.detector import YoloPoseDetector
    from trackers.registry import make_tracker

    video = people_video(shared_data, tmp_path / "people.avi", frames=30)
    detector = YoloPoseDetector(imgsz=416, device="cpu")
    encoder = build_encoder(None, backbone="mobilenetv2", device="cpu")
    db = open_database(tmp_path / "live.db")
    ingest_video(db, video, camera="archive", detector=detector, tracker=make_tracker("bytetrack"), encoder=encoder,
                 start=datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc))
    link_store(db, Config())  # identities and the operating point, as after any ingest
    with db.session() as s:
        tracks = [t for t in repo.list_tracks(s) if t.identity_id is not None]
        assert len(tracks) >= 2
        watched = max(tracks, key=lambda t: t.n_obs).identity_id
    rename_identity(db, watched, "Suspect")
    set_watch(db, watched, True)
    srv = rtsp_server(video)
    monitor = LiveMonitor(db=db, cameras=[CameraSpec("door", srv.url)], detector=detector, encoder=encoder,
                          tracker_factory=lambda: make_tracker("bytetrack"), reid_interval_s=1.0,
                          close_after_s=300.0)
    alerts = []
    monitor.on_alert = alerts.append
    worker = threading.Thread(target=monitor.run, kwargs={"duration_s": 90}, daemon=True)
    worker.start()
    try:
        assert wait_for(lambda: any(a.live for a in alerts), 75), "the watched person is recognised live"
        assert monitor.live_identities("door"), "open tracks carry the recognised identity"
    finally:
        monitor.stop()
        worker.join(60)
    alert = next(a for a in alerts if a.live)
    assert alert.identity_id == watched and alert.identity_name == "Suspect"
    assert alert.camera == "door" and alert.thumbnail
    with db.session() as s:
        threshold = repo.get_setting(s, "link.threshold")["value"]
    assert alert.distance is not None and alert.distance <= threshold
