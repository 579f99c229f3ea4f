"""Read models over the store for the UI, the CLI and reports: identities, tracks, thumbnails, matches,
per-frame overlays. Every function opens its own session and returns frozen dataclasses, never ORM rows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import and_, func, or_, select

from app.errors import UserError
from app.store import Database, repo
from app.store import models as m
from app.store.records import IdentityInfo, MatchInfo, SourceInfo, TrackInfo, as_utc


@dataclass(frozen=True)
class Overlay:
    """What to draw for one track on one video frame.

    box: (x1, y1, x2, y2) in frame pixels; keypoints: (17, 3) float32 COCO x, y, confidence.
    """

    track_id: int
    identity_id: int | None
    identity_name: str | None
    box: tuple[float, float, float, float]
    keypoints: np.ndarray

    def __post_init__(self) -> None:
        kps = np.asarray(self.keypoints, dtype=np.float32)
        if kps.shape != (17, 3):
            raise ValueError(f"keypoints: expected shape (17, 3), got {kps.shape}")
        if len(self.box) != 4:
            raise ValueError(f"box: expected 4 values (x1, y1, x2, y2), got {len(self.box)}")
        object.__setattr__(self, "keypoints", kps)
        object.__setattr__(self, "box", tuple(float(v) for v in self.box))


def _naive(dt: datetime) -> datetime:
    return repo._naive_utc(dt)




def list_identities(
    db: Database, *, cameras: list[str] | None = None, t_from: datetime | None = None,
    t_to: datetime | None = None,
) -> list[IdentityInfo]:
    """Identities with at least one track in the given cameras / time window (all identities when no filter),
    most recently seen first. Counts, cameras and first/last seen are over all of an identity's tracks."""
    with db.session() as s:
        cam_ids = repo.camera_ids(s, cameras)
        q = (
            select(m.Identity.id, func.count(m.Track.id), func.min(m.Track.start_time), func.max(m.Track.end_time))
            .select_from(m.Identity)
            .outerjoin(m.Track, m.Track.identity_id == m.Identity.id)
            .group_by(m.Identity.id)
        )
        stats = {i: (n, t0, t1) for i, n, t0, t1 in s.execute(q)}
        wanted: set[int] | None = None
        if cam_ids is not None or t_from is not None or t_to is not None:
            fq = select(m.Track.identity_id).where(m.Track.identity_id.is_not(None)).distinct()
            if cam_ids is not None:
                fq = fq.where(m.Track.camera_id.in_(cam_ids))
            if t_from is not None:
                fq = fq.where(m.Track.end_time >= _naive(t_from))
            if t_to is not None:
                fq = fq.where(m.Track.start_time <= _naive(t_to))
            wanted = set(s.scalars(fq))
        cams: dict[int, set[str]] = defaultdict(set)
        for iid, name in s.execute(
            select(m.Track.identity_id, m.Camera.name).join(m.Camera, m.Camera.id == m.Track.camera_id)
            .where(m.Track.identity_id.is_not(None)).distinct()
        ):
            if iid is not None:
                cams[iid].add(name)
        out = []
        for ident in s.scalars(select(m.Identity)):
            if wanted is not None and ident.id not in wanted:
                continue
            n, t0, t1 = stats.get(ident.id, (0, None, None))
            out.append(IdentityInfo(
                ident.id, ident.name, bool(ident.watch), int(n), tuple(sorted(cams.get(ident.id, ()))),
                as_utc(t0) if t0 else None, as_utc(t1) if t1 else None,
            ))
    far = datetime.min.replace(tzinfo=None)
    out.sort(key=lambda i: (i.last_seen.replace(tzinfo=None) if i.last_seen else far, i.id), reverse=True)
    return out


def identity(db: Database, identity_id: int) -> IdentityInfo | None:
    """One identity, or None."""
    with db.session() as s:
        ident = s.get(m.Identity, identity_id)
        if ident is None:
            return None
        rows = s.execute(
            select(m.Track.start_time, m.Track.end_time, m.Camera.name)
            .join(m.Camera, m.Camera.id == m.Track.camera_id).where(m.Track.identity_id == identity_id)
        ).all()
        return IdentityInfo(
            ident.id, ident.name, bool(ident.watch), len(rows), tuple(sorted({r[2] for r in rows})),
            as_utc(min(r[0] for r in rows)) if rows else None, as_utc(max(r[1] for r in rows)) if rows else None,
        )


def identity_tracks(db: Database, identity_id: int) -> list[TrackInfo]:
    """The identity's tracks in time order (empty for an unknown identity)."""
    with db.session() as s:
        return repo.list_tracks(s, identity_id=identity_id)


def track(db: Database, track_id: int) -> TrackInfo | None:
    """One track, or None."""
    with db.session() as s:
        found = repo.list_tracks(s, ids=[track_id])
    return found[0] if found else None


def track_thumbnail(db: Database, track_id: int) -> bytes | None:
    """The JPEG cut at ingest from the track's best sample (None when there is none)."""
    with db.session() as s:
        return repo.get_thumbnail(s, track_id)


def identity_thumbnails(db: Database, identity_id: int, per_camera: int = 1) -> dict[str, list[tuple[int, bytes]]]:
    """camera name -> [(track_id, jpeg)], up to ``per_camera`` per camera, longest tracks first."""
    if per_camera < 1:
        raise ValueError(f"per_camera must be at least 1, got {per_camera}")
    with db.session() as s:
        rows = s.execute(
            select(m.Track.id, m.Camera.name, m.Track.thumbnail)
            .join(m.Camera, m.Camera.id == m.Track.camera_id)
            .where(m.Track.identity_id == identity_id, m.Track.thumbnail.is_not(None))
            .order_by(m.Camera.name, m.Track.n_obs.desc(), m.Track.id)
        ).all()
    out: dict[str, list[tuple[int, bytes]]] = {}
    for tid, cam, jpeg in rows:
        lst = out.setdefault(cam, [])
        if len(lst) < per_camera and jpeg is not None:
            lst.append((int(tid), bytes(jpeg)))
    return out


def _match_info(x: m.Match) -> MatchInfo:
    return MatchInfo(x.id, x.track_a, x.track_b, float(x.distance), x.kind, x.status)


def matches_for_identity(db: Database, identity_id: int) -> list[MatchInfo]:
    """Current links (auto, confirmed or rejected) touching any track of the identity, closest first."""
    with db.session() as s:
        tids = select(m.Track.id).where(m.Track.identity_id == identity_id)
        rows = s.scalars(
            select(m.Match).where(or_(m.Match.track_a.in_(tids), m.Match.track_b.in_(tids)))
            .order_by(m.Match.distance, m.Match.id)
        )
        return [_match_info(x) for x in rows]


def pending_matches(db: Database, limit: int = 100) -> list[MatchInfo]:
    """Automatic links not yet reviewed by an operator, closest (most certain) first."""
    with db.session() as s:
        rows = s.scalars(
            select(m.Match).where(m.Match.status == "auto").order_by(m.Match.distance, m.Match.id).limit(limit)
        )
        return [_match_info(x) for x in rows]


def frame_overlays(db: Database, source_id: int, frame: int) -> list[Overlay]:
    """Boxes, keypoints and identities of every track observed on ``frame`` (0-based) of a source."""
    with db.session() as s:
        rows = s.execute(
            select(m.Observation, m.Track.identity_id, m.Identity.name)
            .join(m.Track, m.Track.id == m.Observation.track_id)
            .outerjoin(m.Identity, m.Identity.id == m.Track.identity_id)
            .where(and_(m.Track.source_id == source_id, m.Observation.frame == frame,
                        m.Track.first_frame <= frame, m.Track.last_frame >= frame))
            .order_by(m.Observation.track_id)
        ).all()
        return [
            Overlay(track_id=o.track_id, identity_id=iid, identity_name=name, box=(o.x1, o.y1, o.x2, o.y2),
                    keypoints=np.frombuffer(o.keypoints, np.float32).reshape(17, 3))
            for o, iid, name in rows
        ]


def source_of_track(db: Database, track_id: int) -> SourceInfo:
    """The source (video file or live session) a track was seen in; UserError for an unknown track."""
    with db.session() as s:
        tr = s.get(m.Track, track_id)
        if tr is None:
            raise UserError(f"no track {track_id} in the store")
        src = repo.get_source(s, tr.source_id)
    if src is None:  # pragma: no cover - foreign key keeps this from happening
        raise UserError(f"track {track_id} has no source")
    return src


def time_span(db: Database) -> tuple[datetime, datetime] | None:
    """When the store's sightings begin and end (UTC): where time filters start; None for an empty store."""
    with db.session() as s:
        first, last = s.execute(select(func.min(m.Track.start_time), func.max(m.Track.end_time))).one()
    if first is None or last is None:
        return None
    return as_utc(first), as_utc(last)


def video_cameras(db: Database) -> list[str]:
    """Cameras recorded video was filed under (not live cameras), the most recently ingested first."""
    with db.session() as s:
        rows = s.execute(select(m.Camera.name, func.max(m.Source.id))
                         .outerjoin(m.Source, m.Source.camera_id == m.Camera.id)
                         .where(m.Camera.kind == "file").group_by(m.Camera.id)).all()
    return [name for name, _ in sorted(rows, key=lambda r: (-(r[1] or 0), r[0]))]
