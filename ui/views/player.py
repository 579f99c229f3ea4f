"""The video player: a frame with boxes, ids, identity labels and (optionally) keypoints, plus its controls."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QPushButton,
    QSizePolicy,
    QSlider,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from ui.views.common import plain_label

# COCO-17 skeleton: pairs of keypoint indices joined by a line.
SKELETON = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9),
            (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6))
KEYPOINT_MIN_CONF = 0.3
SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0)


def colour_for(key: int) -> QColor:
    """A stable, well separated colour for an identity or track id (golden-angle hues)."""
    return QColor.fromHsv(int(key * 137.508) % 360, 190, 255)


def fit_rect(image_w: int, image_h: int, area_w: int, area_h: int) -> tuple[float, float, float]:
    """Where an image is drawn to fit an area with its aspect kept: (left, top, scale)."""
    if image_w <= 0 or image_h <= 0 or area_w <= 0 or area_h <= 0:
        return 0.0, 0.0, 1.0
    scale = min(area_w / image_w, area_h / image_h)
    return (area_w - image_w * scale) / 2, (area_h - image_h * scale) / 2, scale


Rect = tuple[float, float, float, float]  # left, top, width, height


def place_labels(boxes: Sequence[Rect], sizes: Sequence[tuple[float, float]], bounds: Rect) -> list[Rect]:
    """Label rectangles for boxes, tried above each box, then below it, then further up, then inside its
    top; the first spot that overlaps no label placed before is taken (else the first spot in bounds)."""
    if len(boxes) != len(sizes):
        raise ValueError(f"{len(boxes)} boxes but {len(sizes)} label sizes")
    placed: list[Rect] = []
    bx, by, bw, bh = bounds

    def overlaps(a: Rect, b: Rect) -> bool:
        return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]

    for (x, y, _w, h), (lw, lh) in zip(boxes, sizes, strict=True):
        left = min(max(x, bx), bx + bw - lw)
        tops = (y - lh, y + h, y - 2 * lh, y + h + lh, y)
        spots = [(left, t, lw, lh) for t in tops if by <= t <= by + bh - lh] or [(left, max(by, y - lh), lw, lh)]
        placed.append(next((r for r in spots if not any(overlaps(r, q) for q in placed)), spots[0]))
    return placed


class PlayerCanvas(QWidget):
    """Paints one frame and its overlays; a click reports the image-pixel position it hit."""

    clicked = Signal(float, float)  # x, y in frame pixels

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._overlays: tuple = ()
        self._selected: int | None = None
        self._keypoints = False
        self._message = "Choose a video, or double-click a search result or a sighting"
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)

    def sizeHint(self) -> QSize:
        return QSize(768, 576)

    def set_frame(self, image: QImage, overlays: Sequence) -> None:
        self._image, self._overlays = image, tuple(overlays)
        self.update()

    def set_message(self, text: str) -> None:
        """Text shown instead of a frame (nothing loaded, or an error)."""
        self._image, self._overlays, self._message = None, (), text
        self.update()

    def set_selected(self, track_id: int | None) -> None:
        self._selected = track_id
        self.update()

    def set_show_keypoints(self, on: bool) -> None:
        self._keypoints = on
        self.update()

    @property
    def overlays(self) -> tuple:
        return self._overlays

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._image is None or event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        left, top, scale = fit_rect(self._image.width(), self._image.height(), self.width(), self.height())
        pos = event.position()
        self.clicked.emit((pos.x() - left) / scale, (pos.y() - top) / scale)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(24, 24, 28))
        if self._image is None:
            p.setPen(QColor(200, 200, 200))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._message)
            return
        left, top, scale = fit_rect(self._image.width(), self._image.height(), self.width(), self.height())
        target = QRectF(left, top, self._image.width() * scale, self._image.height() * scale)
        p.drawImage(target, self._image)
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, 9.0 * min(1.6, max(scale, 0.8))))
        font.setBold(True)
        p.setFont(font)
        # boxes first, then labels on top of every box; the selected person's last, so it is never hidden
        ordered = sorted(self._overlays, key=lambda o: o.track_id == self._selected)
        for ov in ordered:
            self._paint_box(p, ov, left, top, scale)
        metrics = p.fontMetrics()
        first = ordered[::-1]  # the selected person's label gets the best spot
        labels = [self._label(ov) for ov in first]
        rects = [self._rect(ov, left, top, scale) for ov in first]
        spots = place_labels([(r.left(), r.top(), r.width(), r.height()) for r in rects],
                             [(metrics.horizontalAdvance(t) + 8.0, metrics.height() + 2.0) for t in labels],
                             (target.left(), target.top(), target.width(), target.height()))
        for ov, text, spot in reversed(list(zip(first, labels, spots, strict=True))):
            self._paint_label(p, ov, text, QRectF(*spot))

    def _colour(self, ov: object) -> QColor:
        identity_id = ov.identity_id  # type: ignore[attr-defined]
        return colour_for(identity_id if identity_id is not None else 1000 + ov.track_id)  # type: ignore[attr-defined]

    @staticmethod
    def _rect(ov: object, left: float, top: float, scale: float) -> QRectF:
        x1, y1, x2, y2 = ov.box  # type: ignore[attr-defined]
        return QRectF(left + x1 * scale, top + y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale)

    def _paint_box(self, p: QPainter, ov: object, left: float, top: float, scale: float) -> None:
        selected = ov.track_id == self._selected  # type: ignore[attr-defined]
        colour = self._colour(ov)
        p.setPen(QPen(QColor(255, 255, 255) if selected else colour, 3.5 if selected else 2.0))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(self._rect(ov, left, top, scale))
        if self._keypoints:
            self._paint_keypoints(p, ov.keypoints, left, top, scale, colour)  # type: ignore[attr-defined]

    @staticmethod
    def _label(ov: object) -> str:
        identity_id = ov.identity_id  # type: ignore[attr-defined]
        name = ov.identity_name or (f"P{identity_id}" if identity_id is not None else "?")  # type: ignore[attr-defined]
        return f"#{ov.track_id} {name}"  # type: ignore[attr-defined]

    def _paint_label(self, p: QPainter, ov: object, text: str, box: QRectF) -> None:
        selected = ov.track_id == self._selected  # type: ignore[attr-defined]
        p.fillRect(box, QColor(0, 0, 0, 190))
        p.setPen(QColor(255, 255, 255) if selected else self._colour(ov))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    @staticmethod
    def _paint_keypoints(p: QPainter, kps: object, left: float, top: float, scale: float, colour: QColor) -> None:
        pts = [(left + float(x) * scale, top + float(y) * scale, float(c)) for x, y, c in kps]  # type: ignore[attr-defined]
        p.setPen(QPen(colour.lighter(130), 1.6))
        for a, b in SKELETON:
            if pts[a][2] >= KEYPOINT_MIN_CONF and pts[b][2] >= KEYPOINT_MIN_CONF:
                p.drawLine(QPointF(pts[a][0], pts[a][1]), QPointF(pts[b][0], pts[b][1]))
        p.setBrush(colour)
        for x, y, c in pts:
            if c >= KEYPOINT_MIN_CONF:
                p.drawEllipse(QPointF(x, y), 2.2, 2.2)


class PlayerView(QWidget):
    """Layout of the player tab. Behaviour: ``ui.controllers.player.PlayerController``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        style = self.style()
        self.source_combo = QComboBox()
        self.source_combo.setMinimumContentsLength(40)
        self.source_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.canvas = PlayerCanvas()
        self.play_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay), "")
        self.play_button.setToolTip("Play / pause (Space)")
        self.back_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekBackward), "")
        self.back_button.setToolTip("Previous frame (Left)")
        self.forward_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekForward), "")
        self.forward_button.setToolTip("Next frame (Right)")
        for b in (self.play_button, self.back_button, self.forward_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.position_label = plain_label("—")
        self.position_label.setMinimumWidth(260)
        self.speed_combo = QComboBox()
        for s in SPEEDS:
            self.speed_combo.addItem(f"{s:g}×", s)
        self.speed_combo.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_combo.setToolTip("Playback speed")
        self.keypoints_check = QCheckBox("Keypoints")
        self.selection_label = plain_label("Click a person to select their track")
        self.search_button = QPushButton("Search this person")
        self.search_button.setEnabled(False)
        self.identity_button = QPushButton("Show identity")
        self.identity_button.setEnabled(False)

        top = QHBoxLayout()
        top.addWidget(plain_label("Video:"))
        top.addWidget(self.source_combo, 1)
        top.addWidget(self.keypoints_check)
        controls = QHBoxLayout()
        for w in (self.back_button, self.play_button, self.forward_button):
            controls.addWidget(w)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.position_label)
        controls.addWidget(self.speed_combo)
        selection = QHBoxLayout()
        selection.addWidget(self.selection_label, 1)
        selection.addWidget(self.identity_button)
        selection.addWidget(self.search_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(controls)
        layout.addLayout(selection)

    def set_playing(self, playing: bool) -> None:
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))
