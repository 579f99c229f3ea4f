"""Retention: which tracks a policy cuts (pure), and the purge that deletes them and gives the space back.

A purge deletes tracks of a camera that ended before that camera's cut, with everything stored for them:
observations (boxes and keypoints), embeddings, the thumbnail (the track's stored crop) and the links (matches)
that involve them; then the identities those tracks leave empty. Tracks of an identity on the watchlist or
under legal hold are kept whatever their age. Sources (file names, start times) and operator decisions stay:
they hold no picture, and a source that stays known is not ingested again by accident.

The purge writes its audit row with its plan in the transaction that deletes the first batch, then deletes in
batches of at most ``batch`` tracks, one transaction each: a purge killed at any point leaves a consistent store
(every batch is whole or absent), and running it again finishes the work. The space comes back afterwards: the
first purge of a store switches SQLite to incremental auto-vacuum with one full ``VACUUM``; later purges run
``PRAGMA incremental_vacuum``; the write-ahead log is then truncated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import delete, exists, func, or_, select, text
from sqlalchemy.orm import Session

from app.config import RetentionConfig
from app.errors import UserError
from app.privacy import audit
from app.store import Database
from app.store import models as m
from app.store.descriptor_table import bump_epoch
from app.store.locks import IDENTITIES, acquire

log = logging.getLogger(__name__)

BATCH = 2000  # tracks per transaction
CHUNK = 900  # ids per IN (...) list, under SQLite's limit of variables per statement
VACUUM_STEP_PAGES = 16_384  # pages moved per vacuum transaction (64 MB at 4 KiB pages)
VACUUM_CACHE_KIB = 262_144  # page cache of the connection that gives the space back (at most; freed after)
ProgressFn = Callable[[int, int], None]  # (tracks deleted so far, tracks to delete)


def cutoffs(now: datetime, policy: RetentionConfig, cameras: Sequence[str], *, older_than_days: float | None = None,
            only_camera: str | None = None) -> dict[str, datetime]:
    """Camera name -> cut: its tracks that ended before the cut go. Cameras without a limit are left out.

    ``older_than_days`` overrides the policy; ``only_camera`` restricts the purge to one camera. Pure.
    """
    if older_than_days is not None and not older_than_days >= 0:
        raise UserError(f"--older-than must be 0 days or more, got {older_than_days}")
    out: dict[str, datetime] = {}
    for name in cameras:
        if only_camera is not None and name != only_camera:
            continue
        days = older_than_days if older_than_days is not None else policy.cameras.get(name, policy.days)
        if days is not None:
            out[name] = now.astimezone(timezone.utc) - timedelta(days=float(days))
    return out


@dataclass(frozen=True)
class PurgePlan:
    """What a purge deletes: the tracks, and counts of what goes with them."""

    cuts: dict[str, datetime]
    track_ids: tuple[int, ...]
    observations: int
    embeddings: int
    thumbnails: int
    identities_emptied: int
    kept_protected: int  # old tracks kept because their identity is watched or held

    def summary(self) -> dict[str, object]:
        """The plan as JSON-able facts (the audit row's details, ``--json``)."""
        return {"cuts": {k: v.isoformat(timespec="seconds") for k, v in sorted(self.cuts.items())},
                "tracks": len(self.track_ids), "observations": self.observations, "embeddings": self.embeddings,
                "thumbnails": self.thumbnails, "identities_emptied": self.identities_emptied,
                "kept_watched_or_held": self.kept_protected}

    def describe(self) -> str:
        """One line for the user."""
        cuts = ", ".join(f"{k} before {v:%Y-%m-%d %H:%M}" for k, v in sorted(self.cuts.items())) or "no camera"
        return (f"{len(self.track_ids)} tracks ({cuts}): {self.observations} observations, {self.embeddings} "
                f"embeddings, {self.thumbnails} thumbnails, {self.identities_emptied} identities left empty; "
                f"{self.kept_protected} old tracks kept for watched or held identities")


@dataclass(frozen=True)
class PurgeResult:
    """What a purge did, and the store's size (file plus write-ahead log) before and after."""

    plan: PurgePlan
    tracks_deleted: int
    identities_deleted: int
    bytes_before: int
    bytes_after: int
    vacuum: str
    seconds: float
    dry_run: bool = False
    vacuum_seconds: float = 0.0

    @property
    def message(self) -> str:
        """One line for the user."""
        if self.dry_run:
            return "would purge " + self.plan.describe()
        freed = max(0, self.bytes_before - self.bytes_after) / 1e6
        return (f"purged {self.tracks_deleted} tracks and {self.identities_deleted} empty identities in "
                f"{self.seconds:.1f} s; {freed:.1f} MB given back ({self.vacuum})")


def _chunks(ids: Sequence[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(ids), size):
        yield list(ids[i : i + size])


def _naive(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc).replace(tzinfo=None)


def store_bytes(path: Path) -> int:
    """Size of the SQLite file and its write-ahead log."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def camera_cuts(db: Database, policy: RetentionConfig, *, now: datetime | None = None,
                older_than_days: float | None = None, only_camera: str | None = None) -> dict[str, datetime]:
    """:func:`cutoffs` over the store's cameras; UserError for an unknown ``only_camera``."""
    with db.session() as s:
        names = list(s.scalars(select(m.Camera.name).order_by(m.Camera.name)))
    if only_camera is not None and only_camera not in names:
        raise UserError(f"unknown camera {only_camera!r}; the store has: {', '.join(names) or 'none'}")
    return cutoffs(now or datetime.now(timezone.utc), policy, names, older_than_days=older_than_days,
                   only_camera=only_camera)


def plan_purge(db: Database, cuts: Mapping[str, datetime]) -> PurgePlan:
    """Select what a purge with these cuts deletes (nothing is changed)."""
    protected = or_(m.Identity.watch != 0, m.Identity.hold != 0)
    ids: list[int] = []
    idents: dict[int, int] = {}
    kept = 0
    with db.session() as s:
        cam_ids = {name: cid for name, cid in s.execute(select(m.Camera.name, m.Camera.id))}
        for name, cut in sorted(cuts.items()):
            if name not in cam_ids:
                continue
            old = (select(m.Track.id, m.Track.identity_id).outerjoin(m.Identity, m.Identity.id == m.Track.identity_id)
                   .where(m.Track.camera_id == cam_ids[name], m.Track.end_time < _naive(cut)))
            for tid, iid in s.execute(old.where(or_(m.Track.identity_id.is_(None), ~protected))):
                ids.append(int(tid))
                if iid is not None:
                    idents[int(iid)] = idents.get(int(iid), 0) + 1
            kept += s.scalar(select(func.count()).select_from(old.where(protected).subquery())) or 0
        ids.sort()
        n_obs = n_emb = n_thumb = 0
        for chunk in _chunks(ids, CHUNK):
            n_obs += s.scalar(select(func.count(m.Observation.id)).where(m.Observation.track_id.in_(chunk))) or 0
            n_emb += s.scalar(select(func.count(m.Embedding.id)).where(m.Embedding.track_id.in_(chunk))) or 0
            n_thumb += s.scalar(select(func.count(m.Track.id)).where(m.Track.id.in_(chunk),
                                                                       m.Track.thumbnail.is_not(None))) or 0
        emptied = 0
        for chunk in _chunks(sorted(idents), CHUNK):
            q = select(m.Track.identity_id, func.count(m.Track.id)).where(m.Track.identity_id.in_(chunk))
            emptied += sum(1 for iid, n in s.execute(q.group_by(m.Track.identity_id)) if n == idents[int(iid)])
    return PurgePlan(dict(cuts), tuple(ids), n_obs, n_emb, n_thumb, emptied, kept)


def _delete_batch(s: Session, batch: list[int]) -> tuple[int, int]:
    """Delete one batch of tracks with what hangs on them, then the identities they leave empty; returns (tracks
    deleted, identities removed).

    The plan was made earlier: under the identities lock, tracks that have since joined a held or watched
    identity (a legal hold, a watch, a linking run on another node) are left alone."""
    acquire(s, IDENTITIES)
    protected = or_(m.Identity.watch != 0, m.Identity.hold != 0)
    still: list[int] = []
    for chunk in _chunks(batch, CHUNK):
        q = select(m.Track.id).outerjoin(m.Identity, m.Track.identity_id == m.Identity.id).where(
            m.Track.id.in_(chunk), or_(m.Track.identity_id.is_(None), ~protected))
        still.extend(int(t) for t in s.scalars(q))
    batch = still
    idents: set[int] = set()
    for chunk in _chunks(batch, CHUNK):
        idents.update(i for i in s.scalars(select(m.Track.identity_id).where(m.Track.id.in_(chunk)).distinct())
                      if i is not None)
        s.execute(delete(m.Observation).where(m.Observation.track_id.in_(chunk)))
        s.execute(delete(m.Embedding).where(m.Embedding.track_id.in_(chunk)))
        s.execute(delete(m.TrackDescriptor).where(m.TrackDescriptor.track_id.in_(chunk)))
        bump_epoch(s)  # search indexes rebuild
        s.execute(delete(m.Match).where(or_(m.Match.track_a.in_(chunk), m.Match.track_b.in_(chunk))))
        s.execute(delete(m.Track).where(m.Track.id.in_(chunk)))
    gone = 0
    has_tracks = exists().where(m.Track.identity_id == m.Identity.id)
    for chunk in _chunks(sorted(idents), CHUNK):
        res = s.execute(delete(m.Identity).where(m.Identity.id.in_(chunk), ~has_tracks, m.Identity.watch == 0,
                                                 m.Identity.hold == 0))
        gone += int(res.rowcount or 0)  # type: ignore[attr-defined]
    return len(batch), gone


def reclaim_space(db: Database) -> str:
    """Give freed pages back to the file system; returns what was done (SQLite; other servers vacuum alone)."""
    if db.engine.dialect.name != "sqlite":
        return "left to the database server"
    try:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
            conn.exec_driver_sql(f"PRAGMA cache_size = -{VACUUM_CACHE_KIB}")  # page moves look up pointer maps
            mode = conn.exec_driver_sql("PRAGMA auto_vacuum").scalar()
            if mode == 2:
                raw = conn.connection.driver_connection
                free, last = conn.exec_driver_sql("PRAGMA freelist_count").scalar(), None
                while free and free != last:  # stops when done, or when a step frees nothing
                    # a bounded step per transaction: the log stays small and live writers get their turn;
                    # executescript steps the pragma to its end (sqlite3's execute frees one page per call)
                    raw.executescript(f"PRAGMA incremental_vacuum({VACUUM_STEP_PAGES});")
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                    free, last = conn.exec_driver_sql("PRAGMA freelist_count").scalar(), free
                done = "incremental vacuum"
            else:
                conn.exec_driver_sql("PRAGMA auto_vacuum = INCREMENTAL")
                conn.exec_driver_sql("VACUUM")
                done = "full VACUUM, incremental from now on"
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache)}")
    except Exception as exc:  # another process holds the store: the pages are reused anyway
        log.warning("could not give the space back now (%s); freed pages will be reused", exc)
        return f"space not given back: {exc}"
    return done


def purge(db: Database, cuts: Mapping[str, datetime], *, who: str | None = None, dry_run: bool = False,
          batch: int = BATCH, vacuum: bool = True, record_empty: bool = True,
          progress: ProgressFn | None = None) -> PurgeResult:
    """Delete the tracks that ended before their camera's cut (see the module's description)."""
    t0 = time.monotonic()
    size0 = db.size_bytes()
    plan = plan_purge(db, cuts)
    if dry_run:
        return PurgeResult(plan, 0, 0, size0, size0, "none", time.monotonic() - t0, dry_run=True)
    ids = list(plan.track_ids)
    if not ids:
        if record_empty:
            audit.record(db, "purge", who, {**plan.summary(), "subjects": audit.subjects(cameras=plan.cuts)})
        return PurgeResult(plan, 0, 0, size0, size0, "none", time.monotonic() - t0)
    deleted = gone = 0
    sqlite = db.engine.dialect.name == "sqlite"
    for i, chunk in enumerate(_chunks(ids, max(1, batch))):
        with db.session() as s:
            if sqlite and vacuum:  # freed pages are not zeroed one by one: the vacuum below drops them all
                s.execute(text("PRAGMA secure_delete = FAST"))
            try:
                if i == 0:  # the plan is on record before anything is deleted, in the same transaction
                    audit.append(s, "purge", who, {**plan.summary(),
                                                   "subjects": audit.subjects(cameras=plan.cuts)})
                n_deleted, n_gone = _delete_batch(s, chunk)
                gone += n_gone
            finally:
                if sqlite and vacuum:
                    s.execute(text("PRAGMA secure_delete = ON"))
        deleted += n_deleted
        if progress is not None:
            progress(deleted, len(ids))
    t_vacuum = time.monotonic()
    done = reclaim_space(db) if vacuum else "not asked"
    result = PurgeResult(plan, deleted, gone, size0, db.size_bytes(), done, time.monotonic() - t0,
                         vacuum_seconds=time.monotonic() - t_vacuum)
    log.info("%s", result.message)
    return result


def purge_by_policy(db: Database, policy: RetentionConfig, *, who: str | None = None) -> PurgeResult | None:
    """The automatic purge (after an ingest, once a day while watching): None when no retention is set.

    Recorded in the audit trail only when it deletes something.
    """
    if not policy.enabled:
        return None
    return purge(db, camera_cuts(db, policy), who=who or "retention", record_empty=False)
