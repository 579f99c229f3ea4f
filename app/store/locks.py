"""Store-wide locks that serialise identity assignment across processes and machines.

``store_lock(session, name)`` takes the database's own lock for ``name`` inside the session's transaction and
keeps it until that transaction commits or rolls back:

- PostgreSQL: ``pg_advisory_xact_lock`` on a fixed 64-bit key derived from the name. Every node that links,
  assigns identities to new tracks or records an operator decision takes the lock first, so two nodes never
  create two identities for one person, and a linking run never overwrites a decision made while it ran: the
  decision waits for the run to commit (and the next run reads it), or the run waits for the decision.
- SQLite: nothing is taken. The file's own write lock lets one writer commit at a time, and a SQLite store
  serves one machine; claiming the write lock for a whole linking run would stall every live camera's writes
  for as long as the run computes.

Take it first thing in the transaction, before reading what the decision depends on. Locks are taken in one
order (``IDENTITIES`` before ``AUDIT``) so two sessions never wait on each other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session

IDENTITIES = "identities"  # linking runs, incremental linking of new tracks, operator decisions
AUDIT = "audit"  # appending to the hash-chained audit trail


def lock_key(name: str) -> int:
    """The fixed signed 64-bit advisory-lock key of ``name`` (the same on every node and every version)."""
    return int.from_bytes(hashlib.sha256(f"reidwatch:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def store_lock(session: Session, name: str) -> Iterator[None]:
    """Hold the store-wide lock ``name`` for the rest of ``session``'s transaction (see the module docstring).

    The lock is released by the transaction's end, not by leaving the ``with`` block; the block only marks
    where it was taken. Taking it again in the same transaction is harmless."""
    acquire(session, name)
    yield


def acquire(session: Session, name: str) -> None:
    """Take the lock ``name`` until the end of the session's current transaction."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})
