"""Pose inputs of PGFA: COCO-17 -> OpenPose-18 keypoints, keypoint heatmaps, part visibility.

Keypoints are ``x, y, confidence`` rows in crop pixels (the crop the embedding is computed on).
Everything here is plain numpy and vectorised over a batch: the heatmaps of a whole batch come
from two small separable Gaussians per keypoint, with no per-pixel Python loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NUM_COCO = 17
NUM_OPENPOSE = 18
DEFAULT_GAMMA = 0.2
DEFAULT_FEAT_HW = (24, 8)

OPENPOSE18_NAMES = (
    "nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear",
)  # fmt: skip

# COCO-17 index for every OpenPose-18 slot; -1 marks the neck, which COCO lacks.
# COCO order: nose, l_eye, r_eye, l_ear, r_ear, l_sho, r_sho, l_elb, r_elb, l_wri, r_wri,
#             l_hip, r_hip, l_knee, r_knee, l_ank, r_ank.
_COCO_FOR_OPENPOSE = np.array([0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3])
_COCO_L_SHOULDER, _COCO_R_SHOULDER = 5, 6


def _as_keypoints(kpts: np.ndarray, count: int, name: str) -> np.ndarray:
    arr = np.asarray(kpts, dtype=np.float32)
    if arr.ndim not in (2, 3) or arr.shape[-2:] != (count, 3):
        raise ValueError(f"{name}: expected shape ({count}, 3) or (N, {count}, 3), got {arr.shape}")
    return arr


def coco17_to_openpose18(kpts: np.ndarray) -> np.ndarray:
    """Reorder COCO-17 keypoints into the OpenPose-18 layout PGFA was trained with.

    kpts: (17, 3) or (N, 17, 3) ``x, y, conf``. Returns a new float32 array (.., 18, 3) in the
    order of ``OPENPOSE18_NAMES``; the neck is the midpoint of the two shoulders with the
    smaller of their two confidences.
    """
    coco = _as_keypoints(kpts, NUM_COCO, "kpts")
    out = coco[..., np.maximum(_COCO_FOR_OPENPOSE, 0), :]  # fancy indexing copies
    left, right = coco[..., _COCO_L_SHOULDER, :], coco[..., _COCO_R_SHOULDER, :]
    out[..., 1, :2] = (left[..., :2] + right[..., :2]) / 2.0
    out[..., 1, 2] = np.minimum(left[..., 2], right[..., 2])
    return out


def _crop_sizes(crop_hw: Sequence[float] | np.ndarray, n: int) -> np.ndarray:
    """(n, 2) float array of crop heights and widths from one (H, W) or an (n, 2) array."""
    hw = np.asarray(crop_hw, dtype=np.float64)
    if hw.shape == (2,):
        hw = np.broadcast_to(hw, (n, 2))
    if hw.shape != (n, 2):
        raise ValueError(f"crop_hw: expected shape (2,) or ({n}, 2), got {hw.shape}")
    if not np.all(hw > 0):
        raise ValueError("crop_hw: crop heights and widths must be positive")
    return hw


def _kept(kpts18: np.ndarray, gamma: float) -> np.ndarray:
    return kpts18[..., 2] >= gamma


def keypoint_heatmaps(
    kpts18: np.ndarray | None,
    crop_hw: Sequence[float] | np.ndarray,
    feat_hw: tuple[int, int] = DEFAULT_FEAT_HW,
    gamma: float = DEFAULT_GAMMA,
) -> np.ndarray:
    """Gaussian keypoint heatmaps sampled on the backbone's feature grid.

    kpts18: (18, 3) or (N, 18, 3) OpenPose-18 ``x, y, conf`` in crop pixels, or None for no pose.
    crop_hw: the crop's (H, W), or an (N, 2) array of them for a batch.
    Returns float32 (18, fh, fw) or (N, 18, fh, fw) in [0, 1].

    Heatmap j is exp(-d^2 / (2 sigma^2)) with sigma = H * W / 1000 crop pixels, evaluated at the
    centres of the fh x fw feature cells mapped back into the crop (what rendering the map at crop
    size and resizing it to the grid approximates). A keypoint with conf < gamma gives a zero map.
    A crop without a usable pose (None, or no keypoint reaching gamma; all-zero confidences are
    the usual case) gets all-ones maps, so the pose-guided branch falls back to plain pooling.
    """
    fh, fw = (int(v) for v in feat_hw)
    if fh <= 0 or fw <= 0:
        raise ValueError(f"feat_hw: expected two positive sizes, got {feat_hw}")
    if kpts18 is None:
        hw = np.asarray(crop_hw)
        shape = (NUM_OPENPOSE, fh, fw) if hw.ndim == 1 else (len(hw), NUM_OPENPOSE, fh, fw)
        return np.ones(shape, dtype=np.float32)

    kp = _as_keypoints(kpts18, NUM_OPENPOSE, "kpts18")
    single = kp.ndim == 2
    batch = kp[None] if single else kp
    n = len(batch)
    hw = _crop_sizes(crop_hw, n)
    h, w = hw[:, 0:1], hw[:, 1:2]  # (N, 1)
    sigma = (h * w / 1000.0)[:, :, None]  # (N, 1, 1)
    ys = (np.arange(fh) + 0.5) / fh * h  # (N, fh) cell centres in crop pixels
    xs = (np.arange(fw) + 0.5) / fw * w  # (N, fw)
    kx = batch[..., 0].astype(np.float64)[:, :, None]  # (N, 18, 1)
    ky = batch[..., 1].astype(np.float64)[:, :, None]
    # The 2-D Gaussian is separable: outer product of a vertical and a horizontal profile.
    gy = np.exp(-((ys[:, None, :] - ky) ** 2) / (2.0 * sigma**2))  # (N, 18, fh)
    gx = np.exp(-((xs[:, None, :] - kx) ** 2) / (2.0 * sigma**2))  # (N, 18, fw)
    kept = _kept(batch, gamma)  # (N, 18)
    maps = gy[:, :, :, None] * gx[:, :, None, :] * kept[:, :, None, None]
    no_pose = ~kept.any(axis=1)
    maps[no_pose] = 1.0
    maps = maps.astype(np.float32)
    return maps[0] if single else maps


def part_visibility(
    kpts18: np.ndarray | None,
    crop_h: float | np.ndarray,
    parts: int = 3,
    gamma: float = DEFAULT_GAMMA,
) -> np.ndarray:
    """Which horizontal stripes of the crop show the person (PGFA eq. 5).

    kpts18: (18, 3) or (N, 18, 3) ``x, y, conf`` in crop pixels, or None. crop_h: the crop
    height, or an (N,) array of them. Returns bool (parts,) or (N, parts): stripe i (0-based)
    is visible when some keypoint with conf >= gamma has y in [i/p*H, (i+1)/p*H). With fewer
    than 3 kept keypoints (or no pose) the pose is not trusted and every stripe is visible.
    """
    if parts <= 0:
        raise ValueError(f"parts must be positive, got {parts}")
    if kpts18 is None:
        h = np.asarray(crop_h)
        return np.ones((parts,) if h.ndim == 0 else (len(h), parts), dtype=bool)
    kp = _as_keypoints(kpts18, NUM_OPENPOSE, "kpts18")
    single = kp.ndim == 2
    batch = kp[None] if single else kp
    n = len(batch)
    h = np.asarray(crop_h, dtype=np.float64)
    h = np.broadcast_to(h, (n,)) if h.ndim == 0 else h
    if h.shape != (n,):
        raise ValueError(f"crop_h: expected a number or shape ({n},), got {h.shape}")
    if not np.all(h > 0):
        raise ValueError("crop_h: crop heights must be positive")
    kept = _kept(batch, gamma)  # (N, 18)
    y = batch[..., 1].astype(np.float64)
    # Stripe index of each keypoint; -1 (or >= parts) for keypoints outside the crop.
    stripe = np.floor(y * parts / h[:, None])
    valid = kept & (stripe >= 0) & (stripe < parts)
    onehot = (stripe[..., None] == np.arange(parts)) & valid[..., None]  # (N, 18, parts)
    vis = onehot.any(axis=1)
    vis[kept.sum(axis=1) < 3] = True
    return vis[0] if single else vis
