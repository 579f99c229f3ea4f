"""The audit log's storage primitives: the row, its canonical form and hash, and appending in a session.

The policy and the reading side (recording outside a transaction, listing, verifying the chain, subjects) live in
:mod:`app.privacy.audit`; this module is here so that the store itself can audit its own changes (a camera added)
in the same transaction, without importing anything above it.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store import models as m
from app.store.locks import AUDIT, acquire

log = logging.getLogger(__name__)

GENESIS = "0" * 64
ACTIONS = frozenset({
    "search", "export", "watch", "hold", "rename", "merge", "split", "confirm", "reject", "undo", "adapt",
    "purge", "camera",
})
MAX_WHO = 200


@dataclass(frozen=True)
class AuditRow:
    """One stored audit row (``at`` in UTC, ``details`` decoded)."""

    id: int
    at: datetime
    who: str
    action: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


_operator: str | None = None  # the desktop UI's operator name for this process (settings); None: the OS user


def set_operator(name: str | None) -> None:
    """Name the operator of this process (the desktop UI's setting); every row without an explicit ``who``
    carries it. None or empty: the OS user."""
    global _operator
    _operator = (" ".join(str(name).split())[:MAX_WHO] or None) if name else None


def current_who() -> str:
    """Who acts when no ``who`` is given: the process's operator, else the OS user."""
    return _operator or os_user()


def os_user() -> str:
    """The operating-system user name (``unknown`` when the platform cannot say)."""
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # getpass raises various errors when no user name can be found
        return "unknown"


def canonical(obj: object) -> str:
    """The one JSON text of ``obj`` that is hashed: sorted keys, no spaces, non-JSON values as strings."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def row_hash(prev_hash: str, row_id: int, at: datetime, who: str, action: str, details_json: str) -> str:
    """SHA-256 (hex) of the previous hash and the row's canonical form (``at`` naive UTC)."""
    body = canonical({"id": int(row_id), "at": at.isoformat(timespec="microseconds"), "who": who,
                      "action": action, "details": details_json})
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def row_of(e: m.AuditEntry) -> AuditRow:
    """The stored row as a value."""
    return AuditRow(e.id, e.at.replace(tzinfo=timezone.utc), e.who, e.action, json.loads(e.details), e.prev_hash,
                    e.hash)


def append(s: Session, action: str, who: str | None, details: Mapping[str, Any] | None = None) -> AuditRow:
    """Add one audit row in the session's transaction (committed, or rolled back, with the caller's change)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; known: {', '.join(sorted(ACTIONS))}")
    who_ = (" ".join(str(who).split()) if who else "") or current_who()
    entry = m.AuditEntry(at=datetime.now(timezone.utc).replace(tzinfo=None), who=who_[:MAX_WHO], action=action,
                         details=canonical(dict(details or {})), prev_hash="", hash="")
    acquire(s, AUDIT)  # PostgreSQL: appends take turns until the commit, so the chain never forks
    s.add(entry)
    s.flush()  # the insert takes the write lock: nobody appends between here and the commit
    prev = s.scalar(select(m.AuditEntry.hash).where(m.AuditEntry.id < entry.id)
                    .order_by(m.AuditEntry.id.desc()).limit(1)) or GENESIS
    entry.prev_hash = prev
    entry.hash = row_hash(prev, entry.id, entry.at, entry.who, entry.action, entry.details)
    s.flush()
    log.info("audit %d: %s by %s", entry.id, action, entry.who)
    return row_of(entry)


def subjects(*, identities: Any = (), tracks: Any = (), cameras: Any = ()) -> dict[str, list[Any]]:
    """The ``subjects`` entry of a row's details: whom an action was about (what reports select rows by)."""
    out: dict[str, list[Any]] = {}
    if ids := sorted({int(i) for i in identities if i is not None}):
        out["identities"] = ids
    if tids := sorted({int(t) for t in tracks if t is not None}):
        out["tracks"] = tids
    if cams := sorted({str(c) for c in cameras}):
        out["cameras"] = cams
    return out
