"""Join track fragments of one camera that a short occlusion broke apart.

An online tracker loses a person behind a lamp post or another walker and, when the person
reappears after its buffer, starts a new id. Offline, with whole fragments in hand, the end of
one fragment and the start of a later one can be compared: where the first fragment's motion,
extrapolated over the gap, lands on the second one's first box (and, when features are given,
the two look alike), they are the same person.

Hard constraints (a pair that breaks one is never joined):

- the later fragment starts strictly after the earlier one ends (no overlap in time);
- the gap is at most ``max_gap`` frames;
- the motion-extrapolated centre lies within a gate that grows with the gap, measured in box
  heights (scale-free), and the box heights differ by at most ``max_height_ratio``;
- with appearance vectors on both sides, their cosine distance is at most ``max_appearance_distance``;
- when the frame size is known, neither fragment's motion, extrapolated across the gap, may leave
  the view: a person who walked out and a person who walked in are two stays (the ground truth of
  MOTChallenge gives them two ids; joining re-entries is re-identification's job, not this one's).

Among the admissible pairs the total cost is minimised by an optimal assignment (each fragment
end joins at most one fragment start and vice versa); chains follow naturally (a -> b -> c).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from trackers.types import TrackRows

log = logging.getLogger(__name__)

_INFEASIBLE = 1e6


@dataclass(frozen=True, kw_only=True)
class TrackletSummary:
    """What stitching needs to know about one track fragment.

    first_box, last_box: (4,) float64 xyxy; start_velocity, end_velocity: (2,) float64 centre
    velocity in pixels per frame near the start and the end; appearance: (D,) float64 unit vector or None;
    length: number of frames with a box.
    """

    track_id: int
    first_frame: int
    last_frame: int
    first_box: np.ndarray
    last_box: np.ndarray
    start_velocity: np.ndarray
    end_velocity: np.ndarray
    length: int = 1
    appearance: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        for name, shape in (("first_box", 4), ("last_box", 4), ("start_velocity", 2), ("end_velocity", 2)):
            arr = np.asarray(getattr(self, name), dtype=np.float64).reshape(-1)
            if arr.shape != (shape,):
                raise ValueError(f"{name}: expected shape ({shape},), got {arr.shape}")
            object.__setattr__(self, name, arr)
        if self.last_frame < self.first_frame:
            raise ValueError(f"last_frame {self.last_frame} is before first_frame {self.first_frame}")
        if self.appearance is not None:
            app = np.asarray(self.appearance, dtype=np.float64).reshape(-1)
            norm = np.linalg.norm(app)
            object.__setattr__(self, "appearance", app / norm if norm > 0 else None)


@dataclass(frozen=True, kw_only=True)
class StitchConfig:
    """Gates and weights for :func:`stitch_tracklets`.

    The frame-based defaults suit surveillance video at about 7 frames/s (PETS09, vtest.avi):
    a 30-frame gap is about 4 s. :meth:`for_frame_rate` rescales them to another rate so
    that the same durations and speeds apply.

    max_gap: largest number of frames between a fragment's last frame and the next one's first;
    motion_gate: centre error allowed at a gap of one frame, in box heights;
    motion_gate_per_frame: added to the gate per frame of gap (extrapolation grows uncertain);
    max_height_ratio: larger/smaller box height allowed between the two ends;
    max_appearance_distance: cosine distance gate when both fragments have appearance vectors;
    appearance_weight: weight of the appearance term against the motion term (each scaled to [0, 1]);
    velocity_window: frames at each end used to estimate the velocity (least squares);
    max_speed: velocities are clipped to this many box heights per frame (one bad box
    can make a short fragment's estimate absurd).
    """

    max_gap: int = 30
    motion_gate: float = 0.5
    motion_gate_per_frame: float = 0.05
    max_height_ratio: float = 1.5
    max_appearance_distance: float = 0.5
    appearance_weight: float = 1.0
    velocity_window: int = 10
    max_speed: float = 0.2

    @classmethod
    def for_frame_rate(cls, fps: float, reference_fps: float = 7.0, **overrides: Any) -> StitchConfig:
        """Defaults rescaled from ``reference_fps`` to ``fps`` (same seconds, same speeds), then ``overrides``."""
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        base, k = cls(), fps / reference_fps
        scaled = cls(
            max_gap=max(1, round(base.max_gap * k)),
            velocity_window=max(2, round(base.velocity_window * k)),
            motion_gate_per_frame=base.motion_gate_per_frame / k,
            max_speed=base.max_speed / k,
        )
        return replace(scaled, **overrides)

    def __post_init__(self) -> None:
        if self.max_gap < 1 or self.velocity_window < 2:
            raise ValueError(
                f"need max_gap >= 1 and velocity_window >= 2, got {self.max_gap}, {self.velocity_window}"
            )
        if self.motion_gate <= 0 or self.motion_gate_per_frame < 0 or self.max_height_ratio < 1:
            raise ValueError("need motion_gate > 0, motion_gate_per_frame >= 0 and max_height_ratio >= 1")


MAX_GAP_S = StitchConfig.max_gap / 7.0  # the default max_gap at the 7 frames/s reference, in seconds


def _centres(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, :2] + boxes[:, 2:]) / 2


def _heights(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, 3] - boxes[:, 1]


def fit_velocity(frames: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Least-squares slope of (K, 2) ``centres`` over (K,) ``frames`` -> (2,) pixels per frame (0 if K < 2)."""
    frames = np.asarray(frames, np.float64)
    if len(frames) < 2 or np.ptp(frames) == 0:
        return np.zeros(2)
    t = frames - frames.mean()
    return (t[:, None] * (centres - centres.mean(axis=0))).sum(axis=0) / (t * t).sum()


def summarize_tracklets(
    rows: TrackRows, features: np.ndarray | None = None, *, velocity_window: int = 10, max_speed: float = 0.2
) -> list[TrackletSummary]:
    """One :class:`TrackletSummary` per track id in ``rows``.

    ``features`` is an optional (N, D) array, row i describing the box of row i; a fragment's
    appearance is the mean of its L2-normalised rows (rows of all zeros are skipped).
    Velocities are least-squares fits over the first/last ``velocity_window`` boxes, clipped to
    ``max_speed`` box heights per frame.
    """
    if features is not None:
        features = np.asarray(features, np.float64)
        if features.ndim != 2 or len(features) != len(rows):
            raise ValueError(f"features: expected shape ({len(rows)}, D), got {features.shape}")
    out = []
    boxes = rows.boxes.astype(np.float64)
    for track_id in np.unique(rows.ids):
        idx = np.flatnonzero(rows.ids == track_id)
        idx = idx[np.argsort(rows.frames[idx], kind="stable")]
        f, b = rows.frames[idx], boxes[idx]
        c = _centres(b)
        w = velocity_window
        limit = max_speed * float(np.median(_heights(b)))
        v_start = np.clip(fit_velocity(f[:w], c[:w]), -limit, limit)
        v_end = np.clip(fit_velocity(f[-w:], c[-w:]), -limit, limit)
        appearance = None
        if features is not None:
            feats = features[idx]
            norms = np.linalg.norm(feats, axis=1)
            if (norms > 0).any():
                appearance = (feats[norms > 0] / norms[norms > 0, None]).mean(axis=0)
        out.append(
            TrackletSummary(
                track_id=int(track_id),
                first_frame=int(f[0]),
                last_frame=int(f[-1]),
                first_box=b[0],
                last_box=b[-1],
                start_velocity=v_start,
                end_velocity=v_end,
                length=len(idx),
                appearance=appearance,
            )
        )
    return out


def _inside(point: np.ndarray, frame_size: tuple[int, int] | None) -> bool:
    if frame_size is None:
        return True
    width, height = frame_size
    return bool(0 <= point[0] <= width and 0 <= point[1] <= height)


def join_costs(
    tracklets: list[TrackletSummary], config: StitchConfig, frame_size: tuple[int, int] | None = None
) -> np.ndarray:
    """(T, T) cost of joining the end of tracklet i to the start of tracklet j; ``inf`` where not allowed.

    The motion term is the mean of the forward (i extrapolated to j's first frame) and backward
    (j extrapolated back to i's last frame) centre errors, divided by the mean box height and by
    the gate, so it lies in [0, 1] when admissible; the appearance term is the cosine distance
    divided by its gate, weighted by ``appearance_weight``. ``frame_size`` (width, height)
    enables the left-the-view constraint: both extrapolated centres must stay inside the frame.
    """
    n = len(tracklets)
    cost = np.full((n, n), np.inf)
    for i, a in enumerate(tracklets):
        a_c = _centres(a.last_box[None])[0]
        a_h = a.last_box[3] - a.last_box[1]
        for j, b in enumerate(tracklets):
            gap = b.first_frame - a.last_frame
            if i == j or gap < 1 or gap > config.max_gap:
                continue
            b_c = _centres(b.first_box[None])[0]
            b_h = b.first_box[3] - b.first_box[1]
            if min(a_h, b_h) <= 0 or max(a_h, b_h) / min(a_h, b_h) > config.max_height_ratio:
                continue
            ahead = a_c + a.end_velocity * gap
            behind = b_c - b.start_velocity * gap
            if not (_inside(ahead, frame_size) and _inside(behind, frame_size)):
                continue
            error = (np.linalg.norm(ahead - b_c) + np.linalg.norm(behind - a_c)) / 2 / ((a_h + b_h) / 2)
            gate = config.motion_gate + config.motion_gate_per_frame * gap
            if error > gate:
                continue
            total = error / gate
            if a.appearance is not None and b.appearance is not None:
                distance = 1.0 - float(a.appearance @ b.appearance)
                if distance > config.max_appearance_distance:
                    continue
                total += config.appearance_weight * distance / config.max_appearance_distance
            cost[i, j] = total
    return cost


def stitch_tracklets(
    tracklets: list[TrackletSummary],
    config: StitchConfig | None = None,
    *,
    frame_size: tuple[int, int] | None = None,
) -> dict[int, int]:
    """Map every track id to its joined id (the id of the first fragment of its chain).

    Fragments that are not joined map to themselves. Uses an optimal assignment over
    :func:`join_costs` (each end joins at most one start, each start at most one end).
    ``frame_size`` is (width, height) of the camera's frames; pass it whenever it is known.
    """
    from scipy.optimize import linear_sum_assignment

    config = config or StitchConfig()
    ordered = sorted(tracklets, key=lambda t: (t.first_frame, t.track_id))
    ids = [t.track_id for t in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError("track ids must be unique among the tracklets")
    mapping = {i: i for i in ids}
    if len(ordered) < 2:
        return mapping
    cost = join_costs(ordered, config, frame_size)
    feasible = np.isfinite(cost)
    if not feasible.any():
        return mapping
    rows, cols = linear_sum_assignment(np.where(feasible, cost, _INFEASIBLE))
    successor = {int(r): int(c) for r, c in zip(rows, cols, strict=True) if feasible[r, c]}
    has_predecessor = set(successor.values())
    for start in range(len(ordered)):
        if start in has_predecessor:
            continue
        node = start
        while node in successor:
            node = successor[node]
            mapping[ids[node]] = ids[start]
            log.debug("joined track %d into %d", ids[node], ids[start])
    return mapping


def relabel(rows: TrackRows, mapping: dict[int, int]) -> TrackRows:
    """``rows`` with every id replaced by ``mapping[id]`` (ids missing from ``mapping`` are kept)."""
    ids = np.array([mapping.get(int(i), int(i)) for i in rows.ids], np.int64)
    return TrackRows(frames=rows.frames, ids=ids, boxes=rows.boxes, scores=rows.scores)


def stitch_rows(
    rows: TrackRows,
    features: np.ndarray | None = None,
    config: StitchConfig | None = None,
    *,
    frame_size: tuple[int, int] | None = None,
) -> TrackRows:
    """Summarise, stitch and relabel in one call (see :func:`stitch_tracklets`)."""
    config = config or StitchConfig()
    summaries = summarize_tracklets(
        rows, features, velocity_window=config.velocity_window, max_speed=config.max_speed
    )
    return relabel(rows, stitch_tracklets(summaries, config, frame_size=frame_size))
