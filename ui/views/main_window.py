"""The main window: tabs (gallery, player, search, review, live), menus, toolbar, ingestion dock, status bar."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QMainWindow,
    QProgressBar,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ui.views.common import plain_label
from ui.views.gallery import GalleryView
from ui.views.ingest import JobsPanel, is_video_path
from ui.views.player import PlayerView
from ui.views.review import ReviewView
from ui.views.search import SearchView

VIEWS = ("gallery", "player", "search", "review", "live")


class MainWindow(QMainWindow):
    """Layout and actions only; ``ui.controllers.main.MainController`` connects them to behaviour."""

    files_dropped = Signal(list)  # list[Path] of video files dropped on the window
    closing = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("reidwatch")
        self.setAcceptDrops(True)
        self.gallery = GalleryView()
        self.player = PlayerView()
        self.search = SearchView()
        self.review = ReviewView()
        self.live = QWidget()  # the live page (ui.live.LivePage) is put in here when first shown
        self.live_layout = QVBoxLayout(self.live)
        self.live_layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for view, title in ((self.gallery, "Gallery"), (self.player, "Player"), (self.search, "Search"),
                            (self.review, "Review"), (self.live, "Live")):
            self.tabs.addTab(view, title)
        self.setCentralWidget(self.tabs)

        self.jobs = JobsPanel()
        self.jobs_dock = QDockWidget("Ingestion", self)
        self.jobs_dock.setObjectName("ingestion-dock")
        self.jobs_dock.setWidget(self.jobs)
        self.jobs_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                                   | QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.jobs_dock)
        self.jobs_dock.hide()

        self._make_actions()
        self._make_menus()
        self._make_status_bar()

    # ------------------------------------------------------------------ construction
    def _action(self, text: str, shortcut: str | QKeySequence.StandardKey | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            action.setStatusTip(tip)
        self.addAction(action)
        return action

    def _make_actions(self) -> None:
        self.add_videos_action = self._action("&Add videos…", QKeySequence.StandardKey.Open,
                                              "Ingest video files: detect, track and embed the people in them")
        self.export_action = self._action("&Export match report…", "Ctrl+E",
                                          "Write the cross-camera match report (HTML, PDF, CSV or JSON)")
        self.settings_action = self._action("&Settings…", QKeySequence.StandardKey.Preferences)
        if self.settings_action.shortcut().isEmpty():
            self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.quit_action = self._action("&Quit", QKeySequence.StandardKey.Quit)
        self.play_action = self._action("&Play / pause", "Space")
        self.step_back_action = self._action("Previous &frame", "Left")
        self.step_forward_action = self._action("&Next frame", "Right")
        self.keypoints_action = self._action("Show &keypoints", "K")
        self.keypoints_action.setCheckable(True)
        self.confirm_action = self._action("&Same person", "C", "Confirm the selected match")
        self.reject_action = self._action("&Different people", "R", "Reject the selected match")
        self.undo_action = self._action("&Undo last decision", QKeySequence.StandardKey.Undo)
        self.relink_action = self._action("Re-&link identities", "Ctrl+L",
                                          "Link all tracks again, respecting every decision")
        self.adapt_action = self._action("&Adapt to this site…", None,
                                         "Learn this store's people from its own tracks (no labels), re-embed, relink")
        self.refresh_action = self._action("&Refresh", QKeySequence.StandardKey.Refresh)
        self.audit_action = self._action("&Audit trail…", None, "Who searched, exported and decided what, and when")
        self.view_actions: dict[str, QAction] = {}
        for i, name in enumerate(VIEWS):
            action = self._action(name.capitalize(), f"Ctrl+{i + 1}")
            action.triggered.connect(lambda _=False, i=i: self.tabs.setCurrentIndex(i))
            self.view_actions[name] = action

    def _make_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for a in (self.add_videos_action, self.export_action, None, self.settings_action, None, self.quit_action):
            file_menu.addSeparator() if a is None else file_menu.addAction(a)
        view_menu = bar.addMenu("&View")
        for a in self.view_actions.values():
            view_menu.addAction(a)
        view_menu.addSeparator()
        view_menu.addAction(self.jobs_dock.toggleViewAction())
        view_menu.addAction(self.refresh_action)
        view_menu.addAction(self.audit_action)
        play_menu = bar.addMenu("&Playback")
        for a in (self.play_action, self.step_back_action, self.step_forward_action, self.keypoints_action):
            play_menu.addAction(a)
        review_menu = bar.addMenu("&Review")
        for a in (self.confirm_action, self.reject_action, self.undo_action, None, self.relink_action):
            review_menu.addSeparator() if a is None else review_menu.addAction(a)
        tools = QToolBar("Main")
        tools.setObjectName("main-toolbar")
        tools.setMovable(False)
        tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for a in (self.add_videos_action, self.export_action, self.relink_action, self.adapt_action,
                  self.settings_action):
            tools.addAction(a)
        self.addToolBar(tools)

    def _make_status_bar(self) -> None:
        status = self.statusBar()
        self.work_label = plain_label("")
        self.work_bar = QProgressBar()
        self.work_bar.setMaximumWidth(140)
        self.work_bar.setMaximumHeight(14)
        self.work_bar.setTextVisible(False)
        self.work_bar.hide()
        self.device_label = plain_label("Device: …")
        self.db_label = plain_label("")
        for w in (self.work_label, self.work_bar, self.device_label, self.db_label):
            status.addPermanentWidget(w)

    # ------------------------------------------------------------------ state shown
    def current_view(self) -> str:
        return VIEWS[self.tabs.currentIndex()]

    def show_view(self, name: str) -> None:
        if name not in VIEWS:
            raise ValueError(f"unknown view {name!r}; valid: {', '.join(VIEWS)}")
        self.tabs.setCurrentIndex(VIEWS.index(name))

    def set_work(self, text: str, percent: int | None = None) -> None:
        """Background work in the status bar: ``percent`` None hides the bar, -1 shows a busy bar."""
        self.work_label.setText(text)
        if percent is None:
            self.work_bar.hide()
            return
        self.work_bar.setRange(0, 0 if percent < 0 else 100)
        if percent >= 0:
            self.work_bar.setValue(percent)
        self.work_bar.show()

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if any(u.isLocalFile() and is_video_path(Path(u.toLocalFile())) for u in urls):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        videos = [p for p in paths if is_video_path(p)]
        if videos:
            event.acceptProposedAction()
            self.files_dropped.emit(videos)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.closing.emit()
        super().closeEvent(event)
