"""The application's behaviour: wires the views to their controllers, workers and the global actions
(add videos, export report, settings, undo, re-link, shortcuts, status bar)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, QSettings, Qt, Slot
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

from app.config import Config, store_location
from app.identity import decisions
from app.privacy.audit import set_operator
from app.runtime import IngestRequest, Runtime
from app.store import Database, open_database, queries
from app.store.server import redact
from ui.controllers.adapt import AdaptController
from ui.controllers.gallery import GalleryController
from ui.controllers.ingest import IngestController
from ui.controllers.player import PlayerController
from ui.controllers.review import ReviewController
from ui.controllers.search import SearchController
from ui.models.settings import UiSettings, read_settings, write_settings
from ui.views.ingest import VIDEO_FILTER, AddVideoDialog
from ui.views.main_window import MainWindow
from ui.views.settings import SettingsDialog
from ui.workers import FrameWorker, IngestWorker, TaskRunner, describe_error

log = logging.getLogger(__name__)
REPORT_FILTER = "HTML report (*.html);;PDF report (*.pdf);;CSV table (*.csv);;JSON data (*.json)"


def device_text(requested: str) -> str:
    """'Device: GPU cuda:0 (…)' or 'Device: CPU' for the status bar (imports torch: run it on a worker)."""
    from app.runtime.components import describe_device, resolve_device

    return f"Device: {describe_device(resolve_device(requested))}"


def export_report(db: Database, path: Path) -> Path:
    """Write the cross-camera match report of the whole store; the format follows the file name's suffix."""
    from app.report import export_report as _export

    return _export(db, path)


def relink(db: Database, cfg: Config) -> str:
    from app.identity.linking import link_store

    return link_store(db, cfg).message


def undo(db: Database) -> str:
    info = decisions.undo_last(db)
    if info is None:
        return "nothing to undo"
    return f"undid the {info.kind} decision of {info.at.astimezone():%H:%M:%S} (by {info.who})"


class MainController(QObject):
    """Owns the workers and the per-view controllers of one :class:`MainWindow` over one store."""

    def __init__(self, *, window: MainWindow, db: Database, base_config: Config, qsettings: QSettings,
                 start_ingest: bool = True) -> None:
        super().__init__(window)
        self.window, self.db, self.base_config, self.qsettings = window, db, base_config, qsettings
        self.settings = read_settings(qsettings, UiSettings.from_config(base_config))
        set_operator(self.settings.operator or None)  # "who" of every search, export and decision (audit trail)
        # one runtime for the window: ingest, search and live monitoring share its detector and encoder
        self.runtime = Runtime(self.config())
        self.runner = TaskRunner(max_threads=2, parent=self)
        self.adapt_box: QMessageBox | None = None  # the last adaptation's summary
        self.adapter = AdaptController(runtime=self.runtime, runner=self.runner, db=lambda: self.db, parent=self)
        self.frames = FrameWorker(db=db, parent=self)
        self.ingest_worker = IngestWorker(db=db, runtime=self.runtime, parent=self)
        w = window
        self.gallery = GalleryController(view=w.gallery, db=db, runner=self.runner)
        self.player = PlayerController(view=w.player, db=db, runner=self.runner, frames=self.frames)
        self.search = SearchController(view=w.search, db=db, runner=self.runner, runtime=self.runtime)
        self.review = ReviewController(view=w.review, db=db, runner=self.runner)
        self.ingest = IngestController(panel=w.jobs, worker=self.ingest_worker)
        self._ingest_work: tuple[str, int | None] = ("", None)
        self.live: QObject | None = None  # ui.live.controller.LiveController, made when the Live tab opens
        self._closed = False
        self._connect()
        self.frames.start()
        if start_ingest:
            self.ingest_worker.start()
        w.db_label.setText(f"Database: {db.label}")
        self.load_time_span()
        self.runner.submit(device_text, self.config().device, on_done=w.device_label.setText,
                           on_error=lambda m: w.device_label.setText(f"Device: {m}"))
        self._on_tab_changed(w.tabs.currentIndex())

    def config(self) -> Config:
        """The configuration now in force: the file's, with the operator's settings on top."""
        return self.settings.apply(self.base_config)

    def _connect(self) -> None:
        w = self.window
        for c in (self.gallery, self.search, self.review):
            c.store_changed.connect(self._on_store_changed)
            c.play_requested.connect(self.jump)
        for view_controller in (self.gallery, self.player, self.search, self.review):
            view_controller.message.connect(self.show_message)
        self.gallery.search_requested.connect(self.search_from_track)
        self.player.search_requested.connect(self.search_from_track)
        self.gallery.track_selected.connect(self.search.set_candidate)
        self.player.track_selected.connect(self.search.set_candidate)
        self.player.identity_requested.connect(self.show_identity)
        self.ingest.job_done.connect(self._on_job_done)
        self.ingest.work_changed.connect(self._on_ingest_work)
        self.ingest_worker.device_resolved.connect(self._on_device)
        self.runner.busy_changed.connect(lambda _n: self._show_work())
        self.runner.task_failed.connect(self.show_message)
        w.add_videos_action.triggered.connect(lambda: self.ask_add_videos())
        w.jobs.add_button.clicked.connect(lambda: self.ask_add_videos())
        w.files_dropped.connect(self.ask_add_videos)
        w.export_action.triggered.connect(self.ask_export)
        w.settings_action.triggered.connect(self.edit_settings)
        w.audit_action.triggered.connect(self.show_audit)
        w.quit_action.triggered.connect(w.close)
        w.play_action.triggered.connect(self.player.toggle_play)
        w.step_back_action.triggered.connect(lambda: self.player.step(-1))
        w.step_forward_action.triggered.connect(lambda: self.player.step(1))
        w.keypoints_action.toggled.connect(w.player.keypoints_check.setChecked)
        w.player.keypoints_check.toggled.connect(w.keypoints_action.setChecked)
        w.confirm_action.triggered.connect(self.confirm_current)
        w.reject_action.triggered.connect(self.reject_current)
        w.undo_action.triggered.connect(self.undo)
        w.review.undo_button.clicked.connect(self.undo)
        w.relink_action.triggered.connect(self.relink)
        w.adapt_action.triggered.connect(self.adapt)
        self.adapter.progress.connect(self.show_message)
        self.adapter.finished.connect(self._on_adapted)
        w.review.relink_button.clicked.connect(self.relink)
        w.refresh_action.triggered.connect(self.refresh_all)
        w.tabs.currentChanged.connect(self._on_tab_changed)
        w.closing.connect(self.shutdown)

    # ------------------------------------------------------------------ navigation
    def refresh_all(self) -> None:
        self.load_time_span()
        self.gallery.refresh()
        self.review.refresh()
        self.player.refresh_sources()
        self.player.refresh_frame()
        self.search.refresh()

    def load_time_span(self) -> None:
        """Start the time filters (gallery, search) at the store's first and last sighting, not at 'now'."""
        self.runner.submit(queries.time_span, self.db, on_done=self._on_time_span, on_error=self.show_message,
                           key="store.span")

    def _on_time_span(self, span: tuple | None) -> None:
        if span is not None:
            for bar in (self.window.gallery.filters, self.window.search.filters):
                bar.set_time_range(*span)

    def jump(self, track_id: int, source_id: int, frame: int) -> None:
        """Show a moment in the player with the person selected."""
        self.window.show_view("player")
        self.player.open_source(source_id, frame, select_track=track_id)
        self.search.set_candidate(track_id)

    def search_from_track(self, track_id: int) -> None:
        self.window.show_view("search")
        self.search.search_track(track_id)

    def show_identity(self, identity_id: int) -> None:
        self.window.show_view("gallery")
        self.gallery.select_identity(identity_id)

    def _on_tab_changed(self, _index: int) -> None:
        view = self.window.current_view()
        w = self.window
        for a in (w.play_action, w.step_back_action, w.step_forward_action, w.keypoints_action):
            a.setEnabled(view == "player")
        for a in (w.confirm_action, w.reject_action):
            a.setEnabled(view in ("review", "search"))
        if view != "player" and self.player.playing:
            self.player.pause()
        if view == "gallery" and not self.gallery.loaded:
            self.gallery.refresh()
        elif view == "review" and not self.review.loaded:
            self.review.refresh()
        elif view == "player" and self.player.source is None:
            self.player.refresh_sources()
        elif view == "live" and self.live is None:
            self._open_live()

    def _open_live(self) -> None:
        """Build the live page on first use (its package loads the live-monitor machinery)."""
        from ui.live import LivePage  # a packaging error shows as one; it never quietly removes the page
        from ui.live.controller import LiveController

        self.live = LiveController(self.db.location, self.runtime, parent=self)
        self.window.live_layout.addWidget(LivePage(controller=self.live))

    def confirm_current(self) -> None:
        view = self.window.current_view()
        if view == "review":
            self.review.confirm_selected()
        elif view == "search":
            self.search.confirm_selected()

    def reject_current(self) -> None:
        view = self.window.current_view()
        if view == "review":
            self.review.reject_selected()
        elif view == "search":
            self.search.reject_selected()

    # ------------------------------------------------------------------ store changes
    def _on_store_changed(self, text: str) -> None:
        self.show_message(text)
        self.review.show_last_decision(f"Last decision: {text}")
        self.refresh_all()

    def undo(self) -> None:
        self.runner.submit(undo, self.db, on_done=self._on_store_changed, on_error=self.show_message)

    def adapt(self) -> None:
        """Adapt the encoder to this store's people (training, re-embedding, relinking) on a worker."""
        if not self.adapter.start():
            self.show_message("an adaptation is already running")

    def _on_adapted(self, ok: bool, summary: str) -> None:
        self.show_message(summary.splitlines()[0])
        icon = QMessageBox.Icon.Information if ok else QMessageBox.Icon.Warning
        box = QMessageBox(icon, "Adapted to this site" if ok else "Adaptation failed", summary,
                          QMessageBox.StandardButton.Ok, self.window)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setModal(False)
        box.open()  # not exec(): the window stays usable while the summary is shown
        self.adapt_box = box
        if ok:
            self.refresh_all()

    def relink(self) -> None:
        self.show_message("linking identities…")
        self.runner.submit(relink, self.db, self.config(), on_done=self._on_store_changed, on_error=self.show_message)

    def _on_job_done(self, _job_id: int, status: str, message: str) -> None:
        self.show_message(message)
        if status != "failed":
            self.refresh_all()

    # ------------------------------------------------------------------ dialogs
    def ask_add_videos(self, paths: Sequence[Path] | None = None) -> None:
        if not paths:
            names, _ = QFileDialog.getOpenFileNames(self.window, "Add videos", "", VIDEO_FILTER)
            paths = [Path(n) for n in names]
        if not paths:
            return
        dialog = AddVideoDialog(paths, cameras=self._camera_names(), parent=self.window)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.add_videos(dialog.requests())

    def _camera_names(self) -> list[str]:
        """Cameras to suggest for recorded video: those earlier videos were filed under, the latest first (a
        live camera is never suggested: a file is rarely its recording, and the operator can still type it)."""
        try:
            return queries.video_cameras(self.db)
        except Exception as exc:  # a suggestion only: the dialog still works without it
            log.warning("cannot list the video cameras: %s", exc)
            return []

    def add_videos(self, requests: Sequence[IngestRequest]) -> list[int]:
        """Queue files for ingestion and show the ingestion panel."""
        self.runtime.set_config(self.config())
        ids = self.ingest.add_videos(requests)
        self.window.jobs_dock.show()
        return ids

    def ask_export(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(self.window, "Export cross-camera match report",
                                                   "reidwatch-report.html", REPORT_FILTER)
        if not path:
            return
        out = Path(path)
        if not out.suffix:
            out = out.with_suffix("." + chosen.split("*.")[-1].rstrip(")"))
        self.export(out)

    def export(self, path: Path) -> None:
        self.show_message(f"writing report {path.name}…")
        self.runner.submit(export_report, self.db, path, on_error=self.show_message,
                           on_done=lambda p: self.show_message(f"report written to {p}"))

    def edit_settings(self) -> None:
        dialog = SettingsDialog(self.settings, default_db=self.base_config.db, open_db=self.db.path if self.db.is_file else self.db.label,
                                parent=self.window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.apply_settings(dialog.values())

    def apply_settings(self, new: UiSettings) -> None:
        """Persist the settings; the next ingestion uses them, and another database is opened at once.

        The database is compared with the one *open* (which ``--db`` may have chosen), not with the saved
        choice; leaving the open one in the field keeps the saved choice as it was."""
        chosen_db = store_location(new.db or self.base_config.db)
        switch = not self.db.is_at(chosen_db)
        if not switch:
            new = replace(new, db=self.settings.db)
        self.settings = new
        write_settings(self.qsettings, new)
        set_operator(new.operator or None)
        self.runtime.set_config(self.config())
        self.runner.submit(device_text, self.config().device, on_done=self.window.device_label.setText,
                           on_error=self.show_message)
        if switch:
            self.switch_database(chosen_db)

    def show_audit(self) -> None:
        """The read-only audit trail of the open store, in a dialog."""
        from ui.views.audit import AuditDialog

        AuditDialog(self.db, parent=self.window).open()

    def switch_database(self, path: Path | str) -> None:
        if self.ingest.model.active_jobs() or getattr(self.live, "running", False):
            self.show_message(f"{redact(str(path))} is saved in the settings and opens at the next start: ingestion or "
                              "live monitoring is running on the current database")
            return
        try:
            db = open_database(path)
        except Exception as exc:
            self.show_message(describe_error(exc))
            return
        self.runner.wait_idle(10)
        old, self.db = self.db, db
        for c in (self.gallery, self.player, self.search, self.review):
            c.db = db
        self.frames.set_database(db)
        self.ingest_worker.set_database(db)
        self.window.db_label.setText(f"Database: {db.label}")
        old.close()
        self.gallery.loaded = self.review.loaded = False
        self.refresh_all()

    # ------------------------------------------------------------------ status bar
    def show_message(self, text: str) -> None:
        log.info("%s", text)
        self.window.statusBar().showMessage(text, 10000)

    @Slot(str)
    def _on_device(self, text: str) -> None:
        self.window.device_label.setText(f"Device: {text}")

    def _on_ingest_work(self, text: str, percent: object) -> None:
        self._ingest_work = (text, percent if isinstance(percent, int) else None)
        self._show_work()

    def _show_work(self) -> None:
        text, percent = self._ingest_work
        if text:
            self.window.set_work(text, percent)
        elif self.runner.pending:
            self.window.set_work("working…", -1)
        else:
            self.window.set_work("", None)

    # ------------------------------------------------------------------ lifetime
    def settle(self, timeout_s: float = 30.0) -> bool:
        """Process events until no background query or frame is outstanding (screenshots and tests)."""
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while time.monotonic() < deadline:
            QCoreApplication.processEvents()
            if self.runner.pending == 0 and self.player.idle:
                quiet += 1
                if quiet >= 3:
                    return True
            else:
                quiet = 0
            self.runner.wait_idle(0.05)
        return False

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.player.pause()
        stop_live = getattr(self.live, "stop", None)
        if stop_live is not None:
            stop_live()
        self.ingest_worker.stop()
        self.frames.stop()
        self.runner.shutdown()
