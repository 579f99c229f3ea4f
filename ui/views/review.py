"""Review: proposed matches, closest first, with both people side by side and the decision buttons."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ui.views.common import ThumbLabel, plain_label


class ReviewView(QWidget):
    """Layout of the review tab. Behaviour: ``ui.controllers.review.ReviewController``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.header_label = plain_label("Proposed matches, most certain first")
        self.relink_button = QPushButton("Re-link now")
        self.relink_button.setToolTip("Link all tracks again (every decision so far is respected)")
        self.refresh_button = QPushButton("Refresh")
        self.table = QTableView()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.empty_label = plain_label("Nothing to review: every proposed match has been decided.")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setVisible(False)

        self.thumb_a = ThumbLabel(224, "track A")
        self.thumb_b = ThumbLabel(224, "track B")
        for t in (self.thumb_a, self.thumb_b):
            t.setMinimumWidth(140)
        self.caption_a = plain_label("")
        self.caption_b = plain_label("")
        for c in (self.caption_a, self.caption_b):
            c.setWordWrap(True)
            c.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.play_a_button = QPushButton("Play A")
        self.play_b_button = QPushButton("Play B")
        self.match_label = plain_label("Select a proposed match")
        self.match_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.match_label.setWordWrap(True)
        self.confirm_button = QPushButton("Same person (C)")
        self.reject_button = QPushButton("Different people (R)")
        self.undo_button = QPushButton("Undo last decision")
        self.last_decision_label = plain_label("")
        self.last_decision_label.setWordWrap(True)
        for b in (self.play_a_button, self.play_b_button, self.confirm_button, self.reject_button):
            b.setEnabled(False)

        pair = QGridLayout()
        pair.addWidget(self.thumb_a, 0, 0)
        pair.addWidget(self.thumb_b, 0, 1)
        pair.addWidget(self.caption_a, 1, 0)
        pair.addWidget(self.caption_b, 1, 1)
        pair.addWidget(self.play_a_button, 2, 0)
        pair.addWidget(self.play_b_button, 2, 1)
        decide = QHBoxLayout()
        decide.addWidget(self.confirm_button)
        decide.addWidget(self.reject_button)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addLayout(pair)
        side_layout.addWidget(self.match_label)
        side_layout.addLayout(decide)
        side_layout.addWidget(self.undo_button)
        side_layout.addWidget(self.last_decision_label)
        side_layout.addStretch(1)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(self.header_label, 1)
        head.addWidget(self.refresh_button)
        head.addWidget(self.relink_button)
        left_layout.addLayout(head)
        left_layout.addWidget(self.table, 1)
        left_layout.addWidget(self.empty_label)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
