"""The audit trail: who searched for whom, exported what, decided, held, purged; append-only, chained by hash.

Each row's hash is SHA-256 over the previous row's hash and the canonical JSON of the row (id, time, who,
action, details). :func:`append` inserts a row first (which takes the store's write lock, so no other writer can
append between), then reads the previous hash and fills in its own, in the caller's transaction: an action that
writes to the store (a decision, a hold, a purge) is recorded in the same transaction as its change; read-only
actions (search, export) are recorded right after they ran. The store's triggers refuse DELETE, and UPDATE of a
row whose hash is set. :func:`verify` recomputes the chain: an edited, inserted or deleted row (the last one
included, through SQLite's AUTOINCREMENT counter) is reported. Someone who can rewrite the file can rewrite the
whole chain: keep the head hash that ``reidwatch audit verify`` prints somewhere else to detect that too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, text

from app.store import Database
from app.store import models as m
from app.store.audit_log import (
    ACTIONS,
    GENESIS,
    MAX_WHO,
    AuditRow,
    append,
    canonical,
    current_who,
    os_user,
    row_hash,
    row_of,
    set_operator,
    subjects,
)

__all__ = [
    "ACTIONS", "GENESIS", "MAX_WHO", "AuditRow", "VerifyResult", "append", "canonical", "chain_problems",
    "current_who", "list_rows", "os_user", "record", "row_hash", "rows_about", "set_operator", "subjects", "verify",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify` found: rows checked, the last row's hash, and one line per problem."""

    n_rows: int
    head_hash: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the chain is intact."""
        return not self.problems


def chain_problems(rows: Iterable[tuple[int, datetime, str, str, str, str, str]]) -> tuple[int, str, list[str]]:
    """Check rows ``(id, at, who, action, details_json, prev_hash, hash)`` in id order; pure.

    Returns (rows seen, the last hash, problems).
    """
    prev, n, problems = GENESIS, 0, []
    for row_id, at, who, action, details, prev_hash, digest in rows:
        n += 1
        if prev_hash != prev:
            problems.append(f"row {row_id}: does not follow the row before it (a row was deleted or inserted)")
        if row_hash(prev_hash, row_id, at, who, action, details) != digest:
            problems.append(f"row {row_id}: its content does not match its hash (the row was edited)")
        prev = digest
    return n, prev, problems


def _naive_utc(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc).replace(tzinfo=None) if dt.tzinfo else dt


def record(db: Database, action: str, who: str | None = None, details: Mapping[str, Any] | None = None) -> AuditRow:
    """Append one audit row in its own transaction (for actions that do not write to the store themselves:
    searches, exports, adaptation runs). Adaptation: ``record(db, "adapt", who, {"checkpoint": ...})``."""
    with db.session() as s:
        return append(s, action, who, details)


def list_rows(db: Database, *, t_from: datetime | None = None, t_to: datetime | None = None,
              who: str | None = None, action: str | None = None, limit: int | None = None) -> list[AuditRow]:
    """Audit rows in the order they were written, filtered by time window, operator and action."""
    q = select(m.AuditEntry).order_by(m.AuditEntry.id)
    if t_from is not None:
        q = q.where(m.AuditEntry.at >= _naive_utc(t_from))
    if t_to is not None:
        q = q.where(m.AuditEntry.at <= _naive_utc(t_to))
    if who:
        q = q.where(m.AuditEntry.who == who)
    if action:
        q = q.where(m.AuditEntry.action == action)
    if limit is not None:
        q = q.limit(limit)
    with db.session() as s:
        return [row_of(e) for e in s.scalars(q)]


def verify(db: Database, *, chunk: int = 5000) -> VerifyResult:
    """Recompute the whole chain; also catches rows deleted from its end (AUTOINCREMENT remembers them)."""
    cols = (m.AuditEntry.id, m.AuditEntry.at, m.AuditEntry.who, m.AuditEntry.action, m.AuditEntry.details,
            m.AuditEntry.prev_hash, m.AuditEntry.hash)
    with db.session() as s:
        rows = s.execute(select(*cols).order_by(m.AuditEntry.id).execution_options(yield_per=chunk))
        n, head, problems = chain_problems(tuple(r) for r in rows)
        last_id = s.scalar(select(m.AuditEntry.id).order_by(m.AuditEntry.id.desc()).limit(1)) or 0
        seq = None
        if db.engine.dialect.name == "sqlite":
            seq = s.execute(text("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'")).scalar()
        if seq is not None and int(seq) > last_id:
            problems.append(f"rows {last_id + 1}..{seq} were written and are gone (deleted from the end)")
    return VerifyResult(n, head, problems)


def rows_about(rows: Iterable[AuditRow], *, identities: set[int], tracks: set[int],
               cameras: set[str] | None) -> list[AuditRow]:
    """The rows whose subjects touch the given identities or tracks (or cameras, when given); pure."""
    out = []
    for r in rows:
        sub = r.details.get("subjects") or {}
        if (identities & set(sub.get("identities", ())) or tracks & set(sub.get("tracks", ()))
                or (cameras and cameras & set(sub.get("cameras", ())))):
            out.append(r)
    return out
