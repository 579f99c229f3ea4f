"""Image and keypoint transforms for training and evaluating PGFA.

Images are RGB uint8 (H, W, 3) arrays or files read with PIL; keypoints are COCO-17
``x, y, confidence`` in the pixels of the original crop. Every function returns new
arrays/tensors and leaves its inputs untouched.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# COCO-17 left/right pairs: eyes, ears, shoulders, elbows, wrists, hips, knees, ankles.
COCO_FLIP_INDEX = np.array([0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15])


def load_rgb(source: str | Path | np.ndarray) -> np.ndarray:
    """An RGB uint8 (H, W, 3) array from an image file or an array (returned as is if already one)."""
    if isinstance(source, np.ndarray):
        if source.ndim != 3 or source.shape[2] != 3 or source.dtype != np.uint8:
            raise ValueError(f"image: expected (H, W, 3) uint8, got {source.shape} {source.dtype}")
        return source
    with Image.open(source) as img:
        return np.asarray(img.convert("RGB"))


def hflip(image: np.ndarray, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror an (H, W, 3) image and its (17, 3) COCO keypoints.

    x becomes ``W - x`` (keypoints are continuous pixel coordinates) and left/right
    keypoints swap, so the mirrored person's left shoulder is again labelled left.
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.shape != (17, 3):
        raise ValueError(f"keypoints: expected shape (17, 3), got {kp.shape}")
    flipped = kp[COCO_FLIP_INDEX].copy()
    flipped[:, 0] = image.shape[1] - flipped[:, 0]
    return np.ascontiguousarray(image[:, ::-1]), flipped


def to_tensor(image: np.ndarray, out_hw: tuple[int, int]) -> torch.Tensor:
    """Resize an RGB uint8 (H, W, 3) image to ``out_hw`` (bilinear) and normalise: (3, h, w) float32."""
    h, w = out_hw
    resized = np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    std = np.asarray(IMAGENET_STD, np.float32)
    return torch.from_numpy(((resized - mean) / std).transpose(2, 0, 1).copy())


def random_erase(
    image: torch.Tensor,
    *,
    prob: float = 0.5,
    area: tuple[float, float] = (0.02, 0.4),
    aspect: tuple[float, float] = (0.3, 3.33),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random erasing (Zhong et al. 2020): with probability ``prob`` fill one random
    rectangle of a (3, H, W) normalised image with random normal values.

    The rectangle covers ``area`` (a fraction range of the image) with an aspect ratio
    (h / w) drawn log-uniformly from ``aspect``; up to 10 draws are tried for one that fits.
    Returns a new tensor (the input when nothing is erased).
    """
    if image.dim() != 3:
        raise ValueError(f"image: expected (C, H, W), got {tuple(image.shape)}")

    def uniform(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=generator))

    if uniform(0.0, 1.0) >= prob:
        return image
    _, h, w = image.shape
    for _ in range(10):
        target = uniform(*area) * h * w
        ratio = math.exp(uniform(math.log(aspect[0]), math.log(aspect[1])))
        eh, ew = int(round(math.sqrt(target * ratio))), int(round(math.sqrt(target / ratio)))
        if 0 < eh < h and 0 < ew < w:
            top = int(torch.randint(0, h - eh + 1, (), generator=generator))
            left = int(torch.randint(0, w - ew + 1, (), generator=generator))
            out = image.clone()
            out[:, top : top + eh, left : left + ew] = torch.randn(
                (image.shape[0], eh, ew), generator=generator, dtype=image.dtype
            )
            return out
    return image
