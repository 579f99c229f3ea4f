"""Typed values that cross the ``trackers`` boundary.

Every array is validated once, in ``__post_init__``, with an error that names the
expected and the actual shape. Boxes are ``x1, y1, x2, y2`` in frame pixels;
keypoints are COCO-17 ``x, y, confidence`` in frame pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

NUM_KEYPOINTS = 17


def _check(name: str, arr: np.ndarray, shape: tuple[int | None, ...]) -> None:
    if arr.ndim != len(shape) or any(s is not None and a != s for a, s in zip(arr.shape, shape, strict=False)):
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name}: expected shape {want}, got {tuple(arr.shape)}")


@dataclass(frozen=True)
class Detections:
    """People found in one frame.

    boxes: (N, 4) float32 xyxy; scores: (N,) float32; keypoints: (N, 17, 3) float32.
    """

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "boxes", np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4))
        object.__setattr__(self, "scores", np.asarray(self.scores, dtype=np.float32).reshape(-1))
        n = len(self.boxes)
        kp = np.asarray(self.keypoints, dtype=np.float32)
        if kp.size == 0:
            kp = np.zeros((n, NUM_KEYPOINTS, 3), np.float32)
        object.__setattr__(self, "keypoints", kp)
        _check("scores", self.scores, (n,))
        _check("keypoints", self.keypoints, (n, NUM_KEYPOINTS, 3))

    def __len__(self) -> int:
        return len(self.boxes)

    @staticmethod
    def empty() -> Detections:
        """No detections (N = 0)."""
        return Detections(np.zeros((0, 4)), np.zeros((0,)), np.zeros((0, NUM_KEYPOINTS, 3)))

    def take(self, index: np.ndarray) -> Detections:
        """The detections at ``index`` (integer indices or a boolean mask)."""
        return Detections(self.boxes[index], self.scores[index], self.keypoints[index])


@dataclass(frozen=True)
class Tracks:
    """Confirmed tracks output by a tracker for one frame.

    ids: (M,) int64, unique within one tracker instance (one camera);
    boxes: (M, 4) float32 xyxy; scores: (M,) float32; keypoints: (M, 17, 3) float32;
    det_index: (M,) int64 index into the frame's Detections, -1 when the box is a prediction only.
    """

    ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray
    det_index: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", np.asarray(self.ids, dtype=np.int64).reshape(-1))
        m = len(self.ids)
        object.__setattr__(self, "boxes", np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4))
        object.__setattr__(self, "scores", np.asarray(self.scores, dtype=np.float32).reshape(-1))
        object.__setattr__(self, "keypoints", np.asarray(self.keypoints, dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 3))
        object.__setattr__(self, "det_index", np.asarray(self.det_index, dtype=np.int64).reshape(-1))
        _check("boxes", self.boxes, (m, 4))
        _check("scores", self.scores, (m,))
        _check("keypoints", self.keypoints, (m, NUM_KEYPOINTS, 3))
        _check("det_index", self.det_index, (m,))

    def __len__(self) -> int:
        return len(self.ids)

    @staticmethod
    def empty() -> Tracks:
        """No tracks (M = 0)."""
        return Tracks(np.zeros((0,)), np.zeros((0, 4)), np.zeros((0,)), np.zeros((0, NUM_KEYPOINTS, 3)), np.zeros((0,)))


class Detector(Protocol):
    """Finds people and their keypoints. ``frame`` is a BGR uint8 (H, W, 3) array."""

    device: str

    def detect(self, frame: np.ndarray) -> Detections:
        """The people in one BGR frame, boxes and keypoints in its pixel coordinates."""
        ...

    def detect_batch(self, frames: list[np.ndarray]) -> list[Detections]:
        """``detect`` for several frames at once, one ``Detections`` per frame, in order."""
        ...


class Tracker(Protocol):
    """Associates detections over time; one instance per camera, own id counter.

    ``features`` is an optional (N, D) float32 array of appearance features for the
    frame's detections (row i belongs to detection i), for trackers that use appearance.
    """

    needs_features: bool

    def update(self, detections: Detections, frame: np.ndarray, features: np.ndarray | None = None) -> Tracks:
        """Advance one frame: associate ``detections`` with the tracks and return the confirmed ones."""
        ...

    def reset(self) -> None:
        """Forget every track and restart the id counter (a new video)."""
        ...


@dataclass(frozen=True, kw_only=True)
class TrackRows:
    """Many frames of one camera's tracks, one row per (frame, track): what stitching and export work on.

    frames: (N,) int64 frame numbers; ids: (N,) int64 track ids; boxes: (N, 4) float32 xyxy;
    scores: (N,) float32 (detection confidence; interpolated rows carry their neighbours' lower score).
    """

    frames: np.ndarray
    ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "frames", np.asarray(self.frames, dtype=np.int64).reshape(-1))
        n = len(self.frames)
        object.__setattr__(self, "ids", np.asarray(self.ids, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "boxes", np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4))
        object.__setattr__(self, "scores", np.asarray(self.scores, dtype=np.float32).reshape(-1))
        _check("ids", self.ids, (n,))
        _check("boxes", self.boxes, (n, 4))
        _check("scores", self.scores, (n,))

    def __len__(self) -> int:
        return len(self.frames)

    def take(self, index: np.ndarray) -> TrackRows:
        """The rows at ``index`` (integer indices or a boolean mask)."""
        return TrackRows(
            frames=self.frames[index], ids=self.ids[index], boxes=self.boxes[index], scores=self.scores[index]
        )

    @staticmethod
    def from_tracks(frame_numbers: list[int], tracks: list[Tracks]) -> TrackRows:
        """Stack per-frame tracker output; ``frame_numbers[i]`` is the frame of ``tracks[i]``."""
        if len(frame_numbers) != len(tracks):
            raise ValueError(f"expected one frame number per Tracks, got {len(frame_numbers)} and {len(tracks)}")
        if not tracks:
            return TrackRows(frames=np.zeros(0), ids=np.zeros(0), boxes=np.zeros((0, 4)), scores=np.zeros(0))
        return TrackRows(
            frames=np.concatenate(
                [np.full(len(t), f, np.int64) for f, t in zip(frame_numbers, tracks, strict=True)]
            ),
            ids=np.concatenate([t.ids for t in tracks]),
            boxes=np.concatenate([t.boxes for t in tracks]),
            scores=np.concatenate([t.scores for t in tracks]),
        )
