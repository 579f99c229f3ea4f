"""Gallery behaviour: load identities with the filters, thumbnails in the background, rename, merge, split."""

from __future__ import annotations

import logging

from PySide6.QtCore import QItemSelection, QObject, Signal
from PySide6.QtWidgets import QInputDialog, QLineEdit

from app.identity import decisions
from app.store import Database
from app.store.records import IdentityInfo, TrackInfo
from ui.controllers import loaders
from ui.models.base import ROW_ROLE, fmt_span, identity_label
from ui.models.identities import IdentityListModel
from ui.models.tracks import TrackTableModel
from ui.views.gallery import GalleryView
from ui.workers import TaskRunner

log = logging.getLogger(__name__)


class GalleryController(QObject):
    """Drives :class:`GalleryView`; decisions go to ``app.identity.decisions`` on a worker, then ``store_changed``."""

    store_changed = Signal(str)  # what changed, one line for the status bar
    play_requested = Signal(int, int, int)  # track id, source id, frame
    search_requested = Signal(int)  # track id
    track_selected = Signal(object)  # track id or None
    message = Signal(str)

    def __init__(self, *, view: GalleryView, db: Database, runner: TaskRunner) -> None:
        super().__init__(view)
        self.view, self.db, self.runner = view, db, runner
        self.model = IdentityListModel(thumb_height=view.delegate.thumb_height, parent=self)
        self.tracks_model = TrackTableModel(thumb_height=56, parent=self)
        view.cards.setModel(self.model)
        view.tracks.setModel(self.tracks_model)
        self._detail_id: int | None = None
        self._want_selected: int | None = None
        self.loaded = False
        view.filters.changed.connect(self.refresh)
        view.refresh_button.clicked.connect(self.refresh)
        view.sort_combo.currentIndexChanged.connect(lambda _i: self.set_sort(view.sort_combo.currentData()))
        view.cards.selectionModel().selectionChanged.connect(self._on_cards_selection)
        view.cards.doubleClicked.connect(lambda _ix: self.ask_rename())
        view.tracks.selectionModel().selectionChanged.connect(self._on_track_selection)
        view.tracks.doubleClicked.connect(lambda _ix: self.play_selected_track())
        view.rename_button.clicked.connect(self.ask_rename)
        view.merge_button.clicked.connect(self.merge_selected)
        view.play_button.clicked.connect(self.play_selected_track)
        view.search_button.clicked.connect(self._search_selected_track)
        view.split_button.clicked.connect(self.split_selected_track)

    # ------------------------------------------------------------------ loading
    def refresh(self) -> None:
        cameras = self.view.filters.cameras()
        t_from, t_to = self.view.filters.time_window()
        self.runner.submit(loaders.load_gallery, self.db, cameras=cameras, t_from=t_from, t_to=t_to,
                           on_done=self._on_gallery, on_error=self.message.emit, key="gallery.list")

    def _on_gallery(self, data: loaders.GalleryData) -> None:
        keep = self._want_selected if self._want_selected is not None else self._detail_id
        self.view.filters.set_cameras(data.cameras)
        self.model.set_rows(data.identities)  # a reset clears the selection without a selectionChanged signal
        self.view.set_empty(not data.identities, filtered=self.view.filters.filtering())
        n = len(data.identities)
        self.view.count_label.setText(f"{n} identit{'y' if n == 1 else 'ies'}")
        missing = [i.id for i in data.identities if not self.model.thumbnails(i.id)]
        if missing:
            self.runner.submit(loaders.load_identity_cards, self.db, missing, on_done=self._on_cards,
                               on_error=self.message.emit)
        self._want_selected = None
        if keep is not None and self.model.row_of(keep) is not None:
            self.select_identity(keep)
        else:  # nothing selected now: buttons and detail must say so (the reset sent no selectionChanged)
            self._on_cards_selection(QItemSelection(), QItemSelection())
        self.loaded = True

    def _on_cards(self, cards: dict) -> None:
        for iid, thumbs in cards.items():
            self.model.set_thumbnails(iid, thumbs)

    def set_sort(self, key: str) -> None:
        selected = self.selected_identities()
        self.model.set_sort_key(key)
        if selected:
            self.select_identity(selected[0].id)

    # ------------------------------------------------------------------ selection
    def selected_identities(self) -> list[IdentityInfo]:
        rows = sorted(ix.row() for ix in self.view.cards.selectionModel().selectedIndexes())
        return [self.model.row(r) for r in rows]

    def select_identity(self, identity_id: int) -> None:
        """Select one identity's card (after the next refresh, when it is not loaded yet)."""
        r = self.model.row_of(identity_id)
        if r is None:
            self._want_selected = identity_id
            return
        ix = self.model.index(r, 0)
        self.view.cards.setCurrentIndex(ix)
        self.view.cards.scrollTo(ix)

    def _on_cards_selection(self, _sel: QItemSelection, _desel: QItemSelection) -> None:
        selected = self.selected_identities()
        self.view.merge_button.setEnabled(len(selected) >= 2)
        self.view.rename_button.setEnabled(len(selected) == 1)
        self._show_detail(selected[0] if len(selected) == 1 else None)

    def _show_detail(self, info: IdentityInfo | None) -> None:
        self._detail_id = info.id if info else None
        if info is None:
            self.view.detail_title.setText("Select an identity" if not self.selected_identities()
                                           else f"{len(self.selected_identities())} identities selected")
            self.view.detail_summary.setText("")
            self.tracks_model.set_rows([])
            self._on_track_selection(QItemSelection(), QItemSelection())
            return
        self.view.detail_title.setText(identity_label(info.id, info.name) + (f"  (#{info.id})" if info.name else ""))
        self.view.detail_summary.setText(
            f"{info.n_tracks} sighting{'s' if info.n_tracks != 1 else ''} in {', '.join(info.cameras) or '—'}; "
            f"seen {fmt_span(info.first_seen, info.last_seen)}")
        self.runner.submit(loaders.load_identity_detail, self.db, info.id, on_done=self._on_detail,
                           on_error=self.message.emit, key="gallery.detail")

    def _on_detail(self, detail: loaders.IdentityDetail) -> None:
        if detail.identity is None or detail.identity.id != self._detail_id:
            return
        self.tracks_model.set_rows(detail.tracks)
        self.runner.submit(loaders.load_track_thumbnails, self.db, [t.id for t in detail.tracks],
                           on_done=self._on_track_thumbs)
        self._on_track_selection(QItemSelection(), QItemSelection())

    def _on_track_thumbs(self, thumbs: dict) -> None:
        for tid, image in thumbs.items():
            self.tracks_model.set_thumbnail(tid, image)

    def selected_track(self) -> TrackInfo | None:
        rows = self.view.tracks.selectionModel().selectedRows()
        return rows[0].data(ROW_ROLE) if rows else None

    def _on_track_selection(self, _sel: QItemSelection, _desel: QItemSelection) -> None:
        tr = self.selected_track()
        for b in (self.view.play_button, self.view.search_button):
            b.setEnabled(tr is not None)
        self.view.split_button.setEnabled(tr is not None and self.tracks_model.rowCount() > 1)
        self.track_selected.emit(tr.id if tr else None)

    # ------------------------------------------------------------------ actions
    def play_selected_track(self) -> None:
        tr = self.selected_track()
        if tr is not None:
            self.play_requested.emit(tr.id, tr.source_id, (tr.first_frame + tr.last_frame) // 2)

    def _search_selected_track(self) -> None:
        tr = self.selected_track()
        if tr is not None:
            self.search_requested.emit(tr.id)

    def ask_rename(self) -> None:
        selected = self.selected_identities()
        if len(selected) != 1:
            return
        info = selected[0]
        name, ok = QInputDialog.getText(self.view, "Rename identity", f"Name for identity #{info.id}:",
                                        QLineEdit.EchoMode.Normal, info.name or "")
        if ok:
            self.rename(info.id, name)

    def rename(self, identity_id: int, name: str) -> None:
        self._want_selected = identity_id
        self._decide(decisions.rename_identity, self.db, identity_id, name,
                     done=f"identity #{identity_id} renamed to {name.strip() or '(no name)'}")

    def merge_selected(self) -> None:
        """Merge the selected identities into the one with most sightings (the oldest on a tie)."""
        ids = [i.id for i in sorted(self.selected_identities(), key=lambda i: (-i.n_tracks, i.id))]
        if len(ids) >= 2:
            self._want_selected = ids[0]
            self._decide(decisions.merge_identities, self.db, ids,
                         done=f"identities {', '.join(f'#{i}' for i in ids)} merged into #{ids[0]}")

    def split_selected_track(self) -> None:
        tr = self.selected_track()
        if tr is not None and self._detail_id is not None:
            self._want_selected = self._detail_id
            self._decide(decisions.split_identity, self.db, self._detail_id, tr.id,
                         done=f"track #{tr.id} split off identity #{self._detail_id}")

    def _decide(self, fn: object, *args: object, done: str) -> None:
        self.runner.submit(fn, *args, on_done=lambda _info: self.store_changed.emit(done),  # type: ignore[arg-type]
                           on_error=self.message.emit)
