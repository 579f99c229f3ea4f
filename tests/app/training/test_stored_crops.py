"""Issue 10: a store fed only by live cameras adapts, from the training crops kept at ingest.

Real parts: the first 40 frames of vtest.avi decoded and fed, as a live camera's frames (wall-clock times, no
video kept), through the real detector, ByteTrack and encoder into the live path (``CameraProcessor`` with the
crops a live monitor keeps), a real SQLite store; then a real (tiny) adaptation, re-embedding and relinking, a
retention purge, and real file ingests through the CLI for the file-source defaults.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select

from app.cli import main
from app.config import Config
from app.store import models as m
from app.store import open_database, repo
from app.store.crops import crop_stats, track_crops

pytestmark = pytest.mark.slow  # detector + encoder on 40 frames, a tiny adaptation: ~1 min on 2 busy cores
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
CAP = Config().ingest.training_crops


@pytest.fixture(scope="module")
def live_store(tmp_path_factory, vtest_clip) -> Path:
    """vtest frames through the live path (as app.live.monitor builds it) into a store; the store's path."""
    from app.ingest.pipeline import CameraProcessor
    from reid_core.weights import build_encoder
    from trackers.detector import YoloPoseDetector
    from trackers.registry import make_tracker

    cfg = Config()
    path = tmp_path_factory.mktemp("live") / "live.db"
    db = open_database(path)
    with db.session() as s:
        cam = repo.get_or_create_camera(s, "door", kind="rtsp", url_redacted="rtsp://127.0.0.1:8554/door")
        src = repo.create_source(s, camera_id=cam.id, uri="rtsp://127.0.0.1:8554/door", content_hash=None,
                                 start_time=T0, fps=0.0, frame_count=0, width=768, height=576,
                                 settings={"live": True})
    proc = CameraProcessor(db=db, camera_id=cam.id, source_id=src.id, tracker=make_tracker("bytetrack"),
                           encoder=build_encoder(None, backbone="auto", device="cpu"),
                           close_after_s=cfg.tracker.close_after_s,
                           training_crops=cfg.ingest.crops_per_track(live=True))
    detector = YoloPoseDetector(imgsz=960, device="cpu", engine="torch")  # vtest people are small; no export
    cap = cv2.VideoCapture(str(vtest_clip))
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        proc.process(i, frame, detector.detect(frame), T0 + timedelta(seconds=i / 7))
        if i % 10 == 9:
            assert proc.flush(i + 1)
        i += 1
    cap.release()
    assert proc.close_all(i, status="complete")
    db.close()
    return path


def _copy(src: Path, dst: Path) -> Path:
    shutil.copy(src, dst)
    return dst


def test_live_tracks_keep_decodable_crops_with_keypoints_inside(live_store):
    db = open_database(live_store, create=False)
    with db.session() as s:
        tracks = {t.id: t for t in repo.list_tracks(s)}
        crops = track_crops(s, list(tracks))
        stats = crop_stats(s)
    db.close()
    assert len(tracks) >= 6 and len(crops) >= 4
    assert stats.crops == sum(len(v) for v in crops.values()) and stats.jpeg_bytes > 0
    for tid, rows in crops.items():
        t = tracks[tid]
        assert 1 <= len(rows) <= CAP
        assert len({c.frame for c in rows}) == len(rows)
        for c in rows:
            assert t.first_frame <= c.frame <= t.last_frame
            img = cv2.imdecode(np.frombuffer(c.jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert img is not None and 24 <= img.shape[0] <= 256
            seen = c.keypoints[c.keypoints[:, 2] >= 0.5]
            assert (seen[:, 0] >= -1).all() and (seen[:, 0] <= img.shape[1] + 1).all(), (tid, c.frame)
            assert (seen[:, 1] >= -1).all() and (seen[:, 1] <= img.shape[0] + 1).all(), (tid, c.frame)
    long = max(crops, key=lambda k: tracks[k].last_frame - tracks[k].first_frame)
    frames = [c.frame for c in crops[long]]  # spread over the stay, not bunched at one end
    span = tracks[long].last_frame - tracks[long].first_frame
    assert max(frames) - min(frames) >= 0.6 * span, (frames, span)


def test_a_live_only_store_adapts_from_its_stored_crops(live_store, tmp_path, capsys):
    db_path = _copy(live_store, tmp_path / "a.db")
    code = main(["adapt", "--db", str(db_path), "--epochs", "2", "--crops-per-track", "4", "--views", "1",
                 "--seed", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "re-embedded" in out and "adapted on" in out
    # the log names the stored crops as the source of the live camera's tracks (the CLI logs to stderr)
    assert any("app.training.crops" in x and "crops stored at ingest" in x and "rtsp://127.0.0.1:8554/door" in x
               for x in err.splitlines()), err
    assert any("app.training.reembed" in x and "re-embedded from" in x for x in err.splitlines()), err
    import json

    db = open_database(db_path, create=False)
    card = json.loads(sorted((db_path.parent / "a.models").glob("adapted-*.json"))[-1].read_text())
    assert card["crops_from"]["video"] == 0 and card["crops_from"]["stored"] == card["tracks"] >= 4
    assert card["crops"] <= 4 * card["tracks"]
    with db.session() as s:
        tags = set(s.scalars(select(m.Embedding.model_tag)))
        embedded = set(s.scalars(select(m.Embedding.track_id).distinct()))
        with_crops = set(s.scalars(select(m.TrackCrop.track_id).distinct()))
        stored_frames = {tuple(r) for r in s.execute(select(m.TrackCrop.track_id, m.TrackCrop.frame))}
        emb_frames = {tuple(r) for r in s.execute(select(m.Embedding.track_id, m.Embedding.frame))}
    db.close()
    # one encoder for the whole store, and the live tracks' samples are now their stored crops
    assert len(tags) == 1 and "weights=adapted-" in next(iter(tags))
    assert embedded == with_crops and emb_frames <= stored_frames


def test_reembed_refuses_live_tracks_without_stored_crops_and_changes_nothing(live_store, tmp_path, capsys):
    db_path = _copy(live_store, tmp_path / "r.db")
    db = open_database(db_path, create=False)
    with db.session() as s:
        before = sorted(s.execute(select(m.Embedding.id, m.Embedding.model_tag)).all())
        victim = s.scalar(select(m.TrackCrop.track_id).limit(1))
        s.query(m.TrackCrop).filter(m.TrackCrop.track_id == victim).delete()
    db.close()
    from reid_core.weights import build_encoder, save_checkpoint

    ckpt = save_checkpoint(build_encoder(None, backbone="auto", device="cpu").model, tmp_path / "other.safetensors")
    code = main(["-q", "reembed", "--weights", str(ckpt), "--db", str(db_path), "--no-link"])
    out, err = capsys.readouterr()
    assert code == 2 and "no video file and no crops stored at ingest" in err and "(1 tracks)" in err
    db = open_database(db_path, create=False)
    with db.session() as s:
        assert sorted(s.execute(select(m.Embedding.id, m.Embedding.model_tag)).all()) == before
    db.close()


def test_a_purge_removes_the_stored_crops(live_store, tmp_path, capsys):
    db_path = _copy(live_store, tmp_path / "p.db")
    db = open_database(db_path, create=False)
    with db.session() as s:
        assert s.scalar(select(func.count(m.TrackCrop.id))) > 0
    db.close()
    code = main(["-q", "purge", "--older-than", "0", "--db", str(db_path)])
    assert code == 0, capsys.readouterr().err
    db = open_database(db_path, create=False)
    with db.session() as s:
        assert s.scalar(select(func.count(m.Track.id))) == 0
        assert s.scalar(select(func.count(m.TrackCrop.id))) == 0
    db.close()
    raw = db_path.read_bytes()  # the pictures are gone from the file, not only unlinked
    assert b"\xff\xd8\xff" not in raw


def test_file_tracks_keep_no_crops_unless_asked(vtest_clip, tmp_path, capsys):
    argv = ["ingest", str(vtest_clip), "--camera", "hall", "--start", "2026-12-01T10:00:00", "--imgsz", "640",
            "--max-frames", "12", "--no-link", "--no-progress"]
    torch_only = '[detector]\nengine = "torch"\n[encoder]\nengine = "torch"\n'  # no engine export in a test
    default = tmp_path / "default.toml"
    default.write_text(torch_only)
    assert main(["-q", "--config", str(default), *argv, "--db", str(tmp_path / "f.db")]) == 0, \
        capsys.readouterr().err
    conf = tmp_path / "all.toml"
    conf.write_text('[ingest]\nkeep_crops = "all"\ntraining_crops = 4\n' + torch_only)
    assert main(["-q", "--config", str(conf), *argv, "--db", str(tmp_path / "all.db")]) == 0
    counts = {}
    for name in ("f.db", "all.db"):
        db = open_database(tmp_path / name, create=False)
        with db.session() as s:
            counts[name] = (s.scalar(select(func.count(m.Track.id))),
                            s.execute(select(m.TrackCrop.track_id, func.count(m.TrackCrop.id))
                                      .group_by(m.TrackCrop.track_id)).all())
        db.close()
    assert counts["f.db"][0] > 0 and counts["f.db"][1] == []  # the video is kept: nothing stored
    assert counts["all.db"][1] and all(1 <= n <= 4 for _, n in counts["all.db"][1])
    code = main(["info", "--db", str(tmp_path / "all.db")])
    out = capsys.readouterr().out
    assert code == 0 and "training crops of" in out
