"""The report value: what a cross-camera match report says, independent of how it is rendered.

``app.report.build.build_report`` makes one from the store; the writers (HTML, PDF, CSV, JSON) only read it.
Every time is a timezone-aware UTC datetime. A *sighting* is one stored track: a continuous stay of a
person in one camera's view.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

MATCH_STATUSES = ("auto", "confirmed", "rejected")
MATCH_KINDS = ("occlusion", "reentry", "cross_camera")
# How a sighting is tied to its identity: by a confirmed match, only by automatic linking, or not at all
# because it is the identity's only sighting in the store.
SIGHTING_STATUSES = ("confirmed", "auto", "single")

STATUS_LABELS = {
    "auto": "automatic",
    "confirmed": "confirmed",
    "rejected": "rejected",
    "single": "only sighting",
}
KIND_LABELS = {"occlusion": "occlusion", "reentry": "re-entry", "cross_camera": "cross-camera"}


def _check_time(name: str, value: datetime | None) -> None:
    if value is not None and (not isinstance(value, datetime) or value.utcoffset() != timedelta(0)):
        raise ValueError(f"{name} must be a timezone-aware UTC datetime, got {value!r}")


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True, kw_only=True)
class Sighting:
    """One track of an identity: where (camera, source video, frames) and when (start, end)."""

    track_id: int
    identity_id: int
    camera: str
    source: str  # video file name (full path only with include_paths) or a redacted stream URL
    start: datetime
    end: datetime
    first_frame: int
    last_frame: int
    n_obs: int
    status: str  # one of SIGHTING_STATUSES

    def __post_init__(self) -> None:
        _check_time("start", self.start)
        _check_time("end", self.end)
        if self.end < self.start:
            raise ValueError(f"sighting of track {self.track_id} ends ({self.end}) before it starts ({self.start})")
        if self.status not in SIGHTING_STATUSES:
            raise ValueError(f"sighting status must be one of {SIGHTING_STATUSES}, got {self.status!r}")

    @property
    def duration_s(self) -> float:
        """Seconds from start to end."""
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True, kw_only=True)
class MatchLink:
    """A match between two tracks, with its distance and review status (the latest stored row for the pair).

    ``identity_a`` / ``identity_b`` are the identities the two tracks belong to now: equal for the links that
    hold an identity together, different for a rejected match (or a match to a track left out of the report).
    """

    match_id: int
    track_a: int
    track_b: int
    camera_a: str
    camera_b: str
    identity_a: int | None
    identity_b: int | None
    start_a: datetime
    start_b: datetime
    distance: float
    kind: str
    status: str  # one of MATCH_STATUSES
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    confidence: float | None = None  # app.identity.confidence: 1 - share of known-different pairs this close

    def __post_init__(self) -> None:
        if self.status not in MATCH_STATUSES:
            raise ValueError(f"match status must be one of {MATCH_STATUSES}, got {self.status!r}")
        _check_time("start_a", self.start_a)
        _check_time("start_b", self.start_b)
        _check_time("reviewed_at", self.reviewed_at)


@dataclass(frozen=True, kw_only=True)
class CameraPresence:
    """When one identity was in one camera, and the best picture of it there."""

    camera: str
    first_seen: datetime
    last_seen: datetime
    n_sightings: int
    best_track_id: int
    thumbnail: bytes | None = field(default=None, repr=False)  # JPEG; only for illustrated identities

    def __post_init__(self) -> None:
        _check_time("first_seen", self.first_seen)
        _check_time("last_seen", self.last_seen)


@dataclass(frozen=True, kw_only=True)
class IdentityReport:
    """Everything the report says about one identity. ``sightings`` are ordered by start time."""

    id: int
    name: str | None
    watch: bool
    sightings: tuple[Sighting, ...]
    cameras: tuple[CameraPresence, ...]  # ordered by first_seen
    matches: tuple[MatchLink, ...]  # ordered by status (confirmed, auto, rejected), then distance
    illustrated: bool  # thumbnails (and, in HTML/PDF, a timeline picture) are included

    def __post_init__(self) -> None:
        if not self.sightings:
            raise ValueError(f"identity {self.id} has no sightings")

    @property
    def label(self) -> str:
        """``#12 Alice`` or ``#12`` for an unnamed identity (plain text: writers escape it)."""
        return f"#{self.id} {self.name}" if self.name else f"#{self.id}"

    @property
    def first_seen(self) -> datetime:
        """Start of the earliest sighting."""
        return min(s.start for s in self.sightings)

    @property
    def last_seen(self) -> datetime:
        """End of the latest sighting."""
        return max(s.end for s in self.sightings)

    @property
    def camera_names(self) -> tuple[str, ...]:
        """The cameras the identity was seen on, by first sighting."""
        return tuple(c.camera for c in self.cameras)

    def match_counts(self) -> dict[str, int]:
        """Match status -> number of this identity's matches with it (every status present)."""
        counts = dict.fromkeys(MATCH_STATUSES, 0)
        for m in self.matches:
            counts[m.status] += 1
        return counts


@dataclass(frozen=True, kw_only=True)
class ReportFilters:
    """What the operator asked for. None = no restriction."""

    identities: tuple[int, ...] | None = None
    cameras: tuple[str, ...] | None = None
    t_from: datetime | None = None
    t_to: datetime | None = None
    confirmed_only: bool = False
    include_paths: bool = False

    def __post_init__(self) -> None:
        _check_time("t_from", self.t_from)
        _check_time("t_to", self.t_to)
        if self.t_from is not None and self.t_to is not None and self.t_to < self.t_from:
            raise ValueError(
                f"the time window ends ({format_time(self.t_to)}) before it starts ({format_time(self.t_from)})"
            )

    def describe(self) -> str:
        """One line for people, e.g. ``identities 3, 7; cameras entrance; from 2026-11-27 10:00:00 UTC``."""
        bits = []
        if self.identities is not None:
            bits.append("identities " + ", ".join(str(i) for i in self.identities))
        if self.cameras is not None:
            bits.append("cameras " + ", ".join(self.cameras))
        if self.t_from is not None:
            bits.append("from " + format_time(self.t_from))
        if self.t_to is not None:
            bits.append("to " + format_time(self.t_to))
        if self.confirmed_only:
            bits.append("confirmed matches only")
        return "; ".join(bits) if bits else "everything in the store"


@dataclass(frozen=True, kw_only=True)
class SourceRow:
    """One ingested video (or live session) that contributed sightings."""

    id: int
    camera: str
    name: str  # file name (full path only with include_paths) or redacted URL
    start_time: datetime
    fps: float
    frame_count: int
    status: str


@dataclass(frozen=True, kw_only=True)
class LinkRunRow:
    """The last linking run: when, at which threshold, with which parameters and what it found."""

    id: int
    at: datetime
    threshold: float
    params: Mapping[str, Any] = field(default_factory=dict)
    stats: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _frozen_mapping(self.params))
        object.__setattr__(self, "stats", _frozen_mapping(self.stats))


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """How the report was made: software version, store, encoder weights, linking threshold, sources."""

    reidwatch_version: str
    generated_at: datetime
    database: str  # file name (full path only with include_paths)
    model_tags: tuple[str, ...]  # embeddings.model_tag of the reported sightings
    threshold: float | None  # the linking threshold in force (last run, else the stored setting)
    threshold_setting: Mapping[str, Any] | None  # the "link.threshold" setting as stored
    link_run: LinkRunRow | None
    sources: tuple[SourceRow, ...]

    def __post_init__(self) -> None:
        _check_time("generated_at", self.generated_at)
        if self.threshold_setting is not None:
            object.__setattr__(self, "threshold_setting", _frozen_mapping(self.threshold_setting))


@dataclass(frozen=True, kw_only=True)
class Summary:
    """Totals over the whole report: identities, sightings, cameras, time span and matches by status."""

    n_identities: int
    n_sightings: int
    cameras: tuple[str, ...]
    first_seen: datetime | None
    last_seen: datetime | None
    matches: Mapping[str, int]  # status -> count, over the distinct matches in the report

    def __post_init__(self) -> None:
        object.__setattr__(self, "matches", _frozen_mapping(self.matches))


@dataclass(frozen=True)
class AuditLine:
    """One audit-trail row about the report's subjects: when, who, what (``text``: the details, one line)."""

    id: int
    at: datetime
    who: str
    action: str
    text: str


@dataclass(frozen=True, kw_only=True)
class Report:
    """The report the writers render: filters, provenance, summary and the identities in order."""

    filters: ReportFilters
    provenance: Provenance
    summary: Summary
    identities: tuple[IdentityReport, ...]  # ordered by first sighting, then id
    max_pictures: int  # how many identities (the first ones) carry pictures
    audit: tuple[AuditLine, ...] | None = None  # the audit rows of the report's scope, when asked for
    privacy_note: str | None = None  # what was blurred in the pictures

    @property
    def n_illustrated(self) -> int:
        """How many identities carry thumbnails and a timeline picture."""
        return sum(1 for i in self.identities if i.illustrated)


# ---------------------------------------------------------------- formatting shared by the writers
def format_time(dt: datetime | None) -> str:
    """``2026-11-27 10:00:03 UTC`` (empty for None): for people."""
    if dt is None:
        return ""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_clock(dt: datetime) -> str:
    """``10:00:03`` (UTC): for tables whose header states the date and the zone."""
    return dt.astimezone(timezone.utc).strftime("%H:%M:%S")


def iso_time(dt: datetime | None) -> str | None:
    """``2026-11-27T10:00:03.500Z``: for machines (CSV, JSON)."""
    if dt is None:
        return None
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_duration(seconds: float) -> str:
    """``4.5 s``, ``2 min 05 s``, ``1 h 02 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    total = round(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"
