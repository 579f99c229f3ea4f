"""Tracks that are scenery, not people: a pole, a sign or a bin that the detector half-believes is a person.

At a large input size (small people, ``trackers.imgsz``) the detector also finds person-like scenery, at low
confidence. ByteTrack keeps such a box alive through its low-score association, so it becomes a track that never
moves, for as long as the camera looks at it: in a 576x432 copy of vtest.avi two such tracks (a post at median
score 0.21 for 223 frames, a sign at 0.16 for 52) were 271 of 419 false positives (MOTA 0.77); in a smaller,
softer copy a concrete bollard was tracked for 88 frames at median 0.40 (27% of its detections at 0.5 or more).
Every person's track there had a median score of at least 0.49 and moved at least 1.5 body heights.

A track is clutter when both hold: most of its detections are below :data:`CONFIDENT`, and its centre never
left a box of :data:`MAX_EXTENT` body heights. A person who stands still is kept (the detector is sure of them),
and so is an uncertain person who walks.

A scenery track can also take over a person who walks past it (ByteTrack hands the box on): in the softer copy
a bollard's track of 350 frames went on as a passer-by for 94 more. So :class:`SceneryWatch` also cuts the still,
unsure stretches of at least :data:`MIN_CUT_S` seconds out of a track that is otherwise a person. Pure
bookkeeping, updated once per detection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CONFIDENT = 0.5
MAX_EXTENT = 0.5
MIN_CUT_S = 2.0


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

    def extent_with(self, box: np.ndarray) -> float:
        """:attr:`extent` if ``box`` were added."""
        x1, y1, x2, y2 = (float(v) for v in np.asarray(box).reshape(4))
        centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
        span = np.maximum(self.hi, centre) - np.minimum(self.lo, centre)
        mean_h = (self.height_sum + max(y2 - y1, 0.0)) / (self.n + 1)
        return float(span.max()) / mean_h if mean_h > 0 else 0.0

    def is_clutter(self) -> bool:
        """Mostly unsure detections that never moved: scenery, not a person."""
        return self.n > 0 and 2 * self.n_confident < self.n and self.extent < MAX_EXTENT


@dataclass(frozen=True)
class Cut:
    """A still, unsure stretch of a track: frames ``first``..``last`` (inclusive), ``n`` detections."""

    first: int
    last: int
    n: int

    def covers(self, frame: int) -> bool:
        """Whether ``frame`` lies in the stretch."""
        return self.first <= frame <= self.last


@dataclass
class _Run:
    stats: MotionStats
    t0: float
    t1: float
    first_unsure: int | None = None  # frames of the first and last unsure detection (the cut's bounds)
    last_unsure: int | None = None
    n_before: int = 0  # detections before the first unsure one, and up to the last one
    n_through: int = 0

    def add(self, frame: int, t_s: float, box: np.ndarray, score: float) -> None:
        self.stats.add(box, score)
        self.t1 = t_s
        if score < CONFIDENT:
            if self.first_unsure is None:
                self.first_unsure, self.n_before = frame, self.stats.n - 1
            self.last_unsure, self.n_through = frame, self.stats.n


class SceneryWatch:
    """One track's figures, kept online: the whole track (:meth:`MotionStats.is_clutter`) and its still runs.

    Nothing that lasted less than ``min_cut_s`` is judged scenery: a short, unsure track may be a person.

    A run grows while the centre stays within :data:`MAX_EXTENT` mean heights; the next detection outside starts
    a new one. A run that is scenery (mostly unsure) and lasted at least ``min_cut_s`` becomes a :class:`Cut`.
    """

    def __init__(self, min_cut_s: float = MIN_CUT_S) -> None:
        self.whole = MotionStats()
        self.min_cut_s = float(min_cut_s)
        self._t0: float | None = None
        self._t1 = 0.0
        self._cuts: list[Cut] = []
        self._run: _Run | None = None

    def add(self, frame: int, t_s: float, box: np.ndarray, score: float) -> None:
        """One detection at ``frame`` (``t_s`` seconds on any clock), ``box`` xyxy, its detector score."""
        self.whole.add(box, score)
        self._t0 = t_s if self._t0 is None else self._t0
        self._t1 = t_s
        if self._run is None or self._run.stats.extent_with(box) >= MAX_EXTENT:
            self._end_run()
            self._run = _Run(MotionStats(), t_s, t_s)
        self._run.add(frame, t_s, box, score)

    def scenery_since(self) -> int | None:
        """While the current run is scenery (still, mostly unsure, for ``min_cut_s`` so far): the frame of its
        first unsure detection, from which the track's samples should not come; else None."""
        run = self._run
        if run is None or run.first_unsure is None or run.t1 - run.t0 < self.min_cut_s or not run.stats.is_clutter():
            return None
        return run.first_unsure

    def _end_run(self) -> None:
        run, self._run = self._run, None
        if (run is not None and run.stats.is_clutter() and run.t1 - run.t0 >= self.min_cut_s
                and run.first_unsure is not None and run.last_unsure is not None):
            # from the first to the last unsure detection: the person's own frames at either end stay
            self._cuts.append(Cut(run.first_unsure, run.last_unsure, run.n_through - run.n_before))

    def finish(self) -> tuple[bool, list[Cut]]:
        """At the track's end: (drop the whole track, the stretches to cut out of it otherwise)."""
        self._end_run()
        cuts = list(self._cuts)
        lasted = self._t0 is not None and self._t1 - self._t0 >= self.min_cut_s  # a short track: too little to judge
        drop = (self.whole.is_clutter() and lasted) or (self.whole.n > 0 and sum(c.n for c in cuts) >= self.whole.n)
        return drop, ([] if drop else cuts)
