"""A test-only driver: plays a short script of operator actions (keys, typing, button clicks) into the running
application, the way the real-window smoke test needs it (``reidwatch ui --drive SCRIPT``, a hidden option).

Events are synthesised with ``QTest`` inside the application, so they reach widgets through Qt's own event
delivery (shortcuts, focus, dialogs) whatever the window manager does with real input. One step a line;
``#`` starts a comment::

    wait 500                 # let the event loop run for 500 ms
    key Ctrl+2               # a key sequence to the focus widget of the active window
    type lobby               # text typed into that focus widget
    click Add camera…        # click the visible, enabled button with this text (any window)
    select entrance          # choose the first item containing this text in a visible, enabled drop-down
    window Add camera        # wait until a window with this title is shown and active
    until-text Live monitor  # wait until a visible label or list item shows this (case-insensitive)
    log some text            # a line on stdout

A step that cannot be done (no such button, a window that never shows) closes the windows, and the
application exits with code 3 and one line on stderr saying which step failed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QApplication, QComboBox, QLabel, QListWidget, QWidget

EXIT_DRIVER_FAILED = 3
STEP_TIMEOUT_S = 60.0
POLL_MS = 50


class DriverError(Exception):
    """A step of the script could not be done."""


@dataclass(frozen=True)
class Step:
    line: int
    verb: str
    arg: str


VERBS = ("wait", "key", "type", "click", "select", "window", "until-text", "log")


def parse_script(text: str) -> list[Step]:
    """The steps of a script (see the module docstring); ValueError for an unknown verb."""
    steps = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("type ") else raw.strip()
        if not line:
            continue
        verb, _, arg = line.partition(" ")
        if verb not in VERBS:
            raise ValueError(f"line {n}: unknown step {verb!r} (known: {', '.join(VERBS)})")
        if verb == "wait" and not arg.strip().isdigit():
            raise ValueError(f"line {n}: wait takes milliseconds, not {arg!r}")
        steps.append(Step(n, verb, arg.strip()))
    return steps


def _visible_windows() -> list[QWidget]:
    return [w for w in QApplication.topLevelWidgets() if w.isVisible()]


def _target() -> QWidget:
    """Where keys go: the focus widget of the active window (the active window itself when nothing has focus)."""
    active = QApplication.activeModalWidget() or QApplication.activeWindow()
    if active is None:
        windows = _visible_windows()
        if not windows:
            raise DriverError("no window is shown")
        active = windows[-1]
    return active.focusWidget() or active


def _press(sequence: str) -> None:
    keys = QKeySequence(sequence)
    if keys.isEmpty():
        raise DriverError(f"not a key sequence: {sequence!r}")
    for i in range(keys.count()):
        combo = keys[i]
        QTest.keyClick(_target(), combo.key(), combo.keyboardModifiers())


def _find_button(text: str) -> QAbstractButton | None:
    for window in _visible_windows():
        for button in window.findChildren(QAbstractButton):
            if button.text() == text and button.isVisible() and button.isEnabled():
                return button
    return None


def _choose(text: str) -> bool:
    for window in _visible_windows():
        for combo in window.findChildren(QComboBox):
            if not (combo.isVisible() and combo.isEnabled()):
                continue
            for i in range(combo.count()):
                if text in combo.itemText(i):
                    combo.setFocus()
                    combo.setCurrentIndex(i)  # as picking it from the list does (currentIndexChanged)
                    return True
    return False


def _find_window(title: str) -> QWidget | None:
    return next((w for w in _visible_windows() if w.windowTitle() == title), None)


def _shows_text(text: str) -> bool:
    """Whether a visible label or list item shows ``text`` (case-insensitive)."""
    want = text.lower()
    for window in _visible_windows():
        if any(label.isVisible() and want in label.text().lower() for label in window.findChildren(QLabel)):
            return True
        for view in window.findChildren(QListWidget):
            if view.isVisible() and any(want in view.item(i).text().lower() for i in range(view.count())):
                return True
    return False


class Driver(QObject):
    """Runs the steps one at a time from the event loop; a failed step calls ``on_fail(message)``."""

    def __init__(self, steps: list[Step], *, on_fail: Callable[[str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.steps = list(steps)
        self.on_fail = on_fail
        self.failed = False  # a step failed: the application should exit with EXIT_DRIVER_FAILED
        self._i = 0
        self._deadline = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._run)

    def start(self, delay_ms: int = 0) -> None:
        self._timer.start(delay_ms)

    def _next(self, delay_ms: int = 0) -> None:
        self._i += 1
        self._deadline = 0.0
        self._timer.start(delay_ms)

    def _poll(self, what: str, step: Step) -> None:
        if self._deadline == 0.0:
            self._deadline = time.monotonic() + STEP_TIMEOUT_S
        if time.monotonic() > self._deadline:
            raise DriverError(f"{what} within {STEP_TIMEOUT_S:.0f} s")
        self._timer.start(POLL_MS)

    def _run(self) -> None:
        if self._i >= len(self.steps):
            return
        step = self.steps[self._i]
        try:
            self._do(step)
        except DriverError as exc:
            self.on_fail(f"driver: line {step.line} ({step.verb} {step.arg}) failed: {exc}")

    def _do(self, step: Step) -> None:
        verb, arg = step.verb, step.arg
        if verb == "wait":
            self._next(int(arg))
        elif verb == "key":
            _press(arg)
            self._next()
        elif verb == "type":
            QTest.keyClicks(_target(), arg)
            self._next()
        elif verb == "click":
            button = _find_button(arg)
            if button is None:
                self._poll(f"no visible, enabled button {arg!r}", step)
                return
            QTest.mouseClick(button, Qt.MouseButton.LeftButton)
            self._next()
        elif verb == "select":
            if not _choose(arg):
                self._poll(f"no visible drop-down offering {arg!r}", step)
                return
            self._next()
        elif verb == "window":
            window = _find_window(arg)
            if window is None or not window.isActiveWindow():
                if window is not None:
                    window.activateWindow()
                self._poll(f"no active window titled {arg!r}", step)
                return
            self._next()
        elif verb == "until-text":
            if not _shows_text(arg):
                self._poll(f"no label or list item showing {arg!r}", step)
                return
            self._next()
        elif verb == "log":
            print(f"driver: {arg}", flush=True)  # noqa: T201 - the test reads it
            self._next()


def start_driver(script: Path, parent: QObject) -> Driver:
    """Parse ``script`` and start playing it once the event loop runs (see ``Driver.failed``)."""
    steps = parse_script(script.read_text(encoding="utf-8"))

    def fail(message: str) -> None:
        print(message, file=sys.stderr, flush=True)  # noqa: T201 - the test reads it
        driver.failed = True
        for window in _visible_windows():
            window.close()

    driver = Driver(steps, on_fail=fail, parent=parent)
    driver.start(200)
    return driver
