"""Review behaviour: list proposed matches, show a pair side by side, confirm or reject it."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QItemSelection, QObject, Signal

from app.identity import decisions
from app.identity.confidence import format_confidence
from app.store import Database
from ui.controllers import loaders
from ui.models.base import ROW_ROLE, fmt_span, identity_label
from ui.models.review import KIND_LABELS, MatchRow, MatchTableModel
from ui.views.review import ReviewView
from ui.workers import TaskRunner

log = logging.getLogger(__name__)


class ReviewController(QObject):
    """Drives :class:`ReviewView`. After a decision the next proposal in the list is selected."""

    store_changed = Signal(str)
    play_requested = Signal(int, int, int)  # track id, source id, frame
    message = Signal(str)

    def __init__(self, *, view: ReviewView, db: Database, runner: TaskRunner) -> None:
        super().__init__(view)
        self.view, self.db, self.runner = view, db, runner
        self.model = MatchTableModel(thumb_height=72, parent=self)
        view.table.setModel(self.model)
        self._big: dict[int, object] = {}  # track id -> full-size thumbnail
        self._keep_row = 0
        self.loaded = False
        view.refresh_button.clicked.connect(self.refresh)
        view.table.selectionModel().selectionChanged.connect(self._on_selection)
        view.confirm_button.clicked.connect(self.confirm_selected)
        view.reject_button.clicked.connect(self.reject_selected)
        view.play_a_button.clicked.connect(lambda: self._play(True))
        view.play_b_button.clicked.connect(lambda: self._play(False))

    def refresh(self) -> None:
        self.runner.submit(loaders.load_pending, self.db, on_done=self._on_rows, on_error=self.message.emit,
                           key="review.pending")

    def _on_rows(self, rows: list[MatchRow]) -> None:
        self.model.set_rows(rows)
        self.view.empty_label.setVisible(not rows)
        self.view.header_label.setText(f"{len(rows)} proposed match{'es' if len(rows) != 1 else ''} to review, "
                                       "most certain first")
        if rows:
            self.view.table.selectRow(min(self._keep_row, len(rows) - 1))
            ids = [t for r in rows for t in (r.a.id, r.b.id)]
            self.runner.submit(loaders.load_track_thumbnails, self.db, ids, on_done=self._on_thumbs)
        else:
            self._on_selection(QItemSelection(), QItemSelection())
        self.loaded = True

    def _on_thumbs(self, thumbs: dict) -> None:
        for tid, image in thumbs.items():
            self._big[tid] = image
            self.model.set_thumbnail(tid, image)
        self._on_selection(QItemSelection(), QItemSelection())

    def selected(self) -> MatchRow | None:
        rows = self.view.table.selectionModel().selectedRows()
        return rows[0].data(ROW_ROLE) if rows else None

    def select_match(self, match_id: int) -> bool:
        r = self.model.row_of_match(match_id)
        if r is not None:
            self.view.table.selectRow(r)
        return r is not None

    def _on_selection(self, _sel: QItemSelection, _desel: QItemSelection) -> None:
        row = self.selected()
        for b in (self.view.confirm_button, self.view.reject_button, self.view.play_a_button,
                  self.view.play_b_button):
            b.setEnabled(row is not None)
        if row is None:
            self.view.thumb_a.set_image(None)
            self.view.thumb_b.set_image(None)
            self.view.caption_a.setText("")
            self.view.caption_b.setText("")
            self.view.match_label.setText("Select a proposed match")
            return
        self._keep_row = self.view.table.selectionModel().selectedRows()[0].row()
        for thumb, caption, tr in ((self.view.thumb_a, self.view.caption_a, row.a),
                                   (self.view.thumb_b, self.view.caption_b, row.b)):
            thumb.set_image(self._big.get(tr.id))  # type: ignore[arg-type]
            caption.setText(f"track #{tr.id} · {tr.camera}\n{fmt_span(tr.start_time, tr.end_time)}\n"
                            f"{identity_label(tr.identity_id, None)}")
        self.view.match_label.setText(
            f"{KIND_LABELS.get(row.match.kind, row.match.kind)} · confidence {format_confidence(row.confidence)} "
            f"(distance {row.match.distance:.3f})\nAre tracks #{row.a.id} and #{row.b.id} the same person? "
            "C: same person, R: different people")

    # ------------------------------------------------------------------ decisions
    def confirm_selected(self) -> None:
        self._decide(decisions.confirm_match, "confirmed: same person")

    def reject_selected(self) -> None:
        self._decide(decisions.reject_match, "rejected: different people")

    def _decide(self, fn: Callable, what: str) -> None:
        row = self.selected()
        if row is None:
            return
        text = f"tracks #{row.a.id} and #{row.b.id} {what}"
        self.runner.submit(fn, self.db, row.a.id, row.b.id, on_error=self.message.emit,
                           on_done=lambda _info: self.store_changed.emit(text))

    def _play(self, first: bool) -> None:
        row = self.selected()
        if row is not None:
            tr = row.a if first else row.b
            self.play_requested.emit(tr.id, tr.source_id, (tr.first_frame + tr.last_frame) // 2)

    def show_last_decision(self, text: str) -> None:
        self.view.last_decision_label.setText(text)
