"""The whole operator flow with real models on a real video: add vtest_clip through the same path as the
menu, wait for ingestion, select a person in the player, search, confirm a match, see the gallery update;
then cancel a long ingestion while it runs."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest

from app.config import Config
from app.store import open_database, queries, repo
from ui.app import build_window
from ui.models.jobs import REDO_OPTION, IngestJobModel
from ui.views.ingest import AddVideoDialog
from ui.views.player import fit_rect

INGEST_TIMEOUT_MS = 600_000  # detection runs ~3 frames/s on 2 shared CPU cores, plus model loading
WAIT = 30_000


@pytest.mark.slow
def test_add_video_select_search_confirm_updates_gallery(qtbot, tmp_path: Path, vtest_clip: Path,
                                                         vtest_path: Path) -> None:
    db = open_database(tmp_path / "flow.db")
    qs = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    window, ctl = build_window(db=db, config=Config(db=tmp_path / "flow.db", device="cpu"), qsettings=qs)
    qtbot.addWidget(window)
    window.show()
    try:
        # File > Add videos… ends in the dialog's requests handed to add_videos
        dialog = AddVideoDialog([vtest_clip], cameras=[])
        qtbot.addWidget(dialog)
        dialog.camera_combo.setCurrentText("entrance")
        dialog.set_start(datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc))
        [job] = ctl.add_videos(dialog.requests())
        qtbot.waitUntil(lambda: ctl.ingest.model.job(job).status == "running", timeout=WAIT)
        assert window.work_label.text()  # background work is shown in the status bar
        qtbot.waitUntil(lambda: not ctl.ingest.model.job(job).active, timeout=INGEST_TIMEOUT_MS)
        row = ctl.ingest.model.job(job)
        assert row.status == "complete", row.message
        assert row.done == 40 and row.percent == 100
        # the same file again: recognised by its content and skipped, in the application's words (no CLI flag)
        [again] = ctl.add_videos(dialog.requests())
        qtbot.waitUntil(lambda: not ctl.ingest.model.job(again).active, timeout=WAIT)
        skipped = ctl.ingest.model.job(again)
        assert skipped.status == "skipped" and "already ingested" in skipped.message, skipped.message
        assert "--force" not in skipped.message and REDO_OPTION in skipped.message
        progress = ctl.ingest.model.index(ctl.ingest.model.rowCount() - 1, IngestJobModel.PROGRESS)
        assert ctl.ingest.model.data(progress) == "already in the store: nothing done"
        # the gallery refreshes by itself after the ingest
        qtbot.waitUntil(lambda: ctl.gallery.model.rowCount() > 1 and ctl.runner.pending == 0, timeout=WAIT)
        before = ctl.gallery.model.rowCount()

        # player: choose the video, go to a frame with people, click the biggest one
        window.show_view("player")
        qtbot.waitUntil(lambda: window.player.source_combo.count() == 1, timeout=WAIT)
        window.player.source_combo.setCurrentIndex(0)
        qtbot.waitUntil(lambda: ctl.player.shown is not None, timeout=WAIT)
        ctl.player.seek(20)
        qtbot.waitUntil(lambda: ctl.player.shown.frame == 20 and bool(ctl.player.shown.overlays), timeout=WAIT)
        person = max(ctl.player.shown.overlays, key=lambda o: (o.box[2] - o.box[0]) * (o.box[3] - o.box[1]))
        canvas = window.player.canvas
        left, top, scale = fit_rect(768, 576, canvas.width(), canvas.height())
        x1, y1, x2, y2 = person.box
        QTest.mouseClick(canvas, Qt.MouseButton.LeftButton,
                         pos=QPoint(round(left + (x1 + x2) / 2 * scale), round(top + (y1 + y2) / 2 * scale)))
        assert ctl.player.selected_track == person.track_id

        # search with the selected person
        window.player.search_button.click()
        assert window.current_view() == "search"
        qtbot.waitUntil(lambda: ctl.search.model.rowCount() > 0 and ctl.runner.pending == 0, timeout=WAIT)
        query = queries.track(db, person.track_id)
        hits = ctl.search.model.rows()
        assert all(h.track_id != person.track_id for h in hits)
        other = next((h for h in hits if h.identity_id != query.identity_id and h.identity_id is not None), None)
        assert other is not None, "every hit already shares the query's identity"
        window.search.results.selectRow(ctl.search.model.row_of(other.track_id))
        QTest.keyClick(window, Qt.Key.Key_C)  # confirm: same person
        qtbot.waitUntil(lambda: queries.track(db, other.track_id).identity_id
                        == queries.track(db, person.track_id).identity_id, timeout=WAIT)
        # two identities became one (an unlinked query track simply joins): the gallery shows it
        expected = before - 1 if query.identity_id is not None else before
        qtbot.waitUntil(lambda: ctl.gallery.model.rowCount() == expected and ctl.runner.pending == 0,
                        timeout=WAIT)
        merged = queries.track(db, person.track_id).identity_id
        card = ctl.gallery.model.row(ctl.gallery.model.row_of(merged))
        assert card.n_tracks == len(queries.identity_tracks(db, merged)) >= 2

        # a long file can be cancelled while it runs: what was processed is kept, the source is incomplete
        [long_job] = ctl.add_videos([AddVideoDialog([vtest_path], cameras=["entrance"]).requests()[0]])
        qtbot.waitUntil(lambda: ctl.ingest.model.job(long_job).done >= 2, timeout=WAIT)
        assert window.jobs.table.selectionModel().selectedRows() == []  # Cancel needs no row selected
        assert window.jobs.cancel_button.isEnabled()
        window.jobs.cancel_button.click()
        qtbot.waitUntil(lambda: not ctl.ingest.model.job(long_job).active, timeout=WAIT)
        assert ctl.ingest.model.job(long_job).status == "cancelled"
        qtbot.waitUntil(lambda: not window.work_bar.isVisible(), timeout=WAIT)  # nothing left in the background
        with db.session() as s:
            sources = repo.list_sources(s)
        # sources are listed by start time, which for a file is its mtime: find the long one by its path
        [long_source] = [src for src in sources if Path(src.uri).name == vtest_path.name]
        [clip_source] = [src for src in sources if src is not long_source]
        assert (clip_source.status, long_source.status) == ("complete", "incomplete")
        assert 2 <= long_source.frames_done < 795
    finally:
        ctl.shutdown()
        db.close()
