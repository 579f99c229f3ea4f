"""Operators' decisions: confirm / reject a link, rename, merge, split, watch, undo.

Each decision is stored as a ``decisions`` row (who, when, what) and applied at once to the stored
identities, so a view sees the change immediately. Every later ``app.identity.linking.link_store`` run turns the
decisions that are not undone into must-link / cannot-link constraints (``constraint_events``); when two
decisions contradict each other, the later one wins (``reid_core.track_descriptors.resolve_constraints``).

A decision's ``value`` is JSON: what it changed and the state before (track -> identity, identity rows),
which is what ``undo_last`` restores.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.errors import UserError
from app.identity.tables import new_identity, pair_distance_and_kind
from app.store import Database, repo
from app.store import models as m
from app.store.locks import IDENTITIES, acquire
from app.store.records import DecisionInfo, as_utc

log = logging.getLogger(__name__)

MAX_NAME = 200


def default_who() -> str:
    """The process's operator (the desktop UI's operator name, ``app.privacy.audit.set_operator``), else the
    operating-system user name (``unknown`` when the platform cannot say)."""
    from app.privacy.audit import current_who

    return current_who()


def _info(d: m.Decision) -> DecisionInfo:
    return DecisionInfo(d.id, d.kind, d.track_a, d.track_b, d.identity_id, d.value, d.who, as_utc(d.at))


def _now_naive() -> datetime:
    return repo._naive_utc(repo.utcnow())


def _record(s: Session, kind: str, who: str | None, *, track_a: int | None = None, track_b: int | None = None,
            identity_id: int | None = None, value: dict | None = None) -> DecisionInfo:
    d = m.Decision(kind=kind, track_a=track_a, track_b=track_b, identity_id=identity_id,
                   value=json.dumps(value or {}, sort_keys=True), who=who or default_who(), at=_now_naive(),
                   undone=0)
    s.add(d)
    s.flush()
    log.info("decision %d: %s by %s (tracks %s/%s, identity %s)", d.id, kind, d.who, track_a, track_b, identity_id)
    _audit(s, d, value or {})
    return _info(d)


def _audit(s: Session, d: m.Decision, value: dict) -> None:
    """The decision's audit row, in the decision's own transaction (both stored, or neither)."""
    from app.privacy import audit

    before = value.get("before", {})
    idents = [d.identity_id, value.get("from"), *value.get("identities", ()),
              *(int(k) for k in before.get("identities", {}))]
    details = {"decision": d.id, "track_a": d.track_a, "track_b": d.track_b, "identity": d.identity_id,
               **{k: v for k, v in value.items() if k != "before"},
               "subjects": audit.subjects(identities=idents, tracks=[d.track_a, d.track_b])}
    audit.append(s, d.kind, d.who, details)


# ---------------------------------------------------------------- helpers over a session
def _track(s: Session, track_id: int) -> m.Track:
    tr = s.get(m.Track, int(track_id))
    if tr is None:
        raise UserError(f"no track {track_id} in the store")
    return tr


def _identity(s: Session, identity_id: int) -> m.Identity:
    ident = s.get(m.Identity, int(identity_id))
    if ident is None:
        raise UserError(f"no identity {identity_id} in the store")
    return ident


def _members(s: Session, identity_id: int | None) -> list[int]:
    if identity_id is None:
        return []
    return list(s.scalars(select(m.Track.id).where(m.Track.identity_id == identity_id).order_by(m.Track.id)))


def _snapshot(s: Session, identity_ids: list[int | None], extra_tracks: list[int]) -> dict:
    """The state a decision may change: track -> identity for every member, and the identity rows."""
    tracks: dict[str, int | None] = {}
    rows: dict[str, dict] = {}
    for iid in {i for i in identity_ids if i is not None}:
        ident = s.get(m.Identity, iid)
        if ident is not None:
            rows[str(iid)] = {"name": ident.name, "watch": ident.watch, "created_at": ident.created_at.isoformat()}
        for tid in _members(s, iid):
            tracks[str(tid)] = iid
    for tid in extra_tracks:
        tr = s.get(m.Track, tid)
        if tr is not None:
            tracks[str(tid)] = tr.identity_id
    return {"tracks": tracks, "identities": rows}


def _assign(s: Session, track_ids: list[int], identity_id: int) -> None:
    if track_ids:
        s.execute(update(m.Track).where(m.Track.id.in_(track_ids)).values(identity_id=identity_id))


def _drop_if_empty(s: Session, identity_id: int) -> None:
    ident = s.get(m.Identity, identity_id)
    if ident is not None and not _members(s, identity_id):
        s.delete(ident)
        s.flush()


def _set_match_status(s: Session, a: int, b: int, status: str) -> None:
    """Mark the stored link between two tracks (either order); add one when linking never proposed it."""
    rows = list(s.scalars(select(m.Match).where(or_(
        (m.Match.track_a == a) & (m.Match.track_b == b), (m.Match.track_a == b) & (m.Match.track_b == a)))))
    if rows:
        for row in rows:
            row.status = status
        return
    distance, kind = pair_distance_and_kind(s, a, b)
    s.add(m.Match(run_id=None, track_a=a, track_b=b, distance=distance, kind=kind, status=status))


def _pair(s: Session, track_a: int, track_b: int) -> tuple[m.Track, m.Track]:
    if int(track_a) == int(track_b):
        raise UserError(f"track {track_a} given twice: a match needs two different tracks")
    return _track(s, track_a), _track(s, track_b)


# ---------------------------------------------------------------- decisions
def confirm_match(db: Database, track_a: int, track_b: int, *, who: str | None = None) -> DecisionInfo:
    """The two tracks are the same person: their identities become one (must-link for later runs)."""
    with db.session() as s:
        acquire(s, IDENTITIES)  # one identity change at a time across nodes (app.store.locks)
        ta, tb = _pair(s, track_a, track_b)
        before = _snapshot(s, [ta.identity_id, tb.identity_id], [ta.id, tb.id])
        ia, ib = ta.identity_id, tb.identity_id
        if ia is None and ib is None:
            target = new_identity(s)
            _assign(s, [ta.id, tb.id], target)
        elif ia is None or ib is None:
            target = ia if ia is not None else ib  # type: ignore[assignment]
            _assign(s, [ta.id, tb.id], target)
        elif ia != ib:
            target = _merge_rows(s, [ia, ib])
        else:
            target = ia
        _set_match_status(s, ta.id, tb.id, "confirmed")
        return _record(s, "confirm", who, track_a=ta.id, track_b=tb.id, identity_id=target,
                       value={"before": before})


def reject_match(db: Database, track_a: int, track_b: int, *, who: str | None = None) -> DecisionInfo:
    """The two tracks are different people: when they share an identity, ``track_b`` leaves it for a new one
    (cannot-link for later runs)."""
    with db.session() as s:
        acquire(s, IDENTITIES)  # one identity change at a time across nodes (app.store.locks)
        ta, tb = _pair(s, track_a, track_b)
        before = _snapshot(s, [ta.identity_id, tb.identity_id], [ta.id, tb.id])
        moved_to = None
        if ta.identity_id is not None and ta.identity_id == tb.identity_id:
            moved_to = new_identity(s)
            _assign(s, [tb.id], moved_to)
        _set_match_status(s, ta.id, tb.id, "rejected")
        return _record(s, "reject", who, track_a=ta.id, track_b=tb.id, identity_id=moved_to,
                       value={"before": before})


def rename_identity(db: Database, identity_id: int, name: str, *, who: str | None = None) -> DecisionInfo:
    """Give an identity a name (an empty name clears it). Names survive later linking runs."""
    clean = " ".join(str(name).split())
    if len(clean) > MAX_NAME:
        raise UserError(f"name too long ({len(clean)} characters, at most {MAX_NAME})")
    with db.session() as s:
        acquire(s, IDENTITIES)  # one identity change at a time across nodes (app.store.locks)
        ident = _identity(s, identity_id)
        before = _snapshot(s, [ident.id], [])
        ident.name = clean or None
        return _record(s, "rename", who, identity_id=ident.id, value={"name": ident.name, "before": before})


def set_watch(db: Database, identity_id: int, on: bool = True, *, who: str | None = None) -> DecisionInfo:
    """Put an identity on (or take it off) the watchlist that live monitoring alerts on."""
    with db.session() as s:
        acquire(s, IDENTITIES)  # one identity change at a time across nodes (app.store.locks)
        ident = _identity(s, identity_id)
        before = _snapshot(s, [ident.id], [])
        ident.watch = int(bool(on))
        return _record(s, "watch", who, identity_id=ident.id, value={"watch": bool(on), "before": before})


def _merge_rows(s: Session, identity_ids: list[int]) -> int:
    """Move every track of ``identity_ids[1:]`` into the first; it takes a name and watch flag it lacks."""
    target = s.get(m.Identity, identity_ids[0])
    if target is None:
        raise UserError(f"no identity {identity_ids[0]} in the store")
    for iid in identity_ids[1:]:
        other = s.get(m.Identity, iid)
        if other is None:
            continue
        if target.name is None and other.name:
            target.name = other.name
        target.watch = int(bool(target.watch or other.watch))
        if other.hold and not target.hold:  # a legal hold follows the tracks it protects
            target.hold, target.hold_reason = other.hold, other.hold_reason
        _assign(s, _members(s, iid), target.id)
        s.delete(other)
    s.flush()
    return target.id


def merge_identities(db: Database, identity_ids: list[int], *, who: str | None = None) -> DecisionInfo:
    """Join identities into the first one given (must-link between all their tracks for later runs)."""
    ids = list(dict.fromkeys(int(i) for i in identity_ids))
    if len(ids) < 2:
        raise UserError("merge needs at least two different identities")
    with db.session() as s:
        acquire(s, IDENTITIES)  # one identity change at a time across nodes (app.store.locks)
        for iid in ids:
            _identity(s, iid)
        before = _snapshot(s, list(ids), [])
        tracks = sorted(int(t) for t in before["tracks"])
        target = _merge_rows(s, ids)
        return _record(s, "merge", who, identity_id=target,
                       value={"identities": ids, "tracks": tracks, "before": before})


def split_identity(db: Database, identity_id: int, track_id: int, *, who: str | None = None) -> DecisionInfo:
    """Take one track out of an identity into a new identity (cannot-link to the rest for later runs)."""
    with db.session() as s:
        acquire(s, IDENTITIES)  # one identity change at a time across nodes (app.store.locks)
        ident = _identity(s, identity_id)
        tr = _track(s, track_id)
        if tr.identity_id != ident.id:
            raise UserError(f"track {track_id} does not belong to identity {identity_id} "
                            f"(it belongs to {tr.identity_id if tr.identity_id is not None else 'none'})")
        others = [t for t in _members(s, ident.id) if t != tr.id]
        if not others:
            raise UserError(f"identity {identity_id} has only track {track_id}: nothing to split")
        before = _snapshot(s, [ident.id], [])
        new_id = new_identity(s)
        _assign(s, [tr.id], new_id)
        return _record(s, "split", who, track_a=tr.id, identity_id=new_id,
                       value={"from": ident.id, "others": others, "before": before})


def undo_last(db: Database, *, who: str | None = None) -> DecisionInfo | None:
    """Undo the most recent decision still in force: restore the identities it changed and stop later linking
    runs from applying it. Returns the decision undone, or None when there is nothing to undo."""
    with db.session() as s:
        acquire(s, IDENTITIES)  # one identity change at a time across nodes (app.store.locks)
        d = s.scalar(select(m.Decision).where(m.Decision.undone == 0, m.Decision.kind != "undo")
                     .order_by(m.Decision.at.desc(), m.Decision.id.desc()).limit(1))
        if d is None:
            return None
        before = json.loads(d.value or "{}").get("before", {})
        _restore(s, before)
        if d.kind in ("confirm", "reject"):
            s.execute(update(m.Match).where(or_(
                (m.Match.track_a == d.track_a) & (m.Match.track_b == d.track_b),
                (m.Match.track_a == d.track_b) & (m.Match.track_b == d.track_a))).values(status="auto"))
        d.undone = 1
        _record(s, "undo", who, track_a=d.track_a, track_b=d.track_b, identity_id=d.identity_id,
                value={"undid": d.id, "kind": d.kind})
        return _info(d)


def _restore(s: Session, before: dict) -> None:
    """Put identity rows and track assignments back as a snapshot recorded them."""
    remap: dict[int, int] = {}
    for key, row in before.get("identities", {}).items():
        iid = int(key)
        created = datetime.fromisoformat(row["created_at"])
        ident = s.get(m.Identity, iid)
        if ident is not None and ident.created_at != created:  # the id was reused by a newer identity
            ident, iid = None, new_identity(s, name=row["name"], watch=bool(row["watch"]))
        elif ident is None:
            s.add(m.Identity(id=iid, name=row["name"], watch=row["watch"], created_at=created))
        else:
            ident.name, ident.watch = row["name"], row["watch"]
        remap[int(key)] = iid
    s.flush()
    touched: set[int] = set()
    for key, iid in before.get("tracks", {}).items():
        tr = s.get(m.Track, int(key))
        if tr is None:
            continue  # deleted since (its source was re-ingested)
        if tr.identity_id is not None and tr.identity_id != iid:
            touched.add(tr.identity_id)
        tr.identity_id = remap.get(iid, iid) if iid is not None else None
    s.flush()
    for iid in touched:
        if iid not in remap.values():
            _drop_if_empty(s, iid)


def list_decisions(db: Database, limit: int = 50) -> list[DecisionInfo]:
    """The most recent decisions, newest first (undone ones included, with an ``undo`` row after them)."""
    with db.session() as s:
        return [_info(d) for d in s.scalars(select(m.Decision).order_by(m.Decision.at.desc(), m.Decision.id.desc())
                                            .limit(limit))]
