"""PGFA: Pose-Guided Feature Alignment for occluded person re-ID (Miao et al., ICCV 2019).

Two branches share one trunk feature map F (B, C, 24, 8) of a 384x128 crop:

- partial branch: F split into ``parts`` horizontal stripes, each average-pooled (C) and fed to
  its own bottleneck head (C -> 256, BN, ReLU, Dropout 0.5) and classifier;
- pose-guided global branch: P1 = avg-pool(F); P2 = max over the 18 keypoint heatmaps M_j of
  avg-pool(M_j * F); [P1, P2] (2C) -> Linear -> 256 + BN -> classifier.

In training mode ``forward`` returns logits for ``pgfa_loss``; in eval mode it returns the test
features: ``feature_mode="raw"`` gives the raw stripe features (C each) and [P1, P2] (2C), as the
authors' test code matches on; ``"head"`` gives the 256-d bottleneck outputs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from reid_core.backbones import build_backbone, load_backbone_state
from reid_core.pose import NUM_OPENPOSE

logger = logging.getLogger(__name__)

FEATURE_MODES = ("raw", "head")
INPUT_HW = (384, 128)
BOTTLENECK_DIM = 256


class PGFAOutput(NamedTuple):
    """Training-mode output: per-stripe logits (list of ``parts`` x (B, K)) and pose logits (B, K)."""

    part_logits: list[torch.Tensor]
    pose_logits: torch.Tensor


class PGFAFeatures(NamedTuple):
    """Eval-mode output (not normalised): global (B, Dg) and parts (B, P, Dp)."""

    global_feat: torch.Tensor
    parts: torch.Tensor


def check_feature_mode(mode: str) -> str:
    """Return ``mode`` when it is a known feature mode, else raise ValueError listing them."""
    if mode not in FEATURE_MODES:
        raise ValueError(f"unknown feature_mode {mode!r}; choose one of {list(FEATURE_MODES)}")
    return mode


def pose_guided_pool(feature_map: torch.Tensor, heatmaps: torch.Tensor | None) -> torch.Tensor:
    """The pose-guided global feature [P1, P2] of PGFA.

    feature_map: (B, C, H, W); heatmaps: (B, J, H, W) in [0, 1], or None for no pose (all-ones
    maps, so P2 = P1). Returns (B, 2C). All J masked poolings are one batched matrix product:
    (B, J, HW) @ (B, HW, C) / HW.
    """
    b, c, h, w = feature_map.shape
    if feature_map.is_contiguous():
        flat = feature_map.flatten(2).transpose(1, 2)  # (B, HW, C), a view of NCHW memory
    else:
        flat = feature_map.permute(0, 2, 3, 1).reshape(b, h * w, c)  # a view for channels_last
    p1 = flat.mean(dim=1)
    if heatmaps is None:
        return torch.cat([p1, p1], dim=1)
    if heatmaps.dim() != 4 or heatmaps.shape[0] != b or heatmaps.shape[2:] != (h, w):
        raise ValueError(
            f"heatmaps: expected shape ({b}, J, {h}, {w}) to match the feature map, got {tuple(heatmaps.shape)}"
        )
    maps = heatmaps.reshape(b, heatmaps.shape[1], h * w).to(flat.dtype)
    pooled = torch.bmm(maps, flat) / (h * w)  # (B, J, C)
    p2 = pooled.amax(dim=1)
    return torch.cat([p1, p2], dim=1)


def stripe_pool(feature_map: torch.Tensor, parts: int) -> torch.Tensor:
    """Average-pool ``parts`` horizontal stripes: (B, C, H, W) -> (B, parts, C)."""
    return F.adaptive_avg_pool2d(feature_map, (parts, 1)).flatten(2).transpose(1, 2)


def _part_head(in_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, BOTTLENECK_DIM),
        nn.BatchNorm1d(BOTTLENECK_DIM),
        nn.ReLU(inplace=True),
        nn.Dropout(0.5),
    )


class PGFA(nn.Module):
    """The PGFA network; see the module docstring. ``num_classes=0`` builds it without classifiers."""

    def __init__(
        self,
        num_classes: int,
        *,
        parts: int = 3,
        backbone: str = "resnet50",
        pretrained_backbone: str | Path | None = None,
        feature_mode: str = "raw",
    ) -> None:
        super().__init__()
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        if parts <= 0:
            raise ValueError(f"parts must be positive, got {parts}")
        self.num_classes = int(num_classes)
        self.parts = int(parts)
        self.backbone_name = backbone
        self.feature_mode = check_feature_mode(feature_mode)
        self.backbone, self.feat_dim = build_backbone(backbone)
        if pretrained_backbone is not None:
            load_backbone_state(self.backbone, pretrained_backbone)

        self.part_heads = nn.ModuleList(_part_head(self.feat_dim) for _ in range(self.parts))
        self.pose_head = nn.Sequential(
            nn.Linear(2 * self.feat_dim, BOTTLENECK_DIM), nn.BatchNorm1d(BOTTLENECK_DIM)
        )
        if self.num_classes:
            self.part_classifiers = nn.ModuleList(
                nn.Linear(BOTTLENECK_DIM, self.num_classes) for _ in range(self.parts)
            )
            self.pose_classifier: nn.Linear | None = nn.Linear(BOTTLENECK_DIM, self.num_classes)
        else:
            self.part_classifiers = nn.ModuleList()
            self.pose_classifier = None
        self._init_heads()

    def _init_heads(self) -> None:
        for module in [*self.part_heads.modules(), *self.pose_head.modules()]:
            if isinstance(module, nn.Linear):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm1d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        classifiers = [*self.part_classifiers, self.pose_classifier]
        for module in (m for m in classifiers if m is not None):
            nn.init.normal_(module.weight, std=0.001)
            nn.init.zeros_(module.bias)

    @property
    def config(self) -> dict[str, object]:
        """What is needed to rebuild this model (stored in checkpoints)."""
        return {
            "backbone": self.backbone_name,
            "parts": self.parts,
            "num_classes": self.num_classes,
            "feature_mode": self.feature_mode,
            "feat_dim": self.feat_dim,
        }

    def embedding_dims(self, feature_mode: str | None = None) -> tuple[int, int]:
        """(Dg, Dp): sizes of the global and per-part test features in a feature mode."""
        mode = check_feature_mode(feature_mode or self.feature_mode)
        return (2 * self.feat_dim, self.feat_dim) if mode == "raw" else (BOTTLENECK_DIM, BOTTLENECK_DIM)

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the pretrained trunk (trained with the smaller learning rate)."""
        return self.backbone.parameters()

    def new_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the heads and classifiers (trained with the larger learning rate)."""
        for name, param in self.named_parameters():
            if not name.startswith("backbone."):
                yield param

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, 384, 128) normalised images -> trunk feature map (B, feat_dim, 24, 8)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images: expected shape (B, 3, H, W), got {tuple(images.shape)}")
        return self.backbone(images)

    def forward(
        self, images: torch.Tensor, heatmaps: torch.Tensor | None = None, *, feature_mode: str | None = None
    ) -> PGFAOutput | PGFAFeatures:
        """images (B, 3, 384, 128), heatmaps (B, 18, 24, 8) or None (no pose).

        Training mode: PGFAOutput with ``parts`` x (B, num_classes) and (B, num_classes) logits.
        Eval mode: PGFAFeatures, global (B, Dg) and parts (B, parts, Dp), ``embedding_dims``.
        """
        if heatmaps is not None and heatmaps.dim() == 4 and heatmaps.shape[1] != NUM_OPENPOSE:
            raise ValueError(f"heatmaps: expected {NUM_OPENPOSE} maps, got {tuple(heatmaps.shape)}")
        fmap = self.feature_map(images)
        stripes = stripe_pool(fmap, self.parts)  # (B, P, C)
        pose_feat = pose_guided_pool(fmap, heatmaps)  # (B, 2C)
        if self.training:
            if self.pose_classifier is None:
                raise RuntimeError("PGFA was built with num_classes=0 (inference only); call .eval() first")
            part_logits = [
                clf(head(stripes[:, i]))
                for i, (head, clf) in enumerate(zip(self.part_heads, self.part_classifiers, strict=True))
            ]
            return PGFAOutput(part_logits, self.pose_classifier(self.pose_head(pose_feat)))
        mode = check_feature_mode(feature_mode or self.feature_mode)
        if mode == "raw":
            return PGFAFeatures(pose_feat, stripes)
        parts = torch.stack([head(stripes[:, i]) for i, head in enumerate(self.part_heads)], dim=1)
        return PGFAFeatures(self.pose_head(pose_feat), parts)


def pgfa_loss(output: PGFAOutput, labels: torch.Tensor, lam: float = 0.2) -> torch.Tensor:
    """lam * sum of the stripe cross-entropies + (1 - lam) * the pose-branch cross-entropy."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must lie in [0, 1], got {lam}")
    part = sum(F.cross_entropy(logits, labels) for logits in output.part_logits)
    return lam * part + (1.0 - lam) * F.cross_entropy(output.pose_logits, labels)
