"""ByteTrack and DeepSORT adapters driven with hand-written boxes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from trackers.bytetrack import ByteTrackConfig, ByteTrackTracker
from trackers.deepsort import DeepSortConfig, DeepSortTracker
from trackers.registry import TRACKERS, make_tracker
from trackers.types import NUM_KEYPOINTS, Detections

FRAME = np.zeros((480, 640, 3), np.uint8)
ROOT = Path(__file__).resolve().parents[2]


def _run_python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env
    )


def _dets(boxes: list[list[float]], scores: list[float]) -> Detections:
    boxes_arr = np.asarray(boxes, np.float32).reshape(-1, 4)
    # keypoints tagged with the detection's own box so a test can see they followed it
    kp = np.zeros((len(boxes_arr), NUM_KEYPOINTS, 3), np.float32)
    kp[:, :, 0] = boxes_arr[:, None, 0]
    kp[:, :, 1] = boxes_arr[:, None, 1]
    kp[:, :, 2] = 1.0
    return Detections(boxes=boxes_arr, scores=np.asarray(scores, np.float32), keypoints=kp)


def _features(labels: list[int], dim: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f = np.eye(dim, dtype=np.float32)[labels] + 0.05 * rng.standard_normal((len(labels), dim)).astype(
        np.float32
    )
    return f


def _crossing_scene(n_frames: int = 40):
    """Two people walking towards each other at 8 px/frame; they cross around frame 20 (A above B by 30 px).

    Yields (detections, labels) with the detection order alternating so indices never equal labels by luck.
    """
    for t in range(n_frames):
        a = [40 + 8 * t, 100, 40 + 8 * t + 40, 100 + 100]
        b = [360 - 8 * t, 130, 360 - 8 * t + 40, 130 + 100]
        if t % 2:
            yield _dets([b, a], [0.9, 0.85]), [1, 0]
        else:
            yield _dets([a, b], [0.85, 0.9]), [0, 1]


def _make(name: str):
    return ByteTrackTracker() if name == "bytetrack" else DeepSortTracker(DeepSortConfig(n_init=2))


@pytest.mark.parametrize("name", ["bytetrack", "deepsort"])
def test_ids_stay_stable_through_a_crossing(name: str) -> None:
    tracker = _make(name)
    for run in range(2):  # the second run after reset() must start again at id 1
        seen: dict[int, set[int]] = {0: set(), 1: set()}
        frames_with_both = 0
        for dets, labels in _crossing_scene():
            feats = _features(labels) if tracker.needs_features else None
            tracks = tracker.update(dets, FRAME, feats)
            np.testing.assert_array_equal(tracks.boxes, dets.boxes[tracks.det_index])
            np.testing.assert_array_equal(tracks.keypoints, dets.keypoints[tracks.det_index])
            frames_with_both += len(tracks) == 2
            for track_id, di in zip(tracks.ids, tracks.det_index, strict=True):
                seen[labels[di]].add(int(track_id))
        assert len(seen[0]) == 1 and len(seen[1]) == 1, f"run {run}: ids per person {seen}"
        assert seen[0] | seen[1] == {1, 2}, f"run {run}: {seen}"
        assert frames_with_both >= 35
        tracker.reset()


@pytest.mark.parametrize("name", ["bytetrack", "deepsort"])
def test_interleaved_instances_have_independent_ids(name: str) -> None:
    cam1, cam2 = _make(name), _make(name)
    ids1: set[int] = set()
    ids2: set[int] = set()
    for t in range(12):
        d1 = _dets([[10 + 2 * t, 10, 50 + 2 * t, 110]], [0.9])
        d2 = _dets([[100, 50 + t, 140, 150 + t], [300 - t, 50, 340 - t, 150]], [0.9, 0.8])
        ids1 |= set(cam1.update(d1, FRAME, _features([0]) if cam1.needs_features else None).ids.tolist())
        if (
            t == 6
        ):  # a camera added later must not disturb the running ones (ultralytics < 8.4 reset a shared counter)
            _make(name)
        ids2 |= set(cam2.update(d2, FRAME, _features([0, 1]) if cam2.needs_features else None).ids.tolist())
    assert ids1 == {1}
    assert ids2 == {1, 2}


def test_bytetrack_det_index_counts_low_score_detections() -> None:
    """A low-score detection listed first must not shift the index of the high-score one."""
    tracker = ByteTrackTracker()
    for t in range(5):
        dets = _dets([[400, 300, 440, 400], [10 + 3 * t, 10, 50 + 3 * t, 110]], [0.12, 0.9])
        tracks = tracker.update(dets, FRAME)
    assert tracks.det_index.tolist() == [1]
    np.testing.assert_array_equal(tracks.keypoints[0], dets.keypoints[1])


def test_bytetrack_kalman_boxes_option() -> None:
    tracker = ByteTrackTracker(ByteTrackConfig(output_boxes="kalman"))
    for t in range(6):
        dets = _dets([[10 + 4 * t, 10, 50 + 4 * t, 110]], [0.9])
        tracks = tracker.update(dets, FRAME)
    assert len(tracks) == 1
    assert np.abs(tracks.boxes[0] - dets.boxes[0]).max() < 4.0  # filtered, close to but not the detection


def test_empty_frames_give_empty_tracks() -> None:
    for name in TRACKERS:
        tracker = _make(name)
        tracks = tracker.update(Detections.empty(), FRAME, np.zeros((0, 8), np.float32))
        assert len(tracks) == 0


def test_deepsort_requires_one_feature_row_per_detection() -> None:
    tracker = DeepSortTracker()
    dets = _dets([[0, 0, 10, 20], [30, 0, 40, 20]], [0.9, 0.9])
    with pytest.raises(ValueError, match="features"):
        tracker.update(dets, FRAME, None)
    with pytest.raises(ValueError, match=r"expected shape \(2, D\)"):
        tracker.update(dets, FRAME, np.zeros((3, 8), np.float32))


def test_deepsort_skips_degenerate_and_low_score_boxes_without_misaligning_features() -> None:
    tracker = DeepSortTracker(DeepSortConfig(n_init=1, min_confidence=0.3))
    for t in range(3):
        dets = _dets([[5, 5, 5, 30], [100, 100, 140, 200], [200 + t, 50, 240 + t, 150]], [0.9, 0.1, 0.9])
        tracks = tracker.update(dets, FRAME, _features([0, 1, 2]))
    assert tracks.det_index.tolist() == [2]


def test_registry_builds_by_name_and_rejects_unknown() -> None:
    assert isinstance(make_tracker("bytetrack", track_buffer=10), ByteTrackTracker)
    assert make_tracker("deepsort", max_age=5).needs_features
    with pytest.raises(ValueError, match="bytetrack, deepsort"):
        make_tracker("sort")
    with pytest.raises(ValueError, match="bad settings"):
        make_tracker("bytetrack", nonsense=1)


def test_deepsort_adapter_never_needs_pkg_resources() -> None:
    """deep-sort-realtime imports pkg_resources only in its embedders; the adapter must not load them."""
    code = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "pkg_resources":
                    raise ImportError("pkg_resources blocked")
        sys.meta_path.insert(0, Block())
        import numpy as np
        from trackers.deepsort import DeepSortTracker
        from trackers.types import Detections
        t = DeepSortTracker()
        d = Detections(np.array([[0, 0, 10, 20]]), np.array([0.9]), np.zeros((0,)))
        t.update(d, np.zeros((30, 30, 3), np.uint8), np.ones((1, 4), np.float32))
        assert not any(m.startswith("deep_sort_realtime.embedder.embedder") for m in sys.modules), sys.modules
        print("ok")
        """
    )
    out = _run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_importing_trackers_loads_no_heavy_backend() -> None:
    code = (
        "import sys, trackers.registry, trackers.stitch, trackers.interpolate;"
        "print(sorted(m for m in ('ultralytics', 'deep_sort_realtime', 'torch', 'cv2') if m in sys.modules))"
    )
    out = _run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
