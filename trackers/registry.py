"""Tracker implementations by name: a plain dict, no import-time registration."""

from __future__ import annotations

from typing import Any

from trackers.bytetrack import ByteTrackConfig, ByteTrackTracker
from trackers.deepsort import DeepSortConfig, DeepSortTracker
from trackers.types import Tracker

# name -> (tracker class, its keyword-only config dataclass)
TRACKERS: dict[str, tuple[type, type]] = {
    "bytetrack": (ByteTrackTracker, ByteTrackConfig),
    "deepsort": (DeepSortTracker, DeepSortConfig),
}
# name -> the setting that says, in tracker updates, how long a lost track is remembered
MEMORY_SETTING: dict[str, str] = {"bytetrack": "track_buffer", "deepsort": "max_age"}


def make_tracker(name: str, **settings: Any) -> Tracker:
    """A new tracker (one per camera): ``settings`` are the fields of that tracker's config dataclass.

    Raises ValueError for an unknown name (listing the valid ones) or an unknown setting.
    """
    try:
        tracker_cls, config_cls = TRACKERS[name]
    except KeyError:
        raise ValueError(f"unknown tracker {name!r}; valid: {', '.join(sorted(TRACKERS))}") from None
    try:
        config = config_cls(**settings)
    except TypeError as exc:
        raise ValueError(f"bad settings for tracker {name!r}: {exc}") from None
    return tracker_cls(config)
