"""What an operator hit in a real window (issue 17), each on the real main window over a real store: stored
strings shown as typed, the camera suggested for a new video, time filters that start at the store's range, a
new search that selects nothing, confidence instead of bare distances, the settings dialog's database, the live
tile's reason, the ingest panel's words and its Cancel button."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QLabel, QWidget

from app.config import Config
from app.identity import confidence
from app.identity.decisions import list_decisions
from app.live.health import CameraHealth, CameraState
from app.store import Database, open_database, repo
from ui.app import build_window
from ui.controllers.main import MainController
from ui.live import LivePage
from ui.models.jobs import PROGRESS_ROLE, REDO_OPTION, IngestJobModel, JobRow
from ui.views.ingest import AddVideoDialog
from ui.views.main_window import MainWindow
from ui.views.settings import SettingsDialog

WAIT = 15000
CRAFTED = "<b>Test</b>"


@pytest.fixture()
def gui(qtbot, ui_store, tmp_path: Path) -> Iterator[tuple[MainWindow, MainController, Database]]:
    db = open_database(ui_store.path, create=False)
    qs = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    window, ctl = build_window(db=db, config=Config(db=tmp_path / "configured-default.db", device="cpu"),
                               qsettings=qs, start_ingest=False)
    qtbot.addWidget(window)
    window.show()
    yield window, ctl, db
    ctl.shutdown()
    db.close()


def settle(qtbot, ctl: MainController) -> None:
    qtbot.waitUntil(lambda: ctl.runner.pending == 0 and ctl.player.idle, timeout=WAIT)


def calibrate(db: Database, kinds: tuple[str, ...] = (confidence.SEARCH_KIND,)) -> None:
    """Store known-different distances as a linking run would: evenly spread over 0.05..2.05."""
    with db.session() as s:
        confidence.save_calibration(s, {k: np.linspace(0.05, 2.05, 101) for k in kinds}, run_id=None)


def labels_showing(root: QWidget, text: str) -> list[QLabel]:
    return [lb for lb in root.findChildren(QLabel) if text in lb.text()]


# ---------------------------------------------------------------------------------------------- 2. plain text
def test_a_crafted_name_is_shown_as_typed_in_every_label(qtbot, gui, ui_store) -> None:
    window, ctl, db = gui
    bob = ui_store.identities["bob"]
    ctl.gallery.refresh()
    settle(qtbot, ctl)
    ctl.gallery.rename(bob, CRAFTED)
    qtbot.waitUntil(lambda: any(r.name == CRAFTED for r in ctl.gallery.model.rows()), timeout=WAIT)
    settle(qtbot, ctl)
    # the four places the operator saw bold text: gallery detail, player "Selected:", search preview, review
    ctl.gallery.select_identity(bob)
    settle(qtbot, ctl)
    ctl.jump(ui_store.tracks["entrance/2"], ui_store.sources["entrance"], 15)
    settle(qtbot, ctl)
    ctl.search_from_track(ui_store.tracks["lobby/2"])
    qtbot.waitUntil(lambda: ctl.search.model.rowCount() > 0, timeout=WAIT)
    settle(qtbot, ctl)
    window.search.results.selectRow(ctl.search.model.row_of(ui_store.tracks["entrance/2"]))
    window.show_view("live")  # the live page's labels too
    settle(qtbot, ctl)

    labels = window.findChildren(QLabel)
    assert len(labels) > 30
    rich = [(lb.objectName() or type(lb.parent()).__name__, lb.text()) for lb in labels
            if lb.textFormat() != Qt.TextFormat.PlainText]
    assert rich == [], "labels that would read stored text as HTML"
    showing = labels_showing(window, "Test")
    where = {lb.text() for lb in showing}
    assert window.gallery.detail_title in showing and window.player.selection_label in showing
    assert window.search.result_title in showing and window.review.last_decision_label in showing, where
    assert all(CRAFTED in lb.text() for lb in showing), where
    # a label's own rendering: the tags are laid out as characters (plain text is as wide as the raw string)
    title = window.gallery.detail_title
    assert title.sizeHint().width() >= title.fontMetrics().horizontalAdvance(CRAFTED)
    # tooltips guess rich text too: the identity card's and the search row's are escaped
    card_tip = ctl.gallery.model.data(ctl.gallery.model.index(ctl.gallery.model.row_of(bob), 0),
                                      Qt.ItemDataRole.ToolTipRole)
    assert "&lt;b&gt;Test&lt;/b&gt;" in card_tip and CRAFTED not in card_tip
    assert [d.kind for d in list_decisions(db)][:1] == ["rename"]


# ---------------------------------------------------------------------------------------------- 3. camera default
def test_add_videos_suggests_the_last_video_camera_never_a_live_one(qtbot, gui, tmp_path: Path) -> None:
    window, ctl, db = gui
    with db.session() as s:  # a live camera, as the live page files it; its name sorts first
        repo.get_or_create_camera(s, "a-door", kind="rtsp", url_redacted="rtsp://***@10.0.0.9/stream")
    ctl.gallery.refresh()
    settle(qtbot, ctl)
    combo = window.gallery.filters.camera_combo
    assert combo.itemText(1) == "a-door"  # the filter offers every camera, live ones too
    seen: list[list[str]] = []

    def inspect_dialog() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, AddVideoDialog)
        seen.append([dialog.camera()] + [dialog.camera_combo.itemText(i) for i in range(dialog.camera_combo.count())])
        dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()

    QTimer.singleShot(200, inspect_dialog)
    ctl.ask_add_videos([tmp_path / "new.avi"])
    # lobby's video was ingested last: it is the suggestion; the live camera is not offered at all
    assert seen == [["lobby", "lobby", "entrance"]]


# ---------------------------------------------------------------------------------------------- 4. time filters
def test_time_filters_start_at_the_store_range_and_keep_the_selection(qtbot, gui, ui_store) -> None:
    window, ctl, _db = gui
    ctl.refresh_all()
    settle(qtbot, ctl)
    alice = ui_store.identities["alice"]
    ctl.gallery.select_identity(alice)
    settle(qtbot, ctl)
    assert window.gallery.rename_button.isEnabled()
    bar = window.gallery.filters
    bar.from_check.setChecked(True)
    settle(qtbot, ctl)
    bar.to_check.setChecked(True)
    settle(qtbot, ctl)
    t_from, t_to = bar.time_window()
    first = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)  # the store's first sighting (entrance)
    last = first + timedelta(minutes=5, seconds=39 / 7)  # lobby starts 5 min later, its last frame is 39
    assert t_from == first and t_to == last.replace(microsecond=0) + timedelta(seconds=1)
    assert window.search.filters.from_edit.dateTime().toSecsSinceEpoch() == int(first.timestamp())
    # every identity is still there, the selection too, and Rename works on it
    assert ctl.gallery.model.rowCount() == 4 and not window.gallery.empty_label.isVisibleTo(window)
    assert [i.id for i in ctl.gallery.selected_identities()] == [alice]
    assert window.gallery.rename_button.isEnabled()
    # a window with nobody in it: the gallery says the filters are why, and Rename cannot be pressed
    bar.to_edit.setDateTime(bar.from_edit.dateTime().addSecs(-3600))
    bar.to_edit.editingFinished.emit()
    qtbot.waitUntil(lambda: ctl.gallery.model.rowCount() == 0, timeout=WAIT)
    settle(qtbot, ctl)
    assert window.gallery.empty_label.isVisibleTo(window)
    assert "filters" in window.gallery.empty_label.text() and "add a video" not in window.gallery.empty_label.text()
    assert not window.gallery.rename_button.isEnabled()
    assert window.gallery.detail_title.text() == "Select an identity"


# ---------------------------------------------------------------------------------------------- 5. search
def test_a_new_search_selects_nothing_and_a_decision_names_its_pair(qtbot, gui, ui_store) -> None:
    window, ctl, db = gui
    calibrate(db)
    alice, bob = ui_store.tracks["entrance/1"], ui_store.tracks["entrance/2"]
    ctl.search_from_track(alice)
    qtbot.waitUntil(lambda: ctl.search.model.rowCount() > 0, timeout=WAIT)
    settle(qtbot, ctl)
    assert ctl.search.selected_hit() is None and not window.search.confirm_button.isEnabled()
    window.search.results.selectRow(ctl.search.model.row_of(ui_store.tracks["lobby/2"]))
    assert ctl.search.decision_pair() == (alice, ui_store.tracks["lobby/2"])
    assert f"#{alice}" in window.search.decision_label.text()
    # a new query: the old result is not carried over, so C does nothing until the operator picks one
    ctl.search_from_track(bob)
    qtbot.waitUntil(lambda: ctl.search.query_track == bob and ctl.search.model.rowCount() > 0
                    and not ctl.search.searching, timeout=WAIT)
    settle(qtbot, ctl)
    assert ctl.search.selected_hit() is None and not window.search.confirm_button.isEnabled()
    QTest.keyClick(window, Qt.Key.Key_C)
    settle(qtbot, ctl)
    assert list_decisions(db) == []
    row = ctl.search.model.row_of(ui_store.tracks["lobby/2"])
    window.search.results.selectRow(row)
    assert window.search.decision_label.text().startswith(f"C / R decide: query track #{bob} and track "
                                                          f"#{ui_store.tracks['lobby/2']}")
    # confidence: a percentage from the calibration, in the table, the preview and the decision line
    hit = ctl.search.model.row(row)
    assert hit.confidence is not None and 0.0 < hit.confidence <= 1.0
    shown = ctl.search.model.data(ctl.search.model.index(row, ctl.search.model.CONFIDENCE))
    assert shown == confidence.format_confidence(hit.confidence) and shown.endswith("%")
    assert shown in window.search.result_label.text() and shown in window.search.decision_label.text()
    QTest.keyClick(window, Qt.Key.Key_C)
    qtbot.waitUntil(lambda: bool(list_decisions(db)), timeout=WAIT)
    assert list_decisions(db)[0].kind == "confirm"
    settle(qtbot, ctl)
    # the same query searched again after the decision keeps the operator on the result they decided
    assert ctl.search.selected_hit() is not None and ctl.search.selected_hit().track_id == hit.track_id


def test_review_shows_confidence_and_the_pair_c_confirms(qtbot, gui, ui_store) -> None:
    window, ctl, db = gui
    window.show_view("review")
    qtbot.waitUntil(lambda: ctl.review.model.rowCount() == 2, timeout=WAIT)
    settle(qtbot, ctl)
    assert ctl.review.model.data(ctl.review.model.index(0, ctl.review.model.CONFIDENCE)) == "—"  # not calibrated
    calibrate(db)
    ctl.review.refresh()
    qtbot.waitUntil(lambda: ctl.review.model.row(0).confidence is not None, timeout=WAIT)
    settle(qtbot, ctl)
    first = ctl.review.selected()
    assert first.match.id == ui_store.matches["bob-cross"]
    # 0.21 against known-different distances spread evenly over 0.05..2.05: 8 % of them are closer
    assert first.confidence == pytest.approx(1 - 0.16 / 2.0, abs=0.006)
    assert ctl.review.model.data(ctl.review.model.index(0, ctl.review.model.CONFIDENCE)) == "92 %"
    text = window.review.match_label.text()
    assert "92 %" in text and f"tracks #{first.a.id} and #{first.b.id}" in text


# ---------------------------------------------------------------------------------------------- 6. settings
def test_settings_show_the_open_database_and_ok_switches_to_another(qtbot, gui, ui_store, tmp_path: Path) -> None:
    window, ctl, _db = gui
    assert ctl.settings.db is None  # opened as with --db: nothing chosen in the settings yet
    dialog = SettingsDialog(ctl.settings, default_db=ctl.base_config.db, open_db=ctl.db.path)
    qtbot.addWidget(dialog)
    assert dialog.db_edit.text() == str(ui_store.path)
    assert str(ctl.base_config.db) in dialog.db_edit.placeholderText()
    # OK with the open database left as it is: nothing switches, no saved choice appears
    ctl.apply_settings(dialog.values())
    assert ctl.db.path == ui_store.path and ctl.settings.db is None
    # the configured default typed in (what the placeholder used to suggest): it opens at once
    dialog.db_edit.setText(str(ctl.base_config.db))
    ctl.apply_settings(dialog.values())
    qtbot.waitUntil(lambda: ctl.db.path == ctl.base_config.db, timeout=WAIT)
    assert window.db_label.text().endswith("configured-default.db")
    assert ctl.settings.db == ctl.base_config.db


# ---------------------------------------------------------------------------------------------- 7. live tile
def test_a_refused_camera_says_so_on_its_tile_and_in_the_list(qtbot, gui) -> None:
    window, ctl, _db = gui
    window.show_view("live")
    page = window.live.findChildren(LivePage)[0]
    ctl.live.autostart = False  # the tile and the list, without loading models for a camera that refuses
    ctl.live.add_camera("door", "rtsp://user:pw@127.0.0.1:9/stream")
    tile = page.grid.tile("door")
    assert tile.placeholder_text() == "waiting for the first frame…"
    now = datetime.now(timezone.utc)
    refused = "connection refused by 127.0.0.1:9 (nothing listening there)"
    health = CameraHealth(camera="door", source="rtsp://***@127.0.0.1:9/stream", state=CameraState.RECONNECTING,
                          since=now, failed_attempts=3, last_error=refused, retry_at=now + timedelta(seconds=4))
    ctl.live.health_changed.emit(health)
    assert tile.placeholder_text(now).startswith(f"no picture: {refused}; trying again in 4 s")
    assert refused in page.camera_list.item(0).text()
    assert "waiting" not in tile.placeholder_text(now)
    gone = CameraHealth(camera="door", source="rtsp://***@127.0.0.1:9/stream", state=CameraState.FAILED,
                        since=now, last_error="credentials rejected")
    ctl.live.health_changed.emit(gone)
    assert tile.placeholder_text(now).startswith("no picture: credentials rejected; gave up")
    tile.grab()  # paints with that text (the paint path reads placeholder_text)


# ---------------------------------------------------------------------------------------------- 8. ingest panel
def test_skipped_files_read_plainly_and_cancel_is_ready_while_a_job_runs(qtbot, gui, tmp_path: Path) -> None:
    window, ctl, _db = gui
    model = IngestJobModel()
    model.add_job(JobRow(job_id=1, path=tmp_path / "a.avi", camera="entrance", start=None, status="skipped"))
    ix = model.index(0, model.PROGRESS)
    assert model.data(ix) == "already in the store: nothing done" and model.data(ix, PROGRESS_ROLE) is None
    # Cancel is ready as soon as a job runs, without selecting its row first
    assert not window.jobs.cancel_button.isEnabled()
    ctl.ingest.model.add_job(JobRow(job_id=99, path=tmp_path / "long.avi", camera="entrance", start=None))
    ctl.ingest_worker.job_started.emit(99)  # what the worker says when it takes the job
    assert ctl.ingest.model.job(99).status == "running"
    assert window.jobs.table.selectionModel().selectedRows() == []
    assert window.jobs.cancel_button.isEnabled()
    assert "long.avi" in window.jobs.cancel_button.toolTip()
    window.jobs.cancel_button.click()
    assert ctl.ingest.model.job(99).message == "cancelling…"
    ctl.ingest_worker.job_finished.emit(99, "cancelled", "long.avi: cancelled")
    assert not window.jobs.cancel_button.isEnabled()
    # the add dialog offers re-ingesting a known file, in the words the messages use
    dialog = AddVideoDialog([tmp_path / "a.avi"], cameras=["entrance"])
    qtbot.addWidget(dialog)
    assert dialog.force_check.text() == REDO_OPTION and not dialog.requests()[0].force
    dialog.force_check.setChecked(True)
    assert dialog.requests()[0].force


# ---------------------------------------------------------------------------------------------- 1. close
def test_dispose_stops_every_thread_then_deletes_the_whole_window(qtbot, ui_store, tmp_path: Path) -> None:
    """What `reidwatch ui` does after the event loop: nothing is left for interpreter exit to delete."""
    import shiboken6

    from ui.app import dispose

    db = open_database(ui_store.path, create=False)
    window, ctl = build_window(db=db, config=Config(db=ui_store.path, device="cpu"),
                               qsettings=QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat))
    window.show()
    ctl.jump(ui_store.tracks["entrance/2"], ui_store.sources["entrance"], 15)
    ctl.player.play()  # the frame worker is busy decoding when the window goes
    window.show_view("live")
    workers = (ctl.frames, ctl.ingest_worker, ctl.runner, ctl.live)
    assert ctl.frames.isRunning() and ctl.ingest_worker.isRunning()
    # results of worker threads arrive through slots (queued onto the GUI thread), declared as such
    for obj, slot in ((ctl.player, "_on_frame(PyObject)"), (ctl.ingest, "_on_progress(int,int,int)"),
                      (ctl.ingest, "_on_finished(int,QString,QString)"),
                      (ctl, "_on_device(QString)")):
        assert obj.metaObject().indexOfSlot(slot) >= 0, slot
    window.close()
    dispose(window, ctl)  # a running QThread deleted here would abort the whole test process
    assert not shiboken6.isValid(window) and not any(shiboken6.isValid(w) for w in workers)
    db.close()
