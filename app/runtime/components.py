"""Building the detector, trackers and encoder from configuration; the one place weights are resolved."""

from __future__ import annotations

import logging
from typing import Any

from app.config import Config
from app.errors import UserError

log = logging.getLogger(__name__)


def resolve_device(requested: str) -> str:
    """'auto' -> cuda if available, else mps, else cpu; 'cuda:N' checked against the machine."""
    import torch

    req = (requested or "auto").lower()
    if req == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if req.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {requested}: no CUDA device on this machine (use auto or cpu)")
        idx = int(req.split(":", 1)[1]) if ":" in req else 0
        if idx >= torch.cuda.device_count():
            raise UserError(f"--device {requested}: only {torch.cuda.device_count()} CUDA device(s)")
        return f"cuda:{idx}"
    if req in ("cpu", "mps"):
        return req
    raise UserError(f"unknown device {requested!r}; use auto, cpu, mps or cuda:N")


def describe_device(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return f"GPU {device} ({torch.cuda.get_device_name(int(device.split(':')[1]) if ':' in device else 0)})"
    return "CPU" if device == "cpu" else device


def build_detector(cfg: Config, device: str) -> Any:
    from trackers.detector import YoloPoseDetector

    try:
        return YoloPoseDetector(weights=cfg.detector.weights, imgsz=cfg.detector.imgsz, conf=cfg.detector.conf,
                                device=device)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None


def build_tracker(cfg: Config, fps: float) -> Any:
    from trackers.registry import make_tracker

    try:
        return make_tracker(cfg.tracker.name)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def build_encoder(cfg: Config, device: str) -> Any:
    from reid_core.weights import WeightsError
    from reid_core.weights import build_encoder as _build

    try:
        return _build(cfg.encoder.weights, backbone=cfg.encoder.backbone, device=device,
                      batch_size=cfg.encoder.batch_size)
    except WeightsError as exc:
        raise UserError(str(exc)) from None
