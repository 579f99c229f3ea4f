"""Tracks that are scenery, not people: a pole, a sign or a bin that the detector half-believes is a person.

At a large input size (small people, ``trackers.imgsz``) the detector also finds person-like scenery, at low
confidence. ByteTrack keeps such a box alive through its low-score association, so it becomes a track that never
moves, for as long as the camera looks at it: in a 576x432 copy of vtest.avi two such tracks (a post at median
score 0.21 for 223 frames, a sign at 0.16 for 52) were 271 of 419 false positives (MOTA 0.77); in a smaller,
softer copy a concrete bollard was tracked for 88 frames at median 0.40 (27% of its detections at 0.5 or more).
Every person's track there had a median score of at least 0.49 and moved at least 1.5 body heights.

A track is clutter when all of these hold: most of its detections are below :data:`CONFIDENT`; its centre
never left a box of :data:`MAX_EXTENT` body heights; it lasted :data:`MIN_CUT_S` seconds; and what its box shows
did not change: a person standing still shifts, turns, gestures, scenery does not. The last test compares the
boxes' contents, each an 8x16 grey patch normalised to zero mean and unit spread (:func:`patch`), by mean absolute
difference: one look (patches within :data:`MAX_PIXEL_CHANGE` of it, :class:`Stillness`) must hold at least half
of them. Measured medians of the difference to a track's first patch: a post,
a sign and two bollards 0.11-0.19; four people standing or strolling at scores 0.39-0.76 (vtest at input 960)
0.32-0.42, and walking people about 1. So a person who walks is kept, and so is one who stands and is unsure.

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
MAX_PIXEL_CHANGE = 0.25
PATCH_WH = (8, 16)


def patch(image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """What ``box`` (xyxy) shows in ``image`` (H, W[, 3]): an 8x16 grey patch, zero mean, unit spread (None when
    the box holds no pixel)."""
    import cv2

    h, w = image.shape[:2]
    x1, y1, x2, y2 = (int(round(float(v))) for v in np.asarray(box).reshape(4))
    crop = image[max(0, y1):min(h, y2), max(0, x1):min(w, x2)]
    if crop.size == 0:
        return None
    grey = crop.mean(axis=2) if crop.ndim == 3 else crop
    small = cv2.resize(grey.astype(np.float32), PATCH_WH, interpolation=cv2.INTER_AREA)
    return (small - small.mean()) / (small.std() + 1e-3)


MAX_LOOKS = 8


@dataclass
class Stillness:
    """Whether what a box shows stays the same: whether one look (see :func:`patch`) holds most of the patches.

    Looks are kept online: each patch counts for the first kept look it matches, or starts a new one (at most
    :data:`MAX_LOOKS`; when all are taken, a look seen only once gives its place to the new patch). A passer-by in
    front of a post on the post's first frames starts looks of its own and does not make the post's own look count
    as a change; a person whose patches keep changing has no look that holds most.
    """

    looks: list[np.ndarray] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    n: int = 0

    def add(self, p: np.ndarray | None) -> None:
        """One detection's patch (None: no pixels, not counted)."""
        if p is None:
            return
        self.n += 1
        for i, ref in enumerate(self.looks):
            if float(np.abs(p - ref).mean()) < MAX_PIXEL_CHANGE:
                self.counts[i] += 1
                return
        if len(self.looks) < MAX_LOOKS:
            self.looks.append(p)
            self.counts.append(1)
            return
        once = [i for i, c in enumerate(self.counts) if c == 1]
        if once:  # full: a look seen only once (a passer-by's) gives its place, so a later steady look is counted
            self.looks[once[0]] = p

    def unchanged(self) -> bool:
        """One look holds at least half the patches (True with none: no evidence against scenery)."""
        return self.n == 0 or 2 * max(self.counts) >= self.n


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
    look: Stillness = field(default_factory=Stillness)
    first_unsure: int | None = None  # frames of the first and last unsure detection (the cut's bounds)
    last_unsure: int | None = None
    n_before: int = 0  # detections before the first unsure one, and up to the last one
    n_through: int = 0

    def add(self, frame: int, t_s: float, box: np.ndarray, score: float, look: np.ndarray | None) -> None:
        self.stats.add(box, score)
        self.look.add(look)
        self.t1 = t_s
        if score < CONFIDENT:
            if self.first_unsure is None:
                self.first_unsure, self.n_before = frame, self.stats.n - 1
            self.last_unsure, self.n_through = frame, self.stats.n

    def scenery(self, min_s: float) -> bool:
        return (self.t1 - self.t0 >= min_s and self.first_unsure is not None and self.stats.is_clutter()
                and self.look.unchanged())


class SceneryWatch:
    """One track's figures, kept online: the whole track (:meth:`MotionStats.is_clutter`) and its still runs.

    Nothing that lasted less than ``min_cut_s`` is judged scenery: a short, unsure track may be a person.

    A run grows while the centre stays within :data:`MAX_EXTENT` mean heights; the next detection outside starts
    a new one. A run that is scenery (mostly unsure) and lasted at least ``min_cut_s`` becomes a :class:`Cut`.
    """

    def __init__(self, min_cut_s: float = MIN_CUT_S) -> None:
        self.whole = MotionStats()
        self.whole_look = Stillness()
        self.min_cut_s = float(min_cut_s)
        self._t0: float | None = None
        self._t1 = 0.0
        self._cuts: list[Cut] = []
        self._run: _Run | None = None

    def add(self, frame: int, t_s: float, box: np.ndarray, score: float, look: np.ndarray | None = None) -> None:
        """One detection at ``frame`` (``t_s`` seconds on any clock), ``box`` xyxy, its detector score and
        :func:`patch` of what the box shows (None: judged on motion and scores alone)."""
        self.whole.add(box, score)
        self.whole_look.add(look)
        self._t0 = t_s if self._t0 is None else self._t0
        self._t1 = t_s
        if self._run is None or self._run.stats.extent_with(box) >= MAX_EXTENT:
            self._end_run()
            self._run = _Run(MotionStats(), t_s, t_s)
        self._run.add(frame, t_s, box, score, look)

    def scenery_since(self) -> int | None:
        """While the current run is scenery (still, mostly unsure, for ``min_cut_s`` so far): the frame of its
        first unsure detection, from which the track's samples should not come; else None."""
        run = self._run
        return run.first_unsure if run is not None and run.scenery(self.min_cut_s) else None

    def _end_run(self) -> None:
        run, self._run = self._run, None
        if run is not None and run.scenery(self.min_cut_s) and run.first_unsure is not None \
                and run.last_unsure is not None:
            # from the first to the last unsure detection: the person's own frames at either end stay
            self._cuts.append(Cut(run.first_unsure, run.last_unsure, run.n_through - run.n_before))

    def finish(self) -> tuple[bool, list[Cut]]:
        """At the track's end: (drop the whole track, the stretches to cut out of it otherwise)."""
        self._end_run()
        cuts = list(self._cuts)
        lasted = self._t0 is not None and self._t1 - self._t0 >= self.min_cut_s  # a short track: too little to judge
        drop = (self.whole.is_clutter() and lasted and self.whole_look.unchanged()) or (
            self.whole.n > 0 and sum(c.n for c in cuts) >= self.whole.n)
        return drop, ([] if drop else cuts)
