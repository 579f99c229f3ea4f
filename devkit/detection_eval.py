"""Detection recall against MOTChallenge ground truth on vtest.avi, at any scale of the video.

Shared by ``tests/trackers/test_imgsz.py`` and ``bench/bench_imgsz.py``: read frames (resized), read the
ground-truth boxes (scaled alike), and count the people found (IoU >= 0.5, one-to-one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment


def read_gt(path: Path) -> dict[int, np.ndarray]:
    """Frame (1-based) -> (N, 4) x0, y0, x1, y1 boxes from a MOTChallenge ground-truth file."""
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    out: dict[int, np.ndarray] = {}
    for frame in np.unique(rows[:, 0]).astype(int):
        r = rows[rows[:, 0] == frame]
        out[int(frame)] = np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], axis=1)
    return out


def scaled_frames(video: Path, frames: Iterable[int], scale: float) -> list[tuple[int, np.ndarray]]:
    """(1-based frame number, BGR image resized by ``scale``) for the requested frames, in order."""
    wanted = sorted(set(frames))
    cap = cv2.VideoCapture(str(video))
    out: list[tuple[int, np.ndarray]] = []
    index = 0
    try:
        while wanted and index < wanted[-1]:
            ok, image = cap.read()
            index += 1
            if not ok:
                break
            if index in wanted:
                if scale != 1.0:
                    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
                    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=interp)
                out.append((index, image))
    finally:
        cap.release()
    return out


def matched(gt: np.ndarray, found: np.ndarray, iou: float = 0.5) -> int:
    """How many ground-truth boxes have their own found box at IoU >= ``iou`` (optimal one-to-one)."""
    if len(gt) == 0 or len(found) == 0:
        return 0
    lt = np.maximum(gt[:, None, :2], found[None, :, :2])
    rb = np.minimum(gt[:, None, 2:], found[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_g = np.prod(gt[:, 2:] - gt[:, :2], axis=1)
    area_f = np.prod(found[:, 2:] - found[:, :2], axis=1)
    ious = inter / (area_g[:, None] + area_f[None, :] - inter)
    rows, cols = linear_sum_assignment(-ious)
    return int((ious[rows, cols] >= iou).sum())


def recall_on(
    detect: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    images: list[np.ndarray],
    truths: list[np.ndarray],
    min_score: float = 0.25,
) -> tuple[float, float]:
    """(recall, precision) of ``detect(image) -> (boxes, scores)`` against one truth (N, 4) per image."""
    hits = total = found_n = 0
    for image, truth in zip(images, truths, strict=True):
        boxes, scores = detect(image)
        keep = np.asarray(boxes)[np.asarray(scores) >= min_score]
        hits += matched(truth, keep)
        total += len(truth)
        found_n += len(keep)
    return hits / max(total, 1), hits / max(found_n, 1)


def recall(
    detect: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    frames: list[tuple[int, np.ndarray]],
    gt: dict[int, np.ndarray],
    scale: float,
    min_score: float = 0.25,
) -> tuple[float, float]:
    """(recall, precision) of ``detect`` over ``frames`` (numbered), ground truth scaled by ``scale``."""
    truths = [gt.get(number, np.zeros((0, 4))) * scale for number, _ in frames]
    return recall_on(detect, [image for _, image in frames], truths, min_score)


def mosaics(frames: list[tuple[int, np.ndarray]], gt: dict[int, np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """2x2 mosaics of consecutive groups of four frames (a frame twice as wide and high, people as small)
    with their ground truth shifted into each quadrant."""
    images, truths = [], []
    for k in range(0, len(frames) - 3, 4):
        group = frames[k:k + 4]
        h, w = group[0][1].shape[:2]
        top = np.concatenate([group[0][1], group[1][1]], axis=1)
        bottom = np.concatenate([group[2][1], group[3][1]], axis=1)
        images.append(np.ascontiguousarray(np.concatenate([top, bottom], axis=0)))
        shifted = []
        for q, (number, _) in enumerate(group):
            dx, dy = (q % 2) * w, (q // 2) * h
            shifted.append(gt.get(number, np.zeros((0, 4))) + np.array([dx, dy, dx, dy]))
        truths.append(np.concatenate(shifted))
    return images, truths
