"""Blurring heads in pictures: where a person's head is (from COCO pose keypoints), and the blur itself. Pure."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

HEAD = slice(0, 5)  # COCO: nose, eyes, ears
MIN_CONF = 0.3
Box = tuple[float, float, float, float]


def head_box(keypoints: np.ndarray, box: Box, *, min_conf: float = MIN_CONF) -> Box:
    """The head of a person (frame pixels): a square around the visible nose/eye/ear keypoints, at least a fifth
    of the person's box height across; without a visible head keypoint, the top fifth of the box, full width."""
    x1, y1, x2, y2 = (float(v) for v in box)
    bh = max(1.0, y2 - y1)
    kps = np.asarray(keypoints, np.float32).reshape(-1, 3)[HEAD]
    pts = kps[kps[:, 2] >= min_conf, :2]
    if len(pts) == 0:
        return (x1, y1, x2, y1 + 0.2 * bh)
    cx, cy = (float(v) for v in pts.mean(axis=0))
    spread = float(np.ptp(pts, axis=0).max()) if len(pts) > 1 else 0.0
    half = max(0.75 * spread, 0.1 * bh)
    return (cx - half, cy - 1.2 * half, cx + half, cy + half)


def to_picture(region: Box, cut: Box, size_wh: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """A frame region mapped into a picture that shows the frame rectangle ``cut`` scaled to ``size_wh``
    (whole pixels, clipped); None when it falls outside the picture."""
    cx1, cy1, cx2, cy2 = cut
    w, h = size_wh
    sx, sy = w / max(1e-6, cx2 - cx1), h / max(1e-6, cy2 - cy1)
    x1 = int(np.floor((region[0] - cx1) * sx))
    y1 = int(np.floor((region[1] - cy1) * sy))
    x2 = int(np.ceil((region[2] - cx1) * sx))
    y2 = int(np.ceil((region[3] - cy1) * sy))
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def blur_image(image: np.ndarray, regions: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
    """A copy of ``image`` with each region pixelated to at most 4 blocks across and then smoothed: nothing
    of a face survives, the picture still shows that someone is there."""
    out = image.copy()
    for x1, y1, x2, y2 in regions:
        patch = out[y1:y2, x1:x2]
        if patch.size == 0:
            continue
        h, w = patch.shape[:2]
        small = cv2.resize(patch, (max(1, min(4, w)), max(1, min(4, h))), interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        k = max(3, (min(w, h) // 2) | 1)
        out[y1:y2, x1:x2] = cv2.GaussianBlur(coarse, (k, k), 0)
    return out


def blur_jpeg(jpeg: bytes, regions: Sequence[tuple[int, int, int, int]], *, quality: int = 88) -> bytes:
    """:func:`blur_image` over JPEG bytes; the bytes unchanged when there is nothing to blur."""
    if not regions:
        return jpeg
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return jpeg
    ok, buf = cv2.imencode(".jpg", blur_image(img, regions), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes() if ok else jpeg


def jpeg_size(jpeg: bytes) -> tuple[int, int] | None:
    """(width, height) of a JPEG, or None when it does not decode."""
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return None if img is None else (img.shape[1], img.shape[0])
