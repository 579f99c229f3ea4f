"""Training crops kept at ingest (issue 10): the reservoir of one open track, and which sources keep them.

Pure parts with real images: a drawn person whose keypoints are marked with bright dots, so a stored JPEG shows
whether its keypoints still point at the right pixels after cutting and scaling.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pytest

from app.config import IngestConfig
from app.errors import UserError
from app.ingest.training_crops import MAX_HEIGHT, CropReservoir, cut_crop, spread

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def person_frame(x: float, y: float, h: float, size=(720, 1280)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A grey frame with a dark figure and its 17 keypoints drawn as white dots; (frame, box, keypoints)."""
    frame = np.full((*size, 3), 90, np.uint8)
    w = h * 0.4
    cv2.rectangle(frame, (int(x), int(y)), (int(x + w), int(y + h)), (40, 30, 20), -1)
    kps = np.zeros((17, 3), np.float32)
    kps[:, 0] = x + w * np.linspace(0.2, 0.8, 17)
    kps[:, 1] = y + h * np.linspace(0.05, 0.95, 17)
    kps[:, 2] = 0.9
    for px, py, _ in kps:
        cv2.circle(frame, (int(round(px)), int(round(py))), max(2, int(h / 80)), (255, 255, 255), -1)
    return frame, np.array([x, y, x + w, y + h], np.float32), kps


def test_a_tall_crop_is_scaled_and_its_keypoints_follow_the_pixels():
    frame, box, kps = person_frame(300, 100, 560)
    crop, kp, cut = cut_crop(frame, box, kps)
    assert crop.shape[0] == MAX_HEIGHT and cut[3] - cut[1] > MAX_HEIGHT
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 85])
    back = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    for px, py, _ in kp:  # every keypoint lands on its white dot in the stored image
        assert back[int(round(py)), int(round(px))] > 200, (px, py)
    assert (kp[:, 0] >= 0).all() and (kp[:, 0] < crop.shape[1]).all() and (kp[:, 1] < crop.shape[0]).all()


def test_memory_stays_bounded_and_the_kept_crops_span_the_whole_stay():
    cap = 8
    res = CropReservoir(cap)
    frames = 3000  # 10 minutes at 5 frames/s: a long stay
    most = 0
    for i in range(frames):
        frame, box, kps = person_frame(100 + (i % 400), 200, 120 + (i % 7), size=(480, 720))
        res.offer(i, T0 + timedelta(seconds=i / 5), frame, box, kps, 0.0)
        most = max(most, len(res))
    assert most <= 2 * cap
    kept = res.finish()
    assert len(kept) == cap
    got = sorted(c.frame for c in kept)
    assert got[0] < frames * 0.1 and got[-1] > frames * 0.9  # spread over the stay, not the last minutes
    gaps = np.diff(got)
    assert gaps.min() > frames / cap / 4
    for c in kept:
        img = cv2.imdecode(np.frombuffer(c.jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape[0] <= MAX_HEIGHT and 0 < c.quality <= 1
        assert c.box[2] > c.box[0] and c.box[3] > c.box[1]
    assert res.finish() is kept and len(res) == cap  # a retried write gets the same crops


def test_tiny_people_and_boxes_are_not_kept():
    res = CropReservoir(4)
    frame, box, kps = person_frame(100, 100, 20, size=(240, 320))
    for i in range(20):
        res.offer(i, T0 + timedelta(seconds=i), frame, box, kps, 0.0)
    assert res.finish() == []


def test_which_sources_keep_crops():
    assert IngestConfig().crops_per_track(live=True) == 16
    assert IngestConfig().crops_per_track(live=False) == 0  # file sources are re-read from their video
    assert IngestConfig(keep_crops="all", training_crops=32).crops_per_track(live=False) == 32
    assert IngestConfig(keep_crops="none").crops_per_track(live=True) == 0
    with pytest.raises(UserError, match="keep_crops"):
        IngestConfig(keep_crops="some")
    with pytest.raises(UserError, match="training_crops"):
        IngestConfig(training_crops=-1)


def test_spread_takes_first_and_last():
    assert spread(10, 3).tolist() == [0, 4, 9]  # numpy rounds 4.5 to even
    assert spread(2, 5).tolist() == [0, 1] and spread(0, 4).tolist() == []
