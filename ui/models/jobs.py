"""Background ingestion jobs: one row per queued file with its status and progress."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from PySide6.QtCore import QModelIndex, Qt

from ui.models.base import RowTableModel, fmt_time

PROGRESS_ROLE = int(Qt.ItemDataRole.UserRole) + 20  # int percent 0..100, or -1 when unknown

ACTIVE = ("queued", "running")
REDO_OPTION = "Ingest again if already in the store"  # the add-videos dialog's check box (IngestRequest.force)


@dataclass(frozen=True)
class JobRow:
    job_id: int
    path: Path
    camera: str
    start: datetime | None
    status: str = "queued"  # queued | running | complete | incomplete | skipped | cancelled | failed
    done: int = 0
    total: int = 0
    message: str = ""

    @property
    def percent(self) -> int:
        """0..100, or -1 while the total is unknown."""
        if self.status in ("complete", "skipped"):
            return 100
        if self.total <= 0:
            return -1
        return max(0, min(100, round(100 * self.done / self.total)))

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


class IngestJobModel(RowTableModel[JobRow]):
    FILE, CAMERA, START, STATUS, PROGRESS = range(5)
    HEADERS: ClassVar[tuple[str, ...]] = ("File", "Camera", "Start", "Status", "Progress")

    def add_job(self, row: JobRow) -> None:
        n = self.rowCount()
        self.beginInsertRows(QModelIndex(), n, n)
        self._rows.append(row)
        self.endInsertRows()

    def update_job(self, job_id: int, **changes: Any) -> JobRow | None:
        """Change fields of one job (e.g. ``status=``, ``done=``); returns the new row, None if unknown."""
        for r, row in enumerate(self._rows):
            if row.job_id == job_id:
                new = replace(row, **changes)
                self._rows[r] = new
                self.dataChanged.emit(self.index(r, 0), self.index(r, self.columnCount() - 1))
                return new
        return None

    def job(self, job_id: int) -> JobRow | None:
        return next((r for r in self._rows if r.job_id == job_id), None)

    def active_jobs(self) -> list[JobRow]:
        return [r for r in self._rows if r.active]

    def cell(self, row: JobRow, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.FILE:
                return row.path.name
            if column == self.CAMERA:
                return row.camera
            if column == self.START:
                return fmt_time(row.start) if row.start else "file time"
            if column == self.STATUS:
                return row.status
            if column == self.PROGRESS:
                if row.status == "skipped":
                    return "already in the store: nothing done"
                pct = row.percent
                frames = f"{row.done}/{row.total}" if row.total else f"{row.done}"
                return f"{pct} % ({frames} frames)" if pct >= 0 else f"{frames} frames"
        if role == PROGRESS_ROLE and column == self.PROGRESS:
            return None if row.status == "skipped" else row.percent  # None: text, no bar
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.message or str(row.path)
        return None
