"""Starting a worker: check the broker and the store, then consume this store's queue with a prefork pool.

The main process holds the broker connection (and its heartbeats) and runs no job; each of the ``concurrency``
pool processes runs one job at a time with its own detector and encoder. When the main process dies, its pool
processes die with it (Celery sets their parent-death signal), the connection closes and RabbitMQ hands every
unacknowledged job to another worker at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, replace

from app.config import Config
from app.errors import UserError
from app.live.redact import redact_url
from app.queue import jobs
from app.queue.broker import ping_broker
from app.queue.tasks import WorkerSettings, configure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker runs: pool processes, its node name (default ``reidwatch-PID@HOST``), a metrics port."""

    concurrency: int = 1
    name: str | None = None
    metrics_port: int | None = None
    metrics_addr: str = "127.0.0.1"
    metrics_interval_s: float = 5.0


def node_name(name: str | None = None) -> str:
    """The Celery node name, ``reidwatch-<pid>@<host>`` by default; job rows show it."""
    return name or f"reidwatch-{os.getpid()}@{socket.gethostname()}"


def run_worker(cfg: Config, broker: str, options: WorkerOptions) -> int:
    """Consume the jobs of ``cfg``'s store until stopped (Ctrl-C or SIGTERM: the running jobs finish first).
    Returns the exit status."""
    if options.concurrency < 1:
        raise UserError(f"--concurrency must be 1 or more, not {options.concurrency}")
    from app.store import open_database

    db = open_database(cfg.db, create=False)  # migrates once here, not in every pool process; a typo is an error
    try:
        queue = jobs.store_queue(db)
        counts = jobs.count_jobs(db)
    finally:
        db.close()  # pool processes open their own: connections never cross a fork
    ping_broker(broker)
    threads = max(1, (os.cpu_count() or 1) // options.concurrency)
    configure(WorkerSettings(config=replace(cfg), torch_threads=threads))
    if options.metrics_port is not None:
        _serve_metrics(cfg, options)
    from app.queue.celery_app import make_app

    app = make_app(broker)
    name = node_name(options.name)
    log.info("worker %s: %d process(es), %d torch thread(s) each, broker %s, queue %s (%d pending, %d running)",
             name, options.concurrency, threads, redact_url(broker), queue, counts["pending"], counts["running"])
    worker = app.Worker(hostname=name, pool_cls="prefork", concurrency=options.concurrency, queues=[queue],
                        loglevel=logging.getLevelName(logging.getLogger().getEffectiveLevel()),
                        without_gossip=True, without_mingle=True, without_heartbeat=True, quiet=True,
                        optimization="fair")
    worker.start()
    return int(worker.exitcode or 0)


def _serve_metrics(cfg: Config, options: WorkerOptions) -> None:
    """Serve ``/metrics`` from the main process: ``reidwatch_queue_jobs{state}``, the store's job counts, read
    every ``metrics_interval_s`` seconds. (Per-camera figures of the running jobs live in the pool processes and
    are not exported from there.)"""
    from app.ops.metrics import serve_metrics, set_queue_jobs
    from app.store import open_database

    serve_metrics(int(options.metrics_port or 0), options.metrics_addr)

    def refresh() -> None:
        db = open_database(cfg.db)  # this thread's own engine; pool processes never use it
        try:
            while True:
                try:
                    set_queue_jobs(jobs.count_jobs(db))
                except Exception as exc:  # the store is busy or away: keep the last figures, try again
                    log.warning("queue metrics not refreshed: %s", exc)
                threading.Event().wait(options.metrics_interval_s)
        finally:
            db.close()

    from celery.signals import worker_ready

    # started once the pool processes exist, so that none is forked while this thread holds a store connection
    thread = threading.Thread(target=refresh, name="queue-metrics", daemon=True)
    worker_ready.connect(lambda **_: thread.start(), weak=False)
