"""Legal hold: an identity under hold keeps its tracks through every retention purge until the hold is lifted."""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import UserError
from app.privacy import audit
from app.store import Database
from app.store import models as m
from app.store.locks import IDENTITIES, acquire


@dataclass(frozen=True)
class HoldInfo:
    """An identity's hold state after a change."""

    identity_id: int
    hold: bool
    reason: str | None


def set_hold(db: Database, identity_id: int, on: bool = True, *, reason: str | None = None,
             who: str | None = None) -> HoldInfo:
    """Put an identity under legal hold (a reason is required) or lift the hold; audited in the same transaction."""
    clean = " ".join(str(reason or "").split())
    if on and not clean:
        raise UserError("a legal hold needs a reason (--reason TEXT)")
    if len(clean) > 2000:
        raise UserError("the reason is too long (at most 2000 characters)")
    with db.session() as s:
        acquire(s, IDENTITIES)  # a purge on another node re-checks holds under the same lock
        ident = s.get(m.Identity, int(identity_id))
        if ident is None:
            raise UserError(f"no identity {identity_id} in the store")
        before = {"hold": bool(ident.hold), "reason": ident.hold_reason}
        ident.hold = int(bool(on))
        ident.hold_reason = clean if on else None
        audit.append(s, "hold", who, {"hold": bool(on), "reason": clean or None, "before": before,
                                      "subjects": audit.subjects(identities=[ident.id])})
        return HoldInfo(ident.id, bool(on), ident.hold_reason)


def hold_of(db: Database, identity_id: int) -> HoldInfo | None:
    """An identity's hold state, or None when there is no such identity."""
    with db.session() as s:
        ident = s.get(m.Identity, int(identity_id))
        return None if ident is None else HoldInfo(ident.id, bool(ident.hold), ident.hold_reason)
