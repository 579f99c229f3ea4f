"""The operator's settings: a frozen value, persisted with ``QSettings`` and applied to ``app.config.Config``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from app.config import Config, store_location
from app.store.server import without_password

DEVICES = ("auto", "cpu", "cuda:0", "mps")
IMGSZ_CHOICES = ("auto", "640", "960", "1280", "1600")
TRACKERS = ("bytetrack", "deepsort")


@dataclass(frozen=True)
class UiSettings:
    """What the settings dialog edits. ``None`` for ``db`` means the configured default store;
    ``None`` for ``threshold`` means the store's calibrated linking threshold."""

    db: Path | str | None = None
    device: str = "auto"
    imgsz: str = "auto"  # "auto" or a multiple of 32
    conf: float = 0.1
    tracker: str = "bytetrack"
    threshold: float | None = None
    operator: str = ""  # recorded as "who" in decisions and the audit trail; empty: the OS user

    def __post_init__(self) -> None:
        if self.imgsz != "auto" and (not self.imgsz.isdigit() or int(self.imgsz) <= 0 or int(self.imgsz) % 32):
            raise ValueError(f"detector size must be auto or a positive multiple of 32, got {self.imgsz!r}")
        if not 0.0 <= self.conf <= 1.0:
            raise ValueError(f"detector confidence must be within 0..1, got {self.conf}")
        if self.threshold is not None and not self.threshold > 0:
            raise ValueError(f"linking threshold must be positive, got {self.threshold}")
        if self.tracker not in TRACKERS:
            raise ValueError(f"unknown tracker {self.tracker!r}; valid: {', '.join(TRACKERS)}")

    @staticmethod
    def from_config(cfg: Config) -> UiSettings:
        return UiSettings(db=None, device=cfg.device, imgsz=str(cfg.detector.imgsz), conf=cfg.detector.conf,
                          tracker=cfg.tracker.name, threshold=cfg.link.threshold)

    def apply(self, cfg: Config) -> Config:
        """``cfg`` with these settings on top."""
        det = replace(cfg.detector, imgsz=int(self.imgsz) if self.imgsz.isdigit() else "auto", conf=self.conf)
        return replace(cfg, db=self.db or cfg.db, device=self.device, detector=det,
                       tracker=replace(cfg.tracker, name=self.tracker),
                       link=replace(cfg.link, threshold=self.threshold))


_PREFIX = "settings/"


def read_settings(qs: QSettings, defaults: UiSettings) -> UiSettings:
    """Stored settings over ``defaults``; a value that does not parse keeps the default (and is not fatal)."""

    def get(key: str, default: Any) -> Any:
        value = qs.value(_PREFIX + key, None)
        return default if value in (None, "") else value

    db = get("db", None)
    threshold = get("threshold", None)
    try:
        return UiSettings(
            db=store_location(str(db)) if db else defaults.db,
            device=str(get("device", defaults.device)),
            imgsz=str(get("imgsz", defaults.imgsz)),
            conf=float(get("conf", defaults.conf)),
            tracker=str(get("tracker", defaults.tracker)),
            threshold=float(threshold) if threshold is not None else defaults.threshold,
            operator=str(get("operator", defaults.operator)).strip(),
        )
    except (TypeError, ValueError):
        return defaults


def write_settings(qs: QSettings, settings: UiSettings) -> None:
    # never a password in the settings file: a server store's password belongs in ~/.pgpass or $PGPASSWORD
    qs.setValue(_PREFIX + "db", without_password(str(settings.db)) if settings.db else "")
    qs.setValue(_PREFIX + "device", settings.device)
    qs.setValue(_PREFIX + "imgsz", settings.imgsz)
    qs.setValue(_PREFIX + "conf", settings.conf)
    qs.setValue(_PREFIX + "tracker", settings.tracker)
    qs.setValue(_PREFIX + "threshold", "" if settings.threshold is None else settings.threshold)
    qs.setValue(_PREFIX + "operator", settings.operator)
    qs.sync()
