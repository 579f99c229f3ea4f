"""Garbage cycles are collected on the GUI thread, never on a worker (ui.collector)."""

from __future__ import annotations

import gc
import threading

from ui.app import create_application
from ui.collector import MainThreadCollector


class _Witness:
    """Part of a reference cycle; records the thread its finaliser ran on."""

    died_on: list[str] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        _Witness.died_on.append(threading.current_thread().name)


_KEPT: list[list] = []


def _make_cycles_and_garbage() -> None:
    for _ in range(50):
        _Witness()
    # far past the youngest generation's threshold: Python would collect here, on this thread
    _KEPT.extend([] for _ in range(20 * gc.get_threshold()[0]))


def test_cycles_made_on_a_worker_die_on_the_gui_thread(qtbot) -> None:
    app = create_application()
    collector = app.findChild(MainThreadCollector)
    assert isinstance(collector, MainThreadCollector)
    assert not gc.isenabled()
    gc.collect()
    _Witness.died_on.clear()
    worker = threading.Thread(target=_make_cycles_and_garbage, name="loader")
    worker.start()
    worker.join()
    assert _Witness.died_on == []  # nothing was collected on the worker
    qtbot.waitUntil(lambda: len(_Witness.died_on) == 50, timeout=5000)
    assert set(_Witness.died_on) == {threading.main_thread().name}
    assert collector.collections >= 1
    assert create_application().findChild(MainThreadCollector) is collector  # one per application
    _KEPT.clear()


def test_collect_due_follows_pythons_thresholds(qtbot) -> None:
    collector = create_application().findChild(MainThreadCollector)
    assert isinstance(collector, MainThreadCollector)
    gc.collect()
    assert collector.collect_due() == -1  # nothing allocated since: nothing due
    junk = [[] for _ in range(gc.get_threshold()[0] + 10)]
    assert collector.collect_due() == 0
    del junk
