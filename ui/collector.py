"""Python's cyclic garbage collector, run on the GUI thread only.

Python collects reference cycles in whichever thread happens to allocate when a generation's threshold is
crossed. In the desktop application that is often a worker (a store query on the task runner's pool, an ingest,
the frame decoder). A cycle that holds a GUI-thread Qt object Python owns (a dropped dialog, a model, a timer)
is then destroyed on that worker thread, and Qt objects must die on the thread they live in: the result was an
intermittent segfault, "Garbage-collecting" in a loader thread while another one read the store.

:func:`install` turns automatic collection off and lets a timer on the GUI thread collect instead: the young
generations by Python's own thresholds, a full collection at most every :data:`FULL_EVERY_S` seconds (Python
itself delays full collections on large heaps; a full pass over the models' objects on the GUI thread should be
rare). Plain reference counting still frees everything that is not in a cycle at once; only cycles wait. This
covers garbage cycles only: workers still must not drop the last reference to a GUI object (they hand plain
data back by signals, ``ui.workers``).
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QCoreApplication, QObject, QTimer

INTERVAL_MS = 500
FULL_EVERY_S = 30.0


class MainThreadCollector(QObject):
    """Collects garbage cycles from a timer on the thread that created it (the GUI thread)."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.collections = 0
        self._thresholds = gc.get_threshold()
        self._last_full = time.monotonic()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start(interval_ms)
        gc.disable()

    def collect_due(self, now: float | None = None) -> int:
        """Collect the oldest generation that is due; returns the generation collected, or -1 when none was.

        Generations 0 and 1 are due when their count passes Python's threshold for them. A full collection is
        due when generation 1 is and the last full one is :data:`FULL_EVERY_S` seconds old (a threshold of 0,
        as Python 3.14's incremental collector reports, never makes it due on its own)."""
        now = time.monotonic() if now is None else now
        counts = gc.get_count()
        due = -1
        for generation in (0, 1):
            if self._thresholds[generation] > 0 and counts[generation] > self._thresholds[generation]:
                due = generation
        if due == 1 and now - self._last_full >= FULL_EVERY_S:
            due = 2
        if due >= 0:
            gc.collect(due)
            self.collections += 1
            if due == 2:
                self._last_full = now
        return due

    def stop(self) -> None:
        """Collect now, give collection back to Python and leave the application (the next :func:`install`
        makes a new collector)."""
        self._timer.stop()
        gc.collect()
        gc.enable()
        self.setParent(None)


def install() -> MainThreadCollector:
    """The application's collector, created once on the GUI thread (call after the QApplication exists)."""
    app = QCoreApplication.instance()
    if app is None:
        raise RuntimeError("create the QApplication before installing the collector")
    existing = app.findChild(MainThreadCollector)
    if isinstance(existing, MainThreadCollector):
        return existing
    return MainThreadCollector(app)
