"""Search by example: the query (a selected person or an image file), filters, and ranked matches."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ui.views.common import FilterBar, ThumbLabel, plain_label


class SearchView(QWidget):
    """Layout of the search tab. Behaviour: ``ui.controllers.search.SearchController``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.query_thumb = ThumbLabel(128, "no query")
        self.query_thumb.setFixedWidth(96)
        self.query_label = plain_label("Select a person in the player or the gallery, or load an image of a person.")
        self.query_label.setWordWrap(True)
        self.use_selection_button = QPushButton("Use selected person")
        self.use_selection_button.setEnabled(False)
        self.image_button = QPushButton("Search with image…")
        self.filters = FilterBar()
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 500)
        self.k_spin.setValue(20)
        self.k_spin.setPrefix("top ")
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.setEnabled(False)
        self.status_label = plain_label("")

        self.results = QTableView()
        self.results.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results.verticalHeader().setVisible(False)
        self.results.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.results.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.results.horizontalHeader().setStretchLastSection(True)
        self.results.setWordWrap(False)
        self.results.setToolTip("Double-click to see this moment in the player")

        self.result_thumb = ThumbLabel(192, "select a result")
        self.result_thumb.setFixedWidth(150)
        self.result_title = plain_label("")
        self.result_title.setWordWrap(True)
        f = self.result_title.font()
        f.setBold(True)
        self.result_title.setFont(f)
        self.result_label = plain_label("")
        self.result_label.setWordWrap(True)
        self.result_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.decision_label = plain_label("Select a result to decide on it")  # what C / R would decide
        self.decision_label.setWordWrap(True)
        self.decision_label.setMaximumWidth(220)
        self.confirm_button = QPushButton("Same person (C)")
        self.reject_button = QPushButton("Different (R)")
        self.play_button = QPushButton("Show in player")
        for b in (self.confirm_button, self.reject_button, self.play_button):
            b.setEnabled(False)

        query_buttons = QVBoxLayout()
        query_buttons.addWidget(self.use_selection_button)
        query_buttons.addWidget(self.image_button)
        query_buttons.addStretch(1)
        query = QHBoxLayout()
        query.addWidget(self.query_thumb)
        query.addWidget(self.query_label, 1)
        query.addLayout(query_buttons)
        run = QHBoxLayout()
        run.addWidget(self.filters)
        run.addStretch(1)
        run.addWidget(self.k_spin)
        run.addWidget(self.search_button)
        side = QVBoxLayout()
        side.addWidget(self.result_thumb, 0, Qt.AlignmentFlag.AlignHCenter)
        side.addWidget(self.result_title)
        side.addWidget(self.result_label)
        side.addStretch(1)
        side.addWidget(self.decision_label)
        side.addWidget(self.confirm_button)
        side.addWidget(self.reject_button)
        side.addWidget(self.play_button)
        body = QHBoxLayout()
        body.addWidget(self.results, 1)
        body.addLayout(side)
        layout = QVBoxLayout(self)
        layout.addLayout(query)
        layout.addLayout(run)
        layout.addWidget(self.status_label)
        layout.addLayout(body, 1)
