"""A track that the tracker finds again after ``refind_after_s`` unseen is stored as a new track, and stitching
(which sees both ends and every other fragment at once) decides whether the two are one person; past stitching's
reach, identity linking does.

The real path: real ByteTrack, a real encoder, a real SQLite file. A person walks right and is missed by the
detector for a while; ByteTrack keeps the lost track for its memory (31 missed frames at 7 frames/s) and gives
it the person again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Container
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from app.config import TrackerConfig
from app.errors import UserError
from app.ingest.pipeline import CameraProcessor
from app.store import open_database, repo
from trackers.registry import make_tracker
from trackers.types import Detections

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
FPS = 7.0
FRAME = np.dstack([np.tile(np.linspace(30, 200, 320, dtype=np.uint8), (240, 1))] * 3)


def test_the_setting_is_checked() -> None:
    assert TrackerConfig().refind_after_s == 1.5
    assert TrackerConfig(refind_s=0).refind_after_s is None
    assert TrackerConfig(refind_s=False).refind_after_s is None  # type: ignore[arg-type]
    assert TrackerConfig(refind_s=2).refind_after_s == 2.0
    for bad in (-1, "soon", True, float("nan")):
        with pytest.raises(UserError, match="refind_s"):
            TrackerConfig(refind_s=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="refind_after_s"):
        CameraProcessor(db=None, camera_id=1, source_id=1, tracker=None, encoder=None,  # type: ignore[arg-type]
                        refind_after_s=0)


@pytest.fixture(scope="module")
def encoder():
    from reid_core.weights import build_encoder

    return build_encoder(None, backbone="mobilenetv2", device="cpu", batch_size=16)


def walker(i: int) -> Detections:
    """One person walking right at 3 px a frame, 160 px tall."""
    x = 20.0 + 3 * i
    kps = np.zeros((1, 17, 3), np.float32)
    kps[0, :, 0], kps[0, :, 1], kps[0, :, 2] = x + 20, np.linspace(60, 200, 17), 0.9
    return Detections(np.array([[x, 50, x + 40, 210]], np.float32), np.array([0.9], np.float32), kps)


def run(path, encoder, missed: Container[int], refind_after_s: float | None, frames: int = 60,  # type: ignore[no-untyped-def]
        flush_at: Container[int] = ()):
    """Ingest ``frames`` frames of the walker, with no detection in the ``missed`` frames; returns the store,
    the source id, the tracker ids seen and the processor."""
    db = open_database(path)
    with db.session() as s:
        cam = repo.get_or_create_camera(s, "gate", kind="file")
        src = repo.create_source(s, camera_id=cam.id, uri="/v/gate.avi", content_hash=None, start_time=T0,
                                 fps=FPS, frame_count=frames, width=320, height=240, settings={})
    proc = CameraProcessor(db=db, camera_id=cam.id, source_id=src.id, tracker=make_tracker("bytetrack"),
                           encoder=encoder, refind_after_s=refind_after_s,
                           close_after_s=TrackerConfig().close_after_s)  # as ingest runs it: memory + 1 s
    seen: set[int] = set()
    for i in range(frames):
        dets = Detections.empty() if i in missed else walker(i)
        tracks = proc.process(i, FRAME, dets, T0 + timedelta(seconds=i / FPS))
        seen.update(int(t) for t in tracks.ids)
        if i in flush_at:
            assert proc.flush(i)
    assert proc.close_all(frames, status="complete")
    return db, src.id, seen, proc


def stored(path) -> list[tuple[int, int, int, int]]:  # type: ignore[no-untyped-def]
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT id, first_frame, last_frame, n_obs FROM tracks ORDER BY first_frame").fetchall()
    finally:
        con.close()


@pytest.mark.slow
def test_a_long_refind_becomes_a_new_track_that_stitching_joins_back(tmp_path, encoder) -> None:
    from app.identity.incremental import stitch_source

    missed = range(20, 34)  # 14 frames: 2.0 s unseen at 7 frames/s, inside ByteTrack's 30-frame memory
    db, source, seen, proc = run(tmp_path / "r.db", encoder, missed, 1.5)
    assert seen == {1}  # the tracker itself kept one id across the gap
    (a, a0, a1, an), (b, b0, b1, bn) = stored(tmp_path / "r.db")
    assert (a0, a1, an) == (0, 19, 20) and (b0, b1, bn) == (34, 59, 26)
    assert proc.stats.refinds_split == 1 and proc.stats.tracks_closed == 2
    con = sqlite3.connect(tmp_path / "r.db")
    try:
        for tid in (a, b):  # each part has its own samples, so linking and adaptation can judge it
            assert con.execute("SELECT COUNT(*) FROM embeddings WHERE track_id = ?", (tid,)).fetchone()[0] > 0
    finally:
        con.close()
    # the motion carries on across the gap and the look is the same: stitching makes the two parts one stay
    assert stitch_source(db, source) == 1
    with db.session() as s:
        stays = {t.id: t.stay_id for t in repo.list_tracks(s, source_id=source)}
    assert stays[a] == stays[b]
    db.close()


@pytest.mark.slow
def test_short_refinds_and_the_setting_off_keep_one_track(tmp_path, encoder) -> None:
    db, _, _, proc = run(tmp_path / "short.db", encoder, range(20, 27), 1.5)  # 7 frames: 1.0 s unseen
    assert [r[1:] for r in stored(tmp_path / "short.db")] == [(0, 59, 53)]
    assert proc.stats.refinds_split == 0
    db.close()
    db, _, _, proc = run(tmp_path / "off.db", encoder, range(20, 34), None)  # [tracker] refind_s = 0
    assert [r[1:] for r in stored(tmp_path / "off.db")] == [(0, 59, 46)]
    assert proc.stats.refinds_split == 0
    db.close()


@pytest.mark.slow
def test_a_refind_beyond_stitchings_reach_is_left_to_identity_linking(tmp_path, encoder) -> None:
    """31 frames unseen: ByteTrack still keeps its id, stitching could not join the parts (30 frames at most),
    so the two parts are stored apart and identity linking (whose same-camera limit, ``[link]
    reentry_max_gap_s``, is far beyond any refind) joins them."""
    from app.config import Config
    from app.identity.incremental import stitch_source
    from app.identity.linking import link_store

    db, source, seen, proc = run(tmp_path / "far.db", encoder, range(20, 51), 1.5, frames=70)
    assert seen == {1} and proc.stats.refinds_split == 1
    (a, a0, a1, _), (b, b0, b1, _) = stored(tmp_path / "far.db")
    assert (a0, a1, b0, b1) == (0, 19, 51, 69)
    assert stitch_source(db, source) == 0
    link_store(db, Config(db=db.path))
    with db.session() as s:
        tracks = {t.id: t for t in repo.list_tracks(s, source_id=source)}
    assert tracks[a].stay_id != tracks[b].stay_id
    assert tracks[a].identity_id is not None and tracks[a].identity_id == tracks[b].identity_id
    db.close()


@pytest.mark.slow
def test_a_refind_lost_again_at_once_is_left_out(tmp_path, encoder) -> None:
    """The tracker trusts a new track from its second detection; the part after a long refind that it held for
    one detection only is no evidence of who it found, and is left out (not stored, not counted as scenery)."""
    once = set(range(20, 34)) | set(range(35, 60))  # found again at frame 34 only
    # written while open (a flush right after the refind), then deleted when it closes unconfirmed
    db, _, seen, proc = run(tmp_path / "once.db", encoder, once, 1.5, flush_at={34})
    assert seen == {1} and proc.stats.refinds_split == 1 and proc.stats.refinds_unconfirmed == 1
    assert [r[1:] for r in stored(tmp_path / "once.db")] == [(0, 19, 20)]
    assert proc.stats.clutter_dropped == 0 and proc.stats.tracks_closed == 1
    db.close()
    twice = set(range(20, 34)) | set(range(36, 60))  # held for two detections: stored, for linking to judge
    db, _, _, proc = run(tmp_path / "twice.db", encoder, twice, 1.5)
    assert proc.stats.refinds_split == 1 and proc.stats.refinds_unconfirmed == 0
    assert [r[1:3] for r in stored(tmp_path / "twice.db")] == [(0, 19), (34, 35)]
    db.close()
