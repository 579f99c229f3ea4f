"""When a tracker's id becomes a stored track, and when that track ends: pure bookkeeping, no I/O.

A tracker's ids and the store's ``(source, local id)`` pairs do not live equally long. A tracker may hand an
id out again after the processor closed its track (ByteTrack re-activates a lost track for as long as its
buffer holds it; a tracker that is reset after a camera outage starts again at 1). :class:`LocalIds` makes the
store's side safe by construction: a tracker id maps to one local id while its track is open, and every new
open gets a local id never handed out before in the source, so a ``(source, local id)`` is never written twice
and a person who comes back is either the same open track or a new one.

:func:`expired` and :func:`is_gap` decide closing by *time*, the one unit that means the same at 7 and at 25
frames per second and on a live camera whose processing rate changes with the machine's load.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta


class LocalIds:
    """Tracker id -> local id for one source; local ids strictly increase and are never reused.

    ``used_up_to`` is the largest local id the source already has (a resumed ingest continues after it). A new
    tracker id keeps ``tracker id + used_up_to`` as its local id when that is above every id handed out so far
    (so a run that never re-opens an id stores the tracker's own numbering), else it gets the next free one.
    """

    def __init__(self, used_up_to: int = 0) -> None:
        if used_up_to < 0:
            raise ValueError(f"used_up_to: expected >= 0, got {used_up_to}")
        self.base = used_up_to
        self.high = used_up_to
        self._open: dict[int, int] = {}

    def get(self, tracker_id: int) -> int | None:
        """The local id of the open track with this tracker id, or None."""
        return self._open.get(tracker_id)

    def open(self, tracker_id: int) -> int:
        """The local id for ``tracker_id``: its open track's, or a new one never used in this source."""
        local = self._open.get(tracker_id)
        if local is None:
            local = max(tracker_id + self.base, self.high + 1)
            self.high = local
            self._open[tracker_id] = local
        return local

    def close(self, tracker_id: int) -> None:
        """The track of ``tracker_id`` ended: if the tracker hands the id out again, it is a new track."""
        self._open.pop(tracker_id, None)

    def close_all(self) -> None:
        """Every open track ended (the tracker was reset)."""
        self._open.clear()

    @property
    def open_ids(self) -> dict[int, int]:
        """A copy of tracker id -> local id for the open tracks."""
        return dict(self._open)


def expired(last_seen: Mapping[int, datetime], now: datetime, after_s: float) -> list[int]:
    """The keys whose last sighting is more than ``after_s`` seconds before ``now``."""
    return [k for k, t in last_seen.items() if (now - t).total_seconds() > after_s]


def is_gap(previous: datetime | None, now: datetime, after_s: float) -> bool:
    """True when no frame came for more than ``after_s`` seconds (a camera outage or stall): every open track
    is closed and the tracker starts afresh, because whoever stood there before may have left meanwhile."""
    return previous is not None and (now - previous).total_seconds() > after_s


def long_refind(seen: datetime | None, now: datetime, after_s: float | None) -> bool:
    """Whether a track last detected at ``seen`` and detected again ``now`` is stored as a new track: unseen for
    more than ``after_s`` seconds (None: never). The longer a track was unseen, the less its motion model says
    about who it found, so every such refind is left to the offline steps: stitching joins the parts again when
    the gap is within its reach (``trackers.stitch.MAX_GAP_S``), identity linking when it is longer."""
    if after_s is None or seen is None:
        return False
    return (now - seen).total_seconds() > after_s


CONFIRM_DETECTIONS = 2  # as ByteTrack trusts a new track: from its second detection


def unconfirmed_refind(refound: bool, detections: int) -> bool:
    """Whether a closing track is left out of the store: the part after a long refind (``long_refind``) that
    the tracker held for fewer than ``CONFIRM_DETECTIONS`` detections. The tracker trusts a new track only from
    its second detection, and a part it lost again at once is no evidence of who it found; stored, a single box
    inside another track's time span would forbid that track's identity to every track it must join."""
    return refound and detections < CONFIRM_DETECTIONS


def keep_newest(items: list, limit: int) -> tuple[list, int]:
    """At most ``limit`` items, the newest (last) ones; returns them and how many were dropped."""
    if limit < 0:
        raise ValueError(f"limit: expected >= 0, got {limit}")
    drop = max(0, len(items) - limit)
    return (items[drop:] if drop else items), drop


def tracker_memory_frames(memory_s: float, fps: float) -> int:
    """How many tracker updates a lost track should be kept for, so that it is kept ``memory_s`` seconds."""
    if not memory_s >= 0:
        raise ValueError(f"memory_s: expected >= 0, got {memory_s}")
    if not fps > 0:
        raise ValueError(f"fps: expected > 0, got {fps}")
    return max(1, round(memory_s * fps))


def frame_time(start: datetime, frame_index: int, fps: float) -> datetime:
    """Wall-clock time of a 0-based frame index, from the video's start time and frame rate."""
    return start + timedelta(seconds=frame_index / fps)
