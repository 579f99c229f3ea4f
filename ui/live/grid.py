"""The live grid: one tile per camera with its newest frame, tracked people, health badge and latest alert.

Tiles only paint what they are given (``LiveFrame`` values, ``CameraHealth`` snapshots, ``Alert`` values);
they never talk to the monitor or the store. A camera that is not live keeps its last frame, dimmed, under
its badge: nothing is invented while a camera is away.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPaintEvent, QPen, QResizeEvent
from PySide6.QtWidgets import QGridLayout, QSizePolicy, QStackedLayout, QWidget

from app.live.health import CameraHealth, CameraState
from app.live.monitor import Alert
from ui.live.controller import LiveFrame, TileOverlay
from ui.models.base import fmt_time, identity_label, plain_tooltip
from ui.views.common import plain_label
from ui.views.player import colour_for, fit_rect

HEADER_H = 22
BADGE_H = 22
ALERT_SHOWN_FOR = timedelta(seconds=60)
STATE_COLOURS = {
    CameraState.CONNECTING: QColor(70, 130, 200),
    CameraState.LIVE: QColor(40, 160, 70),
    CameraState.STALLED: QColor(220, 150, 20),
    CameraState.RECONNECTING: QColor(230, 110, 20),
    CameraState.STOPPED: QColor(120, 120, 120),
    CameraState.FAILED: QColor(200, 40, 40),
}


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, columns) for ``n`` tiles: as square as possible, wider than tall (1x1, 1x2, 2x2, 2x3, ...)."""
    if n <= 0:
        return 0, 0
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def track_colour(track_id: int) -> QColor:
    """The colour a track's box is drawn in (stable per id)."""
    return colour_for(1000 + track_id)


class CameraTile(QWidget):
    """One camera: title bar (name, redacted URL, latest watchlist alert), the frame with boxes and ids, and a
    health badge."""

    clicked = Signal(str)
    resized = Signal()

    def __init__(self, name: str, source: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.source = source  # already redacted
        self.frame: LiveFrame | None = None
        self.health: CameraHealth | None = None
        self.alert: Alert | None = None
        self.selected = False
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip(plain_tooltip(f"{name}: {source}"))

    # ---- data in
    def set_frame(self, frame: LiveFrame) -> None:
        self.frame = frame
        self.update()

    def set_health(self, health: CameraHealth) -> None:
        self.health = health
        self.update()

    def set_alert(self, alert: Alert) -> None:
        self.alert = alert
        self.update()

    def set_selected(self, on: bool) -> None:
        self.selected = on
        self.update()

    # ---- what is shown (tests and the page read these)
    @property
    def state(self) -> CameraState:
        return self.health.state if self.health is not None else CameraState.CONNECTING

    @property
    def overlays(self) -> tuple[TileOverlay, ...]:
        return self.frame.overlays if self.frame is not None else ()

    def badge_text(self, now: datetime | None = None) -> str:
        if self.health is None:
            return f"{self.name} connecting"
        return self.health.describe(now)

    def placeholder_text(self, now: datetime | None = None) -> str:
        """What the picture area says while no frame has arrived: the connection's trouble when there is one
        (the same reason the health badge gives), never a plain "waiting" while the camera refuses."""
        h = self.health
        if h is None or (h.state in (CameraState.CONNECTING, CameraState.LIVE) and not h.last_error):
            return "waiting for the first frame…"
        reason = h.last_error or h.state.value
        if h.state in (CameraState.RECONNECTING, CameraState.STALLED, CameraState.CONNECTING):
            now = now or datetime.now(timezone.utc)
            when = (f" in {max(0.0, (h.retry_at - now).total_seconds()):.0f} s" if h.retry_at is not None
                    else "")
            return f"no picture: {reason}; trying again{when}"
        if h.state is CameraState.FAILED:
            return f"no picture: {reason}; gave up (remove the camera and add it again to retry)"
        return f"no picture: {reason}"

    def badge_colour(self) -> QColor:
        return STATE_COLOURS[self.state]

    def alert_text(self, now: datetime | None = None) -> str | None:
        """The banner for the camera's latest watchlist alert, while it is recent."""
        if self.alert is None:
            return None
        now = now or datetime.now(timezone.utc)
        if now - self.alert.time > ALERT_SHOWN_FOR:
            return None
        who = identity_label(self.alert.identity_id, self.alert.identity_name)
        return f"WATCHLIST: {who} at {fmt_time(self.alert.time, with_date=False)}"

    def image_area(self) -> QRectF:
        """Where frames are drawn, in widget pixels (between the title bar and the badge)."""
        return QRectF(0, HEADER_H, self.width(), max(1, self.height() - HEADER_H - BADGE_H))

    def image_to_widget(self, x: float, y: float) -> QPointF:
        """A point of the displayed image (``LiveFrame.image`` pixels) in widget pixels."""
        if self.frame is None:
            raise ValueError(f"camera {self.name}: no frame shown yet")
        area = self.image_area()
        left, top, scale = fit_rect(self.frame.image.width(), self.frame.image.height(),
                                    int(area.width()), int(area.height()))
        return QPointF(area.left() + left + x * scale, area.top() + top + y * scale)

    def display_size(self) -> QSize:
        """The image area in device pixels: what frames should be downscaled to."""
        area, ratio = self.image_area(), self.devicePixelRatioF()
        return QSize(int(area.width() * ratio), int(area.height() * ratio))

    # ---- Qt
    def sizeHint(self) -> QSize:
        return QSize(640, 360 + HEADER_H + BADGE_H)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.resized.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.name)
        super().mousePressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(24, 24, 28))
        self._paint_frame(p)
        self._paint_header(p)
        self._paint_badge(p)
        if self.selected:
            p.setPen(QPen(QColor(90, 160, 255), 3))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(1.5, 1.5, self.width() - 3, self.height() - 3))

    def _paint_header(self, p: QPainter) -> None:
        p.fillRect(QRectF(0, 0, self.width(), HEADER_H), QColor(44, 44, 52))
        font = QFont(self.font())
        font.setBold(True)
        p.setFont(font)
        p.setPen(QColor(235, 235, 235))
        name_w = p.fontMetrics().horizontalAdvance(self.name) + 12
        p.drawText(QRectF(6, 0, name_w, HEADER_H), Qt.AlignmentFlag.AlignVCenter, self.name)
        banner = self.alert_text()
        right = self.width() - 6.0
        if banner:  # in the title bar, so that it never hides anyone in the picture
            bw = min(p.fontMetrics().horizontalAdvance(banner) + 16, max(0, self.width() - name_w - 12))
            chip = QRectF(right - bw, 2, bw, HEADER_H - 4)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(200, 25, 35))
            p.drawRoundedRect(chip, 4, 4)
            p.setPen(QColor(255, 255, 255))
            p.drawText(chip, Qt.AlignmentFlag.AlignCenter,
                       p.fontMetrics().elidedText(banner, Qt.TextElideMode.ElideRight, int(bw - 8)))
            right = chip.left() - 6
        p.setFont(self.font())
        p.setPen(QColor(170, 170, 180))
        rest = QRectF(6 + name_w, 0, max(0.0, right - 6 - name_w), HEADER_H)
        p.drawText(rest, Qt.AlignmentFlag.AlignVCenter,
                   p.fontMetrics().elidedText(self.source, Qt.TextElideMode.ElideMiddle, int(rest.width())))

    def _paint_frame(self, p: QPainter) -> None:
        area = self.image_area()
        if self.frame is None:
            p.setPen(QColor(170, 170, 170))
            p.drawText(area.adjusted(8, 0, -8, 0), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self.placeholder_text())
            return
        img = self.frame.image
        left, top, scale = fit_rect(img.width(), img.height(), int(area.width()), int(area.height()))
        ox, oy = area.left() + left, area.top() + top
        target = QRectF(ox, oy, img.width() * scale, img.height() * scale)
        p.drawImage(target, img)
        font = QFont(self.font())
        font.setBold(True)
        p.setFont(font)
        metrics = p.fontMetrics()
        for ov in self.frame.overlays:
            x1, y1, x2, y2 = ov.box
            rect = QRectF(ox + x1 * scale, oy + y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale)
            colour = track_colour(ov.track_id)
            pen = QPen(colour, 2.0)
            if ov.predicted:
                pen.setStyle(Qt.PenStyle.DashLine)
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(rect)
            label = f"#{ov.track_id}" + (f" {ov.identity}" if ov.identity else "")
            box = QRectF(rect.left(), max(area.top(), rect.top() - metrics.height() - 2),
                         metrics.horizontalAdvance(label) + 8, metrics.height() + 2)
            p.fillRect(box, QColor(0, 0, 0, 170))
            p.setPen(colour)
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, label)
        if self.state is not CameraState.LIVE:
            p.fillRect(target, QColor(0, 0, 0, 130))  # an old frame: say so

    def _paint_badge(self, p: QPainter) -> None:
        rect = QRectF(0, self.height() - BADGE_H, self.width(), BADGE_H)
        p.fillRect(rect, QColor(32, 32, 38))
        chip = QRectF(6, rect.top() + 6, BADGE_H - 12, BADGE_H - 12)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self.badge_colour())
        p.drawEllipse(chip)
        p.setPen(self.badge_colour().lighter(150))
        text_rect = rect.adjusted(BADGE_H, 0, -6, 0)
        p.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter,
                   p.fontMetrics().elidedText(self.badge_text(), Qt.TextElideMode.ElideRight,
                                              int(text_rect.width())))


class LiveGridWidget(QWidget):
    """Tiles for every watched camera, re-laid out as cameras come and go.

    ``display_size_changed(w, h)`` reports the largest tile's image area (device pixels), for the worker
    to downscale frames to; ``camera_clicked(name)`` when a tile is clicked.
    """

    display_size_changed = Signal(int, int)
    camera_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tiles: dict[str, CameraTile] = {}
        self._size = QSize()
        self._selected: str | None = None
        self._grid_host = QWidget()
        self._grid = QGridLayout(self._grid_host)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(6)
        self._empty = plain_label("No cameras yet. Add one with “Add camera…”: its live picture, the people "
                             "tracked in it and its health appear here.")
        self._empty.setWordWrap(True)
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty.setStyleSheet("QLabel { color: #999; font-size: 14px; }")
        self._stack = QStackedLayout(self)
        self._stack.addWidget(self._empty)
        self._stack.addWidget(self._grid_host)

    # ---- cameras
    def cameras(self) -> list[str]:
        return list(self._tiles)

    def tile(self, name: str) -> CameraTile | None:
        return self._tiles.get(name)

    def add_camera(self, name: str, source: str) -> CameraTile:
        """A tile for ``name``; ``source`` must already be redacted."""
        if name in self._tiles:
            return self._tiles[name]
        tile = CameraTile(name, source)
        tile.clicked.connect(self.select)
        tile.clicked.connect(self.camera_clicked)
        tile.resized.connect(self._report_size)
        self._tiles[name] = tile
        self._relayout()
        return tile

    def remove_camera(self, name: str) -> None:
        tile = self._tiles.pop(name, None)
        if tile is None:
            return
        self._grid.removeWidget(tile)
        tile.hide()
        tile.deleteLater()
        if self._selected == name:
            self._selected = None
        self._relayout()

    def select(self, name: str | None) -> None:
        self._selected = name if name in self._tiles else None
        for n, tile in self._tiles.items():
            tile.set_selected(n == self._selected)

    @property
    def selected(self) -> str | None:
        return self._selected

    # ---- data in (values for unknown cameras are ignored: a removed camera's last frames may still arrive)
    def set_frame(self, frame: LiveFrame) -> None:
        tile = self._tiles.get(frame.camera)
        if tile is not None:
            tile.set_frame(frame)

    def set_health(self, health: CameraHealth) -> None:
        tile = self._tiles.get(health.camera)
        if tile is not None:
            tile.set_health(health)

    def show_alert(self, alert: Alert) -> None:
        tile = self._tiles.get(alert.camera)
        if tile is not None:
            tile.set_alert(alert)

    # ---- layout
    def _relayout(self) -> None:
        for tile in self._tiles.values():
            self._grid.removeWidget(tile)
        rows, cols = grid_shape(len(self._tiles))
        for i, tile in enumerate(self._tiles.values()):
            self._grid.addWidget(tile, i // cols, i % cols)
            tile.show()
        for c in range(self._grid.columnCount()):
            self._grid.setColumnStretch(c, 1 if c < cols else 0)
        for r in range(self._grid.rowCount()):
            self._grid.setRowStretch(r, 1 if r < rows else 0)
        self._stack.setCurrentWidget(self._grid_host if self._tiles else self._empty)

    def _report_size(self) -> None:
        if not self._tiles:
            return
        sizes = [t.display_size() for t in self._tiles.values()]
        size = QSize(max(s.width() for s in sizes), max(s.height() for s in sizes))
        if size != self._size and size.width() > 0 and size.height() > 0:
            self._size = size
            self.display_size_changed.emit(size.width(), size.height())
