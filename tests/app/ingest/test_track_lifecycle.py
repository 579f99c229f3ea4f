"""Issue 11's root cause: a tracker id that comes back after the processor closed its track.

Real ByteTrack, real encoder, real SQLite file; the detections are given (a person box moving over a frame) so
the exact sequence that crashed the watcher is replayed deterministically:

* a slow consumer (live frames 0.5 s apart) closes a track after ``close_after_s`` while ByteTrack still
  remembers it for 30 updates, then re-activates it with the same id;
* a camera outage (a gap in frame time) after which the tracker is reset and counts from 1 again.

Before the fix the second ``create_track`` of a (source, local id) raised ``UNIQUE constraint failed``.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event

from app.ingest.pipeline import CameraProcessor
from app.ingest.tracklife import LocalIds, expired, is_gap, keep_newest, tracker_memory_frames
from app.store import open_database, repo
from trackers.registry import make_tracker
from trackers.types import Detections

pytestmark = pytest.mark.slow  # the encoder loads once per module: ~10 s on 2 busy cores
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
FRAME = np.dstack([np.tile(np.linspace(30, 200, 320, dtype=np.uint8), (240, 1))] * 3)


@pytest.fixture(scope="module")
def encoder():
    from reid_core.weights import build_encoder

    return build_encoder(None, backbone="mobilenetv2", device="cpu", batch_size=16)


def person(x: float) -> Detections:
    kps = np.zeros((1, 17, 3), np.float32)
    kps[0, :, 0], kps[0, :, 1], kps[0, :, 2] = x + 20, np.linspace(60, 200, 17), 0.9
    return Detections(np.array([[x, 50, x + 40, 210]], np.float32), np.array([0.9], np.float32), kps)


def nobody() -> Detections:
    return Detections.empty()


def processor(db, encoder, **kw) -> CameraProcessor:
    with db.session() as s:
        cam = repo.get_or_create_camera(s, "gate", kind="rtsp")
        src = repo.create_source(s, camera_id=cam.id, uri="rtsp://***@h/x", content_hash=None, start_time=T0,
                                 fps=0.0, frame_count=0, width=320, height=240, settings={})
    return CameraProcessor(db=db, camera_id=cam.id, source_id=src.id, tracker=make_tracker("bytetrack"),
                           encoder=encoder, **kw)


def rows(db_path: Path) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    con = sqlite3.connect(db_path)
    try:
        tracks = con.execute("SELECT source_id, local_id FROM tracks").fetchall()
        pairs = con.execute("SELECT track_id, frame FROM observations").fetchall()
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return tracks, pairs
    finally:
        con.close()


def test_local_ids_never_repeat():
    ids = LocalIds()
    assert [ids.open(1), ids.open(2), ids.open(1)] == [1, 2, 1]  # an open track keeps its id
    ids.close(1)
    assert ids.open(1) == 3  # the tracker handed id 1 out again: a new track
    assert ids.open(3) == 4  # and the tracker's own 3 cannot collide with it
    ids.close_all()
    assert ids.open(1) == 5  # after a tracker reset, ids restart at 1: still new local ids
    resumed = LocalIds(used_up_to=7)
    assert resumed.open(1) == 8 and resumed.open(2) == 9


def test_time_rules_are_pure():
    seen = {1: T0, 2: T0 + timedelta(seconds=3)}
    assert expired(seen, T0 + timedelta(seconds=4.5), 4.0) == [1]
    assert not is_gap(None, T0, 1.0) and is_gap(T0, T0 + timedelta(seconds=2), 1.0)
    assert keep_newest([1, 2, 3], 2) == ([2, 3], 1) and keep_newest([1], 5) == ([1], 0)
    assert tracker_memory_frames(3.0, 7) == 21 and tracker_memory_frames(3.0, 25) == 75


def test_track_reactivated_after_close_is_a_new_track_not_a_crash(tmp_path, encoder):
    """Slow consumer: 2 frames/s. The processor closes after 2 s; ByteTrack keeps a lost track 30 updates and
    re-activates it with the same id when the person is detected again."""
    db = open_database(tmp_path / "s.db")
    proc = processor(db, encoder, close_after_s=2.0)
    plan = [person(100 + i) for i in range(6)] + [nobody()] * 6 + [person(106 + i) for i in range(6)]
    ids = []
    for i, dets in enumerate(plan):
        tracks = proc.process(i * 10, FRAME, dets, T0 + timedelta(seconds=0.5 * i))
        ids += [int(t) for t in tracks.ids]
        if i % 4 == 3:
            assert proc.flush(i * 10 + 1)
    assert proc.close_all(len(plan) * 10, status="complete")
    assert set(ids) == {1}, "ByteTrack re-activated its lost track with the same id"
    tracks, pairs = rows(tmp_path / "s.db")
    assert len(tracks) == 2 and len(set(tracks)) == 2, "two stays, two distinct (source, local id)"
    assert len(pairs) == len(set(pairs)) == 12, "every observation stored once"
    with db.session() as s:
        assert len(repo.track_embeddings(s)) == 2, "both tracks were closed and embedded"


def test_reactivation_within_one_flush_batch(tmp_path, encoder):
    """The track closes and comes back between two flushes: both stays are written in one transaction."""
    db = open_database(tmp_path / "s.db")
    proc = processor(db, encoder, close_after_s=2.0)
    plan = [person(100)] * 4 + [nobody()] * 6 + [person(104)] * 4
    for i, dets in enumerate(plan):
        proc.process(i, FRAME, dets, T0 + timedelta(seconds=0.5 * i))
    assert proc.close_all(len(plan), status="complete")
    tracks, pairs = rows(tmp_path / "s.db")
    assert sorted(local for _, local in tracks) == [1, 2]
    assert len(pairs) == len(set(pairs)) == 8


def test_outage_resets_the_tracker_and_ids_restart_safely(tmp_path, encoder):
    """A 10 s gap (camera down): open tracks close, the tracker restarts its ids at 1, nothing collides."""
    db = open_database(tmp_path / "s.db")
    proc = processor(db, encoder, close_after_s=3.0)
    t = T0
    for i in range(5):
        proc.process(i, FRAME, person(100 + 2 * i), t)
        t += timedelta(seconds=0.1)
    assert proc.flush(5)
    t += timedelta(seconds=10)
    out = []
    for i in range(5, 10):
        out += [int(x) for x in proc.process(i, FRAME, person(100 + 2 * i), t).ids]
        t += timedelta(seconds=0.1)
    assert proc.stats.tracker_resets == 1 and set(out) == {1}, "the tracker started again at id 1"
    assert proc.close_all(10, status="complete")
    tracks, pairs = rows(tmp_path / "s.db")
    assert sorted(local for _, local in tracks) == [1, 2]
    assert sorted(f for _, f in pairs) == list(range(10)) and len(set(pairs)) == 10


def test_failed_flush_keeps_the_batch_and_the_retry_writes_it_once(tmp_path, encoder):
    """Another program holds the store's write lock: the flush fails, nothing is lost, the retry writes all."""
    path = tmp_path / "s.db"
    db = open_database(path)
    proc = processor(db, encoder, close_after_s=1.0)

    db.engine.dispose()  # new connections give up on a lock after 0.2 s instead of the default minute
    event.listen(db.engine, "connect", lambda con, _rec: con.execute("PRAGMA busy_timeout=200"))
    for i in range(8):
        proc.process(i, FRAME, person(100 + i), T0 + timedelta(seconds=0.2 * i))
    for i in range(8, 16):  # the person leaves: the track closes and must be embedded and written
        proc.process(i, FRAME, nobody(), T0 + timedelta(seconds=0.2 * i))
    holder = sqlite3.connect(path, timeout=1)
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert proc.flush(16) is False
        assert proc.stats.flush_failures == 1 and proc.buffered == 8 + 1
    finally:
        holder.rollback()
        holder.close()
    assert proc.flush(16) is True and proc.buffered == 0
    assert proc.close_all(16, status="complete")
    tracks, pairs = rows(path)
    assert len(tracks) == 1 and len(pairs) == len(set(pairs)) == 8
    assert proc.stats.rows_dropped == 0 and proc.stats.tracks_closed == 1
    with db.session() as s:
        assert len(repo.track_embeddings(s)) == 1
        assert repo.list_sources(s)[0].status == "complete"


def test_buffer_is_bounded_while_the_store_fails(tmp_path, encoder):
    db = open_database(tmp_path / "s.db")
    proc = processor(db, encoder, close_after_s=30.0, max_buffered_rows=5)
    for i in range(9):
        proc.process(i, FRAME, person(100 + i), T0 + timedelta(seconds=0.1 * i))
    assert proc.stats.rows_dropped == 4 and proc.buffered == 5


def test_long_refind_is_any_refind_after_the_setting() -> None:
    from app.ingest.tracklife import long_refind
    from trackers.stitch import MAX_GAP_S

    seen = datetime(2026, 12, 1, tzinfo=timezone.utc)
    at = lambda s: seen + timedelta(seconds=s)  # noqa: E731
    assert not long_refind(seen, at(1.5), 1.5)  # exactly the setting: the tracker's refind
    assert long_refind(seen, at(1.6), 1.5) and long_refind(seen, at(30 / 7), 1.5)  # 30 frames at 7 frames/s
    assert long_refind(seen, at(MAX_GAP_S + 0.1), 1.5)  # beyond stitching's reach: identity linking decides
    assert long_refind(seen, at(60.0), 1.5)  # no upper bound at all (a tracker with a longer memory)
    assert not long_refind(seen, at(3.0), None) and not long_refind(None, at(3.0), 1.5)


def test_only_a_refind_lost_again_at_once_is_unconfirmed() -> None:
    from app.ingest.tracklife import unconfirmed_refind

    assert unconfirmed_refind(True, 1) and unconfirmed_refind(True, 0)
    assert not unconfirmed_refind(True, 2)  # confirmed as ByteTrack confirms a new track
    assert not unconfirmed_refind(False, 1)  # any other short track is the tracker's and is kept
