"""The Celery application of queued ingest: one task, late acknowledgement, one message per worker process.

Why these settings (RabbitMQ is the broker):
- ``task_acks_late``: a job's message is acknowledged when the job has ended, not when it starts, so a worker that
  dies mid-video (``kill -9``, power loss) never loses it: RabbitMQ hands the message to another worker as soon as
  the dead worker's connection closes, and that worker resumes the file from the last stored frame.
- ``task_reject_on_worker_lost``: the same when only the pool process running the job dies.
- ``worker_prefetch_multiplier = 1``: a worker process holds one job at a time, so a queued file is never stuck
  behind a long video on a busy worker while another worker is idle.
- ``worker_cancel_long_running_tasks_on_connection_loss``: when the broker connection drops, RabbitMQ gives the
  unacknowledged job to another worker; the job running here is stopped, so that one file never has two writers.
- no result backend: outcomes go to the store (``app.queue.jobs``), which every machine already reads.
"""

from __future__ import annotations

from celery import Celery

TASK_NAME = "reidwatch.ingest_file"


def make_app(broker: str) -> Celery:
    """A Celery application for ``broker`` with the ingest task registered."""
    app = Celery("reidwatch", broker=broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        broker_heartbeat=30,  # a worker machine that loses power or network is given up within about a minute
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_default_delivery_mode="persistent",
        worker_hijack_root_logger=False,  # keep reidwatch's handler and its credential-redacting filter
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        enable_utc=True,
    )
    from app.queue.tasks import ingest_file

    app.task(name=TASK_NAME, bind=True)(ingest_file)
    return app
