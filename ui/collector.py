"""Python's cyclic garbage collector, run on the GUI thread only.

Python collects reference cycles in whichever thread happens to allocate when a generation's threshold is
crossed. In the desktop application that is often a worker (a store query on the task runner's pool, an ingest,
the frame decoder). A cycle that holds a Qt object Python owns (a dropped dialog, a model, a timer) is then
destroyed on that worker thread, and Qt objects must die on the thread they live in: the result was an
intermittent segfault, "Garbage-collecting" in a loader thread while another one read the store.

:func:`install` turns automatic collection off and lets a timer on the GUI thread collect instead, by the same
thresholds Python would use. Plain reference counting still frees everything that is not in a cycle at once;
only cycles wait, for at most :data:`INTERVAL_MS`.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

INTERVAL_MS = 500


class MainThreadCollector(QObject):
    """Collects garbage cycles from a timer on the thread that created it (the GUI thread)."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.collections = 0
        self._thresholds = gc.get_threshold()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start(interval_ms)
        gc.disable()

    def collect_due(self) -> int:
        """Collect the oldest generation whose threshold is crossed (as Python itself would); returns the
        generation collected, or -1 when none was due."""
        counts = gc.get_count()
        due = -1
        for generation in range(3):
            if counts[generation] > self._thresholds[generation]:
                due = generation
        if due >= 0:
            gc.collect(due)
            self.collections += 1
        return due

    def stop(self) -> None:
        """Collect now and give collection back to Python."""
        self._timer.stop()
        gc.collect()
        gc.enable()


def install() -> MainThreadCollector:
    """The application's collector, created once on the GUI thread (call after the QApplication exists)."""
    app = QCoreApplication.instance()
    if app is None:
        raise RuntimeError("create the QApplication before installing the collector")
    existing = app.findChild(MainThreadCollector)
    if isinstance(existing, MainThreadCollector):
        if not gc.isenabled():
            return existing
        existing.deleteLater()
    return MainThreadCollector(app)
