"""Search behaviour: pick a query (selected person or image file), run the search, act on a result."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QItemSelection, QObject, Signal
from PySide6.QtWidgets import QFileDialog

from app.identity import decisions
from app.identity.confidence import format_confidence
from app.runtime import Runtime
from app.store import Database
from ui.controllers import loaders
from ui.models.base import ROW_ROLE, fmt_span, identity_label
from ui.models.search import SearchResultModel
from ui.views.search import SearchView
from ui.workers import TaskRunner

log = logging.getLogger(__name__)
IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.webp *.tif *.tiff);;All files (*)"


class SearchController(QObject):
    """Drives :class:`SearchView`. Searches run on a worker; a newer search supersedes an older one."""

    store_changed = Signal(str)
    play_requested = Signal(int, int, int)  # track id, source id, frame
    message = Signal(str)

    def __init__(self, *, view: SearchView, db: Database, runner: TaskRunner, runtime: Runtime) -> None:
        super().__init__(view)
        self.view, self.db, self.runner, self.runtime = view, db, runner, runtime
        self.model = SearchResultModel(thumb_height=72, parent=self)
        view.results.setModel(self.model)
        self._query: loaders.QueryInfo | None = None
        self._image_path: Path | None = None
        self._candidate: int | None = None
        self._shown_for: object = None  # the query whose results the table shows (a track id or an image path)
        self._running_for: object = None  # the query of the search in flight
        self.searching = False
        view.use_selection_button.clicked.connect(self.use_candidate)
        view.image_button.clicked.connect(self.ask_image)
        view.search_button.clicked.connect(self.run)
        view.results.selectionModel().selectionChanged.connect(self._on_result_selection)
        view.results.doubleClicked.connect(lambda _ix: self.play_selected())
        view.confirm_button.clicked.connect(self.confirm_selected)
        view.reject_button.clicked.connect(self.reject_selected)
        view.play_button.clicked.connect(self.play_selected)

    @property
    def query_track(self) -> int | None:
        return self._query.track.id if self._query and self._query.track else None

    # ------------------------------------------------------------------ the query
    def set_candidate(self, track_id: int | None) -> None:
        """The person selected elsewhere (player or gallery), offered as the next query."""
        self._candidate = track_id
        self.view.use_selection_button.setEnabled(track_id is not None)
        self.view.use_selection_button.setText("Use selected person" if track_id is None
                                               else f"Use selected person (track #{track_id})")

    def use_candidate(self) -> None:
        if self._candidate is not None:
            self.search_track(self._candidate)

    def search_track(self, track_id: int) -> None:
        """Make a stored track the query and search with it."""
        self._image_path = None
        self.runner.submit(loaders.load_track_query, self.db, track_id, on_done=self._on_query,
                           on_error=self._fail, key="search.query")

    def ask_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.view, "Search with an image of a person", "", IMAGE_FILTER)
        if path:
            self.search_image(Path(path))

    def search_image(self, path: Path) -> None:
        """Make the largest person in an image file the query and search with it."""
        self._image_path = path
        self.runner.submit(loaders.load_image_query, path, on_done=self._on_query, on_error=self._fail,
                           key="search.query")

    def _on_query(self, query: loaders.QueryInfo) -> None:
        self._query = query
        self.view.query_thumb.set_image(query.image)
        self.view.query_label.setText(query.label)
        self.view.search_button.setEnabled(True)
        self._on_result_selection(QItemSelection(), QItemSelection())  # the shown results are not this query's
        self.run()

    # ------------------------------------------------------------------ searching
    def run(self) -> None:
        if self._query is None:
            return
        t_from, t_to = self.view.filters.time_window()
        filters = {"k": self.view.k_spin.value(), "cameras": self.view.filters.cameras(), "t_from": t_from,
                   "t_to": t_to}
        self.searching = True
        self._running_for = self._query.track.id if self._query.track is not None else self._image_path
        self.view.status_label.setText("Searching…")
        if self._query.track is not None:
            self.runner.submit(self.runtime.search_by_track, self.db, self._query.track.id, **filters,
                               on_done=self._on_hits, on_error=self._fail, key="search.run")
        elif self._image_path is not None:
            self.runner.submit(loaders.search_image_file, self.runtime, self.db, self._image_path, **filters,
                               on_done=self._on_hits, on_error=self._fail, key="search.run")

    def _on_hits(self, hits: list) -> None:
        self.searching = False
        # The same query again (after a decision): keep the result the operator was on. A new query: nothing
        # is selected, so C / R never act on a result of the previous search the operator has not looked at.
        same_query = self._running_for == self._shown_for
        previous = self.selected_hit() if same_query else None
        self._shown_for = self._running_for
        self.model.set_rows(hits)  # a reset clears the selection without a selectionChanged signal
        n = len(hits)
        self.view.status_label.setText(
            (f"{n} match{'es' if n != 1 else ''}, closest first" + ("" if same_query else
                                                                     ": select one to see it and decide"))
            if n else "No matches: widen the camera or time filter")
        again = self.model.row_of(previous.track_id) if previous is not None else None  # type: ignore[attr-defined]
        if again is not None:
            self.view.results.selectRow(again)
        self._on_result_selection(QItemSelection(), QItemSelection())
        if hits:
            self.runner.submit(loaders.load_track_thumbnails, self.db, [h.track_id for h in hits],
                               on_done=self._on_thumbs)

    def _on_thumbs(self, thumbs: dict) -> None:
        for tid, image in thumbs.items():
            self.model.set_thumbnail(tid, image)
        self._on_result_selection(QItemSelection(), QItemSelection())

    def _fail(self, message: str) -> None:
        self.searching = False
        self.view.status_label.setText(message)
        self.message.emit(message)

    # ------------------------------------------------------------------ results
    def selected_hit(self) -> object | None:
        rows = self.view.results.selectionModel().selectedRows()
        return rows[0].data(ROW_ROLE) if rows else None

    def _on_result_selection(self, _sel: QItemSelection, _desel: QItemSelection) -> None:
        hit = self.selected_hit()
        can_decide = self.decision_pair() is not None
        self.view.confirm_button.setEnabled(can_decide)
        self.view.reject_button.setEnabled(can_decide)
        self.view.play_button.setEnabled(hit is not None)
        if hit is None:
            self.view.result_thumb.set_image(None)
            self.view.result_title.setText("")
            self.view.result_label.setText("")
            self.view.decision_label.setText("Select a result to see it and decide on it" if self.model.rowCount()
                                             else "")
            for b in (self.view.confirm_button, self.view.reject_button):
                b.setToolTip("")
            return
        h = hit
        self.view.result_thumb.set_image(self.model.thumbnail(h.track_id))  # type: ignore[attr-defined]
        self.view.result_title.setText(identity_label(h.identity_id, h.identity_name))  # type: ignore[attr-defined]
        self.view.result_label.setText(
            f"track #{h.track_id} · {h.camera}\n{fmt_span(h.start_time, h.end_time)}\n"  # type: ignore[attr-defined]
            f"confidence {format_confidence(h.confidence)} · distance {h.distance:.3f}")  # type: ignore[attr-defined]
        pair = self.decision_pair()
        if pair is None:
            self.view.decision_label.setText("An image query: search from a stored person to confirm or reject")
        else:
            self.view.decision_label.setText(f"C / R decide: query track #{pair[0]} and track #{pair[1]} "
                                             f"({identity_label(h.identity_id, h.identity_name)}, "  # type: ignore[attr-defined]
                                             f"{h.camera}), confidence {format_confidence(h.confidence)}")  # type: ignore[attr-defined]
            self.view.confirm_button.setToolTip(f"Tracks #{pair[0]} and #{pair[1]} are the same person")
            self.view.reject_button.setToolTip(f"Tracks #{pair[0]} and #{pair[1]} are different people")

    def decision_pair(self) -> tuple[int, int] | None:
        """(query track, selected result's track): what C / R would decide now; None when they would do nothing."""
        hit = self.selected_hit()
        query = self.query_track
        if hit is None or query is None or self._shown_for != query:
            return None
        return query, hit.track_id  # type: ignore[attr-defined]

    def play_selected(self) -> None:
        hit = self.selected_hit()
        if hit is not None:
            self.play_requested.emit(hit.track_id, hit.source_id, hit.best_frame)  # type: ignore[attr-defined]

    def confirm_selected(self) -> None:
        self._decide(decisions.confirm_match, "confirmed: same person")

    def reject_selected(self) -> None:
        self._decide(decisions.reject_match, "rejected: different people")

    def _decide(self, fn: Callable, what: str) -> None:
        pair = self.decision_pair()
        if pair is None:
            return
        query, track = pair
        text = f"tracks #{query} and #{track} {what}"
        self.runner.submit(fn, self.db, query, track, on_error=self._fail,
                           on_done=lambda _info: self.store_changed.emit(text))

    def refresh(self) -> None:
        """Search again (identity labels change after decisions)."""
        if self._query is not None and self.model.rowCount():
            self.run()
