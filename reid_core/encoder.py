"""Batch inference: person crops + COCO keypoints -> PGFA embeddings.

``Encoder`` owns a PGFA model on one device; ``encode`` resizes the crops to 384x128 on that
device, builds the pose heatmaps and stripe visibility, runs the model in batches under
``torch.inference_mode`` (fp16 autocast and channels_last on CUDA) and returns an ``Embedding``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from reid_core.devices import resolve_device
from reid_core.model import INPUT_HW, PGFA, check_feature_mode
from reid_core.pose import DEFAULT_GAMMA, coco17_to_openpose18, keypoint_heatmaps, part_visibility

if TYPE_CHECKING:
    from reid_core.weights import WeightsInfo

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Embedding:
    """PGFA embeddings of a batch of N crops.

    global_feat: (N, Dg) float32, L2-normalised pose-guided global features;
    parts: (N, P, Dp) float32, each stripe vector L2-normalised;
    visibility: (N, P) bool, which stripes show the person (eq. 5).
    """

    global_feat: np.ndarray
    parts: np.ndarray
    visibility: np.ndarray

    def __post_init__(self) -> None:
        glob = np.asarray(self.global_feat, dtype=np.float32)
        parts = np.asarray(self.parts, dtype=np.float32)
        vis = np.asarray(self.visibility)
        if glob.ndim != 2:
            raise ValueError(f"global_feat: expected shape (N, Dg), got {glob.shape}")
        n = len(glob)
        if parts.ndim != 3 or len(parts) != n:
            raise ValueError(f"parts: expected shape ({n}, P, Dp), got {parts.shape}")
        if vis.shape != parts.shape[:2]:
            raise ValueError(f"visibility: expected shape {parts.shape[:2]}, got {vis.shape}")
        if vis.dtype != np.bool_:
            raise ValueError(f"visibility: expected dtype bool, got {vis.dtype}")
        if not (np.isfinite(glob).all() and np.isfinite(parts).all()):
            raise ValueError("embedding contains NaN or infinite values")
        object.__setattr__(self, "global_feat", glob)
        object.__setattr__(self, "parts", parts)
        object.__setattr__(self, "visibility", vis)

    def __len__(self) -> int:
        return len(self.global_feat)

    @property
    def dims(self) -> tuple[int, int, int]:
        """(Dg, P, Dp)."""
        return self.global_feat.shape[1], self.parts.shape[1], self.parts.shape[2]

    def take(self, index: np.ndarray | Sequence[int] | slice | int) -> Embedding:
        """The embeddings at ``index`` (integer array, boolean mask, slice or one integer)."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Embedding(
            global_feat=self.global_feat[index], parts=self.parts[index], visibility=self.visibility[index]
        )

    @staticmethod
    def empty(global_dim: int, parts: int, part_dim: int) -> Embedding:
        """A batch of zero embeddings with the given sizes."""
        return Embedding(
            global_feat=np.zeros((0, global_dim), np.float32),
            parts=np.zeros((0, parts, part_dim), np.float32),
            visibility=np.zeros((0, parts), bool),
        )

    @staticmethod
    def concat(items: Sequence[Embedding]) -> Embedding:
        """Join batches in order; they must share (Dg, P, Dp)."""
        if not items:
            raise ValueError("concat needs at least one Embedding")
        dims = {e.dims for e in items}
        if len(dims) > 1:
            raise ValueError(f"cannot concat embeddings of different sizes (Dg, P, Dp): {sorted(dims)}")
        return Embedding(
            global_feat=np.concatenate([e.global_feat for e in items]),
            parts=np.concatenate([e.parts for e in items]),
            visibility=np.concatenate([e.visibility for e in items]),
        )


def pick_device(device: str = "auto") -> torch.device:
    """The torch device for ``device`` as :func:`reid_core.devices.resolve_device` resolves it (ValueError for
    one this machine does not have)."""
    return torch.device(resolve_device(device))


def _check_crop(i: int, crop: np.ndarray) -> np.ndarray:
    arr = np.asarray(crop)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 1:
        raise ValueError(f"crops[{i}]: expected a uint8 (H, W, 3) RGB array, got {arr.dtype} {arr.shape}")
    return arr


class Encoder:
    """Turns person crops and their keypoints into PGFA embeddings on one device."""

    def __init__(
        self,
        model: PGFA,
        *,
        device: str = "auto",
        batch_size: int = 64,
        fp16: bool | None = None,
        feature_mode: str = "raw",
        weights_info: WeightsInfo | None = None,
        gamma: float = DEFAULT_GAMMA,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.device = pick_device(device)
        self.batch_size = int(batch_size)
        self.feature_mode = check_feature_mode(feature_mode)
        self.weights_info = weights_info
        self.gamma = float(gamma)
        self.fp16 = (self.device.type == "cuda") if fp16 is None else bool(fp16)
        if self.fp16 and self.device.type != "cuda":
            raise ValueError(f"fp16 inference is only supported on CUDA, not on {self.device}")
        self.channels_last = self.device.type == "cuda"
        self.model = model.eval().to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.parts = model.parts
        self.dims = model.embedding_dims(self.feature_mode)
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1) * 255.0
        logger.debug("encoder on %s, fp16=%s, feature_mode=%s", self.device, self.fp16, self.feature_mode)

    def preprocess(self, crops: Sequence[np.ndarray]) -> torch.Tensor:
        """uint8 (H, W, 3) RGB crops of any sizes -> normalised float (B, 3, 384, 128) on the device.

        Crops of equal size are resized together (bilinear, antialiased), one call per size.
        """
        arrays = [_check_crop(i, c) for i, c in enumerate(crops)]
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, arr in enumerate(arrays):
            by_size.setdefault(arr.shape[:2], []).append(i)
        if len(by_size) == 1:  # one size: no scatter into ``out`` needed
            out = self._resize(np.stack(arrays))
            return (out - self._mean) / self._std
        out = torch.empty((len(arrays), 3, *INPUT_HW), dtype=torch.float32, device=self.device)
        for idx in by_size.values():
            out[torch.as_tensor(idx, device=self.device)] = self._resize(np.stack([arrays[i] for i in idx]))
        return (out - self._mean) / self._std

    def _resize(self, stack: np.ndarray) -> torch.Tensor:
        """(B, H, W, 3) uint8 of one size -> float (B, 3, 384, 128) on the device, 0..255."""
        batch = torch.from_numpy(stack).to(self.device).permute(0, 3, 1, 2).float()
        if stack.shape[1:3] != INPUT_HW:
            batch = F.interpolate(batch, size=INPUT_HW, mode="bilinear", align_corners=False, antialias=True)
        return batch

    def pose_inputs(
        self, crops: Sequence[np.ndarray], keypoints: Sequence[np.ndarray | None] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Heatmaps (B, 18, 24, 8) float32 and visibility (B, P) bool for crops + COCO keypoints."""
        n = len(crops)
        if keypoints is not None and len(keypoints) != n:
            raise ValueError(f"keypoints: expected {n} entries (one per crop), got {len(keypoints)}")
        hw = np.array([np.shape(c)[:2] for c in crops], dtype=np.float64).reshape(n, 2)
        kpts = np.zeros((n, 17, 3), np.float32)  # zero confidence = no pose
        for i, k in enumerate(keypoints or []):
            if k is not None:
                arr = np.asarray(k, dtype=np.float32)
                if arr.shape != (17, 3):
                    raise ValueError(
                        f"keypoints[{i}]: expected shape (17, 3) COCO x, y, conf, got {arr.shape}"
                    )
                kpts[i] = arr
        kpts18 = coco17_to_openpose18(kpts)
        feat_hw = (INPUT_HW[0] // 16, INPUT_HW[1] // 16)
        heatmaps = keypoint_heatmaps(kpts18, hw, feat_hw=feat_hw, gamma=self.gamma)
        visibility = part_visibility(kpts18, hw[:, 0], parts=self.parts, gamma=self.gamma)
        return heatmaps, visibility

    def encode(
        self, crops: Sequence[np.ndarray], keypoints: Sequence[np.ndarray | None] | None = None
    ) -> Embedding:
        """Embed uint8 RGB crops (any sizes); keypoints are (17, 3) COCO in crop pixels or None."""
        if len(crops) == 0:
            return Embedding.empty(self.dims[0], self.parts, self.dims[1])
        heatmaps, visibility = self.pose_inputs(crops, keypoints)
        globals_, parts = [], []
        with torch.inference_mode():
            for start in range(0, len(crops), self.batch_size):
                stop = start + self.batch_size
                g, p = self._run(crops[start:stop], heatmaps[start:stop])
                globals_.append(g)
                parts.append(p)
        return Embedding(
            global_feat=torch.cat(globals_).numpy(), parts=torch.cat(parts).numpy(), visibility=visibility
        )

    def _run(self, crops: Sequence[np.ndarray], heatmaps: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        images = self.preprocess(crops)
        maps = torch.from_numpy(heatmaps).to(self.device)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.fp16):
            feats = self.model(images, maps, feature_mode=self.feature_mode)
        glob = F.normalize(feats.global_feat.float(), dim=1)
        parts = F.normalize(feats.parts.float(), dim=2)
        return glob.cpu(), parts.cpu()
