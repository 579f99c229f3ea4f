"""Job rows on both store backends (migration 0006): states, attempts, listing and the store's own queue name."""

from __future__ import annotations

import pytest

from app.queue import jobs
from app.store import open_database


@pytest.fixture
def db(store_url: str):
    database = open_database(store_url)
    yield database
    database.close()


def test_a_job_goes_pending_running_done_and_counts_its_starts(db) -> None:
    jobs.add_jobs(db, [("a" * 32, "/v/a.avi", "gate", {"link": True}), ("b" * 32, "/v/b.avi", "gate", {})])
    assert jobs.count_jobs(db) == {"pending": 2, "running": 0, "done": 0, "failed": 0}
    rec, started = jobs.start_job(db, "a" * 32, "w1@host (pid 10)")
    assert started and rec is not None and rec.state == "running" and rec.attempts == 1
    rec, started = jobs.start_job(db, "a" * 32, "w2@host (pid 20)")  # w1 died: w2 takes the job over
    assert started and rec is not None and rec.attempts == 2 and rec.worker == "w2@host (pid 20)"
    jobs.end_job(db, "a" * 32, state="done", message="a.avi: 60 frames", source_id=7)
    rec, started = jobs.start_job(db, "a" * 32, "w3@host (pid 30)")  # a message delivered again after the end
    assert not started and rec is not None and rec.state == "done" and rec.attempts == 2
    jobs.end_job(db, "b" * 32, state="failed", error="cannot read /v/b.avi")
    listed = jobs.list_jobs(db)
    assert [(j.path, j.state, j.source_id, j.error) for j in listed] == [
        ("/v/a.avi", "done", 7, None), ("/v/b.avi", "failed", None, "cannot read /v/b.avi")]
    assert listed[0].options == {"link": True}
    assert listed[0].created_at.tzinfo is not None and listed[0].finished_at is not None
    assert listed[0].finished_at >= listed[0].started_at >= listed[0].created_at  # type: ignore[operator]
    assert [j.path for j in jobs.list_jobs(db, states=["failed"])] == ["/v/b.avi"]
    assert [j.path for j in jobs.list_jobs(db, limit=1)] == ["/v/b.avi"]
    assert jobs.count_jobs(db) == {"pending": 0, "running": 0, "done": 1, "failed": 1}


def test_unknown_jobs_are_not_started_and_a_job_ends_only_done_or_failed(db) -> None:
    assert jobs.start_job(db, "nope", "w") == (None, False)
    with pytest.raises(ValueError, match="done or failed"):
        jobs.end_job(db, "nope", state="running")


def test_each_store_has_its_own_stable_queue(db, tmp_path) -> None:
    name = jobs.store_queue(db)
    assert name.startswith("reidwatch.ingest.") and jobs.store_queue(db) == name
    other = open_database(tmp_path / "other.db")
    try:
        assert jobs.store_queue(other) != name
    finally:
        other.close()


def test_a_job_that_finds_the_store_away_goes_back_to_the_queue(tmp_path) -> None:
    """The real Celery task of a worker whose store cannot be opened rejects its message with requeue, so the
    job is neither acknowledged nor lost."""
    from celery.exceptions import Reject

    from app.config import Config
    from app.queue import tasks
    from app.queue.celery_app import TASK_NAME, make_app

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    tasks.configure(tasks.WorkerSettings(config=Config(db=blocker / "s.db"), store_retry_s=0))
    try:
        task = make_app("amqp://127.0.0.1//").tasks[TASK_NAME]
        with pytest.raises(Reject) as caught:
            tasks.ingest_file(task, "j1", str(tmp_path / "a.avi"), "gate")
        assert caught.value.requeue and "cannot create database" in str(caught.value.reason)
    finally:
        tasks.configure(None)
