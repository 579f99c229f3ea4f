"""Ranked search results (``app.identity.search.SearchHit`` rows): closest first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from PySide6.QtCore import Qt

from app.identity.confidence import format_confidence
from ui.models.base import SORT_ROLE, Index, RowTableModel, fmt_span, identity_label

if TYPE_CHECKING:
    from app.identity.search import SearchHit


CONFIDENCE_TIP = ("How sure the match is: 1 minus the share of pairs of different people on this site (seen at the "
                  "same time in one camera) that were at least this close. 99 % = only 1 in 100 such pairs were; "
                  "50 % = a coin toss. Measured by the last linking run; — before any.")


class SearchResultModel(RowTableModel["SearchHit"]):
    THUMB, RANK, CONFIDENCE, DISTANCE, IDENTITY, CAMERA, TRACK, TIME = range(8)
    HEADERS: ClassVar[tuple[str, ...]] = ("", "Rank", "Confidence", "Distance", "Identity", "Camera", "Track", "Seen")
    THUMB_COLUMNS: ClassVar[tuple[int, ...]] = (THUMB,)

    def thumb_key(self, row: SearchHit, column: int) -> Any:
        return row.track_id

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if index.isValid() and index.column() == self.RANK and role == Qt.ItemDataRole.DisplayRole:
            return str(index.row() + 1) if index.row() < self.rowCount() else None
        return super().data(index, role)

    def cell(self, row: SearchHit, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.DISTANCE:
                return f"{row.distance:.3f}"
            if column == self.CONFIDENCE:
                return format_confidence(row.confidence)
            if column == self.CAMERA:
                return row.camera
            if column == self.TIME:
                return fmt_span(row.start_time, row.end_time)
            if column == self.IDENTITY:
                return identity_label(row.identity_id, row.identity_name)
            if column == self.TRACK:
                return f"#{row.track_id}"
        if role == SORT_ROLE:
            return {self.DISTANCE: row.distance, self.CONFIDENCE: row.confidence, self.CAMERA: row.camera, self.TIME: row.start_time,
                    self.TRACK: row.track_id}.get(column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (self.RANK, self.CONFIDENCE, self.DISTANCE):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.CONFIDENCE:
                return CONFIDENCE_TIP
            return f"track {row.track_id}, best frame {row.best_frame} of source {row.source_id}"
        return None

    def row_of(self, track_id: int) -> int | None:
        return next((i for i, r in enumerate(self.rows()) if r.track_id == track_id), None)
