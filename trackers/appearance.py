"""A colour cue for a motion tracker: each track's torso and legs colour, and how far a detection is from it.

ByteTrack matches by box overlap alone. Where two people cross, the boxes that come out of the overlap fit
either track about as well, and a track can leave with the other person for the rest of its life; where one
person hides behind another, the hidden one's track can take the other's box. Clothes tell them apart: the
cue gives every track a colour model, the median CIE Lab colour of its torso and of its legs (placed by the
pose, as ``reid_core.colour`` places its stripes) over its last ``window`` looks taken while other boxes covered
less than ``clear`` of it. The share

    share = weight * clip((distance - tolerance) / span, 0, 1)

of a detection's colour distance from a track's model moves their association cost that share of the way to
ByteTrack's acceptance limit (``trackers.bytetrack``): it reorders a track's candidates, never turns one away.

A detection covered by ``occluded`` or more by the boxes of people standing nearer the camera (their feet lower
in the frame), or a track with fewer than ``min_looks`` looks, has no distance and moves no cost (its colour
would be someone else's, or is not known yet); the person in front keeps their colour through a crossing. Distances are in OpenCV's 8-bit Lab units,
lightness at half weight (light changes across a scene more than a garment's hue), averaged over the stripes both
looks show. Only ByteTrack's first association (confirmed and lost tracks against sure detections) weighs the
colour; its second, IoU-only pass over unsure detections does not. numpy, and OpenCV for the Lab conversion.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from reid_core.colour import stripe_rows

STRIPES = 2  # torso, legs
_WEIGHTS = np.array([0.5, 1.0, 1.0])  # L, a, b
MIN_PIXELS = 12  # half reid_core.colour's: a median needs fewer pixels than a histogram, and people here are small

Description = tuple[np.ndarray, np.ndarray]  # (STRIPES, 3) median Lab, (STRIPES,) bool seen


@dataclass(frozen=True, kw_only=True)
class ColourCueConfig:
    """weight: the largest share of the way from a cost to ByteTrack's acceptance limit (0-1); tolerance, span:
    Lab distances where the share starts to grow and where it is full; clear: the most another box may cover a
    track's box for its look to join the model; occluded: the cover above which a detection's colour is not
    trusted; min_looks: looks a model needs; window: looks it keeps."""

    weight: float = 0.4
    tolerance: float = 15.0
    span: float = 25.0
    clear: float = 0.05
    occluded: float = 0.3
    min_looks: int = 3
    window: int = 30

    def __post_init__(self) -> None:
        if not 0 <= self.weight <= 1 or self.tolerance < 0 or self.span <= 0:
            raise ValueError(f"need 0 <= weight <= 1, tolerance >= 0, span > 0, got {self.weight}, {self.tolerance}, "
                             f"{self.span}")
        if not 0.0 <= self.clear <= self.occluded <= 1.0:
            raise ValueError(f"need 0 <= clear <= occluded <= 1, got {self.clear}, {self.occluded}")
        if self.min_looks < 1 or self.window < self.min_looks:
            raise ValueError(f"need 1 <= min_looks <= window, got {self.min_looks}, {self.window}")


def stripe_colours(crop_bgr: np.ndarray, keypoints: np.ndarray | None) -> Description:
    """Median Lab colour of the torso and legs of one uint8 BGR crop (the middle half of its width), and which of
    them the pose shows with enough pixels. ``keypoints``: (17, 3) in crop pixels, or None."""
    import cv2  # here, not at import: importing ``trackers`` stays light

    out = np.zeros((STRIPES, 3))
    seen = np.zeros(STRIPES, bool)
    img = np.asarray(crop_bgr)
    if img.ndim != 3 or img.shape[0] < 4 or img.shape[1] < 4 or img.dtype != np.uint8:
        return out, seen
    w = img.shape[1]
    for j, rows in enumerate(stripe_rows(img.shape[0], keypoints)):
        if rows is None:
            continue
        px = np.ascontiguousarray(img[rows[0]:rows[1], w // 4:max(w // 4 + 1, w - w // 4)])
        if px.shape[0] * px.shape[1] >= MIN_PIXELS:
            out[j] = np.median(cv2.cvtColor(px, cv2.COLOR_BGR2LAB).reshape(-1, 3), axis=0)
            seen[j] = True
    return out, seen


def look_distance(a: Description, b: Description) -> float | None:
    """Mean weighted Lab distance over the stripes both descriptions show; None when they share none."""
    both = a[1] & b[1]
    if not both.any():
        return None
    diff = (a[0][both] - b[0][both]) * _WEIGHTS
    return float(np.mean(np.sqrt((diff ** 2).sum(axis=1))))


class Looks:
    """The last ``maxlen`` looks of one person; ``describe`` gives the per-stripe median of those showing it."""

    def __init__(self, maxlen: int) -> None:
        self._looks: deque[Description] = deque(maxlen=maxlen)

    def add(self, look: Description) -> None:
        """Keep a look that shows a stripe (the oldest goes when full)."""
        if look[1].any():
            self._looks.append(look)

    def __len__(self) -> int:
        return len(self._looks)

    def describe(self) -> Description:
        """Per stripe, the median colour of the looks showing it, and whether any did."""
        out = np.zeros((STRIPES, 3))
        seen = np.zeros(STRIPES, bool)
        for j in range(STRIPES):
            vals = [c[j] for c, s in self._looks if s[j]]
            if vals:
                out[j] = np.median(np.stack(vals), axis=0)
                seen[j] = True
        return out, seen


def shift_costs(costs: np.ndarray, share: np.ndarray, limit: float) -> np.ndarray:
    """Move each cost at or below ``limit`` ``share`` (0-1) of the way to it; costs above it stay. So the colour
    reorders a track's candidates but never turns away one that the boxes accept, and two candidates it dislikes
    alike keep the boxes' order."""
    costs = np.asarray(costs, np.float64)
    return np.where(costs <= limit, costs + np.clip(share, 0.0, 1.0) * (limit - costs), costs)


def cover_matrix(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy -> (N, N): [i, j] is the share of box i's area that box j covers (0 on the diagonal)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    x1 = np.maximum(b[:, None, 0], b[None, :, 0])
    y1 = np.maximum(b[:, None, 1], b[None, :, 1])
    x2 = np.minimum(b[:, None, 2], b[None, :, 2])
    y2 = np.minimum(b[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = np.clip((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1e-6, None)
    cover = inter / area[:, None]
    np.fill_diagonal(cover, 0.0)
    return cover


def detection_looks(frame_bgr: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray, covered: np.ndarray,
                    occluded: float) -> list[Description | None]:
    """The colour of each detection (boxes xyxy and keypoints in frame pixels) that other boxes cover by less
    than ``occluded``; None for the others."""
    h, w = frame_bgr.shape[:2]
    out: list[Description | None] = []
    for box, kp, cov in zip(boxes, keypoints, covered, strict=True):
        if cov >= occluded or not np.isfinite(box).all():
            out.append(None)
            continue
        x1, y1 = int(np.clip(np.floor(box[0]), 0, w)), int(np.clip(np.floor(box[1]), 0, h))
        x2, y2 = int(np.clip(np.ceil(box[2]), 0, w)), int(np.clip(np.ceil(box[3]), 0, h))
        local = np.array(kp, np.float32, copy=True)
        local[~np.isfinite(local).all(axis=1), 2] = 0.0  # a keypoint without a place is not seen
        local[:, :2] = np.nan_to_num(local[:, :2])
        local[:, 0] -= x1
        local[:, 1] -= y1
        look = stripe_colours(frame_bgr[y1:max(y1, y2), x1:max(x1, x2)], local)
        out.append(look if look[1].any() else None)
    return out


class ColourCue:
    """Per camera: the colour models of the tracks (by the caller's track ids), this frame's detections' colours,
    and their distances."""

    def __init__(self, config: ColourCueConfig | None = None) -> None:
        self.config = config or ColourCueConfig()
        self._models: dict[int, Looks] = {}
        self._described: dict[int, Description] = {}
        self.looks: list[Description | None] = []  # this frame's detections
        self.covered = np.zeros(0)

    def reset(self) -> None:
        """Forget every track's colour."""
        self._models.clear()
        self._described.clear()
        self.looks, self.covered = [], np.zeros(0)

    def see(self, frame_bgr: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray) -> None:
        """Take this frame's detections' colours, before association (none without a colour frame)."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if not isinstance(frame_bgr, np.ndarray) or frame_bgr.ndim != 3 or frame_bgr.dtype != np.uint8:
            self.looks, self.covered = [None] * len(boxes), np.ones(len(boxes))
            return
        cover = cover_matrix(boxes)
        self.covered = cover.max(axis=1) if len(boxes) > 1 else np.zeros(len(boxes))
        front = boxes[None, :, 3] >= boxes[:, None, 3]  # [i, j]: j stands nearer the camera (its feet lower)
        hidden = np.where(front, cover, 0.0).max(axis=1) if len(boxes) > 1 else np.zeros(len(boxes))
        self.looks = detection_looks(frame_bgr, boxes, np.asarray(keypoints), hidden, self.config.occluded)

    def model(self, track_id: int) -> Description | None:
        """The colour of a track with enough looks, or None."""
        return self._described.get(track_id)

    def distance(self, track_id: int | None, det_index: int) -> float:
        """Colour distance of detection ``det_index`` of this frame from the track's model; NaN when either is
        not known (a young track, a hidden detection, no shared stripe)."""
        model = None if track_id is None else self._described.get(track_id)
        look = self.looks[det_index] if 0 <= det_index < len(self.looks) else None
        d = None if model is None or look is None else look_distance(model, look)
        return float("nan") if d is None else d

    def share(self, distances: np.ndarray) -> np.ndarray:
        """The share (0 to ``weight``) of the way to the acceptance limit that each distance moves a cost."""
        cfg = self.config
        d = np.nan_to_num(np.asarray(distances, np.float64), nan=0.0)
        return cfg.weight * np.clip((d - cfg.tolerance) / cfg.span, 0.0, 1.0)

    def learn(self, track_ids: np.ndarray, det_index: np.ndarray, alive: set[int]) -> None:
        """After association: each track matched to a clear detection adds that look to its model; models of
        tracks no longer ``alive`` are dropped."""
        cfg = self.config
        for tid, j in zip(np.asarray(track_ids).tolist(), np.asarray(det_index).tolist(), strict=True):
            if 0 <= j < len(self.looks) and self.covered[j] < cfg.clear and self.looks[j] is not None:
                model = self._models.setdefault(int(tid), Looks(cfg.window))
                model.add(self.looks[j])
                if len(model) >= cfg.min_looks:
                    self._described[int(tid)] = model.describe()
        for gone in [t for t in self._models if t not in alive]:
            del self._models[gone]
            self._described.pop(gone, None)
