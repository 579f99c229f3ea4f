"""The identity gallery: a grid of identity cards, filters, and the selected identity's sightings."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRectF, QSize, Qt
from PySide6.QtGui import QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QListView,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ui.models.base import ROW_ROLE
from ui.models.identities import SORT_KEYS, THUMBS_ROLE, identity_summary
from ui.views.common import FilterBar, plain_label

CARD_W, CARD_H = 268, 236
EMPTY_STORE = "No identities yet: add a video (File ▸ Add videos…)."
EMPTY_FILTERED = "No identity was seen by this camera in this time window: widen the filters."
PAD = 8


class IdentityCardDelegate(QStyledItemDelegate):
    """Paints an identity as a card: name, thumbnails per camera, first/last seen, sightings."""

    def __init__(self, *, thumb_height: int = 112, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumb_height = thumb_height

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(CARD_W, CARD_H)

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        info = index.data(ROW_ROLE)
        if info is None:
            return
        thumbs = index.data(THUMBS_ROLE) or ()
        pal = option.palette  # type: ignore[attr-defined]
        rect = QRectF(option.rect).adjusted(4, 4, -4, -4)  # type: ignore[attr-defined]
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        path = QPainterPath()
        path.addRoundedRect(rect, 6, 6)
        highlight = pal.highlight().color()
        p.fillPath(path, highlight.lighter(185) if selected else pal.base().color())
        p.setPen(QPen(highlight if selected else pal.mid().color(), 2 if selected else 1))
        p.drawPath(path)

        title_font = QFont(option.font)  # type: ignore[attr-defined]
        title_font.setBold(True)
        p.setFont(title_font)
        fm = p.fontMetrics()
        title_rect = QRectF(rect.left() + PAD, rect.top() + PAD, rect.width() - 2 * PAD, fm.height())
        p.setPen(pal.text().color())
        name = index.data(Qt.ItemDataRole.DisplayRole)
        p.drawText(title_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   fm.elidedText(name, Qt.TextElideMode.ElideRight, int(title_rect.width()) - 60))
        p.setFont(option.font)  # type: ignore[attr-defined]
        p.setPen(pal.placeholderText().color())
        tag = f"#{info.id}" + ("  ★" if info.watch else "")
        p.drawText(title_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, tag)

        top = title_rect.bottom() + 6
        small = QFont(option.font)  # type: ignore[attr-defined]
        small.setPointSizeF(max(6.5, small.pointSizeF() * 0.85))
        p.setFont(small)
        sfm = p.fontMetrics()
        x = rect.left() + PAD
        if not thumbs:
            p.setPen(pal.placeholderText().color())
            p.drawText(QRectF(x, top, rect.width() - 2 * PAD, self.thumb_height), Qt.AlignmentFlag.AlignCenter,
                       "no picture")
        for camera, image in thumbs:
            w = max(image.width(), min(sfm.horizontalAdvance(camera) + 4, 96))
            if x + w > rect.right() - PAD:
                break
            p.drawImage(QRectF(x + (w - image.width()) / 2, top, image.width(), image.height()), image)
            p.setPen(pal.text().color())
            p.drawText(QRectF(x, top + self.thumb_height + 1, w, sfm.height()), Qt.AlignmentFlag.AlignHCenter,
                       sfm.elidedText(camera, Qt.TextElideMode.ElideRight, int(w)))
            x += w + 6
        p.setPen(pal.text().color())
        text_top = top + self.thumb_height + sfm.height() + 6
        p.drawText(QRectF(rect.left() + PAD, text_top, rect.width() - 2 * PAD, rect.bottom() - text_top - 4),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, identity_summary(info))
        p.restore()


class GalleryView(QWidget):
    """Layout of the gallery tab. Behaviour: ``ui.controllers.gallery.GalleryController``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.filters = FilterBar()
        self.sort_combo = QComboBox()
        for key, (label, _fn, _desc) in SORT_KEYS.items():
            self.sort_combo.addItem(label, key)
        self.refresh_button = QPushButton("Refresh")
        self.count_label = plain_label("")

        self.cards = QListView()
        self.cards.setViewMode(QListView.ViewMode.IconMode)
        self.cards.setResizeMode(QListView.ResizeMode.Adjust)
        self.cards.setMovement(QListView.Movement.Static)
        self.cards.setUniformItemSizes(True)
        self.cards.setSpacing(4)
        self.cards.setWrapping(True)
        self.cards.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.cards.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.delegate = IdentityCardDelegate(parent=self.cards)
        self.cards.setItemDelegate(self.delegate)
        self.empty_label = plain_label(EMPTY_STORE)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setStyleSheet("color: palette(placeholder-text); padding: 24px;")

        self.detail_title = plain_label("Select an identity")
        f = self.detail_title.font()
        f.setBold(True)
        f.setPointSizeF(f.pointSizeF() * 1.25)
        self.detail_title.setFont(f)
        self.detail_summary = plain_label("")
        self.detail_summary.setWordWrap(True)
        self.rename_button = QPushButton("Rename…")
        self.merge_button = QPushButton("Merge selected")
        self.merge_button.setToolTip("Join the selected identities into one person (select two or more cards)")
        self.tracks = QTableView()
        self.tracks.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tracks.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tracks.verticalHeader().setVisible(False)
        self.tracks.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tracks.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tracks.horizontalHeader().setStretchLastSection(True)
        self.tracks.setWordWrap(False)
        self.play_button = QPushButton("Play")
        self.search_button = QPushButton("Search")
        self.split_button = QPushButton("Split off")
        self.split_button.setToolTip("This sighting is someone else: move it to a new identity")
        for b in (self.rename_button, self.merge_button, self.play_button, self.search_button, self.split_button):
            b.setEnabled(False)

        bar = QHBoxLayout()
        bar.addWidget(self.filters)
        bar.addStretch(1)
        bar.addWidget(plain_label("Sort:"))
        bar.addWidget(self.sort_combo)
        bar.addWidget(self.refresh_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.cards, 1)
        left_layout.addWidget(self.empty_label)
        left_layout.addWidget(self.count_label)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(6, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(self.detail_title, 1)
        head.addWidget(self.rename_button)
        head.addWidget(self.merge_button)
        right_layout.addLayout(head)
        right_layout.addWidget(self.detail_summary)
        right_layout.addWidget(plain_label("Sightings:"))
        right_layout.addWidget(self.tracks, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.play_button)
        buttons.addWidget(self.search_button)
        buttons.addStretch(1)
        buttons.addWidget(self.split_button)
        right_layout.addLayout(buttons)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.splitter, 1)

    def set_empty(self, empty: bool, *, filtered: bool = False) -> None:
        self.empty_label.setText(EMPTY_FILTERED if filtered else EMPTY_STORE)
        self.empty_label.setVisible(empty)
