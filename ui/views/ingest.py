"""Adding videos: the dialog that asks for camera and start time, and the panel of running ingestions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from PySide6.QtCore import QDateTime, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QListWidget,
    QPushButton,
    QRadioButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.runtime import IngestRequest
from ui.models.jobs import PROGRESS_ROLE, REDO_OPTION

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm", ".ts", ".mts", ".flv")
VIDEO_FILTER = "Videos (" + " ".join(f"*{s}" for s in VIDEO_SUFFIXES) + ");;All files (*)"


def is_video_path(path: Path) -> bool:
    """Whether a dropped file looks like a video (by its suffix; the ingest itself validates the content)."""
    return path.suffix.lower() in VIDEO_SUFFIXES


class AddVideoDialog(QDialog):
    """Camera name, start time and frame rate for one or more files. Every listed file gets the same
    camera and settings; files that need different start times are added one at a time."""

    def __init__(self, paths: Sequence[Path], *, cameras: Sequence[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add videos")
        self.files = QListWidget()
        for p in paths:
            self.files.addItem(str(p))
        self.files.setMaximumHeight(120)
        self.camera_combo = QComboBox()
        self.camera_combo.setEditable(True)
        self.camera_combo.addItems(list(cameras))
        self.camera_combo.setCurrentText(cameras[0] if cameras else "camera-1")
        self.file_time_radio = QRadioButton("the file's modification time")
        self.explicit_radio = QRadioButton("this time:")
        self.start_edit = QDateTimeEdit(QDateTime.currentDateTime())
        self.start_edit.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
        self.start_edit.setCalendarPopup(True)
        self.file_time_radio.setChecked(True)
        self.start_edit.setEnabled(False)
        self.explicit_radio.toggled.connect(self.start_edit.setEnabled)
        self.fps_spin = QDoubleSpinBox()
        self.fps_spin.setRange(0.0, 1000.0)
        self.fps_spin.setDecimals(2)
        self.fps_spin.setSpecialValueText("as the file says")
        self.fps_spin.setValue(0.0)
        self.force_check = QCheckBox(REDO_OPTION)
        self.force_check.setToolTip("A file already ingested is recognised by its content and skipped; tick this "
                                    "to delete what was stored from it and ingest it again (e.g. under another "
                                    "camera)")
        start = QVBoxLayout()
        start.addWidget(self.file_time_radio)
        row = QHBoxLayout()
        row.addWidget(self.explicit_radio)
        row.addWidget(self.start_edit, 1)
        start.addLayout(row)
        form = QFormLayout()
        form.addRow("Files:", self.files)
        form.addRow("Camera:", self.camera_combo)
        form.addRow("First frame at:", start)
        form.addRow("Frame rate:", self.fps_spin)
        form.addRow("", self.force_check)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept_if_valid)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.camera_combo.currentTextChanged.connect(self._update_ok)
        self._update_ok()

    def set_start(self, start: datetime | None) -> None:
        """Preset the start time (None: the file's modification time)."""
        if start is None:
            self.file_time_radio.setChecked(True)
            return
        self.explicit_radio.setChecked(True)
        self.start_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(start.timestamp())))

    def camera(self) -> str:
        return " ".join(self.camera_combo.currentText().split())

    def requests(self) -> list[IngestRequest]:
        """What to ingest, one request per file, as the operator filled in the form."""
        start = None
        if self.explicit_radio.isChecked():
            start = datetime.fromtimestamp(self.start_edit.dateTime().toSecsSinceEpoch(), timezone.utc)
        fps = self.fps_spin.value() or None
        return [IngestRequest(path=Path(self.files.item(i).text()), camera=self.camera(), start=start, fps=fps,
                              force=self.force_check.isChecked())
                for i in range(self.files.count())]

    def _update_ok(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(bool(self.camera()) and self.files.count() > 0)

    def _accept_if_valid(self) -> None:
        if self.camera() and self.files.count():
            self.accept()


class ProgressDelegate(QStyledItemDelegate):
    """Draws the progress column as a progress bar (busy bar while the total is unknown)."""

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        pct = index.data(PROGRESS_ROLE)
        if pct is None:
            return super().paint(p, option, index)
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)  # type: ignore[attr-defined]
        bar.minimum, bar.maximum = 0, 100 if pct >= 0 else 0
        bar.progress = max(pct, 0)
        bar.text = index.data(Qt.ItemDataRole.DisplayRole) or ""
        bar.textVisible = True
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal
        QApplication.style().drawControl(QStyle.ControlElement.CE_ProgressBar, bar, p)


class JobsPanel(QWidget):
    """The ingestion jobs table with a cancel button (lives in a dock of the main window)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableView()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setItemDelegateForColumn(4, ProgressDelegate(self.table))
        self.add_button = QPushButton("Add videos…")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        buttons = QVBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
