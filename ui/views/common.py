"""Small widgets shared by several views: a camera/time filter bar and a thumbnail label."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from PySide6.QtCore import QDateTime, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QCheckBox, QComboBox, QDateTimeEdit, QHBoxLayout, QLabel, QWidget

ALL_CAMERAS = "All cameras"


def plain(label: QLabel) -> QLabel:
    """Make ``label`` show its text as typed. A QLabel guesses rich text by default, so a stored string (an
    identity's name, a camera, an error message) could render as HTML: hide or fake text. Every label is plain."""
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A QLabel that shows ``text`` (and whatever is set later) as plain text."""
    return plain(QLabel(text, parent))


class FilterBar(QWidget):
    """Camera and time-window filter. ``changed`` fires when the operator changes any of them."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.camera_combo = QComboBox()
        self.camera_combo.addItem(ALL_CAMERAS, None)
        self.camera_combo.setMinimumContentsLength(12)
        self.from_check = QCheckBox("From")
        self.from_edit = QDateTimeEdit()
        self.to_check = QCheckBox("to")
        self.to_edit = QDateTimeEdit()
        for edit in (self.from_edit, self.to_edit):
            edit.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
            edit.setCalendarPopup(True)
            edit.setEnabled(False)
            edit.setDateTime(QDateTime.currentDateTime())
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(plain_label("Camera:"))
        layout.addWidget(self.camera_combo)
        layout.addSpacing(8)
        layout.addWidget(self.from_check)
        layout.addWidget(self.from_edit)
        layout.addWidget(self.to_check)
        layout.addWidget(self.to_edit)
        self.camera_combo.currentIndexChanged.connect(self.changed)
        self.from_check.toggled.connect(self.from_edit.setEnabled)
        self.to_check.toggled.connect(self.to_edit.setEnabled)
        for w in (self.from_check, self.to_check):
            w.toggled.connect(self.changed)
        for edit in (self.from_edit, self.to_edit):
            edit.editingFinished.connect(self.changed)

    def set_cameras(self, names: Sequence[str]) -> None:
        """Offer these cameras; the current choice is kept when it still exists."""
        current = self.camera_combo.currentData()
        self.camera_combo.blockSignals(True)
        self.camera_combo.clear()
        self.camera_combo.addItem(ALL_CAMERAS, None)
        for name in names:
            self.camera_combo.addItem(name, name)
        i = self.camera_combo.findData(current) if current else 0
        self.camera_combo.setCurrentIndex(max(i, 0))
        self.camera_combo.blockSignals(False)
        if current and i < 0:
            self.changed.emit()

    def set_time_range(self, first: datetime | None, last: datetime | None) -> None:
        """Where the From / To fields start when ticked: the store's first and last sighting (whole seconds,
        widened outwards). Fields already in use keep what the operator chose."""
        for check, edit, value, up in ((self.from_check, self.from_edit, first, False),
                                       (self.to_check, self.to_edit, last, True)):
            if value is None or check.isChecked():
                continue
            secs = value.timestamp()
            edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(-(-secs // 1)) if up else int(secs // 1)))

    def filtering(self) -> bool:
        """Whether any filter narrows the view (a camera chosen, or a time bound ticked)."""
        return bool(self.cameras()) or self.from_check.isChecked() or self.to_check.isChecked()

    def set_window(self, t_from: datetime | None, t_to: datetime | None) -> None:
        for check, edit, value in ((self.from_check, self.from_edit, t_from), (self.to_check, self.to_edit, t_to)):
            if value is not None:
                edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(value.timestamp())))
            check.setChecked(value is not None)

    def cameras(self) -> list[str] | None:
        name = self.camera_combo.currentData()
        return [name] if name else None

    def time_window(self) -> tuple[datetime | None, datetime | None]:
        """The time window as UTC datetimes (None for an open end)."""
        def value(check: QCheckBox, edit: QDateTimeEdit) -> datetime | None:
            if not check.isChecked():
                return None
            return datetime.fromtimestamp(edit.dateTime().toSecsSinceEpoch(), timezone.utc)

        return value(self.from_check, self.from_edit), value(self.to_check, self.to_edit)


class ThumbLabel(QLabel):
    """A picture of a person, scaled to a fixed height; a text placeholder when there is none."""

    def __init__(self, height: int, placeholder: str = "no picture", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        plain(self)
        self._height = height
        self._placeholder = placeholder
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(int(height * 0.5), height)
        self.setStyleSheet("QLabel { background: #202024; color: #aaa; border-radius: 4px; }")
        self.set_image(None)

    def set_image(self, image: QImage | None) -> None:
        if image is None or image.isNull():
            self.setPixmap(QPixmap())
            self.setText(self._placeholder)
            return
        self.setText("")
        self.setPixmap(QPixmap.fromImage(image.scaledToHeight(self._height,
                                                              Qt.TransformationMode.SmoothTransformation)))
