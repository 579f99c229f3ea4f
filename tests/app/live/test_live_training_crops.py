"""Issue 10: `reidwatch watch` on a real RTSP camera keeps training crops for its tracks (no video is kept), as
many as ``[ingest] training_crops`` says. Real server on 127.0.0.1, real detector, tracker, encoder and store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.app.live.test_watch import PASSWORD, people_video

pytestmark = [pytest.mark.rtsp, pytest.mark.slow]


def _watch(url: str, db: Path, config: Path | None = None) -> str:
    cmd = [sys.executable, "-m", "app.cli", *(["--config", str(config)] if config else []), "watch", "--camera",
           f"door={url}", "--duration", "10", "--db", str(db), "--device", "cpu", "--no-link"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return out


def test_watch_keeps_training_crops_of_live_tracks(tmp_path, shared_data, rtsp_server):
    import sqlite3

    srv = rtsp_server(people_video(shared_data, tmp_path / "people.avi", frames=40), user="op", password=PASSWORD)
    conf = tmp_path / "crops.toml"
    # 3, not the default 16: the configuration reaches the camera. Fixed input size and torch: no engine export or
    # input-size probing eats the watch's few seconds
    conf.write_text('[ingest]\ntraining_crops = 3\n[detector]\nimgsz = 416\nengine = "torch"\n'
                    '[encoder]\nengine = "torch"\n')
    out = _watch(srv.url_with("op", PASSWORD), tmp_path / "w.db", conf)
    assert PASSWORD not in out
    con = sqlite3.connect(tmp_path / "w.db")
    tracks = con.execute("SELECT count(*) FROM tracks").fetchone()[0]
    rows = con.execute("SELECT track_id, frame, keypoints, jpeg FROM track_crops").fetchall()
    per_track: dict[int, int] = {}
    for tid, _frame, kp, jpeg in rows:
        per_track[tid] = per_track.get(tid, 0) + 1
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape[0] <= 256
        k = np.frombuffer(kp, np.float32).reshape(17, 3)
        seen = k[k[:, 2] >= 0.5]
        assert (seen[:, :2] >= -1).all() and (seen[:, 0] <= img.shape[1] + 1).all()
        assert (seen[:, 1] <= img.shape[0] + 1).all()
    spaced = {tid: _spaced_detections(con, tid) for tid in per_track}
    con.close()
    assert tracks >= 1 and per_track and max(per_track.values()) <= 3, per_track
    # a track seen at 3 or more times 0.25 s apart (the reservoir's first bins) reaches the configured cap
    full = [tid for tid, n in spaced.items() if n >= 3]
    assert full, spaced
    assert all(per_track[tid] == 3 for tid in full), (per_track, spaced)


def _spaced_detections(con, track_id: int) -> int:
    """How many of a track's detections (not predictions) are at least 0.25 s after the previous one counted."""
    from datetime import datetime

    times = [datetime.fromisoformat(t) for (t,) in con.execute(
        "SELECT t FROM observations WHERE track_id = ? AND predicted = 0 ORDER BY frame", (track_id,))]
    n, last = 0, None
    for t in times:
        if last is None or (t - last).total_seconds() >= 0.25:
            n, last = n + 1, t
    return n
