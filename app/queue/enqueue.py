"""Queueing files: one job per file, recorded in the store, then published to the store's broker queue."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.errors import UserError
from app.live.redact import redact_text, redact_url
from app.queue import jobs
from app.queue.broker import ping_broker
from app.store import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueuedFile:
    """One file queued: its job id and absolute path."""

    job_id: str
    path: Path


def enqueue_files(db: Database, broker: str, files: Sequence[str | Path], *, camera: str,
                  options: dict | None = None) -> list[QueuedFile]:
    """Queue one ingest job per file for ``camera``. Every file is checked here first (it must be a video this
    machine reads; workers read it at the same absolute path), then the broker, then the jobs are recorded as
    pending and published. Nothing is queued when a file or the broker is wrong."""
    from app.ingest.video import probe_video
    from app.queue.celery_app import TASK_NAME, make_app

    paths = [probe_video(f).path.resolve() for f in files]  # one clear line for a file that is not a video
    if len(set(paths)) != len(paths):
        raise UserError("the same file is given twice")
    ping_broker(broker)
    queue = jobs.store_queue(db)
    opts = dict(options or {})
    planned = [(uuid.uuid4().hex, str(p), camera, opts) for p in paths]
    jobs.add_jobs(db, planned)
    app = make_app(broker)
    sent: list[QueuedFile] = []
    try:
        with app.producer_or_acquire() as producer:
            for jid, path, cam, o in planned:
                app.send_task(TASK_NAME, args=(jid, path, cam, o), task_id=jid, queue=queue, producer=producer,
                              retry=True, retry_policy={"max_retries": 2})
                sent.append(QueuedFile(jid, Path(path)))
    except Exception as exc:
        jobs.delete_jobs(db, [jid for jid, *_ in planned[len(sent):]])
        reason = redact_text(str(exc) or type(exc).__name__).splitlines()[0]
        raise UserError(f"the broker at {redact_url(broker)} stopped accepting jobs after {len(sent)} of "
                        f"{len(planned)}: {reason}") from None
    log.info("%d job(s) queued on %s, queue %s", len(sent), redact_url(broker), queue)
    return sent
