"""File ingest end to end on real footage: real detector weights, real tracker, real encoder, real SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.ingest.job import ingest_video
from app.mot.export import format_mot, mot_rows, pick_source
from app.store import open_database, repo

pytestmark = pytest.mark.slow
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def parts():
    from reid_core.weights import build_encoder
    from trackers.detector import YoloPoseDetector

    detector = YoloPoseDetector(device="cpu")
    encoder = build_encoder(None, backbone="mobilenetv2", device="cpu", batch_size=32)
    return detector, encoder


def _tracker(fps: float = 7.0):
    from trackers.registry import make_tracker

    return make_tracker("bytetrack")


def test_ingest_stores_tracks_observations_embeddings(tmp_path, vtest_clip: Path, parts):
    detector, encoder = parts
    db = open_database(tmp_path / "s.db")
    res = ingest_video(db, vtest_clip, camera="entrance", detector=detector, tracker=_tracker(), encoder=encoder,
                       start=T0, fps=7.0)
    assert res.status == "complete" and res.frames == 40
    with db.session() as s:
        (src,) = repo.list_sources(s)
        assert src.status == "complete" and src.frames_done == 40 and (src.width, src.height) == (768, 576)
        tracks = repo.list_tracks(s, source_id=src.id)
        assert len(tracks) >= 4, "vtest frames 60-99 show at least four people"
        obs = repo.observations(s, [t.id for t in tracks])
        assert len(obs) >= 4 * 30
        for o in obs[:50]:
            assert o.t == T0 + timedelta(seconds=o.frame / 7.0)
            x1, y1, x2, y2 = o.box
            seen = o.keypoints[o.keypoints[:, 2] > 0.5]
            if len(seen):  # confident keypoints lie in (or very near) the person's box
                assert np.all(seen[:, 0] > x1 - 10) and np.all(seen[:, 0] < x2 + 10)
                assert np.all(seen[:, 1] > y1 - 10) and np.all(seen[:, 1] < y2 + 10)
        embs = repo.track_embeddings(s)
        long_tracks = [t for t in tracks if t.n_obs >= 10]
        assert long_tracks and all(t.id in embs for t in long_tracks)
        for e in embs.values():
            assert 1 <= len(e.global_feat) <= 6
            np.testing.assert_allclose(np.linalg.norm(e.global_feat, axis=1), 1.0, atol=2e-2)
        thumb = repo.get_thumbnail(s, long_tracks[0].id)
        img = cv2.imdecode(np.frombuffer(thumb, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape[0] == 128
        rows = mot_rows(s, pick_source(s, "entrance", None), "track")
    assert min(r[0] for r in rows) >= 1 and max(r[0] for r in rows) == 40  # 1-based frames of the clip's 0..39
    text = format_mot(rows)
    assert text.count("\n") == len(rows) and text.split(",")[7] == "-1"


def _short_clip(src: Path, dst: Path, n: int) -> Path:
    cap = cv2.VideoCapture(str(src))
    writer = None
    for _ in range(n):
        ok, frame = cap.read()
        assert ok
        if writer is None:
            writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"MJPG"), 7.0, frame.shape[1::-1])
        writer.write(frame)
    writer.release()
    return dst


def test_same_file_twice_is_recognised_and_force_redoes(tmp_path, vtest_clip: Path, parts):
    detector, encoder = parts
    clip = _short_clip(vtest_clip, tmp_path / "short.avi", 6)
    renamed = tmp_path / "renamed copy.avi"
    renamed.write_bytes(clip.read_bytes())
    db = open_database(tmp_path / "s.db")
    first = ingest_video(db, clip, camera="cam", detector=detector, tracker=_tracker(), encoder=encoder, start=T0)
    assert first.status == "complete" and first.frames == 6
    again = ingest_video(db, renamed, camera="cam", detector=detector, tracker=_tracker(), encoder=encoder, start=T0)
    assert again.status == "skipped" and again.source_id == first.source_id and "already ingested" in again.message
    redo = ingest_video(db, clip, camera="cam", detector=detector, tracker=_tracker(), encoder=encoder, start=T0,
                        force=True)
    assert redo.status == "complete" and redo.source_id != first.source_id
    with db.session() as s:
        assert [x.id for x in repo.list_sources(s)] == [redo.source_id]
        assert {t.source_id for t in repo.list_tracks(s)} == {redo.source_id}


def test_interrupt_commits_and_rerun_resumes(tmp_path, vtest_clip: Path, parts):
    detector, encoder = parts
    db = open_database(tmp_path / "s.db")

    def stop_at_12(done: int, total: int) -> None:
        if done >= 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest_video(db, vtest_clip, camera="cam", detector=detector, tracker=_tracker(), encoder=encoder,
                     start=T0, progress=stop_at_12, max_frames=24)
    with db.session() as s:
        (src,) = repo.list_sources(s)
        assert src.status == "incomplete" and src.frames_done == 12
        stored = repo.observations(s, [t.id for t in repo.list_tracks(s)])
        assert stored and max(o.frame for o in stored) == 11
        assert repo.track_embeddings(s), "open tracks are embedded and kept at the interruption"
    res = ingest_video(db, vtest_clip, camera="cam", detector=detector, tracker=_tracker(), encoder=encoder,
                       start=T0, max_frames=24)
    assert res.status == "incomplete" and res.source_id == src.id and res.frames == 12  # stopped by max_frames
    with db.session() as s:
        (src,) = repo.list_sources(s)
        assert src.status == "incomplete" and src.frames_done == 24
        tracks = repo.list_tracks(s)
        obs = repo.observations(s, [t.id for t in tracks])
        assert sorted({o.frame for o in obs}) == list(range(24))
        assert len({t.local_id for t in tracks}) == len(tracks)


def test_truncated_file_keeps_what_decodes(tmp_path, vtest_clip: Path, parts):
    detector, encoder = parts
    data = vtest_clip.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 4])
    db = open_database(tmp_path / "s.db")
    res = ingest_video(db, cut, camera="cam", detector=detector, tracker=_tracker(), encoder=encoder, start=T0)
    assert res.status == "complete" and 0 < res.frames < 40
    assert "warning" in res.message


def test_deepsort_is_fed_our_own_embeddings(tmp_path, vtest_clip: Path, parts):
    """The DeepSORT tracker gets the PGFA encoder's features for every detection (no embedder of its own)."""
    from trackers.registry import make_tracker

    detector, encoder = parts
    clip = _short_clip(vtest_clip, tmp_path / "short.avi", 6)
    tracker = make_tracker("deepsort", n_init=1)
    assert tracker.needs_features
    db = open_database(tmp_path / "s.db")
    res = ingest_video(db, clip, camera="cam", detector=detector, tracker=tracker, encoder=encoder, start=T0)
    assert res.status == "complete" and res.frames == 6
    with db.session() as s:
        tracks = repo.list_tracks(s)
        assert len(tracks) >= 3
        assert len(repo.observations(s, [t.id for t in tracks])) >= 3 * 4
