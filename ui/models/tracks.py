"""A table of tracks (``TrackInfo``): one identity's sightings in the gallery's detail pane."""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtCore import Qt

from app.store.records import TrackInfo
from ui.models.base import SORT_ROLE, RowTableModel, fmt_span


class TrackTableModel(RowTableModel[TrackInfo]):
    THUMB, CAMERA, TIME, LENGTH, TRACK = range(5)
    HEADERS: ClassVar[tuple[str, ...]] = ("", "Camera", "Seen", "Frames", "Track")
    THUMB_COLUMNS: ClassVar[tuple[int, ...]] = (THUMB,)

    def thumb_key(self, row: TrackInfo, column: int) -> Any:
        return row.id

    def cell(self, row: TrackInfo, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.CAMERA:
                return row.camera
            if column == self.TIME:
                return fmt_span(row.start_time, row.end_time)
            if column == self.LENGTH:
                return f"{row.first_frame}–{row.last_frame}"
            if column == self.TRACK:
                return f"#{row.id} (local {row.local_id})"
        if role == SORT_ROLE:
            return {self.CAMERA: row.camera, self.TIME: row.start_time, self.LENGTH: row.n_obs,
                    self.TRACK: row.id}.get(column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"track {row.id} · {row.camera} · {row.n_obs} observations"
        return None

    def row_of(self, track_id: int) -> int | None:
        return next((i for i, r in enumerate(self.rows()) if r.id == track_id), None)
