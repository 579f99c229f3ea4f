"""The audit rows a report includes: those about its identities, its sightings' tracks, or its cameras."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.privacy.audit import AuditRow, row_of, rows_about
from app.report.model import AuditLine
from app.store import models as m

_SKIP = {"subjects", "before"}


def describe(row: AuditRow) -> str:
    """One line of a row's details (subjects and snapshots left out), for people."""
    parts = []
    for key, value in sorted(row.details.items()):
        if key in _SKIP or value in (None, [], {}):
            continue
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(", ", ": "))
        parts.append(f"{key}: {text}")
    return "; ".join(parts)


def audit_lines(s: Session, *, identities: set[int], tracks: set[int], cameras: set[str] | None,
                chunk: int = 5000) -> tuple[AuditLine, ...]:
    """The audit rows whose subjects touch the report's scope, oldest first."""
    out: list[AuditLine] = []
    last = 0
    while True:
        batch = list(s.scalars(select(m.AuditEntry).where(m.AuditEntry.id > last).order_by(m.AuditEntry.id)
                               .limit(chunk)))
        if not batch:
            break
        last = batch[-1].id
        for r in rows_about((row_of(e) for e in batch), identities=identities, tracks=tracks, cameras=cameras):
            out.append(AuditLine(r.id, r.at, r.who, r.action, describe(r)))
    return tuple(out)
