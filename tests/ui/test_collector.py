"""Garbage cycles are collected on the GUI thread, never on a worker (ui.collector)."""

from __future__ import annotations

import gc
import threading
import time

from ui.app import create_application
from ui.collector import FULL_EVERY_S, MainThreadCollector


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

    def young_collections_past_threshold() -> None:
        gc.collect()
        for _ in range(gc.get_threshold()[1] + 1):  # each young collection counts one for generation 1
            gc.collect(0)

    young_collections_past_threshold()
    assert collector.collect_due() == 1  # a full collection only after FULL_EVERY_S since the last one
    young_collections_past_threshold()
    assert collector.collect_due(now=time.monotonic() + FULL_EVERY_S + 1) == 2


def test_the_collector_hands_collection_back_when_stopped(qtbot) -> None:
    app = create_application()
    first = app.findChild(MainThreadCollector)
    assert isinstance(first, MainThreadCollector) and not gc.isenabled()
    first.stop()
    assert gc.isenabled() and app.findChild(MainThreadCollector) is None
    second = create_application().findChild(MainThreadCollector)
    assert isinstance(second, MainThreadCollector) and second is not first and not gc.isenabled()
