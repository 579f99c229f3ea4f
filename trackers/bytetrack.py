"""ByteTrack (ultralytics' ``BYTETracker``) behind the :class:`~trackers.types.Tracker` protocol.

One instance per camera. Ids are this adapter's own: every instance starts at 1 and counts up,
whatever ultralytics does with its track counter (older releases share one class-level counter
between all trackers in the process, and reset it whenever a tracker is created).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from trackers.types import Detections, Tracks

log = logging.getLogger(__name__)

_ID_ATTR = "_reidwatch_id"  # set on ultralytics' STrack objects, which persist while a track lives


@dataclass(frozen=True, kw_only=True)
class ByteTrackConfig:
    """ByteTrack thresholds (ultralytics' ``bytetrack.yaml`` names and defaults).

    track_high_thresh: detections at or above this score go to the first association;
    track_low_thresh: detections between this and the high threshold go to the second, IoU-only association;
    new_track_thresh: an unmatched detection starts a track only at or above this score;
    track_buffer: frames a lost track is kept for re-association;
    match_thresh: largest association cost (1 - IoU, score-fused) accepted in the first association;
    fuse_score: multiply IoU similarity by the detection score;
    output_boxes: ``"detection"`` reports the matched detection's box, ``"kalman"`` the filtered state.
    """

    track_high_thresh: float = 0.25
    track_low_thresh: float = 0.1
    new_track_thresh: float = 0.25
    track_buffer: int = 30
    match_thresh: float = 0.8
    fuse_score: bool = True
    output_boxes: Literal["detection", "kalman"] = "detection"

    def __post_init__(self) -> None:
        if not 0.0 <= self.track_low_thresh <= self.track_high_thresh <= 1.0:
            raise ValueError(
                f"need 0 <= track_low_thresh <= track_high_thresh <= 1, got {self.track_low_thresh}, "
                f"{self.track_high_thresh}"
            )
        if self.track_buffer < 0:
            raise ValueError(f"track_buffer must be >= 0, got {self.track_buffer}")
        if self.output_boxes not in ("detection", "kalman"):
            raise ValueError(f"output_boxes must be 'detection' or 'kalman', got {self.output_boxes!r}")


class _UltralyticsDets:
    """The slice of ultralytics' ``Boxes`` API that ``BYTETracker.update`` reads, over plain arrays."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray) -> None:
        self.xyxy = xyxy
        self.conf = conf
        self.cls = np.zeros(len(conf), np.float32)
        self.xywh = np.concatenate([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: Any) -> _UltralyticsDets:
        return _UltralyticsDets(self.xyxy[index], self.conf[index])


def ultralytics_namespace(tracker_type: str, values: dict[str, Any]) -> Any:
    """The ``IterableSimpleNamespace`` ultralytics' trackers take, from plain keyword values."""
    from ultralytics.utils import IterableSimpleNamespace

    return IterableSimpleNamespace(tracker_type=tracker_type, **values)


class ByteTrackTracker:
    """ultralytics ByteTrack for one camera; ``update`` once per frame, in order."""

    needs_features = False

    def __init__(self, config: ByteTrackConfig | None = None) -> None:
        from ultralytics.trackers.byte_tracker import BYTETracker

        self.config = config or ByteTrackConfig()
        values = asdict(self.config)
        values.pop("output_boxes")
        self._tracker = BYTETracker(ultralytics_namespace("bytetrack", values))
        self._next_id = 1

    def reset(self) -> None:
        """Forget every track and restart ids at 1."""
        self._tracker.reset()
        self._next_id = 1

    def update(self, detections: Detections, frame: np.ndarray, features: np.ndarray | None = None) -> Tracks:
        """Associate this frame's ``detections``; returns the confirmed tracks matched in this frame.

        ``frame`` and ``features`` are not used by ByteTrack (IoU and motion only).
        """
        self._tracker.update(_UltralyticsDets(detections.boxes, detections.scores), frame)
        return self._collect(detections)

    def _collect(self, detections: Detections) -> Tracks:
        frame_id = self._tracker.frame_id
        live = [t for t in self._tracker.tracked_stracks if t.is_activated and t.frame_id == frame_id]
        if not live:
            return Tracks.empty()
        ids = np.array([self._own_id(t) for t in live], np.int64)
        det_index = np.array([int(t.idx) for t in live], np.int64)
        if self.config.output_boxes == "detection":
            boxes = detections.boxes[det_index]
        else:
            boxes = np.stack([t.xyxy for t in live])
        order = np.argsort(ids)
        return Tracks(
            ids=ids[order],
            boxes=boxes[order],
            scores=detections.scores[det_index][order],
            keypoints=detections.keypoints[det_index][order],
            det_index=det_index[order],
        )

    def _own_id(self, track: Any) -> int:
        own = getattr(track, _ID_ATTR, None)
        if own is None:
            own = self._next_id
            self._next_id += 1
            setattr(track, _ID_ATTR, own)
        return int(own)
