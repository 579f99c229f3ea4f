"""Job rows in the store: what ``reidwatch queue`` shows from any machine, whatever the broker holds.

A job is ``pending`` when queued, ``running`` while a worker has it (``attempts`` counts the starts: a second
start means a worker died and another took the job over), then ``done`` or ``failed`` with one line saying why.
Rows become :class:`JobRecord` values before they leave this module.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.store import Database
from app.store import models as m

STATES = ("pending", "running", "done", "failed")
STORE_ID_KEY = "store_id"


@dataclass(frozen=True)
class JobRecord:
    """One queued ingest job as ``reidwatch queue`` shows it."""

    id: str
    path: str
    camera: str
    state: str
    worker: str | None
    attempts: int
    error: str | None
    message: str | None
    source_id: int | None
    options: dict
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _record(row: m.QueueJob) -> JobRecord:
    return JobRecord(id=row.id, path=row.path, camera=row.camera, state=row.state, worker=row.worker,
                     attempts=row.attempts, error=row.error, message=row.message, source_id=row.source_id,
                     options=dict(row.options or {}), created_at=_utc(row.created_at) or _now(),
                     started_at=_utc(row.started_at), finished_at=_utc(row.finished_at))


def store_queue(db: Database) -> str:
    """The broker queue of this store's jobs: ``reidwatch.ingest.<store id>``. Each store has its own, so a
    worker opened on another store never takes (and loses) this store's jobs."""
    for _ in range(3):
        with db.session() as s:
            row = s.get(m.Setting, STORE_ID_KEY)
            if row is not None and isinstance(row.value, dict) and row.value.get("id"):
                return f"reidwatch.ingest.{row.value['id']}"
        try:
            with db.session() as s:
                s.add(m.Setting(key=STORE_ID_KEY, value={"id": uuid.uuid4().hex[:16]}))
        except IntegrityError:  # another program set it first: read theirs
            continue
    raise RuntimeError("could not read or set the store's id")


def add_jobs(db: Database, jobs: Sequence[tuple[str, str, str, dict]]) -> list[JobRecord]:
    """Record queued jobs ``(id, path, camera, options)`` as pending."""
    now = _now()
    with db.session() as s:
        rows = [m.QueueJob(id=jid, path=path, camera=camera, state="pending", attempts=0, options=options,
                           created_at=now) for jid, path, camera, options in jobs]
        s.add_all(rows)
        s.flush()
        return [_record(r) for r in rows]


def delete_jobs(db: Database, ids: Sequence[str]) -> None:
    """Remove job rows (jobs that never reached the broker)."""
    with db.session() as s:
        for jid in ids:
            row = s.get(m.QueueJob, jid)
            if row is not None:
                s.delete(row)


def start_job(db: Database, job_id: str, worker: str) -> tuple[JobRecord | None, bool]:
    """A worker takes a job: ``(record, started)``. ``started`` is False when the job is unknown to this store
    (record None) or already done or failed (a message delivered again after its job ended)."""
    with db.session() as s:
        row = s.scalars(select(m.QueueJob).where(m.QueueJob.id == job_id).with_for_update()).first()
        if row is None:
            return None, False
        if row.state in ("done", "failed"):
            return _record(row), False
        row.state = "running"
        row.worker = worker
        row.attempts = (row.attempts or 0) + 1
        row.started_at = _now()
        row.error = None
        s.flush()
        return _record(row), True


def end_job(db: Database, job_id: str, *, state: str, message: str | None = None, error: str | None = None,
            source_id: int | None = None) -> None:
    """Mark a job ``done`` (with its outcome line and source) or ``failed`` (with the reason)."""
    if state not in ("done", "failed"):
        raise ValueError(f"a job ends done or failed, not {state!r}")
    with db.session() as s:
        row = s.get(m.QueueJob, job_id)
        if row is None:
            return
        row.state = state
        row.message = message[:2000] if message else None
        row.error = error[:2000] if error else None
        row.source_id = source_id if source_id is not None else row.source_id
        row.finished_at = _now()


def list_jobs(db: Database, *, states: Sequence[str] | None = None, limit: int | None = None) -> list[JobRecord]:
    """Jobs, oldest first, optionally only those in ``states``; with ``limit`` the newest ``limit`` of them."""
    with db.session() as s:
        q = select(m.QueueJob)
        if states:
            q = q.where(m.QueueJob.state.in_(list(states)))
        if limit is not None:
            q = q.order_by(m.QueueJob.created_at.desc(), m.QueueJob.id.desc()).limit(limit)
            return [_record(r) for r in reversed(list(s.scalars(q)))]
        return [_record(r) for r in s.scalars(q.order_by(m.QueueJob.created_at, m.QueueJob.id))]


def count_jobs(db: Database) -> dict[str, int]:
    """How many jobs are in each state (every state listed, zeros included)."""
    with db.session() as s:
        got = dict(s.execute(select(m.QueueJob.state, func.count()).group_by(m.QueueJob.state)).all())
    return {state: int(got.get(state, 0)) for state in STATES}
