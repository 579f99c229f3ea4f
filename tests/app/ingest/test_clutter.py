"""Scenery is not a person: a still, unsure track (a post the detector half-believes) leaves the store, and a
post's stretch is cut out of the track of a person who took it over.

Pure rules first (``trackers.clutter``), then the real path: real ByteTrack, real encoder, a real SQLite file.
A walking person and a still post at detector score ~0.2 go through ``CameraProcessor``; the post's rows, some
already written by an earlier flush, are gone after it closes, and the person's track is whole. Then a person
walks out from where the post stood and ByteTrack hands them the post's track: only the person's frames stay.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from app.ingest.pipeline import CameraProcessor
from app.store import open_database, repo
from trackers.clutter import CONFIDENT, MAX_EXTENT, Cut, MotionStats, SceneryWatch, patch
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


def watch(boxes: list[tuple[float, float, float, float]], scores: list[float], fps: float = 7.0,
          looks: list[np.ndarray | None] | None = None) -> SceneryWatch:
    w = SceneryWatch()
    for i, (b, sc) in enumerate(zip(boxes, scores, strict=True)):
        w.add(i, i / fps, np.array(b), sc, None if looks is None else looks[i])
    return w


def test_someone_standing_unsure_is_not_scenery_when_what_the_box_shows_changes() -> None:
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 255, (120, 160, 3)).astype(np.uint8)
    box = np.array([40.0, 20.0, 60.0, 100.0])
    still = patch(scene, box)
    assert still is not None and still.shape == (16, 8)
    assert abs(float(still.mean())) < 1e-4 and float(np.abs(patch(scene, box) - still).max()) == 0.0
    assert patch(scene, np.array([200.0, 200.0, 220.0, 240.0])) is None  # outside the frame: no pixels
    boxes, unsure = [tuple(box)] * 40, [0.45] * 40
    post = [still] * 40
    person = []  # the same place, but a body that moves a little every frame
    for _ in range(40):
        frame = scene.copy()
        frame[20:100, 40:60] = rng.integers(0, 255, (80, 20, 3))
        person.append(patch(frame, box))
    assert watch(boxes, unsure, looks=post).finish() == (True, [])
    assert watch(boxes, unsure, looks=person).finish() == (False, [])
    walk = [(100.0 + 5 * i, 20.0, 120.0 + 5 * i, 100.0) for i in range(1, 21)]
    assert watch(boxes + walk, unsure + [0.9] * 20, looks=post + [None] * 20).finish() == (False, [Cut(0, 39, 40)])
    assert watch(boxes + walk, unsure + [0.9] * 20, looks=person + [None] * 20).finish() == (False, [])


def test_a_passer_by_on_a_posts_first_frames_does_not_make_it_a_person() -> None:
    """The post's look holds most patches even when a passer-by covers its first ones (the look the test once
    compared every patch with); a person's looks keep changing and none holds most."""
    from trackers.clutter import MAX_LOOKS, Stillness

    rng = np.random.default_rng(1)
    scene = rng.integers(0, 255, (120, 160, 3)).astype(np.uint8)
    box = np.array([40.0, 20.0, 60.0, 100.0])
    passing = []
    for _ in range(12):
        frame = scene.copy()
        frame[20:100, 40:60] = rng.integers(0, 255, (80, 20, 3))
        passing.append(patch(frame, box))
    still = patch(scene, box)
    boxes, unsure = [tuple(box)] * 40, [0.45] * 40
    assert watch(boxes, unsure, looks=passing[:6] + [still] * 34).finish() == (True, [])
    # more passer-by looks than are kept: each seen once, they give their places to the post's steady look
    assert len(passing) > MAX_LOOKS
    assert watch(boxes, unsure, looks=passing + [still] * 28).finish() == (True, [])
    assert watch(boxes, unsure, looks=passing[:6] * 6 + [still] * 4).finish() == (False, [])  # mostly the passer-by
    looks = Stillness()
    for p in passing[:6] * 3:  # each look seen again counts for itself
        looks.add(p)
    assert looks.counts == [3] * 6 and looks.n == 18 and not looks.unchanged()
    for p in passing[6:]:  # looks seen more than once keep their places; the counts still grow with each patch
        looks.add(p)
    assert len(looks.looks) == MAX_LOOKS and looks.counts[:6] == [3] * 6 and looks.n == 18 + len(passing) - 6


def test_still_unsure_stretches_are_cut_out_of_a_persons_track() -> None:
    post = [(100.0, 50.0, 112.0, 93.0)] * 40  # 40 frames: 5.7 s at 7 frames/s
    walk = [(100.0 + 5 * i, 50.0, 112.0 + 5 * i, 93.0) for i in range(1, 21)]
    # a post's track that a passer-by took over: the post's stretch is cut, the person stays
    assert watch(post + walk, [0.2] * 40 + [0.9] * 20).finish() == (False, [Cut(0, 39, 40)])
    # and the other way round: a person whose track ends on a post
    assert watch(walk + post, [0.9] * 20 + [0.2] * 40).finish() == (False, [Cut(20, 59, 40)])
    # someone who stood still, and the detector was sure of them: nothing is cut
    assert watch(post + walk, [0.9] * 60).finish() == (False, [])
    # a short unsure pause (1 s) inside a walk is not scenery
    assert watch(walk + post[:7] + walk, [0.9] * 20 + [0.2] * 7 + [0.9] * 20).finish() == (False, [])
    # the whole track is the post: dropped; but a post seen for 1 s is too little to judge
    assert watch(post, [0.2] * 40).finish() == (True, [])
    assert watch(post[:7], [0.2] * 7).finish() == (False, [])


def test_the_setting_is_checked() -> None:
    from app.config import TrackerConfig
    from app.errors import UserError

    assert TrackerConfig().scenery is True
    with pytest.raises(UserError, match="scenery"):
        TrackerConfig(scenery="yes")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def encoder():
    from reid_core.weights import build_encoder

    return build_encoder(None, backbone="mobilenetv2", device="cpu", batch_size=16)


def store_and_processor(path, encoder, **kw):  # type: ignore[no-untyped-def]
    """A real SQLite store with one 320x240 file source, and a real ByteTrack ``CameraProcessor`` over it."""
    db = open_database(path)
    with db.session() as s:
        cam = repo.get_or_create_camera(s, "gate", kind="file")
        src = repo.create_source(s, camera_id=cam.id, uri="/v/gate.avi", content_hash=None, start_time=T0,
                                 fps=7.0, frame_count=60, width=320, height=240, settings={})
    return db, CameraProcessor(db=db, camera_id=cam.id, source_id=src.id, tracker=make_tracker("bytetrack"),
                               encoder=encoder, **kw)


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
@pytest.mark.parametrize("drop_scenery", [True, False])
def test_a_still_unsure_track_leaves_the_store(tmp_path, encoder, drop_scenery) -> None:
    db, proc = store_and_processor(tmp_path / "c.db", encoder, drop_scenery=drop_scenery)
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
    if not drop_scenery:  # [tracker] scenery = false: every track as the tracker made it
        assert proc.stats.clutter_dropped == 0 and proc.stats.tracks_closed == 2
        db.close()
        return
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


def taken_over(i: int) -> Detections:
    """A post at x=250 (score ~0.2) for 30 frames; from frame 30 a person (0.9) walks out from where it stood."""
    kps = np.zeros((1, 17, 3), np.float32)
    if i < 30:
        box, score = [250 + (i % 2), 60, 274 + (i % 2), 160], (0.3 if i == 0 else 0.18 + 0.04 * (i % 3))
    else:
        x = 250 - 5 * (i - 30)
        box, score = [x, 60, x + 24, 160], 0.9
    kps[0, :, 0], kps[0, :, 1], kps[0, :, 2] = box[0] + 12, np.linspace(70, 150, 17), 0.9
    return Detections(np.array([box], np.float32), np.array([score], np.float32), kps)


@pytest.mark.slow
def test_a_post_taken_over_by_a_person_keeps_only_the_person(tmp_path, encoder) -> None:
    db, proc = store_and_processor(tmp_path / "t.db", encoder)
    ids = set()
    for i in range(60):
        tracks = proc.process(i, FRAME, taken_over(i), T0 + timedelta(seconds=i / 7))
        ids.update(int(t) for t in tracks.ids)
        if i == 20:
            assert proc.flush()  # the post's rows are in the store while the track is open
    assert ids == {1}  # ByteTrack handed the post's track on to the person
    assert proc.close_all(60, status="complete")
    assert proc.stats.scenery_cuts == 1 and proc.stats.clutter_dropped == 0 and proc.stats.tracks_closed == 1
    con = sqlite3.connect(tmp_path / "t.db")
    try:
        (tid, first, last, n), = con.execute("SELECT id, first_frame, last_frame, n_obs FROM tracks").fetchall()
        frames = [r[0] for r in con.execute("SELECT frame FROM observations WHERE track_id = ? ORDER BY frame",
                                            (tid,))]
        assert frames == list(range(30, 60)) and (first, last, n) == (30, 59, 30)
        span = con.execute("SELECT start_time, end_time FROM tracks").fetchone()
        assert span == con.execute("SELECT MIN(t), MAX(t) FROM observations").fetchone()
        sample_frames = [r[0] for r in con.execute("SELECT frame FROM embeddings WHERE track_id = ?", (tid,))]
        assert sample_frames and min(sample_frames) >= 30  # the person's crops only
    finally:
        con.close()
    db.close()
