"""The real main window over a real store (no models needed): gallery, review, player, search, shortcuts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from app.config import Config
from app.identity.decisions import list_decisions
from app.store import Database, open_database
from ui.app import build_window
from ui.controllers.main import MainController
from ui.views.ingest import AddVideoDialog
from ui.views.main_window import MainWindow
from ui.views.player import fit_rect

WAIT = 15000


@pytest.fixture()
def gui(qtbot, ui_store, tmp_path: Path) -> Iterator[tuple[MainWindow, MainController, Database]]:
    db = open_database(ui_store.path, create=False)
    qs = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    window, ctl = build_window(db=db, config=Config(db=ui_store.path, device="cpu"), qsettings=qs,
                               start_ingest=False)
    qtbot.addWidget(window)
    window.show()
    yield window, ctl, db
    ctl.shutdown()
    db.close()


def names(ctl: MainController) -> list[str]:
    m = ctl.gallery.model
    return [m.data(m.index(r, 0)) for r in range(m.rowCount())]


def wait_gallery(qtbot, ctl: MainController, n: int) -> None:
    qtbot.waitUntil(lambda: ctl.gallery.model.rowCount() == n and ctl.runner.pending == 0, timeout=WAIT)


def test_gallery_cards_filters_and_sort(qtbot, gui, ui_store) -> None:
    window, ctl, _db = gui
    ctl.gallery.refresh()
    wait_gallery(qtbot, ctl, 4)
    alice = ui_store.identities["alice"]
    qtbot.waitUntil(lambda: len(ctl.gallery.model.thumbnails(alice)) == 2, timeout=WAIT)
    assert [cam for cam, _ in ctl.gallery.model.thumbnails(alice)] == ["entrance", "lobby"]
    assert window.gallery.count_label.text() == "4 identities"
    combo = window.gallery.filters.camera_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["All cameras", "entrance", "lobby"]
    combo.setCurrentIndex(2)  # lobby only
    wait_gallery(qtbot, ctl, 2)
    assert sorted(ctl.gallery.model.row(r).id for r in range(2)) == sorted(
        [alice, ui_store.identities["bob-lobby"]])
    combo.setCurrentIndex(0)
    wait_gallery(qtbot, ctl, 4)
    window.gallery.sort_combo.setCurrentIndex(window.gallery.sort_combo.findData("name"))
    assert names(ctl)[0] == "Alice"
    # selecting a card shows its sightings with thumbnails
    ctl.gallery.select_identity(alice)
    qtbot.waitUntil(lambda: ctl.gallery.tracks_model.rowCount() == 2, timeout=WAIT)
    assert "Alice" in window.gallery.detail_title.text()
    qtbot.waitUntil(lambda: ctl.gallery.tracks_model.thumbnail(ui_store.tracks["lobby/1"]) is not None,
                    timeout=WAIT)


def test_rename_merge_split_and_undo_persist(qtbot, gui, ui_store) -> None:
    window, ctl, db = gui
    ctl.gallery.refresh()
    wait_gallery(qtbot, ctl, 4)
    bob, bob_lobby = ui_store.identities["bob"], ui_store.identities["bob-lobby"]
    ctl.gallery.rename(bob, "  Bob   the builder ")
    qtbot.waitUntil(lambda: "Bob the builder" in names(ctl), timeout=WAIT)
    # merge the two cards of Bob by selecting both, as an operator would with Ctrl-click
    sel = window.gallery.cards.selectionModel()
    window.gallery.cards.clearSelection()
    for iid in (bob, bob_lobby):
        sel.select(ctl.gallery.model.index(ctl.gallery.model.row_of(iid), 0), sel.SelectionFlag.Select)
    assert window.gallery.merge_button.isEnabled()
    window.gallery.merge_button.click()
    wait_gallery(qtbot, ctl, 3)
    merged = ctl.gallery.model.row(ctl.gallery.model.row_of(bob))
    assert merged.n_tracks == 2 and merged.cameras == ("entrance", "lobby")
    # split the lobby sighting off again
    ctl.gallery.select_identity(bob)
    qtbot.waitUntil(lambda: ctl.gallery.tracks_model.rowCount() == 2, timeout=WAIT)
    window.gallery.tracks.selectRow(ctl.gallery.tracks_model.row_of(ui_store.tracks["lobby/2"]))
    assert window.gallery.split_button.isEnabled()
    window.gallery.split_button.click()
    wait_gallery(qtbot, ctl, 4)
    kinds = [d.kind for d in list_decisions(db)]
    assert kinds[:3] == ["split", "merge", "rename"]
    # undo (Ctrl+Z) takes back the split
    window.undo_action.trigger()
    wait_gallery(qtbot, ctl, 3)
    assert "undid the split" in window.statusBar().currentMessage()


def test_review_confirm_and_reject_with_shortcuts_update_the_gallery(qtbot, gui, ui_store) -> None:
    window, ctl, db = gui
    window.show_view("review")
    qtbot.waitUntil(lambda: ctl.review.model.rowCount() == 2 and ctl.runner.pending == 0, timeout=WAIT)
    first = ctl.review.selected()
    assert first is not None and first.match.id == ui_store.matches["bob-cross"]  # closest first
    qtbot.waitUntil(lambda: window.review.thumb_a.pixmap() is not None and not window.review.thumb_a.pixmap().isNull(),
                    timeout=WAIT)
    QTest.keyClick(window, Qt.Key.Key_C)
    qtbot.waitUntil(lambda: ctl.review.model.rowCount() == 1 and ctl.runner.pending == 0, timeout=WAIT)
    assert ctl.gallery.model.rowCount() == 3  # bob's two identities became one
    assert "confirmed" in window.review.last_decision_label.text()
    assert ctl.review.selected().match.id == ui_store.matches["carol-bob"]
    QTest.keyClick(window, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: ctl.review.model.rowCount() == 0 and ctl.runner.pending == 0, timeout=WAIT)
    assert window.review.empty_label.isVisibleTo(window)
    assert [d.kind for d in list_decisions(db)][:2] == ["reject", "confirm"]
    ctl.undo()
    qtbot.waitUntil(lambda: ctl.review.model.rowCount() == 1 and ctl.runner.pending == 0, timeout=WAIT)


def test_player_shows_overlays_click_selects_and_keys_step_and_play(qtbot, gui, ui_store) -> None:
    window, ctl, _db = gui
    bob = ui_store.tracks["entrance/2"]
    ctl.jump(bob, ui_store.sources["entrance"], 15)
    assert window.current_view() == "player"
    qtbot.waitUntil(lambda: ctl.player.shown is not None and ctl.player.shown.frame == 15, timeout=WAIT)
    assert len(ctl.player.shown.overlays) == 3
    assert ctl.player.selected_track == bob
    assert "Person #" in window.player.selection_label.text()
    # click on the middle of Alice's box, mapped to widget coordinates
    canvas = window.player.canvas
    x1, y1, x2, y2 = ui_store.boxes["entrance/1"]
    left, top, scale = fit_rect(768, 576, canvas.width(), canvas.height())
    point = QPoint(round(left + (x1 + x2) / 2 * scale), round(top + (y1 + y2) / 2 * scale))
    with qtbot.waitSignal(ctl.player.track_selected, timeout=WAIT) as sig:
        QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=point)
    assert sig.args == [ui_store.tracks["entrance/1"]]
    assert "Alice" in window.player.selection_label.text()
    assert window.search.use_selection_button.isEnabled()  # offered as the search query
    QTest.keyClick(window, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: ctl.player.shown.frame == 16, timeout=WAIT)
    QTest.keyClick(window, Qt.Key.Key_Left)
    QTest.keyClick(window, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: ctl.player.shown.frame == 14, timeout=WAIT)
    window.player.speed_combo.setCurrentIndex(window.player.speed_combo.findData(4.0))
    QTest.keyClick(window, Qt.Key.Key_Space)
    assert ctl.player.playing
    qtbot.waitUntil(lambda: ctl.player.shown.frame >= 20, timeout=WAIT)
    QTest.keyClick(window, Qt.Key.Key_Space)
    assert not ctl.player.playing
    QTest.keyClick(window, Qt.Key.Key_K)
    assert window.player.keypoints_check.isChecked()
    # on another tab, the arrow keys no longer step the video
    window.show_view("gallery")
    frame = ctl.player.frame
    QTest.keyClick(window, Qt.Key.Key_Right)
    assert ctl.player.frame == frame


def test_search_by_track_ranks_the_same_person_confirms_and_jumps(qtbot, gui, ui_store) -> None:
    window, ctl, db = gui
    alice_entrance = ui_store.tracks["entrance/1"]
    ctl.search_from_track(alice_entrance)
    assert window.current_view() == "search"
    qtbot.waitUntil(lambda: ctl.search.model.rowCount() > 0 and ctl.runner.pending == 0, timeout=WAIT)
    hits = ctl.search.model.rows()
    assert hits[0].track_id == ui_store.tracks["lobby/1"]  # same person, other camera, closest
    assert all(h.track_id != alice_entrance for h in hits)
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)
    assert ctl.search.model.thumbnail(hits[0].track_id) is not None
    # confirm a different hit (Bob in the lobby) as the same person... then undo: the operator erred
    window.search.results.selectRow(ctl.search.model.row_of(ui_store.tracks["lobby/2"]))
    QTest.keyClick(window, Qt.Key.Key_C)
    qtbot.waitUntil(lambda: bool(list_decisions(db)), timeout=WAIT)
    assert list_decisions(db)[0].kind == "confirm"
    qtbot.waitUntil(lambda: ctl.runner.pending == 0, timeout=WAIT)
    # the lobby Bob now carries Alice's identity in the refreshed results
    qtbot.waitUntil(lambda: any(h.identity_name == "Alice" and h.track_id == ui_store.tracks["lobby/2"]
                                for h in ctl.search.model.rows()), timeout=WAIT)
    row = ctl.search.model.row_of(ui_store.tracks["lobby/1"])
    window.search.results.selectRow(row)
    ix = ctl.search.model.index(row, 3)
    rect = window.search.results.visualRect(ix)
    assert rect.isValid()
    viewport = window.search.results.viewport()
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())  # the press a double-click needs
    QTest.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.current_view() == "player"
    qtbot.waitUntil(lambda: ctl.player.shown is not None and ctl.player.source.id == ui_store.sources["lobby"],
                    timeout=WAIT)
    assert ctl.player.selected_track == ui_store.tracks["lobby/1"]


def test_dropping_a_video_asks_for_its_camera_and_queues_it(qtbot, gui, tmp_path: Path) -> None:
    window, ctl, _db = gui
    video, text = tmp_path / "cam1.mp4", tmp_path / "notes.txt"  # the video does not exist: ingest says so
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(video)), QUrl.fromLocalFile(str(text))])
    seen: list[AddVideoDialog] = []

    def fill_in_dialog() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, AddVideoDialog)
        seen.append(dialog)
        dialog.camera_combo.setCurrentText("gate")
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()

    QTimer.singleShot(200, fill_in_dialog)
    with qtbot.waitSignal(window.files_dropped, timeout=2000) as sig:
        window.dropEvent(QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                    Qt.KeyboardModifier.NoModifier))
    assert sig.args == [[video]]  # the text file is not offered
    assert seen and [seen[0].files.item(i).text() for i in range(seen[0].files.count())] == [str(video)]
    assert window.jobs_dock.isVisible()
    jobs = ctl.ingest.jobs()
    assert [(j.path, j.camera) for j in jobs] == [(video, "gate")]
    qtbot.waitUntil(lambda: ctl.ingest.jobs()[0].status == "failed", timeout=WAIT)
    assert "video file not found" in ctl.ingest.jobs()[0].message


def test_add_dialog_reads_camera_start_and_frame_rate(qtbot, tmp_path: Path) -> None:
    video = tmp_path / "cam1.mp4"
    dialog = AddVideoDialog([video], cameras=["entrance", "lobby"])
    qtbot.addWidget(dialog)
    assert dialog.camera() == "entrance"
    dialog.camera_combo.setCurrentText("  gate  2 ")
    start = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
    dialog.set_start(start)
    dialog.fps_spin.setValue(12.5)
    [req] = dialog.requests()
    assert (req.path, req.camera, req.start, req.fps) == (video, "gate 2", start, 12.5)
    dialog.set_start(None)
    dialog.fps_spin.setValue(0)
    assert dialog.requests()[0].start is None and dialog.requests()[0].fps is None
    dialog.camera_combo.setCurrentText("  ")
    assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


def test_export_report_from_the_window_writes_the_file(qtbot, gui, tmp_path: Path) -> None:
    window, ctl, _db = gui
    out = tmp_path / "report.csv"
    ctl.export(out)
    qtbot.waitUntil(lambda: "report written" in window.statusBar().currentMessage(), timeout=WAIT)
    text = out.read_text(encoding="utf-8")
    assert "entrance" in text and "lobby" in text
    ctl.export(tmp_path / "report.docx")
    qtbot.waitUntil(lambda: "cannot tell the report format" in window.statusBar().currentMessage(), timeout=WAIT)


def test_settings_persist_and_switch_the_database(qtbot, gui, tmp_path: Path) -> None:
    from ui.models.settings import UiSettings, read_settings
    from ui.views.settings import SettingsDialog

    window, ctl, _db = gui
    ctl.gallery.refresh()
    wait_gallery(qtbot, ctl, 4)
    dialog = SettingsDialog(ctl.settings, default_db=ctl.base_config.db)
    qtbot.addWidget(dialog)
    dialog.db_edit.setText(str(tmp_path / "other.db"))
    dialog.imgsz_combo.setCurrentText("1280")
    dialog.auto_threshold.setChecked(False)
    dialog.threshold_spin.setValue(0.25)
    chosen = dialog.values()
    assert (chosen.imgsz, chosen.threshold, chosen.db) == ("1280", 0.25, tmp_path / "other.db")
    dialog.imgsz_combo.setCurrentText("1000")
    with pytest.raises(ValueError):
        dialog.values()
    ctl.apply_settings(chosen)
    assert read_settings(ctl.qsettings, UiSettings()) == chosen
    assert ctl.config().detector.imgsz == 1280 and ctl.config().link.threshold == 0.25
    # the new (empty) database is opened at once
    wait_gallery(qtbot, ctl, 0)
    assert window.db_label.text().endswith("other.db")
    assert window.gallery.empty_label.isVisibleTo(window)


def test_live_tab_builds_the_live_page_on_first_use(qtbot, gui) -> None:
    window, ctl, _db = gui
    assert ctl.live is None and window.live_layout.count() == 0
    window.show_view("live")
    assert window.live_layout.count() == 1
    assert ctl.live is not None and not getattr(ctl.live, "running", False)  # no camera, no monitor thread
    assert not window.play_action.isEnabled() and not window.confirm_action.isEnabled()
    window.show_view("gallery")
    window.show_view("live")
    assert window.live_layout.count() == 1  # built once
