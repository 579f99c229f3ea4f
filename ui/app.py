"""Starting the desktop application: Qt environment, QApplication, the main window, and screenshot mode.

opencv-python ships Qt plugins of its own and, when ``cv2`` is imported, points
``QT_QPA_PLATFORM_PLUGIN_PATH`` (and ``QT_QPA_FONTDIR``) at them; PySide6 would then load plugins built
for another Qt and abort. :func:`prepare_qt_environment` imports PySide6 and cv2 in that order and points
Qt back at PySide6's own plugins. It runs when this module is imported, before any QApplication exists.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from app.config import Config
from app.errors import UserError
from app.store import Database, open_database
from ui import prepare_qt_environment  # noqa: F401 - re-exported; it ran on `import ui`
from ui.collector import install as install_collector
from ui.controllers import loaders
from ui.controllers.main import MainController
from ui.models.settings import UiSettings, read_settings
from ui.views.main_window import VIEWS, MainWindow

log = logging.getLogger(__name__)
T = TypeVar("T")
APP_NAME = "reidwatch"
DEFAULT_SIZE = (1440, 900)


def create_application() -> QApplication:
    """The process's QApplication (created once)."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([APP_NAME])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    install_collector()  # garbage cycles die on the GUI thread, never on a worker (a Qt object must not)
    return app


def default_qsettings() -> QSettings:
    return QSettings(APP_NAME, APP_NAME)


def resolve_store(db_arg: str | Path | None, config: Config, qsettings: QSettings) -> Path:
    """--db, else the database chosen in the settings dialog, else the configured default."""
    if db_arg:
        return Path(db_arg).expanduser()
    chosen = read_settings(qsettings, UiSettings.from_config(config)).db
    return chosen or config.db


def build_window(*, db: Database, config: Config, qsettings: QSettings,
                 start_ingest: bool = True) -> tuple[MainWindow, MainController]:
    """A main window over ``db`` with its controller (the window owns the controller)."""
    create_application()
    window = MainWindow()
    controller = MainController(window=window, db=db, base_config=config, qsettings=qsettings,
                                start_ingest=start_ingest)
    window.resize(*DEFAULT_SIZE)
    return window, controller


def prepare_view(window: MainWindow, controller: MainController, view: str, *, timeout_s: float = 60.0) -> None:
    """Load ``view`` with representative content: the first identity, the busiest frame of the first video,
    a search with the longest track, the closest proposed match."""
    if view not in VIEWS:
        raise UserError(f"unknown view {view!r}; choose {', '.join(VIEWS)}")
    window.show_view(view)
    controller.refresh_all()
    controller.settle(timeout_s)
    if view == "gallery":
        if controller.gallery.model.rowCount():
            controller.gallery.select_identity(controller.gallery.model.row(0).id)
            controller.settle(timeout_s)
            if controller.gallery.tracks_model.rowCount():
                window.gallery.tracks.selectRow(0)
    elif view == "player":
        sources = _wait_for(controller, loaders.load_sources, controller.db, timeout_s=timeout_s) or []
        if sources:
            frame = _wait_for(controller, loaders.best_frame, controller.db, sources[0].id, timeout_s=timeout_s)
            window.player.keypoints_check.setChecked(True)
            controller.player.open_source(sources[0].id, frame or 0)
            controller.settle(timeout_s)
            shown = controller.player.shown
            if shown is not None and shown.overlays:
                biggest = max(shown.overlays, key=lambda o: (o.box[2] - o.box[0]) * (o.box[3] - o.box[1]))
                controller.player.set_selected(biggest.track_id)
    elif view == "search":
        track = _wait_for(controller, loaders.longest_track, controller.db, timeout_s=timeout_s)
        if track is not None:
            controller.search_from_track(track.id)
            controller.settle(timeout_s)
            if controller.search.model.rowCount():  # a new search selects nothing: show the closest one
                window.search.results.selectRow(0)
    controller.settle(timeout_s)


def _wait_for(controller: MainController, fn: Callable[..., T], *args: object, timeout_s: float) -> T | None:
    """Run ``fn`` on the task runner and wait for its result (screenshot staging only)."""
    box: list[T] = []
    errors: list[str] = []
    controller.runner.submit(fn, *args, on_done=box.append, on_error=errors.append)
    controller.runner.wait_idle(timeout_s)
    if errors:
        raise UserError(errors[0])
    return box[0] if box else None


def screenshot(window: MainWindow, controller: MainController, view: str, out: Path) -> Path:
    """Render ``view`` into a PNG at ``out``."""
    prepare_view(window, controller, view)
    window.repaint()
    controller.settle(5)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out), "PNG"):
        raise UserError(f"cannot write screenshot {out}")
    log.info("screenshot of the %s view saved to %s", view, out)
    return out


def dispose(window: MainWindow, controller: MainController) -> None:
    """Take the window down now, in order, while Python and the QApplication are whole.

    Left alone, the window outlives :func:`run`: the Ctrl-C handler and the controller (a child that points back
    at it) keep it referenced, so PySide would delete it, with several widgets it still counts as Python-owned,
    only at interpreter exit: in no set order, with the GIL released while Python threads may still run. That
    is the setting of the intermittent crash on close ("shared QObject was deleted directly", then a segfault in
    QtCore). Here every worker thread is stopped first (``shutdown`` is idempotent and waits for them),
    results already queued are delivered, and the whole widget tree is deleted on the GUI thread."""
    controller.shutdown()
    live = controller.live
    if getattr(live, "running", False):  # its thread did not stop in time: deleting under it would be worse
        log.warning("the live monitor is still stopping; the window is left to the end of the process")
        return
    QCoreApplication.sendPostedEvents()
    shiboken6.delete(window)
    QCoreApplication.sendPostedEvents(None, int(QEvent.Type.DeferredDelete))


def run(*, db_path: str | Path | None, config: Config, screenshot_path: Path | None = None,
        view: str = "gallery", size: tuple[int, int] = DEFAULT_SIZE, drive: Path | None = None) -> int:
    """``reidwatch ui``: open the window (or only save a screenshot) and return the exit code."""
    if screenshot_path is not None and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    app = create_application()
    qsettings = default_qsettings()
    store = resolve_store(db_path, config, qsettings)
    db = open_database(store, create=screenshot_path is None)
    window, controller = build_window(db=db, config=config, qsettings=qsettings,
                                      start_ingest=screenshot_path is None)
    window.resize(*size)
    window.show()
    if screenshot_path is not None:
        try:
            screenshot(window, controller, view, screenshot_path)
        finally:
            window.close()
            dispose(window, controller)
            db.close()
        return 0
    window.show_view(view)
    # Python only sees Ctrl-C between Qt events: a timer gives it a chance, and the handler closes the
    # window so that a running ingestion is stored as incomplete rather than cut off.
    previous_handler = signal.signal(signal.SIGINT, lambda *_: window.close())
    tick = QTimer(window)
    tick.timeout.connect(lambda: None)
    tick.start(250)
    driver = None
    if drive is not None:  # test-only (ui.driver): operator actions played into the window
        from ui.driver import EXIT_DRIVER_FAILED, start_driver

        driver = start_driver(drive, window)
    code = app.exec()
    if driver is not None and driver.failed:
        code = EXIT_DRIVER_FAILED
    signal.signal(signal.SIGINT, previous_handler)  # the handler referenced the window
    dispose(window, controller)
    db.close()
    return int(code)
