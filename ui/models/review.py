"""Proposed matches for review: the match and both of its tracks, side by side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from PySide6.QtCore import Qt

from app.identity.confidence import format_confidence
from app.store.records import MatchInfo, TrackInfo
from ui.models.base import SORT_ROLE, RowTableModel, fmt_time
from ui.models.search import CONFIDENCE_TIP

KIND_LABELS = {"occlusion": "after occlusion", "reentry": "re-entry", "cross_camera": "cross-camera"}


@dataclass(frozen=True)
class MatchRow:
    """One proposed match with both tracks resolved (``a.id == match.track_a``, ``b.id == match.track_b``)."""

    match: MatchInfo
    a: TrackInfo
    b: TrackInfo
    confidence: float | None = None  # app.identity.confidence (None: no calibration yet)

    def __post_init__(self) -> None:
        if (self.a.id, self.b.id) != (self.match.track_a, self.match.track_b):
            raise ValueError(f"tracks ({self.a.id}, {self.b.id}) are not the match's "
                             f"({self.match.track_a}, {self.match.track_b})")


class MatchTableModel(RowTableModel[MatchRow]):
    THUMB_A, THUMB_B, CONFIDENCE, DISTANCE, KIND, WHERE, WHEN = range(7)
    HEADERS: ClassVar[tuple[str, ...]] = ("Track A", "Track B", "Confidence", "Distance", "Kind", "Cameras", "Seen")
    THUMB_COLUMNS: ClassVar[tuple[int, ...]] = (THUMB_A, THUMB_B)

    def thumb_key(self, row: MatchRow, column: int) -> Any:
        return row.a.id if column == self.THUMB_A else row.b.id

    def cell(self, row: MatchRow, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.THUMB_A:
                return f"#{row.a.id}"
            if column == self.THUMB_B:
                return f"#{row.b.id}"
            if column == self.DISTANCE:
                return f"{row.match.distance:.3f}"
            if column == self.CONFIDENCE:
                return format_confidence(row.confidence)
            if column == self.KIND:
                return KIND_LABELS.get(row.match.kind, row.match.kind)
            if column == self.WHERE:
                return row.a.camera if row.a.camera == row.b.camera else f"{row.a.camera} → {row.b.camera}"
            if column == self.WHEN:
                return f"{fmt_time(row.a.start_time)}\n{fmt_time(row.b.start_time)}"
        if role == SORT_ROLE:
            return {self.DISTANCE: row.match.distance, self.CONFIDENCE: row.confidence, self.KIND: row.match.kind,
                    self.WHEN: row.a.start_time}.get(column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (self.CONFIDENCE, self.DISTANCE):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.CONFIDENCE:
                return CONFIDENCE_TIP
            return (f"match {row.match.id}: track {row.a.id} ({row.a.camera}) and track {row.b.id} "
                    f"({row.b.camera}), {row.match.status}")
        return None

    def row_of_match(self, match_id: int) -> int | None:
        return next((i for i, r in enumerate(self.rows()) if r.match.id == match_id), None)
