"""Augmentations that imitate another camera, applied to a crop *and* its keypoints.

Crops enter as float tensors (3, H, W) in 0..255 at the encoder's input size, keypoints as COCO-17
(17, 3) ``x, y, confidence`` in the same pixels. Every transform returns new tensors; geometric ones move
the keypoints with the pixels (a keypoint that leaves the crop, or is hidden by an occluding patch, gets
confidence 0), so PGFA's heatmaps and stripe visibility are computed on where the body really is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from reid_core.transforms import COCO_FLIP_INDEX


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the camera-imitating transforms."""

    mirror_p: float = 0.5
    scale: tuple[float, float] = (0.8, 1.15)  # >1 zooms in (crops the body), <1 zooms out (pads)
    shift: float = 0.08  # fraction of width / height
    gain: tuple[float, float] = (0.75, 1.3)  # per-channel white-balance gain
    brightness: tuple[float, float] = (0.7, 1.3)
    contrast: tuple[float, float] = (0.7, 1.3)
    saturation: tuple[float, float] = (0.5, 1.4)
    blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.5, 2.0)
    lowres_p: float = 0.4
    lowres: tuple[float, float] = (0.35, 0.75)  # fraction of the resolution kept
    occlude_p: float = 0.4
    occlude_area: tuple[float, float] = (0.08, 0.3)


DEFAULT_AUGMENT = AugmentConfig()


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def mirror(image: torch.Tensor, kpts: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """Flip left-right; keypoints mirror and swap left/right labels."""
    out = kpts[COCO_FLIP_INDEX].copy()
    out[:, 0] = image.shape[2] - out[:, 0]
    return image.flip(2), out


def affine_scale_shift(image: torch.Tensor, kpts: np.ndarray, scale: float, dx: float, dy: float
                       ) -> tuple[torch.Tensor, np.ndarray]:
    """Zoom by ``scale`` about the centre and shift by (dx, dy) fractions of the size; borders repeat."""
    _, h, w = image.shape
    theta = torch.tensor([[1.0 / scale, 0.0, -2.0 * dx / scale], [0.0, 1.0 / scale, -2.0 * dy / scale]],
                         dtype=image.dtype).unsqueeze(0)
    grid = F.affine_grid(theta, [1, 3, h, w], align_corners=False)
    out = F.grid_sample(image.unsqueeze(0), grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
    k = kpts.copy()
    # the grid reads input (p - c - shift) / scale + c for output pixel p: keypoints go the other way
    cx, cy = w / 2.0, h / 2.0
    k[:, 0] = (kpts[:, 0] - cx) * scale + dx * w + cx
    k[:, 1] = (kpts[:, 1] - cy) * scale + dy * h + cy
    outside = (k[:, 0] < 0) | (k[:, 0] >= w) | (k[:, 1] < 0) | (k[:, 1] >= h)
    k[outside, 2] = 0.0
    return out, k


def colour(image: torch.Tensor, gains: tuple[float, float, float], brightness: float, contrast: float,
           saturation: float) -> torch.Tensor:
    """White balance (per-channel gains), brightness, contrast and saturation; 0..255 kept."""
    x = image * torch.tensor(gains, dtype=image.dtype).view(3, 1, 1) * brightness
    grey = x.mean(dim=0, keepdim=True)
    x = grey + (x - grey) * saturation
    x = (x - x.mean()) * contrast + x.mean()
    return x.clamp(0.0, 255.0)


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a (3, H, W) tensor."""
    radius = max(1, int(math.ceil(2.5 * sigma)))
    xs = torch.arange(-radius, radius + 1, dtype=image.dtype)
    kernel = torch.exp(-(xs**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    x = image.unsqueeze(0)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1).repeat(3, 1, 1, 1),
                 groups=3)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1).repeat(3, 1, 1, 1),
                 groups=3)
    return x[0]


def low_resolution(image: torch.Tensor, keep: float) -> torch.Tensor:
    """Down-sample to ``keep`` of the size and back (a smaller, softer camera view)."""
    _, h, w = image.shape
    small = F.interpolate(image.unsqueeze(0), size=(max(8, int(h * keep)), max(4, int(w * keep))), mode="bilinear",
                          align_corners=False, antialias=True)
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)[0]


def occlude(image: torch.Tensor, kpts: np.ndarray, rng: np.random.Generator, area: tuple[float, float]
            ) -> tuple[torch.Tensor, np.ndarray]:
    """Paint a flat-coloured rectangle (a pole, a bag, another person); keypoints under it get confidence 0."""
    _, h, w = image.shape
    frac = _uniform(rng, area)
    ph = int(np.clip(math.sqrt(frac) * h * rng.uniform(0.6, 1.6), 8, h - 1))
    pw = int(np.clip(frac * h * w / ph, 4, w - 1))
    top, left = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
    out = image.clone()
    out[:, top:top + ph, left:left + pw] = torch.tensor(rng.uniform(0, 255, 3), dtype=image.dtype).view(3, 1, 1)
    k = kpts.copy()
    inside = (k[:, 0] >= left) & (k[:, 0] < left + pw) & (k[:, 1] >= top) & (k[:, 1] < top + ph)
    k[inside, 2] = 0.0
    return out, k


def camera_view(image: torch.Tensor, kpts: np.ndarray, rng: np.random.Generator,
                cfg: AugmentConfig = DEFAULT_AUGMENT) -> tuple[torch.Tensor, np.ndarray]:
    """One random 'other camera' view of a crop: every transform above with the configured odds."""
    kpts = np.asarray(kpts, np.float32)
    if kpts.shape != (17, 3):
        raise ValueError(f"kpts: expected shape (17, 3), got {kpts.shape}")
    x = image.float()
    if rng.random() < cfg.mirror_p:
        x, kpts = mirror(x, kpts)
    x, kpts = affine_scale_shift(x, kpts, _uniform(rng, cfg.scale), _uniform(rng, (-cfg.shift, cfg.shift)),
                                 _uniform(rng, (-cfg.shift, cfg.shift)))
    gains = tuple(_uniform(rng, cfg.gain) for _ in range(3))
    x = colour(x, gains, _uniform(rng, cfg.brightness), _uniform(rng, cfg.contrast),  # type: ignore[arg-type]
               _uniform(rng, cfg.saturation))
    if rng.random() < cfg.lowres_p:
        x = low_resolution(x, _uniform(rng, cfg.lowres))
    if rng.random() < cfg.blur_p:
        x = gaussian_blur(x, _uniform(rng, cfg.blur_sigma))
    if rng.random() < cfg.occlude_p:
        x, kpts = occlude(x, kpts, rng, cfg.occlude_area)
    return x.clamp(0.0, 255.0), kpts
