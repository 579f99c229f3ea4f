"""DeepSORT (deep-sort-realtime) behind the :class:`~trackers.types.Tracker` protocol.

The caller supplies the appearance features ((N, D) per frame, row i for detection i); the
package's own embedders are never created, so it needs neither their weights nor
``pkg_resources`` (which only its embedder modules import).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from trackers.types import Detections, Tracks

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class DeepSortConfig:
    """DeepSORT settings (deep-sort-realtime names where they exist).

    min_confidence: detections below this score are not given to the tracker;
    max_cosine_distance: appearance gate (cosine distance to the track's gallery);
    nn_budget: gallery size per track (None: unbounded);
    max_iou_distance: gate of the IoU association for unconfirmed and just-missed tracks;
    max_age: frames a track survives without a match;
    n_init: consecutive matches before a track is confirmed (and reported);
    output_boxes: ``"detection"`` reports the matched detection's box, ``"kalman"`` the filtered state.
    """

    min_confidence: float = 0.25
    max_cosine_distance: float = 0.2
    nn_budget: int | None = 100
    max_iou_distance: float = 0.7
    max_age: int = 30
    n_init: int = 3
    gating_only_position: bool = False
    output_boxes: Literal["detection", "kalman"] = "detection"

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if self.max_age < 0 or self.n_init < 1:
            raise ValueError(f"need max_age >= 0 and n_init >= 1, got {self.max_age}, {self.n_init}")
        if self.output_boxes not in ("detection", "kalman"):
            raise ValueError(f"output_boxes must be 'detection' or 'kalman', got {self.output_boxes!r}")


class DeepSortTracker:
    """deep-sort-realtime's DeepSORT for one camera, fed with the caller's features."""

    needs_features = True

    def __init__(self, config: DeepSortConfig | None = None) -> None:
        self.config = config or DeepSortConfig()
        self._tracker = self._make()

    def _make(self) -> Any:
        from deep_sort_realtime.deepsort_tracker import DeepSort

        c = self.config
        return DeepSort(
            max_iou_distance=c.max_iou_distance,
            max_age=c.max_age,
            n_init=c.n_init,
            max_cosine_distance=c.max_cosine_distance,
            nn_budget=c.nn_budget,
            gating_only_position=c.gating_only_position,
            embedder=None,
        )

    def reset(self) -> None:
        """Forget every track and restart ids at 1."""
        self._tracker = self._make()

    def update(self, detections: Detections, frame: np.ndarray, features: np.ndarray | None = None) -> Tracks:
        """Associate this frame's ``detections`` using ``features`` (N, D) float32, row i for detection i.

        Returns the confirmed tracks matched in this frame. ``frame`` is not used.
        """
        n = len(detections)
        if features is None:
            raise ValueError("DeepSortTracker needs features: an (N, D) array, one row per detection")
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[0] != n:
            raise ValueError(f"features: expected shape ({n}, D), got {tuple(features.shape)}")
        boxes = detections.boxes
        wh = boxes[:, 2:] - boxes[:, :2]
        # deep-sort-realtime silently drops degenerate boxes but not their features (misaligning the
        # rest), so filter here, and carry each detection's index through its `others` slot.
        keep = np.flatnonzero((detections.scores >= self.config.min_confidence) & (wh > 0).all(axis=1))
        raw = [([*boxes[i, :2], *wh[i]], float(detections.scores[i]), "person") for i in keep]
        tracks = self._tracker.update_tracks(raw, embeds=list(features[keep]), others=[int(i) for i in keep])
        return self._collect(tracks, detections)

    def _collect(self, tracks: list[Any], detections: Detections) -> Tracks:
        live = [t for t in tracks if t.is_confirmed() and t.time_since_update == 0 and t.others is not None]
        if not live:
            return Tracks.empty()
        ids = np.array([int(t.track_id) for t in live], np.int64)
        det_index = np.array([t.others for t in live], np.int64)
        if self.config.output_boxes == "detection":
            boxes = detections.boxes[det_index]
        else:
            boxes = np.stack([t.to_ltrb() for t in live])
        order = np.argsort(ids)
        return Tracks(
            ids=ids[order],
            boxes=boxes[order],
            scores=detections.scores[det_index][order],
            keypoints=detections.keypoints[det_index][order],
            det_index=det_index[order],
        )
