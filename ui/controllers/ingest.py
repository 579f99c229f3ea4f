"""Ingestion behaviour: queue files on the :class:`IngestWorker`, follow their progress, cancel them."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6.QtCore import QItemSelection, QObject, Signal, Slot

from app.runtime import IngestRequest
from ui.models.base import ROW_ROLE, plain_tooltip
from ui.models.jobs import IngestJobModel, JobRow
from ui.views.ingest import JobsPanel
from ui.workers import IngestWorker

log = logging.getLogger(__name__)


class IngestController(QObject):
    """Owns the jobs model. ``job_done`` fires once per job whatever its end (complete, cancelled, failed)."""

    job_done = Signal(int, str, str)  # job id, status, message
    work_changed = Signal(str, object)  # status-bar text, percent (None: nothing running, -1: unknown)

    def __init__(self, *, panel: JobsPanel, worker: IngestWorker) -> None:
        super().__init__(panel)
        self.panel, self.worker = panel, worker
        self.model = IngestJobModel(parent=self)
        panel.table.setModel(self.model)
        self._state = ""
        # bound methods, not lambdas: the worker emits from its own thread, and a QObject receiver makes
        # Qt queue the call onto the UI thread
        worker.job_started.connect(self._on_started)
        worker.job_progress.connect(self._on_progress)
        worker.job_finished.connect(self._on_finished)
        worker.job_failed.connect(self._on_failed)
        worker.state_changed.connect(self._on_state)
        panel.cancel_button.clicked.connect(self.cancel_selected)
        panel.table.selectionModel().selectionChanged.connect(self._on_selection)

    def add_videos(self, requests: Sequence[IngestRequest]) -> list[int]:
        """Queue files for ingestion (what the menu, the toolbar and drag and drop end in)."""
        if not self.worker.isRunning():
            self.worker.start()
        ids = []
        for req in requests:
            job_id = self.worker.enqueue(req)
            self.model.add_job(JobRow(job_id=job_id, path=req.path, camera=req.camera, start=req.start))
            ids.append(job_id)
        self._report()
        self._on_selection(QItemSelection(), QItemSelection())
        return ids

    def cancel(self, job_id: int) -> None:
        row = self.model.job(job_id)
        if row is not None and row.active:
            self.worker.cancel(job_id)
            self.model.update_job(job_id, message="cancelling…")

    def cancel_targets(self) -> list[JobRow]:
        """What Cancel stops: the selected jobs still queued or running, else the running one (else the next)."""
        selected = [ix.data(ROW_ROLE) for ix in self.panel.table.selectionModel().selectedRows()]
        chosen = [r for r in selected if r.active]
        if chosen:
            return chosen
        active = self.model.active_jobs()
        running = [r for r in active if r.status == "running"]
        return running or active[:1]

    def cancel_selected(self) -> None:
        for row in self.cancel_targets():
            self.cancel(row.job_id)

    def _on_selection(self, _s: QItemSelection, _d: QItemSelection) -> None:
        targets = self.cancel_targets()
        self.panel.cancel_button.setEnabled(bool(targets))
        self.panel.cancel_button.setToolTip(plain_tooltip(
            "Cancel " + ", ".join(r.path.name for r in targets) + " (what was processed is kept)" if targets
            else "Nothing to cancel"))

    def _update(self, job_id: int, **changes: object) -> None:
        self.model.update_job(job_id, **changes)
        self._report()
        self._on_selection(QItemSelection(), QItemSelection())

    @Slot(int)
    def _on_started(self, job_id: int) -> None:
        self._update(job_id, status="running")

    @Slot(int, int, int)
    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        self._update(job_id, done=done, total=total)

    @Slot(int, str)
    def _on_failed(self, job_id: int, message: str) -> None:
        self._on_finished(job_id, "failed", message)

    @Slot(int, str, str)
    def _on_finished(self, job_id: int, status: str, message: str) -> None:
        row = self.model.job(job_id)
        done = row.total if row is not None and status == "complete" and row.total else None
        changes: dict[str, object] = {"status": status, "message": message}
        if done is not None:
            changes["done"] = done
        self._update(job_id, **changes)
        log.info("ingest job %d %s: %s", job_id, status, message)
        self.job_done.emit(job_id, status, message)

    @Slot(str)
    def _on_state(self, state: str) -> None:
        self._state = "" if state == "idle" else state
        self._report()

    def _report(self) -> None:
        active = self.model.active_jobs()
        if not active:
            self.work_changed.emit("", None)
            return
        running = next((r for r in active if r.status == "running"), None)
        queued = len(active) - (1 if running else 0)
        text = self._state or (f"ingesting {running.path.name}" if running else "waiting")
        if queued:
            text += f" (+{queued} queued)"
        self.work_changed.emit(text, running.percent if running else -1)

    def jobs(self) -> list[JobRow]:
        return self.model.rows()
