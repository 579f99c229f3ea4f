"""The live page: watched cameras in a grid with their tracked people and health, and watchlist alerts.

``LivePage(parent, controller=LiveController(db_path, cfg))`` is the widget the main window shows as a tab.
Layout lives here and in :mod:`ui.live.grid` / :mod:`ui.live.alerts`; behaviour (the monitor on its worker
thread, the cameras' credentials) in :mod:`ui.live.controller`.
"""

from __future__ import annotations

# the ui package has already pointed Qt at PySide6's plugins (ui.prepare_qt_environment)
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.live.health import CameraHealth
from app.live.monitor import Alert
from ui.live.alerts import AlertListModel, AlertPanel
from ui.live.camera_dialog import AddCameraDialog
from ui.live.controller import LiveController, LiveFrame, LiveOptions
from ui.live.grid import CameraTile, LiveGridWidget
from ui.models.base import plain_tooltip
from ui.views.common import plain_label

NAME_ROLE = int(Qt.ItemDataRole.UserRole) + 1


class LivePage(QWidget):
    """Live grid on the left; cameras (add / remove) and watchlist alerts on the right."""

    def __init__(self, parent: QWidget | None = None, *, controller: LiveController) -> None:
        super().__init__(parent)
        self.controller = controller
        self.add_dialog: AddCameraDialog | None = None
        self.grid = LiveGridWidget()
        self.status_label = plain_label("Add a camera to start watching (the models load on first use).")
        self.status_label.setWordWrap(True)
        self.camera_list = QListWidget()
        self.camera_list.setMaximumHeight(150)
        self.add_button = QPushButton("Add camera…")
        self.remove_button = QPushButton("Remove camera")
        self.remove_button.setEnabled(False)
        self.alerts = AlertPanel()

        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        cams_box = QGroupBox("Cameras")
        cams_layout = QVBoxLayout(cams_box)
        cams_layout.addWidget(self.camera_list)
        cams_layout.addLayout(buttons)
        alerts_box = QGroupBox("Watchlist alerts")
        QVBoxLayout(alerts_box).addWidget(self.alerts)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(cams_box)
        side_layout.addWidget(alerts_box, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.grid)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([1000, 380])
        layout = QVBoxLayout(self)
        layout.addWidget(self.status_label)
        layout.addWidget(split, 1)

        c = controller
        c.camera_added.connect(self._on_camera_added)
        c.camera_removed.connect(self._on_camera_removed)
        c.frame_ready.connect(self.grid.set_frame)
        c.health_changed.connect(self._on_health)
        c.alert_raised.connect(self._on_alert)
        c.state_changed.connect(self._on_state)
        c.failed.connect(self._on_failed)
        self.grid.display_size_changed.connect(c.set_display_size)
        self.grid.camera_clicked.connect(self._select_camera)
        self.camera_list.currentItemChanged.connect(self._on_list_selection)
        self.add_button.clicked.connect(self.open_add_dialog)
        self.remove_button.clicked.connect(self.remove_selected)
        for name, source in c.cameras().items():  # a controller that already watches cameras
            self._on_camera_added(name, source)

    # ---- actions
    def open_add_dialog(self) -> AddCameraDialog:
        """Show the add-camera dialog (not blocking); the camera is added when the dialog accepts."""
        if self.add_dialog is not None:
            self.add_dialog.raise_()
            return self.add_dialog
        dialog = AddCameraDialog(self, submit=self.controller.add_camera)
        dialog.finished.connect(self._dialog_closed)
        self.add_dialog = dialog
        dialog.open()
        return dialog

    def remove_selected(self) -> None:
        item = self.camera_list.currentItem()
        if item is not None:
            self.controller.remove_camera(item.data(NAME_ROLE))

    def _dialog_closed(self) -> None:
        if self.add_dialog is not None:
            self.add_dialog.deleteLater()
        self.add_dialog = None

    # ---- controller signals
    def _on_camera_added(self, name: str, source: str) -> None:
        self.grid.add_camera(name, source)
        item = QListWidgetItem(f"{name} — {source}")
        item.setData(NAME_ROLE, name)
        item.setToolTip(plain_tooltip(source))
        self.camera_list.addItem(item)
        self.camera_list.setCurrentItem(item)

    def _on_camera_removed(self, name: str) -> None:
        self.grid.remove_camera(name)
        item = self._item(name)
        if item is not None:
            self.camera_list.takeItem(self.camera_list.row(item))
        self.remove_button.setEnabled(self.camera_list.currentItem() is not None)

    def _on_health(self, health: CameraHealth) -> None:
        self.grid.set_health(health)
        item = self._item(health.camera)
        if item is not None:
            source = self.controller.cameras().get(health.camera, health.source)
            trouble = f": {health.last_error}" if health.last_error and not health.is_live else ""
            item.setText(f"{health.camera} — {health.state.value}{trouble} — {source}")
            item.setToolTip(plain_tooltip(health.describe()))

    def _on_alert(self, alert: Alert) -> None:
        self.alerts.add_alert(alert)
        self.grid.show_alert(alert)

    def _on_state(self, text: str) -> None:
        self.status_label.setStyleSheet("")
        self.status_label.setText(f"Live monitor: {text}")

    def _on_failed(self, text: str) -> None:
        self.status_label.setStyleSheet("QLabel { color: #d33; }")
        self.status_label.setText(f"Live monitor stopped: {text}")

    # ---- selection
    def _item(self, name: str) -> QListWidgetItem | None:
        for i in range(self.camera_list.count()):
            item = self.camera_list.item(i)
            if item.data(NAME_ROLE) == name:
                return item
        return None

    def _select_camera(self, name: str) -> None:
        item = self._item(name)
        if item is not None:
            self.camera_list.setCurrentItem(item)

    def _on_list_selection(self, current: QListWidgetItem | None, _previous: object) -> None:
        self.remove_button.setEnabled(current is not None)
        self.grid.select(current.data(NAME_ROLE) if current is not None else None)


__all__ = ["AddCameraDialog", "AlertListModel", "AlertPanel", "CameraTile", "LiveController", "LiveFrame",
           "LiveGridWidget", "LiveOptions", "LivePage"]
