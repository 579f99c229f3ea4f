"""Detector input size that follows the size of the people, not of the frame.

YOLO11n-pose finds surveillance people reliably when they are about :data:`TARGET_PERSON_PX` pixels tall at
the network input. Calibrated on PETS/vtest (``bench/bench_imgsz.py``, 40 frames with ground truth, the video
at 0.5x to 2.5x): its ~86 px people in a 768 px wide frame are found with recall 0.85-0.87 at input 1280,
0.92-0.94 at 1440, 0.94-0.95 at 1600 and 0.95 at 1920 (precision falls there). 1600 (people ~180 px) is within
0.01 of the best at every scale, at 1.56x the cost of 1280; 1440 trails by up to 0.03 on the down-scaled copy.
So the automatic size is chosen from the heights of the people actually found:

1. The first frames are probed at :func:`probe_sizes` (the old frame-size rule, up to :data:`MAX_IMGSZ`;
   twice that once a probe frame finds almost nobody) until enough people are measured.
2. :class:`AdaptiveImgsz` keeps the heights of confident detections from the last :data:`WINDOW` frames;
   the wanted scale is ``TARGET_PERSON_PX / median height`` and the wanted input size is the frame's long
   side times that scale, rounded to the :data:`LADDER_STEP` ladder (few sizes: each one is an export for
   the OpenVINO / ONNX Runtime engines).
3. The size moves only when the wanted size differs from the current one by more than the hysteresis:
   up eagerly (:data:`HYSTERESIS_UP`: at a larger input more of the small people are found, which lowers the
   median, so the first estimate is biased low), down reluctantly (:data:`HYSTERESIS_DOWN`), and only when
   :data:`SUSTAIN` checks in a row (every :data:`EVERY` frames) want the same move. The median of a few people
   swings by 10-15% as they come and go; without that, a whole vtest.avi run moved 6 times and a smaller copy
   of it 13 times, each move a new engine compile and a jump in the boxes' scale for the tracker.
4. When the wanted size exceeds :data:`MAX_IMGSZ` by more than :data:`TILE_MARGIN` (large frames with small
   people), the frame is cut into overlapping tiles (:func:`tile_grid`), each run at :data:`TILE_IMGSZ`, as in
   sliced inference. Just above the cap, one pass at :data:`MAX_IMGSZ` shows the people within 10% of the target
   (recall within ~0.01 on vtest) for far less than tiles cost (four tiles of 1280 are 1.8x the pixels of one
   1920 pass): a 768x576 frame of 70 px people or a 576x432 one of 53 px people runs at 1920, not as four
   tiles that would show them only 1-3% larger.

Each change is logged with the heights that caused it.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

STRIDE = 32
TARGET_PERSON_PX = 180.0
LADDER_STEP = 160
MIN_IMGSZ = 320
MAX_IMGSZ = 1920
TILE_IMGSZ = 1280
TILE_MARGIN = 1.1
PROBE_UPSCALE = 5 / 3
PROBE_MIN = 640
MIN_CONF = 0.3
MIN_PEOPLE = 8
WINDOW = 50
HYSTERESIS_UP = 0.05
HYSTERESIS_DOWN = 0.12
EVERY = 10
SUSTAIN = 3  # checks in a row that must want the same move before the size changes


@dataclass(frozen=True)
class SizePlan:
    """How to run the detector on a frame: one pass at ``imgsz``, or ``tiles`` (x0, y0, x1, y1) at it."""

    imgsz: int
    tiles: tuple[tuple[int, int, int, int], ...] = ()
    reason: str = ""
    want: float = 0.0  # the single-pass size the people asked for (0 while probing)

    @property
    def tiled(self) -> bool:
        """Whether the frame is cut into tiles."""
        return bool(self.tiles)


def ceil_stride(value: float) -> int:
    """``value`` rounded up to a multiple of the model stride (32)."""
    return int(math.ceil(value / STRIDE - 1e-9)) * STRIDE


def probe_imgsz(height: int, width: int) -> int:
    """The input size of the first frame, before any person was measured: long side x 5/3 in [640, 1920]
    (the old frame-size rule, without its 1280 cap)."""
    if height <= 0 or width <= 0:
        raise ValueError(f"frame size must be positive, got {height}x{width}")
    return int(min(max(ceil_stride(max(height, width) * PROBE_UPSCALE), PROBE_MIN), MAX_IMGSZ))


def probe_sizes(height: int, width: int) -> tuple[int, ...]:
    """The probe sizes: :func:`probe_imgsz`, then twice it (up to 1920) once a probe frame finds fewer than
    two confident people (small frames: 40 px people in 384x288 are found at 1280, not at 640)."""
    first = probe_imgsz(height, width)
    second = min(2 * first, MAX_IMGSZ)
    return (first,) if second == first else (first, second)


def to_ladder(size: float) -> int:
    """The nearest size on the ladder (multiples of :data:`LADDER_STEP`, at least :data:`MIN_IMGSZ`)."""
    return int(max(MIN_IMGSZ, round(size / LADDER_STEP) * LADDER_STEP))


def wanted_imgsz(frame_long: int, median_height: float) -> float:
    """The single-pass input size at which people ``median_height`` frame pixels tall measure the target."""
    if median_height <= 0:
        raise ValueError(f"median_height must be positive, got {median_height}")
    return frame_long * TARGET_PERSON_PX / median_height


def tile_grid(height: int, width: int, scale: float, overlap: float) -> tuple[tuple[int, int, int, int], ...]:
    """Overlapping tiles (x0, y0, x1, y1) covering an ``height`` x ``width`` frame.

    Each tile spans ``TILE_IMGSZ / scale`` frame pixels (so it is seen at ``scale``) and neighbours share
    ``overlap`` pixels (about a person's height, so anyone cut by one edge is whole in the next tile).
    """
    side = max(int(TILE_IMGSZ / scale), 2 * STRIDE)
    if side >= max(height, width):
        return ()
    ov = int(min(max(overlap, 0), side // 2))

    def starts(extent: int) -> list[int]:
        if extent <= side:
            return [0]
        n = math.ceil((extent - ov) / (side - ov))
        step = (extent - side) / (n - 1)
        return [round(i * step) for i in range(n)]

    return tuple(
        (x, y, min(x + side, width), min(y + side, height)) for y in starts(height) for x in starts(width)
    )


def plan_for(height: int, width: int, median_height: float | None) -> SizePlan:
    """The plan for a frame given the people's median height (None: not measured yet -> probe)."""
    if median_height is None:
        sizes = " and ".join(map(str, probe_sizes(height, width)))
        return SizePlan(probe_imgsz(height, width), (), f"probing at {sizes} until {MIN_PEOPLE} people are measured")
    long = max(height, width)
    want = wanted_imgsz(long, median_height)
    why = f"people median {median_height:.0f} px tall in a {width}x{height} frame"
    if want <= MAX_IMGSZ * TILE_MARGIN:
        size = min(to_ladder(want), MAX_IMGSZ)
        return SizePlan(size, (), f"{why}: input {size} makes them ~{median_height * size / long:.0f} px", want)
    scale = want / long
    tiles = tile_grid(height, width, scale, overlap=1.5 * median_height)
    return SizePlan(TILE_IMGSZ, tiles, f"{why}: {len(tiles)} tiles at {TILE_IMGSZ} (x{scale:.2f})", want)


class AdaptiveImgsz:
    """The automatic input size of one video stream, kept up to date from the people it finds."""

    def __init__(self) -> None:
        self._heights: deque[np.ndarray] = deque(maxlen=WINDOW)
        self._frames = 0
        self._probe_step = 0
        self._plans: dict[tuple[int, int], SizePlan] = {}
        self._pending: dict[tuple[int, int], tuple[int, int]] = {}  # shape -> (direction, checks in a row)

    def plan(self, frame_shape: Sequence[int]) -> SizePlan:
        """The plan for frames of ``frame_shape`` (H, W[, C]); chosen at the probe size first."""
        hw = (int(frame_shape[0]), int(frame_shape[1]))
        held = self._plans.get(hw)
        if held is None:
            held = plan_for(*hw, None)
            self._plans[hw] = held
            log.info("detector input: %s", held.reason)
        if held.reason.startswith("probing"):
            sizes = probe_sizes(*hw)
            return SizePlan(sizes[min(self._probe_step, len(sizes) - 1)], (), held.reason)
        return held

    def stable_for(self, frame_shape: Sequence[int], pending: int) -> bool:
        """Whether observing ``pending`` more frames cannot change the plan for frames of ``frame_shape``: not
        probing, and none of them is a frame at which the size is reconsidered (every :data:`EVERY`)."""
        if pending <= 0:
            return True
        current = self._plans.get((int(frame_shape[0]), int(frame_shape[1])))
        if current is None or current.reason.startswith("probing"):
            return False
        return all((self._frames + j) % EVERY for j in range(1, pending + 1))

    def median_height(self) -> float | None:
        """Median height (frame px) of the confident people in the window, None until enough were seen."""
        if not self._heights:
            return None
        heights = np.concatenate(list(self._heights))
        return float(np.median(heights)) if len(heights) >= MIN_PEOPLE else None

    def observe(self, frame_shape: Sequence[int], boxes: np.ndarray, scores: np.ndarray) -> None:
        """Record the people found in one frame; every :data:`EVERY` frames, reconsider the size."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        keep = np.asarray(scores, np.float32).reshape(-1) >= MIN_CONF
        self._heights.append((boxes[keep, 3] - boxes[keep, 1]).astype(np.float32))
        self._frames += 1
        hw = (int(frame_shape[0]), int(frame_shape[1]))
        current = self._plans.get(hw)
        probing = current is None or current.reason.startswith("probing")
        if probing and keep.sum() < 2:
            self._probe_step += 1
        if not probing and self._frames % EVERY:
            return
        median = self.median_height()
        if median is None:
            return
        new = plan_for(*hw, median)
        if current is not None and not probing:
            direction = _move(current, new)
            if direction == 0:
                self._pending.pop(hw, None)
                return
            last, count = self._pending.get(hw, (0, 0))
            count = count + 1 if last == direction else 1
            if count < SUSTAIN:
                self._pending[hw] = (direction, count)
                return
        self._pending.pop(hw, None)
        self._plans[hw] = new
        log.info("detector input: %s", new.reason)


def _move(old: SizePlan, new: SizePlan) -> int:
    """Which way ``new`` moves the size from ``old``: +1 up (or into tiles), -1 down, 0 when it stays within the
    hysteresis or asks for the plan already in use."""
    if (new.imgsz, new.tiles) == (old.imgsz, old.tiles):
        return 0
    if old.tiled != new.tiled:
        return 1 if new.tiled else -1
    reference = old.want if old.tiled else old.imgsz
    if new.want > reference:
        return 1 if new.want > (1 + HYSTERESIS_UP) * reference else 0
    return -1 if new.want < (1 - HYSTERESIS_DOWN) * reference else 0
