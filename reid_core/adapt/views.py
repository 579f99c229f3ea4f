"""Augmented views of every crop, pushed once through the frozen trunk.

Adaptation must fit in minutes on 2 CPU cores. Measured there (shared with an ingest): one MobileNetV2 trunk
pass at 384x128 costs ~0.1-0.25 s per view, and one training step of its last five blocks (14..18, batch 32)
~7 s: a vtest-sized store would need hours. So the trunk stays frozen, its PGFA raw features (pose-guided
global [P1, P2] and stripes) are computed once for a fixed set of views and cached (float16), and what learns
is PGFA's own bottleneck heads (``feature_mode="head"``, 256-d), thousands of steps a minute.

Each crop gets ``views`` views: the clean crop and ``views - 1`` random 'other camera' versions
(``augment.camera_view``), with their own heatmaps and stripe visibility computed from the moved keypoints, in
the original crop's geometry exactly as the encoder does at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from reid_core.adapt.augment import DEFAULT_AUGMENT, AugmentConfig, camera_view
from reid_core.encoder import IMAGENET_MEAN, IMAGENET_STD
from reid_core.model import INPUT_HW, PGFA, pose_guided_pool, stripe_pool
from reid_core.pose import DEFAULT_GAMMA, coco17_to_openpose18, keypoint_heatmaps, part_visibility


@dataclass(frozen=True)
class CropSet:
    """N person crops of T tracks: RGB uint8 arrays, COCO-17 keypoints in crop pixels, owning track row."""

    crops: Sequence[np.ndarray]
    keypoints: np.ndarray  # (N, 17, 3)
    track: np.ndarray  # (N,) int64 row of the track (0..T-1)

    def __post_init__(self) -> None:
        n = len(self.crops)
        kp = np.asarray(self.keypoints, np.float32)
        if kp.shape != (n, 17, 3) or np.shape(self.track) != (n,):
            raise ValueError(f"keypoints (N, 17, 3) and track (N,) must match {n} crops")
        object.__setattr__(self, "keypoints", kp)
        object.__setattr__(self, "track", np.asarray(self.track, np.int64))


@dataclass(frozen=True)
class ViewBank:
    """Cached PGFA raw features of V views of every crop (view 0 is the clean crop).

    global_raw (N*V, 2C) and parts_raw (N*V, P, C) float16; visibility (N*V, P) bool;
    crop (N*V,) crop index; view (N*V,) view index; track (N*V,) track row.
    """

    global_raw: torch.Tensor
    parts_raw: torch.Tensor
    visibility: torch.Tensor
    crop: np.ndarray
    view: np.ndarray
    track: np.ndarray

    def __len__(self) -> int:
        return len(self.crop)


def _resize(crop: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float().unsqueeze(0)
    return F.interpolate(x, size=INPUT_HW, mode="bilinear", align_corners=False, antialias=True)[0]


def make_views(crops: CropSet, *, views: int, seed: int, parts: int, augment: AugmentConfig = DEFAULT_AUGMENT,
               gamma: float = DEFAULT_GAMMA) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """All views as normalised images (N*V, 3, 384, 128), heatmaps (N*V, 18, 24, 8), visibility (N*V, P)."""
    rng = np.random.default_rng(seed)
    h_in, w_in = INPUT_HW
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1) * 255.0
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1) * 255.0
    images, kps, hws = [], [], []
    for crop, kp in zip(crops.crops, crops.keypoints, strict=True):
        h, w = crop.shape[:2]
        base = _resize(crop)
        k = kp.copy()
        k[:, 0] *= w_in / w
        k[:, 1] *= h_in / h
        for v in range(views):
            img, kv = (base, k) if v == 0 else camera_view(base, k, rng, augment)
            back = kv.copy()
            back[:, 0] *= w / w_in
            back[:, 1] *= h / h_in
            images.append((img - mean) / std)
            kps.append(back)
            hws.append((h, w))
    kp18 = coco17_to_openpose18(np.stack(kps))
    hw = np.asarray(hws, np.float64)
    maps = keypoint_heatmaps(kp18, hw, feat_hw=(h_in // 16, w_in // 16), gamma=gamma)
    vis = part_visibility(kp18, hw[:, 0], parts=parts, gamma=gamma)
    return torch.stack(images), maps, vis


@torch.no_grad()
def build_view_bank(model: PGFA, crops: CropSet, *, views: int = 4, seed: int = 0, batch: int = 32,
                    device: torch.device | str = "cpu", augment: AugmentConfig = DEFAULT_AUGMENT,
                    on_progress: Callable[[int, int], None] | None = None) -> ViewBank:
    """Make the views of every crop and cache the frozen trunk's raw PGFA features for them (one pass)."""
    if views < 1:
        raise ValueError(f"views must be >= 1, got {views}")
    dev = torch.device(device)
    model.eval().to(dev)
    n = len(crops.crops)
    gs, ps, vis = [], [], []
    step = max(1, batch // views)
    for lo in range(0, n, step):
        part = CropSet(crops.crops[lo:lo + step], crops.keypoints[lo:lo + step], crops.track[lo:lo + step])
        imgs, m, v = make_views(part, views=views, seed=seed * 100_003 + lo, parts=model.parts, augment=augment)
        with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=dev.type == "cuda"):
            fmap = model.feature_map(imgs.to(dev))
            gs.append(pose_guided_pool(fmap, torch.from_numpy(m).to(dev)).half().cpu())
            ps.append(stripe_pool(fmap, model.parts).half().cpu())
        vis.append(torch.from_numpy(v))
        if on_progress is not None:
            on_progress(min(n, lo + step), n)
    crop_idx = np.repeat(np.arange(n), views)
    return ViewBank(torch.cat(gs), torch.cat(ps), torch.cat(vis), crop_idx, np.tile(np.arange(views), n),
                    crops.track[crop_idx])
