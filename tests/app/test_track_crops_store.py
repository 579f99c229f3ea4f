"""Issue 10: the ``track_crops`` table (migration 0007) on both backends: written, read back, counted, and gone
with its track (ON DELETE CASCADE), as a retention purge or ``ingest --force`` deletes tracks."""

from __future__ import annotations

from datetime import datetime, timezone

import cv2
import numpy as np
from sqlalchemy import delete, func, select

from app.store import models as m
from app.store import open_database, repo
from app.store.crops import TrackCrop, add_track_crops, crop_stats, track_crops, tracks_with_crops

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def _crop(track_id: int, frame: int) -> TrackCrop:
    img = np.full((120, 50, 3), frame % 255, np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    kp = np.zeros((17, 3), np.float32)
    kp[:, 0], kp[:, 1], kp[:, 2] = 25, np.linspace(5, 115, 17), 0.8
    return TrackCrop(track_id, frame, (10, 20, 60, 140), 0.5, kp, buf.tobytes())


def test_crops_are_stored_read_back_and_go_with_their_track(store_url):
    db = open_database(store_url)
    with db.session() as s:
        cam = repo.get_or_create_camera(s, "door", kind="rtsp")
        src = repo.create_source(s, camera_id=cam.id, uri="rtsp://127.0.0.1/door", content_hash=None, start_time=T0,
                                 fps=0.0, frame_count=0, width=320, height=240, settings={"live": True})
        a = repo.create_track(s, source_id=src.id, camera_id=cam.id, local_id=1, frame=0, t=T0)
        b = repo.create_track(s, source_id=src.id, camera_id=cam.id, local_id=2, frame=0, t=T0)
        add_track_crops(s, a, [_crop(a, f) for f in (0, 5, 9)])
        add_track_crops(s, b, [_crop(b, 3)])
    with db.session() as s:
        add_track_crops(s, a, [_crop(a, 5), _crop(a, 12)])  # a retried write: frame 5 is not stored twice
        got = track_crops(s, [a, b, 999])
        stats = crop_stats(s)
        assert tracks_with_crops(s, [a, b, 999]) == {a, b}
    assert [c.frame for c in got[a]] == [0, 5, 9, 12] and [c.frame for c in got[b]] == [3]
    c = got[a][1]
    assert c.box == (10, 20, 60, 140) and c.keypoints.shape == (17, 3) and abs(c.quality - 0.5) < 1e-6
    img = cv2.imdecode(np.frombuffer(c.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (120, 50, 3) and abs(int(img.mean()) - 5) <= 2
    assert stats.crops == 5 and stats.tracks == 2 and stats.jpeg_bytes == sum(len(x.jpeg) for v in got.values()
                                                                              for x in v)
    with db.session() as s:
        s.execute(delete(m.Track).where(m.Track.id == a))
    with db.session() as s:
        assert s.scalar(select(func.count(m.TrackCrop.id))) == 1
        repo.delete_source(s, src.id)
    with db.session() as s:
        assert s.scalar(select(func.count(m.TrackCrop.id))) == 0
    db.close()
