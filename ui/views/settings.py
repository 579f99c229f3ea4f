"""The settings dialog: database, device, detector size and confidence, tracker, linking threshold."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.config import store_location
from app.live.redact import redact_text
from app.store.server import redact, without_password
from ui.models.settings import DEVICES, IMGSZ_CHOICES, TRACKERS, UiSettings
from ui.views.common import plain_label


class SettingsDialog(QDialog):
    """Edits a :class:`UiSettings`; :meth:`values` reads the form back (ValueError for an invalid size)."""

    def __init__(self, settings: UiSettings, *, default_db: Path, open_db: Path | str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._default_db = default_db
        # the database in use (which --db may have chosen), not only a saved choice; empty means the default
        shown = open_db or settings.db
        self.db_edit = QLineEdit(without_password(str(shown)) if shown else "")
        self.db_edit.setPlaceholderText(f"empty: the configured default, {redact(str(default_db))}")
        self.db_edit.setToolTip("The database in use; another path opens it when you press OK")
        self.db_browse = QPushButton("Browse…")
        self.db_browse.clicked.connect(self._browse)
        self.device_combo = QComboBox()
        self.device_combo.setEditable(True)
        self.device_combo.addItems(list(DEVICES))
        self.device_combo.setCurrentText(settings.device)
        self.imgsz_combo = QComboBox()
        self.imgsz_combo.setEditable(True)
        self.imgsz_combo.addItems(list(IMGSZ_CHOICES))
        self.imgsz_combo.setCurrentText(settings.imgsz)
        self.imgsz_combo.setToolTip("Detector input size: auto picks one from the frame size; people under "
                                    "~100 px tall need 1280")
        self.conf_spin = QDoubleSpinBox()
        self.conf_spin.setRange(0.01, 0.99)
        self.conf_spin.setSingleStep(0.05)
        self.conf_spin.setValue(settings.conf)
        self.tracker_combo = QComboBox()
        self.tracker_combo.addItems(list(TRACKERS))
        self.tracker_combo.setCurrentText(settings.tracker)
        self.auto_threshold = QCheckBox("calibrated from the store")
        self.threshold_spin = QDoubleSpinBox()
        self.threshold_spin.setRange(0.01, 2.0)
        self.threshold_spin.setDecimals(3)
        self.threshold_spin.setSingleStep(0.01)
        self.threshold_spin.setValue(settings.threshold if settings.threshold is not None else 0.3)
        self.auto_threshold.toggled.connect(lambda on: self.threshold_spin.setEnabled(not on))
        self.auto_threshold.setChecked(settings.threshold is None)
        self.threshold_spin.setEnabled(settings.threshold is not None)
        self.operator_edit = QLineEdit(settings.operator)
        self.operator_edit.setPlaceholderText("the computer's user name")
        self.operator_edit.setToolTip("Recorded with every search, export and decision in the audit trail")
        self.error_label = plain_label("")
        self.error_label.setStyleSheet("color: #c0392b;")

        db_row = QHBoxLayout()
        db_row.addWidget(self.db_edit, 1)
        db_row.addWidget(self.db_browse)
        thr_row = QHBoxLayout()
        thr_row.addWidget(self.auto_threshold)
        thr_row.addWidget(self.threshold_spin)
        form = QFormLayout()
        form.addRow("Database:", db_row)
        form.addRow("Device:", self.device_combo)
        form.addRow("Detector size:", self.imgsz_combo)
        form.addRow("Detector confidence:", self.conf_spin)
        form.addRow("Tracker:", self.tracker_combo)
        form.addRow("Linking threshold:", thr_row)
        form.addRow("Operator name:", self.operator_edit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept_if_valid)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(plain_label("Device and detector changes apply to the next ingested video."))
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

    def values(self) -> UiSettings:
        db = self.db_edit.text().strip()
        return UiSettings(
            db=store_location(db) if db else None,  # a file, or a PostgreSQL URL kept as text
            device=self.device_combo.currentText().strip() or "auto",
            imgsz=self.imgsz_combo.currentText().strip() or "auto",
            conf=round(self.conf_spin.value(), 3),
            tracker=self.tracker_combo.currentText(),
            threshold=None if self.auto_threshold.isChecked() else round(self.threshold_spin.value(), 4),
            operator=" ".join(self.operator_edit.text().split()),
        )

    def _accept_if_valid(self) -> None:
        try:
            self.values()
        except ValueError as exc:
            self.error_label.setText(redact_text(str(exc)))
            return
        self.accept()

    def _browse(self) -> None:
        start = self.db_edit.text() or str(self._default_db)
        path, _ = QFileDialog.getSaveFileName(self, "Database file", start, "reidwatch database (*.db);;All (*)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.db_edit.setText(path)
