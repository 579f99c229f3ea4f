"""Through the real window: every search, export and decision leaves one audit row carrying the operator name
from the settings, and the read-only audit view shows them and verifies the chain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractItemView

from app.config import Config
from app.privacy import audit
from app.store import Database, open_database
from ui.app import build_window
from ui.controllers.main import MainController
from ui.models.settings import UiSettings
from ui.views.audit import AuditDialog, AuditView
from ui.views.main_window import MainWindow
from ui.views.settings import SettingsDialog

WAIT = 15000
OPERATOR = "Desk Operator 2"


@pytest.fixture()
def gui(qtbot, ui_store, tmp_path: Path) -> Iterator[tuple[MainWindow, MainController, Database]]:
    db = open_database(ui_store.path, create=False)
    qs = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    qs.setValue("settings/operator", OPERATOR)
    window, ctl = build_window(db=db, config=Config(db=ui_store.path, device="cpu"), qsettings=qs,
                               start_ingest=False)
    qtbot.addWidget(window)
    window.show()
    yield window, ctl, db
    ctl.shutdown()
    db.close()
    audit.set_operator(None)


def _new_rows(db: Database, seen: int) -> list[audit.AuditRow]:
    return audit.list_rows(db)[seen:]


def test_search_decision_and_export_each_leave_one_row_with_the_operator(qtbot, gui, ui_store, tmp_path) -> None:
    window, ctl, db = gui
    seen = len(audit.list_rows(db))
    ctl.search_from_track(ui_store.tracks["entrance/1"])
    qtbot.waitUntil(lambda: ctl.search.model.rowCount() > 0 and ctl.runner.pending == 0, timeout=WAIT)
    rows = _new_rows(db, seen)
    assert [(r.action, r.who) for r in rows] == [("search", OPERATOR)]
    assert rows[0].details["query"] == {"track": ui_store.tracks["entrance/1"]}
    assert rows[0].details["n_results"] == ctl.search.model.rowCount()
    seen += 1

    window.search.results.selectRow(ctl.search.model.row_of(ui_store.tracks["lobby/2"]))
    QTest.keyClick(window, Qt.Key.Key_C)
    qtbot.waitUntil(lambda: len(_new_rows(db, seen)) >= 1 and ctl.runner.pending == 0, timeout=WAIT)
    rows = [r for r in _new_rows(db, seen) if r.action != "search"]  # the refreshed results search again
    assert [(r.action, r.who) for r in rows] == [("confirm", OPERATOR)]
    assert rows[0].details["track_b"] == ui_store.tracks["lobby/2"]
    seen = len(audit.list_rows(db))

    out = tmp_path / "ui-report.html"
    ctl.export(out)
    qtbot.waitUntil(lambda: out.exists() and ctl.runner.pending == 0, timeout=WAIT)
    rows = _new_rows(db, seen)
    assert [(r.action, r.who) for r in rows] == [("export", OPERATOR)]
    assert rows[0].details["file"] == "ui-report.html" and rows[0].details["blurred"] is True

    ctl.show_audit()
    dialog = window.findChild(AuditDialog)
    assert dialog is not None
    view: AuditView = dialog.view
    shown = view.rows()
    assert {(r[2], r[3]) for r in shown} >= {(OPERATOR, "search"), (OPERATOR, "confirm"), (OPERATOR, "export")}
    assert view.table.editTriggers() == QAbstractItemView.EditTrigger.NoEditTriggers
    view.action_combo.setCurrentText("export")
    assert [r[3] for r in view.rows()] == ["export"]
    assert view.verify() and "intact" in view.status.text()
    dialog.close()


def test_operator_name_is_a_setting(qtbot, tmp_path) -> None:
    dialog = SettingsDialog(UiSettings(operator="A"), default_db=tmp_path / "x.db")
    qtbot.addWidget(dialog)
    dialog.operator_edit.setText("  Night   shift ")
    assert dialog.values().operator == "Night shift"
