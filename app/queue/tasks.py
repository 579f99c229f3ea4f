"""One queued job, run in a worker process: check the file, skip what is already stored, ingest, record the end.

Runs inside a Celery pool process. The process opens the store and builds its :class:`app.runtime.Runtime` on
its first job (after the fork) and keeps both for the next ones. Idempotent: a job whose file is already fully
stored is marked done without ingesting again; a job taken over from a dead worker resumes the file from the last
stored frame (``app.ingest.job``); a message delivered again after its job ended is acknowledged and dropped.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from app.config import Config
from app.errors import UserError
from app.live.redact import redact_text
from app.queue import jobs

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5  # a file that kills its worker every time (a decoder crash) is given up after this many starts
SHARED_STORAGE = "queued files must be on storage every worker reaches, at the same path"


@dataclass(frozen=True)
class WorkerSettings:
    """What every job of this worker uses: the configuration (store, device, models) and torch threads."""

    config: Config
    torch_threads: int | None = None
    store_retry_s: float = 15.0  # a job that found the store away goes back to the queue after this pause


_settings: WorkerSettings | None = None
_state: dict[str, Any] = {}  # per pool process: "db", "runtime", "pid"


def configure(settings: WorkerSettings | None) -> None:
    """Set the worker's settings before the pool starts (pool processes inherit them); None unsets them."""
    global _settings
    _settings = settings
    _state.clear()


def _process_state() -> tuple[Any, Any]:
    """This pool process's store and runtime, opened on its first job."""
    if _settings is None:
        raise RuntimeError("worker not configured (app.queue.tasks.configure)")
    if _state.get("pid") != os.getpid():  # a fresh pool process: nothing inherited is usable
        from app.runtime import Runtime
        from app.store import open_database

        if _settings.torch_threads:
            import torch

            torch.set_num_threads(_settings.torch_threads)
        _state.clear()
        _state.update(pid=os.getpid(), db=open_database(_settings.config.db),
                      runtime=Runtime(_settings.config))
    return _state["db"], _state["runtime"]


def ingest_file(task: Any, job_id: str, path: str, camera: str, options: dict | None = None) -> str:
    """The Celery task (bound): run job ``job_id`` and return its state.

    Whatever goes wrong with the file is the job's end (failed, with the reason). A store that cannot be reached
    or written (network, restart) is not: the job goes back to the queue after a pause (``Reject(requeue)``),
    instead of being acknowledged and lost with its row left pending or running."""
    worker = f"{getattr(task.request, 'hostname', None) or 'worker'} (pid {os.getpid()})"
    try:
        db, runtime = _process_state()
        return run_job(db, runtime, job_id=job_id, path=path, camera=camera, options=options or {}, worker=worker)
    except Exception as exc:
        from celery.exceptions import Reject

        reason = redact_text(str(exc) or type(exc).__name__).splitlines()[0]
        pause = _settings.store_retry_s if _settings is not None else 15.0
        log.error("job %s: the store cannot be reached or written (%s); the job goes back to the queue in %.0f s",
                  job_id, reason, pause)
        _forget_store()
        time.sleep(pause)
        raise Reject(reason, requeue=True) from None


def _forget_store() -> None:
    """Drop this process's store and runtime: the next job opens them again."""
    db = _state.get("db")
    _state.clear()
    if db is not None:
        try:
            db.close()
        except Exception:  # already broken: nothing to give back
            log.debug("closing the store failed", exc_info=True)


def run_job(db: Any, runtime: Any, *, job_id: str, path: str, camera: str, options: dict, worker: str) -> str:
    """Run one job against ``db`` with ``runtime``; the job row says how it ended. Returns the final state."""
    job, started = jobs.start_job(db, job_id, worker)
    if job is None:
        log.error("job %s (%s) is not in this worker's store: dropped; workers and `ingest --queue` must use the "
                  "same store", job_id, path)
        return "unknown"
    if not started:
        log.info("job %s already %s: nothing to do", job_id, job.state)
        return job.state
    if job.attempts > MAX_ATTEMPTS:
        return _fail(db, job_id, f"gave up after {MAX_ATTEMPTS} starts: each one ended with its worker dying or the "
                                 "store failing")
    if job.attempts > 1:
        log.warning("job %s (%s) taken over (start %d): resuming from the last stored frame", job_id, path,
                    job.attempts)
    try:
        from app.ingest.video import probe_video

        info = probe_video(path)
    except UserError as exc:
        return _fail(db, job_id, f"worker {worker} cannot read {path}: {exc} ({SHARED_STORAGE})")
    force = bool(options.get("force")) and job.attempts == 1  # a taken-over job resumes what the first start made
    if not force:
        stored = _already_stored(db, info.path, camera)
        if stored is not None:
            jobs.end_job(db, job_id, state="done", source_id=stored,
                         message=f"{info.path.name} already stored as source {stored}: not ingested again")
            log.info("job %s: %s already stored as source %d", job_id, info.path.name, stored)
            return "done"
    from app.runtime import IngestRequest

    start = options.get("start")
    request = IngestRequest(path=info.path, camera=camera, start=datetime.fromisoformat(start) if start else None,
                            fps=options.get("fps"), force=force, link=bool(options.get("link", True)))
    log.info("job %s: ingesting %s as camera %s", job_id, info.path, camera)
    try:
        _ensure_camera(db, camera)
        outcome = runtime.ingest(db, request)
    except UserError as exc:
        return _fail(db, job_id, str(exc))
    except Exception as exc:
        log.exception("job %s failed", job_id)
        return _fail(db, job_id, f"{type(exc).__name__}: {exc}")
    result = outcome.result
    if result.status == "skipped":  # stored completely between the check above and now
        jobs.end_job(db, job_id, state="done", source_id=result.source_id, message=result.message)
        return "done"
    if result.status == "incomplete":
        return _fail(db, job_id, f"{result.message}; the file could not be read to its end (queue it again to "
                                 "resume)")
    jobs.end_job(db, job_id, state="done", source_id=result.source_id, message=outcome.message)
    log.info("job %s done: %s", job_id, outcome.message)
    return "done"


def _fail(db: Any, job_id: str, reason: str) -> str:
    reason = redact_text(reason)
    jobs.end_job(db, job_id, state="failed", error=reason)
    log.error("job %s failed: %s", job_id, reason)
    return "failed"


def _already_stored(db: Any, path: Path, camera: str) -> int | None:
    """The id of the complete source of this file under ``camera``, or None."""
    from app.ingest.video import content_hash
    from app.store import repo

    digest = content_hash(path)
    with db.session() as s:
        found = repo.find_source_by_hash(s, digest)
    if found is not None and found.status == "complete" and found.camera == camera:
        return int(found.id)
    return None


def _ensure_camera(db: Any, camera: str, tries: int = 3) -> None:
    """Create the camera before ingesting: workers starting files of one new camera at the same moment race to
    create it, and on PostgreSQL all but one would fail on the unique name; the losers find it made."""
    from sqlalchemy.exc import IntegrityError

    from app.store import repo

    for _ in range(tries):
        try:
            with db.session() as s:
                repo.get_or_create_camera(s, camera, kind="file")
            return
        except IntegrityError:
            log.debug("camera %s created by another worker at the same moment", camera)
