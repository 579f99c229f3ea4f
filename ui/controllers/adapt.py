"""The "Adapt to this site" action: ``Runtime.adapt`` on a worker, its progress in the status bar, a summary.

Training reads the store's own tracks and re-reads their crops from the source videos, so it runs on the task
runner's thread pool, never the GUI thread. Progress arrives on the worker thread and reaches the GUI thread
through a queued signal; the summary (the model card's separation of known-same from known-different pairs,
before and after) is shown when the run ends, and the gallery refreshes because every track was re-embedded
and relinked.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal

from app.runtime import Runtime
from app.store import Database
from ui.workers import TaskRunner


def _gap_and_auc(sep: object) -> tuple[float | None, float | None]:
    """(gap, AUC) of a separation, a ``Separation`` value or its JSON dict; None where unknown."""
    if sep is None:
        return None, None
    if isinstance(sep, dict):
        same, diff, auc = sep.get("same_median"), sep.get("different_median"), sep.get("auc")
        gap = diff - same if isinstance(same, (int, float)) and isinstance(diff, (int, float)) else None
        return gap, auc if isinstance(auc, (int, float)) else None
    return getattr(sep, "gap", None), getattr(sep, "auc", None)


def summary_text(card: dict, message: str) -> str:
    """One paragraph for the operator from an adaptation's model card (plain text)."""
    lines = [message]
    (gap0, auc0), (gap1, auc1) = (_gap_and_auc(card.get("separation_before")),
                                  _gap_and_auc(card.get("separation_after")))

    def fmt(x: float | None) -> str:
        return "n/a" if x is None or x != x else f"{x:.2f}"

    if gap0 is not None or gap1 is not None:
        lines.append(f"Known-same vs known-different people, on pairs held out of training: distance gap "
                     f"{fmt(gap0)} before, {fmt(gap1)} after; AUC {fmt(auc0)} before, {fmt(auc1)} after "
                     f"(larger is better).")
    return "\n".join(lines)


class AdaptController(QObject):
    """Runs one adaptation at a time; ``progress`` and ``finished`` are emitted on the GUI thread."""

    progress = Signal(str)  # one status line ("adapt: train 12/60, loss 0.41")
    finished = Signal(bool, str)  # ok, summary or error line
    _progress_in = Signal(str)

    def __init__(self, *, runtime: Runtime, runner: TaskRunner, db: Callable[[], Database],
                 options: Callable[[], object] | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runtime, self.runner, self._db = runtime, runner, db
        self.options = options  # () -> AdaptOptions; default: reidwatch adapt's defaults
        self.running = False
        self._last = 0.0
        self._progress_in.connect(self.progress, Qt.ConnectionType.QueuedConnection)

    def start(self) -> bool:
        """Start adapting the open store; False when a run is already going."""
        if self.running:
            return False
        self.running = True
        self.progress.emit("adapting to this site: reading the store's tracks…")
        self.runner.submit(self._run, self._db(), on_done=self._done, on_error=self._failed, key="adapt")
        return True

    def _run(self, db: Database) -> str:
        from app.training.adapt import AdaptOptions

        options = self.options() if self.options is not None else AdaptOptions()
        outcome = self.runtime.adapt(db, options, progress=self._on_progress,
                                     on_state=lambda text: self._progress_in.emit(text))
        return summary_text(outcome.card, outcome.message)

    def _on_progress(self, stage: str, done: int, total: int, note: str) -> None:
        now = time.monotonic()
        if now - self._last < 0.5 and done < total:
            return
        self._last = now
        extra = f", {note}" if note else ""
        self._progress_in.emit(f"adapting to this site: {stage} {done}/{total}{extra}")

    def _done(self, summary: object) -> None:
        self.running = False
        self.finished.emit(True, str(summary))

    def _failed(self, message: str) -> None:
        self.running = False
        self.finished.emit(False, f"adaptation failed: {message}")
