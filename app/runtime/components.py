"""Building the detector, trackers and encoder from configuration; the one place weights are resolved."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from app.config import Config
from app.errors import UserError

log = logging.getLogger(__name__)
_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds app/, trackers/ and reid_core/


def resolve_device(requested: str) -> str:
    """'auto' -> cuda if available, else mps, else cpu; 'cuda:N' checked against the machine
    (:func:`reid_core.devices.resolve_device`, the resolver the detector and the encoder use too)."""
    from reid_core.devices import resolve_device as resolve

    try:
        return resolve(requested)
    except ValueError as exc:
        raise UserError(f"--device: {exc}") from None


def describe_device(device: str) -> str:
    """A resolved device for people: ``CPU``, ``GPU cuda:0 (<name>)`` or the device string."""
    if device.startswith("cuda"):
        import torch

        return f"GPU {device} ({torch.cuda.get_device_name(int(device.split(':')[1]) if ':' in device else 0)})"
    return "CPU" if device == "cpu" else device


def _raised_here(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by reidwatch's own code, not inside torch or ultralytics."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return True
    where = Path(tb.tb_frame.f_code.co_filename).resolve()
    return any(where.is_relative_to(_ROOT / pkg) for pkg in ("app", "trackers", "reid_core"))


def build_detector(cfg: Config, device: str) -> Any:
    """A new YOLO pose detector from ``cfg.detector`` on ``device``; missing weights are a UserError."""
    from trackers.detector import YoloPoseDetector

    try:
        return YoloPoseDetector(weights=cfg.detector.weights, imgsz=cfg.detector.imgsz, conf=cfg.detector.conf,
                                device=device, engine=cfg.detector.engine, precision=cfg.detector.precision,
                                in_flight=cfg.detector.in_flight)
    except Exception as exc:
        if isinstance(exc, (FileNotFoundError, ValueError)) and _raised_here(exc):
            raise UserError(str(exc)) from None  # our own checks: missing weights, a bad setting
        if cfg.detector.weights is None:
            raise
        # a damaged or foreign weights file: ultralytics and torch say it in a paragraph, or in a ValueError that
        # names no file ("unsupported pickle protocol", a UnicodeDecodeError)
        from reid_core.backbones import load_failure

        raise UserError(f"cannot read pose weights {cfg.detector.weights}: {load_failure(exc)}") from None


def build_tracker(cfg: Config, fps: float) -> Any:
    """A new tracker named by ``cfg.tracker`` (one per camera or video: trackers hold state); an unknown
    name is a UserError. ``fps`` is the video's frame rate: ``[tracker] memory_s`` becomes updates at it."""
    from trackers.registry import make_tracker

    try:
        return make_tracker(cfg.tracker.name, **tracker_settings(cfg, fps))
    except ValueError as exc:
        raise UserError(f"[tracker]: {exc}") from None


def tracker_settings(cfg: Config, fps: float) -> dict[str, Any]:
    """The settings of ``[tracker.<name>]``, with the tracker's memory (``[tracker] memory_s`` seconds) turned
    into tracker updates at ``fps`` unless the section sets that count itself."""
    from app.ingest.tracklife import tracker_memory_frames
    from trackers.registry import MEMORY_SETTING

    name = cfg.tracker.name
    settings = dict({"bytetrack": cfg.tracker.bytetrack, "deepsort": cfg.tracker.deepsort}.get(name) or {})
    key = MEMORY_SETTING.get(name)
    if key is not None and key not in settings:
        try:
            settings[key] = tracker_memory_frames(cfg.tracker.memory_s, fps)
        except ValueError as exc:
            raise UserError(f"tracker memory: {exc}") from None
    return settings


def build_encoder(cfg: Config, device: str) -> Any:
    """A new PGFA re-ID encoder from ``cfg.encoder`` on ``device``, with the colour stripes when
    ``app.training.active.colour_on`` says so (``with_active_encoder`` settles "auto" for a store first); unusable
    weights are a UserError."""
    from reid_core.weights import WeightsError
    from reid_core.weights import build_encoder as _build

    try:
        encoder = _build(cfg.encoder.weights, backbone=cfg.encoder.backbone, device=device,
                         batch_size=cfg.encoder.batch_size, engine=cfg.encoder.engine)
    except (WeightsError, ValueError) as exc:
        raise UserError(str(exc)) from None
    from app.training.active import colour_on

    # "auto" not settled for a store (a job that embeds a whole store anew: re-embedding) goes by the encoder alone
    if not colour_on(cfg.encoder.colour, weights=cfg.encoder.weights, store_has=None):
        return encoder
    from reid_core.colour import ColourEncoder

    return ColourEncoder(encoder)
