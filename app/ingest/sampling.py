"""Choosing a track's best samples for the encoder: large, sharp, many visible keypoints, unoccluded.

Pure functions over arrays; the sampler keeps a handful of samples per track spread over time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from trackers.appearance import cover_matrix

KEYPOINT_CONF = 0.3


def overlap_with_others(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy -> (N,) the largest fraction of each box's area covered by another box."""
    if len(boxes) < 2:
        return np.zeros(len(boxes), np.float32)
    return cover_matrix(boxes).max(axis=1).astype(np.float32)


def sharpness(crop_bgr: np.ndarray) -> float:
    """Variance of the Laplacian of the grey crop: low for blurred or flat crops."""
    if crop_bgr.size == 0:
        return 0.0
    grey = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def sample_quality(
    box: np.ndarray, keypoints: np.ndarray, overlap: float, sharp: float, frame_hw: tuple[int, int]
) -> float:
    """A score in [0, 1]: size x visible keypoints x (1 - overlap) x sharpness x away-from-border."""
    h = float(box[3] - box[1])
    w = float(box[2] - box[0])
    if h <= 2 or w <= 2:
        return 0.0
    size = min(1.0, h / 160.0) ** 0.5
    kp = float((keypoints[:, 2] >= KEYPOINT_CONF).mean()) if len(keypoints) else 0.0
    sharp_f = min(1.0, np.log1p(sharp) / np.log1p(300.0))
    fh, fw = frame_hw
    margin = 2.0
    at_border = box[0] <= margin or box[1] <= margin or box[2] >= fw - margin or box[3] >= fh - margin
    border_f = 0.6 if at_border else 1.0
    return float(size * (0.25 + 0.75 * kp) * (1.0 - min(overlap, 1.0)) ** 1.5 * (0.3 + 0.7 * sharp_f) * border_f)


def crop_box(frame: np.ndarray, box: np.ndarray, pad: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Cut a box (with a little padding) out of a frame; returns (crop, xyxy actually cut, int)."""
    fh, fw = frame.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    px, py = (x2 - x1) * pad, (y2 - y1) * pad
    ix1, iy1 = int(max(0, np.floor(x1 - px))), int(max(0, np.floor(y1 - py)))
    ix2, iy2 = int(min(fw, np.ceil(x2 + px))), int(min(fh, np.ceil(y2 + py)))
    return frame[iy1:iy2, ix1:ix2].copy(), np.array([ix1, iy1, ix2, iy2], np.int32)


@dataclass
class Sample:
    """One candidate crop of a track: its frame, quality score, BGR crop and keypoints."""

    frame: int
    quality: float
    crop_bgr: np.ndarray
    keypoints: np.ndarray  # (17, 3) in crop coordinates


@dataclass
class TrackSampler:
    """Keeps up to ``k`` best samples of one track, at least ``min_gap`` frames apart."""

    k: int = 6
    min_gap: int = 5
    samples: list[Sample] = field(default_factory=list)

    def would_take(self, frame: int, quality: float) -> bool:
        """Whether a sample of this quality at this frame would be kept (cheap check before cropping)."""
        if quality <= 0:
            return False
        near = [s for s in self.samples if abs(s.frame - frame) < self.min_gap]
        if near:
            return quality > max(s.quality for s in near)
        return len(self.samples) < self.k or quality > min(s.quality for s in self.samples)

    def add(self, sample: Sample) -> None:
        """Keep ``sample`` if it qualifies, replacing worse ones nearer than ``min_gap`` and the worst beyond ``k``."""
        if not self.would_take(sample.frame, sample.quality):
            return
        self.samples = [s for s in self.samples if abs(s.frame - sample.frame) >= self.min_gap]
        self.samples.append(sample)
        if len(self.samples) > self.k:
            self.samples.remove(min(self.samples, key=lambda s: s.quality))

    def best(self) -> Sample | None:
        """The highest-quality sample kept, or None."""
        return max(self.samples, key=lambda s: s.quality) if self.samples else None


THUMB_HEIGHT = 128


def thumbnail_jpeg(crop_bgr: np.ndarray) -> bytes | None:
    """JPEG bytes of a BGR crop scaled to 128 px high; None for an empty crop or a failed encode."""
    if crop_bgr.size == 0:
        return None
    h, w = crop_bgr.shape[:2]
    scale = THUMB_HEIGHT / max(h, 1)
    img = cv2.resize(crop_bgr, (max(1, round(w * scale)), THUMB_HEIGHT), interpolation=cv2.INTER_LINEAR)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 88])
    return buf.tobytes() if ok else None
