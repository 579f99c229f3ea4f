"""Watchlist alerts: a table model of alerts (newest first) and the panel that lists and logs them.

The model takes :class:`app.live.monitor.Alert` values as they are, decodes their JPEG thumbnails once, and
keeps at most ``max_rows`` (the oldest drop off). It needs no window: tests drive it directly.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from PySide6.QtCore import QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.live.monitor import Alert
from ui.models.base import SORT_ROLE, RowTableModel, fmt_time, identity_label
from ui.views.common import plain_label

log = logging.getLogger(__name__)


def alert_thumbnail(alert: Alert, height: int) -> QImage | None:
    """The alert's JPEG thumbnail as a QImage ``height`` pixels high; None when it has none or it is broken."""
    if not alert.thumbnail:
        return None
    image = QImage.fromData(alert.thumbnail)
    if image.isNull():
        log.warning("alert for track %d: thumbnail is not a readable JPEG", alert.track_id)
        return None
    return image.scaledToHeight(height, Qt.TransformationMode.SmoothTransformation)


def fmt_distance(distance: float | None) -> str:
    return "n/a" if distance is None else f"{distance:.3f}"


class AlertListModel(RowTableModel[Alert]):
    """Alerts, newest first. Columns: identity (with the thumbnail), camera, time, distance, track.

    The time column shows the clock time only for today's alerts (the date too for older ones); the tooltip
    always has the full date. ``ROW_ROLE`` gives the :class:`Alert`.
    """

    IDENTITY, CAMERA, TIME, DISTANCE, TRACK = range(5)
    HEADERS = ("Identity", "Camera", "Time", "Distance", "Track")
    THUMB_COLUMNS = (IDENTITY,)

    def __init__(self, *, max_rows: int = 500, thumb_height: int = 56, parent: Any = None) -> None:
        super().__init__(thumb_height=thumb_height, parent=parent)
        if max_rows < 1:
            raise ValueError(f"max_rows: expected >= 1, got {max_rows}")
        self.max_rows = max_rows

    def add_alert(self, alert: Alert) -> None:
        """Put ``alert`` on top; the oldest row goes when there are more than ``max_rows``."""
        thumb = alert_thumbnail(alert, self.thumb_height)
        if thumb is not None:
            self._thumbs[alert] = thumb  # frozen and hashable: the alert is its own thumbnail key
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._rows.insert(0, alert)
        self.endInsertRows()
        if len(self._rows) > self.max_rows:
            self.beginRemoveRows(QModelIndex(), self.max_rows, len(self._rows) - 1)
            for old in self._rows[self.max_rows:]:
                self._thumbs.pop(old, None)
            del self._rows[self.max_rows:]
            self.endRemoveRows()

    def clear(self) -> None:
        self._thumbs.clear()
        self.set_rows([])

    def alert(self, row: int) -> Alert:
        return self.row(row)

    def alerts(self) -> list[Alert]:
        return self.rows()

    def thumb_key(self, row: Alert, column: int) -> Any:
        return row

    def cell(self, alert: Alert, col: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            today = alert.time.astimezone().date() == datetime.now().astimezone().date()
            return (identity_label(alert.identity_id, alert.identity_name), alert.camera,
                    fmt_time(alert.time, with_date=not today), fmt_distance(alert.distance), str(alert.track_id))[col]
        if role == SORT_ROLE:
            return (alert.identity_id, alert.camera, alert.time,
                    float("inf") if alert.distance is None else alert.distance, alert.track_id)[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            who = identity_label(alert.identity_id, alert.identity_name)
            return (f"{who} (identity {alert.identity_id}) seen on {alert.camera} at {fmt_time(alert.time)}; "
                    f"track {alert.track_id}, closest match distance {fmt_distance(alert.distance)}")
        if role == Qt.ItemDataRole.ForegroundRole and col == self.IDENTITY:
            return QColor(200, 30, 40)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (self.DISTANCE, self.TRACK):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class AlertPanel(QWidget):
    """Lists watchlist alerts as they come (newest on top) and writes each one to the log.

    ``alert_activated(alert)`` when the operator double-clicks a row (the main window may open the identity).
    """

    alert_activated = Signal(object)

    def __init__(self, parent: QWidget | None = None, *, max_rows: int = 500) -> None:
        super().__init__(parent)
        self.model = AlertListModel(max_rows=max_rows, parent=self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(self.model.thumb_height, self.model.thumb_height))
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.model.thumb_height + 6)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(AlertListModel.IDENTITY, QHeaderView.ResizeMode.Stretch)
        self.count_label = plain_label()
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Empty this list (alerts stay in the log and the store)")
        top = QHBoxLayout()
        top.addWidget(self.count_label, 1)
        top.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self.clear_button.clicked.connect(self.clear)
        self.table.doubleClicked.connect(lambda ix: self.alert_activated.emit(self.model.alert(ix.row())))
        self._total = 0
        self._update_count()

    def add_alert(self, alert: Alert) -> None:
        who = identity_label(alert.identity_id, alert.identity_name)
        log.warning("watchlist alert shown: %s (identity %d) on camera %s at %s, track %d, distance %s", who,
                    alert.identity_id, alert.camera, alert.time.isoformat(), alert.track_id,
                    fmt_distance(alert.distance))
        self._total += 1
        self.model.add_alert(alert)
        self._update_count()

    def clear(self) -> None:
        self.model.clear()
        self._update_count()

    def _update_count(self) -> None:
        n = self.model.rowCount()
        if not self._total:
            self.count_label.setText("No watchlist alerts yet")
        else:
            self.count_label.setText(f"{self._total} watchlist alert{'s' if self._total != 1 else ''} "
                                     f"this session ({n} listed)")
