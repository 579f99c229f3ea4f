"""Tracks that are scenery, not people: a pole, a sign or a bin that the detector half-believes is a person.

At a large input size (small people, ``trackers.imgsz``) the detector also finds person-like scenery, at low
confidence. ByteTrack keeps such a box alive through its low-score association, so it becomes a track that never
moves, for as long as the camera looks at it: in a 576x432 copy of vtest.avi two such tracks (a post at median
score 0.21 for 223 frames, a sign at 0.16 for 52) were 271 of 419 false positives (MOTA 0.77); in a smaller,
softer copy a concrete bollard was tracked for 88 frames at median 0.40 (27% of its detections at 0.5 or more).
Every person's track there had a median score of at least 0.49 and moved at least 1.5 body heights.

A track is clutter when both hold: most of its detections are below :data:`CONFIDENT`, and its centre never
left a box of :data:`MAX_EXTENT` body heights. A person who stands still is kept (the detector is sure of them),
and so is an uncertain person who walks. Pure bookkeeping, updated once per detection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CONFIDENT = 0.5
MAX_EXTENT = 0.5


@dataclass
class MotionStats:
    """Running figures of one track's detections (not its predicted boxes)."""

    n: int = 0
    n_confident: int = 0
    height_sum: float = 0.0
    lo: np.ndarray = field(default_factory=lambda: np.full(2, np.inf))
    hi: np.ndarray = field(default_factory=lambda: np.full(2, -np.inf))

    def add(self, box: np.ndarray, score: float) -> None:
        """One detection: ``box`` xyxy in frame pixels, its detector score."""
        x1, y1, x2, y2 = (float(v) for v in np.asarray(box).reshape(4))
        centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
        self.lo = np.minimum(self.lo, centre)
        self.hi = np.maximum(self.hi, centre)
        self.height_sum += max(y2 - y1, 0.0)
        self.n += 1
        self.n_confident += int(score >= CONFIDENT)

    @property
    def extent(self) -> float:
        """How far the centre went, in mean box heights (the larger side of its bounding box)."""
        if self.n == 0 or self.height_sum <= 0:
            return 0.0
        return float((self.hi - self.lo).max()) / (self.height_sum / self.n)

    def is_clutter(self) -> bool:
        """Mostly unsure detections that never moved: scenery, not a person."""
        return self.n > 0 and 2 * self.n_confident < self.n and self.extent < MAX_EXTENT
