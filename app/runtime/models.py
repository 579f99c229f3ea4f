"""One detector and one encoder per device, shared safely by every thread of a process.

The detector (ultralytics) and the encoder (a torch module) are not safe to call from two threads at once, and
two copies of each on one GPU waste its memory. :class:`ModelCache` builds them once per (device, settings),
on first use, and hands out :class:`SharedDetector` / :class:`SharedEncoder` wrappers that serialise calls with
one lock per model. When the settings change (the operator picks another input size or checkpoint), the next
request builds the new pair and the old one is dropped once its last user lets go of it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.config import Config
from app.runtime.components import build_detector, build_encoder, describe_device, resolve_device

log = logging.getLogger(__name__)


class SharedDetector:
    """A pose detector whose calls are serialised by a lock; other attributes pass through."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._lock = threading.Lock()

    def detect(self, frame: np.ndarray) -> Any:
        """Detections of one BGR frame (see ``trackers.detector.YoloPoseDetector.detect``)."""
        with self._lock:
            return self._inner.detect(frame)

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[Any]:
        """Detections of several BGR frames in one call."""
        with self._lock:
            return self._inner.detect_batch(frames)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class SharedEncoder:
    """A PGFA encoder whose calls are serialised by a lock; other attributes pass through."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._lock = threading.Lock()

    def encode(self, crops_rgb: Sequence[np.ndarray], keypoints: Sequence[np.ndarray]) -> Any:
        """Embeddings of RGB crops with their keypoints (see ``reid_core.encoder.Encoder.encode``)."""
        with self._lock:
            return self._inner.encode(crops_rgb, keypoints)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@dataclass(frozen=True)
class Models:
    """What a job needs to see people: the resolved device, its name, and the shared models."""

    device: str
    device_label: str
    detector: SharedDetector
    encoder: SharedEncoder


def model_key(cfg: Config, device: str) -> tuple:
    """What makes two requests share models: the device and every detector and encoder setting."""
    return (device, cfg.detector, cfg.encoder)


class ModelCache:
    """The models of one process: one detector and one encoder per device, built on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_device: dict[str, tuple[tuple, Models]] = {}

    def get(self, cfg: Config, *, on_loading: Any = None) -> Models:
        """The models for ``cfg``; ``on_loading(text)`` is called before a (slow) build."""
        from app.training.active import settled_colour

        cfg = settled_colour(cfg)  # "auto" and the value it settles to share one encoder
        device = resolve_device(cfg.device)
        key = model_key(cfg, device)
        with self._lock:
            held = self._by_device.get(device)
            if held is not None and held[0] == key:
                return held[1]
        label = describe_device(device)
        if on_loading is not None:  # outside the lock: the callback may ask for other models
            on_loading(f"loading models on {label}")
        with self._lock:
            held = self._by_device.get(device)
            if held is not None and held[0] == key:  # another thread built them meanwhile
                return held[1]
            log.info("loading models on %s", label)
            models = Models(device, label, SharedDetector(build_detector(cfg, device)),
                            SharedEncoder(build_encoder(cfg, device)))
            self._by_device[device] = (key, models)
            return models

    def loaded(self) -> list[Models]:
        """The models built so far (one entry per device)."""
        with self._lock:
            return [m for _, m in self._by_device.values()]
