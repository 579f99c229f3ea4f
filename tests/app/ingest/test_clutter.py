"""Scenery is not a person: a still, unsure track (a post the detector half-believes) leaves the store.

Pure rule first (``trackers.clutter``), then the real path: real ByteTrack, real encoder, a real SQLite file.
A walking person and a still post at detector score ~0.2 go through ``CameraProcessor``; the post's rows, some
already written by an earlier flush, are gone after it closes, and the person's track is whole.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from app.ingest.pipeline import CameraProcessor
from app.store import open_database, repo
from trackers.clutter import CONFIDENT, MAX_EXTENT, MotionStats
from trackers.registry import make_tracker
from trackers.types import Detections

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
FRAME = np.dstack([np.tile(np.linspace(30, 200, 320, dtype=np.uint8), (240, 1))] * 3)


def stats(boxes: list[tuple[float, float, float, float]], scores: list[float]) -> MotionStats:
    m = MotionStats()
    for b, sc in zip(boxes, scores, strict=True):
        m.add(np.array(b), sc)
    return m


def test_the_rule_needs_both_still_and_unsure() -> None:
    still = [(100.0 + (i % 2), 50.0, 112.0 + (i % 2), 93.0) for i in range(40)]  # a post, 1 px of jitter
    walking = [(10.0 + 3 * i, 50.0, 22.0 + 3 * i, 93.0) for i in range(40)]  # 120 px: ~2.8 heights
    unsure, sure = [0.21] * 40, [0.85] * 40
    assert stats(still, unsure).is_clutter()
    assert stats(still, unsure).extent < 0.05
    assert not stats(still, sure).is_clutter()  # someone standing still, and the detector is sure
    assert not stats(walking, unsure).is_clutter()  # an unsure detection that walks: a person far away
    # the boundaries: half the detections confident is enough; moving MAX_EXTENT heights is enough
    half = [CONFIDENT] * 20 + [0.2] * 20
    assert not stats(still, half).is_clutter()
    moved = [(100.0 + d, 50.0, 112.0 + d, 93.0) for d in np.linspace(0, 43.0 * MAX_EXTENT * 1.01, 40)]
    assert not stats(moved, unsure).is_clutter()
    assert not MotionStats().is_clutter()


@pytest.fixture(scope="module")
def encoder():
    from reid_core.weights import build_encoder

    return build_encoder(None, backbone="mobilenetv2", device="cpu", batch_size=16)


def frame_detections(i: int) -> Detections:
    """A person walking right (score 0.9) and a post at x=250 (0.3 on its first frame, then ~0.2)."""
    kps = np.zeros((2, 17, 3), np.float32)
    x = 20.0 + 4 * i
    kps[0, :, 0], kps[0, :, 1], kps[0, :, 2] = x + 20, np.linspace(60, 200, 17), 0.9
    kps[1, :, 0], kps[1, :, 1], kps[1, :, 2] = 262, np.linspace(70, 150, 17), 0.3
    boxes = np.array([[x, 50, x + 40, 210], [250 + (i % 2), 60, 274 + (i % 2), 160]], np.float32)
    post = 0.3 if i == 0 else 0.18 + 0.04 * (i % 3)
    return Detections(boxes, np.array([0.9, post], np.float32), kps)


@pytest.mark.slow
def test_a_still_unsure_track_leaves_the_store(tmp_path, encoder) -> None:
    db = open_database(tmp_path / "c.db")
    with db.session() as s:
        cam = repo.get_or_create_camera(s, "gate", kind="file")
        src = repo.create_source(s, camera_id=cam.id, uri="/v/gate.avi", content_hash=None, start_time=T0,
                                 fps=7.0, frame_count=40, width=320, height=240, settings={})
    proc = CameraProcessor(db=db, camera_id=cam.id, source_id=src.id, tracker=make_tracker("bytetrack"),
                           encoder=encoder)
    for i in range(40):
        tracks = proc.process(i, FRAME, frame_detections(i), T0 + timedelta(seconds=i / 7))
        if i == 0:
            assert len(tracks) == 2  # both are tracked: the rule looks at whole tracks, when they close
        if i == 20:
            assert proc.flush()  # the post's first rows are written while it is open
    con = sqlite3.connect(tmp_path / "c.db")
    try:
        assert con.execute("SELECT COUNT(DISTINCT track_id) FROM observations").fetchone()[0] == 2
    finally:
        con.close()
    assert proc.close_all(40, status="complete")
    assert proc.stats.clutter_dropped == 1 and proc.stats.tracks_closed == 1
    con = sqlite3.connect(tmp_path / "c.db")
    try:
        tracks = con.execute("SELECT id, n_obs FROM tracks").fetchall()
        assert len(tracks) == 1 and tracks[0][1] == 40  # the person, every frame of them
        xs = [r[0] for r in con.execute("SELECT x1 FROM observations ORDER BY frame")]
        assert len(xs) == 40 and xs[0] < xs[-1]  # no row of the post is left
        assert con.execute("SELECT COUNT(*) FROM embeddings WHERE track_id = ?", (tracks[0][0],)).fetchone()[0] > 0
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    db.close()
