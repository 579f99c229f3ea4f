"""The pure step of a report: read the store once and return a :class:`~app.report.model.Report` value.

Nothing is written. Queries select plain columns (never whole track rows, which carry thumbnail blobs) and
fetch thumbnails only for the identities that will show them, so a report over thousands of identities is
built in about a second.

Rules the report follows:
- an identity is reported with the sightings (tracks) that pass the filters; identities left without any are
  dropped; tracks not linked to any identity yet are not reported;
- of several match rows for the same pair of tracks (one per linking run) the latest one is current;
- a sighting is ``confirmed`` when a confirmed match ties it to another track of its identity, ``single`` when
  it is its identity's only track in the store, ``auto`` otherwise; ``confirmed_only`` keeps the confirmed
  sightings and matches;
- source names are file names unless ``include_paths``; URLs always go through ``redact_url``.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import UserError
from app.identity import confidence
from app.live.redact import redact_url
from app.report.model import (
    CameraPresence,
    IdentityReport,
    MatchLink,
    Report,
    ReportFilters,
    Sighting,
    SourceRow,
    Summary,
)
from app.report.provenance import provenance
from app.store import Database
from app.store import models as m
from app.store.records import as_utc

log = logging.getLogger(__name__)

DEFAULT_MAX_PICTURES = 30
_CHUNK = 900  # ids per IN (...) list, well under SQLite's variable limit
_STATUS_ORDER = {"confirmed": 0, "auto": 1, "rejected": 2}


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    ids = sorted(set(ids))
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _naive(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc).replace(tzinfo=None)


def display_uri(uri: str, *, include_paths: bool) -> str:
    """A source's location fit for a report: a redacted URL, or a file name (the full path on request)."""
    if "://" in uri:
        return redact_url(uri)
    return uri if include_paths else re.split(r"[\\/]", uri.rstrip("/\\"))[-1]


def build_report(
    db: Database,
    *,
    identities: Sequence[int] | None = None,
    cameras: Sequence[str] | None = None,
    t_from: datetime | None = None,
    t_to: datetime | None = None,
    confirmed_only: bool = False,
    include_paths: bool = False,
    max_pictures: int = DEFAULT_MAX_PICTURES,
    now: datetime | None = None,
    blur_bystanders: bool = False,
    include_audit: bool = False,
) -> Report:
    """Read what the report needs from ``db``.

    ``blur_bystanders`` blurs the heads of people other than the report's subjects in its pictures
    (:mod:`app.privacy.bystanders`); ``include_audit`` adds the audit rows about its subjects.

    Raises UserError for an unknown camera or identity, a time window that ends before it starts, or a store
    that has no identities yet (nothing has been linked).
    """
    if max_pictures < 0:
        raise UserError(f"the number of identities with pictures must be 0 or more, got {max_pictures}")
    try:
        filters = ReportFilters(
            identities=tuple(dict.fromkeys(identities)) if identities is not None else None,
            cameras=tuple(dict.fromkeys(cameras)) if cameras is not None else None,
            t_from=t_from.astimezone(timezone.utc) if t_from else None,
            t_to=t_to.astimezone(timezone.utc) if t_to else None,
            confirmed_only=confirmed_only,
            include_paths=include_paths,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    with db.session() as s:
        _check_filters(s, filters)
        report = _build(s, db, filters, max_pictures, now or datetime.now(timezone.utc))
        report = _privacy(s, report, filters, blur_bystanders=blur_bystanders, include_audit=include_audit)
    log.info("report built: %d identities, %d sightings", report.summary.n_identities, report.summary.n_sightings)
    return report


def _check_filters(s: Session, f: ReportFilters) -> None:
    if s.scalar(select(func.count(m.Identity.id))) == 0:
        raise UserError("the store has no identities yet: run `reidwatch link` (or ingest without --no-link) first")
    if f.cameras is not None:
        known = set(s.scalars(select(m.Camera.name)))
        unknown = [c for c in f.cameras if c not in known]
        if unknown:
            raise UserError(f"unknown camera(s) {', '.join(unknown)}; the store has: {', '.join(sorted(known))}")
    if f.identities is not None:
        found: set[int] = set()
        for chunk in _chunks(f.identities):
            found.update(s.scalars(select(m.Identity.id).where(m.Identity.id.in_(chunk))))
        missing = [i for i in f.identities if i not in found]
        if missing:
            raise UserError(f"no identity {', '.join(str(i) for i in missing)} in the store")


def _track_rows(s: Session, f: ReportFilters) -> list[Any]:
    q = (
        select(
            m.Track.id, m.Track.identity_id, m.Camera.name, m.Track.source_id, m.Track.first_frame,
            m.Track.last_frame, m.Track.start_time, m.Track.end_time, m.Track.n_obs,
        )
        .join(m.Camera, m.Camera.id == m.Track.camera_id)
        .where(m.Track.identity_id.is_not(None))
    )
    if f.cameras is not None:
        q = q.where(m.Camera.name.in_(f.cameras))
    if f.t_from is not None:
        q = q.where(m.Track.end_time >= _naive(f.t_from))
    if f.t_to is not None:
        q = q.where(m.Track.start_time <= _naive(f.t_to))
    q = q.order_by(m.Track.start_time, m.Track.id)
    if f.identities is None:
        return list(s.execute(q))
    rows: list[Any] = []
    for chunk in _chunks(f.identities):
        rows.extend(s.execute(q.where(m.Track.identity_id.in_(chunk))))
    rows.sort(key=lambda r: (r.start_time, r.id))
    return rows


def _latest_matches(s: Session, track_ids: set[int]) -> dict[tuple[int, int], Any]:
    """The latest match row of every pair of tracks that involves one of ``track_ids``."""
    cols = (m.Match.id, m.Match.track_a, m.Match.track_b, m.Match.distance, m.Match.kind, m.Match.status)
    latest: dict[tuple[int, int], Any] = {}
    for chunk in _chunks(track_ids):
        for column in (m.Match.track_a, m.Match.track_b):
            for row in s.execute(select(*cols).where(column.in_(chunk))):
                pair = (min(row.track_a, row.track_b), max(row.track_a, row.track_b))
                if pair not in latest or row.id > latest[pair].id:
                    latest[pair] = row
    return latest


def _reviews(s: Session) -> dict[tuple[int, int], tuple[str, datetime]]:
    """Who confirmed or rejected each pair of tracks last, and when (undone decisions do not count)."""
    q = (
        select(m.Decision.track_a, m.Decision.track_b, m.Decision.who, m.Decision.at)
        .where(m.Decision.kind.in_(("confirm", "reject")), m.Decision.undone == 0)
        .where(m.Decision.track_a.is_not(None), m.Decision.track_b.is_not(None))
        .order_by(m.Decision.id)
    )
    out: dict[tuple[int, int], tuple[str, datetime]] = {}
    for a, b, who, at in s.execute(q):
        if a is not None and b is not None:
            out[min(a, b), max(a, b)] = (who, as_utc(at))
    return out


def _other_tracks(s: Session, ids: set[int]) -> dict[int, tuple[str, int | None, datetime]]:
    """camera, identity and start time of match endpoints that are not among the reported sightings."""
    out: dict[int, tuple[str, int | None, datetime]] = {}
    for chunk in _chunks(ids):
        q = (
            select(m.Track.id, m.Camera.name, m.Track.identity_id, m.Track.start_time)
            .join(m.Camera, m.Camera.id == m.Track.camera_id)
            .where(m.Track.id.in_(chunk))
        )
        for tid, cam, ident, start in s.execute(q):
            out[tid] = (cam, ident, as_utc(start))
    return out


def _build(s: Session, db: Database, f: ReportFilters, max_pictures: int, now: datetime) -> Report:
    rows = _track_rows(s, f)
    by_track = {r.id: r for r in rows}
    idents: dict[int, Any] = {}
    store_counts: dict[int, int] = {}  # identity -> its tracks in the whole store (filters aside)
    for chunk in _chunks({r.identity_id for r in rows}):
        for r in s.execute(select(m.Identity.id, m.Identity.name, m.Identity.watch).where(m.Identity.id.in_(chunk))):
            idents[r.id] = r
        q = select(m.Track.identity_id, func.count(m.Track.id)).where(m.Track.identity_id.in_(chunk))
        store_counts.update((i, n) for i, n in s.execute(q.group_by(m.Track.identity_id)) if i is not None)
    links_of = _match_links(s, by_track)
    confirmed_tracks = {
        t for links in links_of.values() for k in links
        if k.status == "confirmed" and k.identity_a == k.identity_b for t in (k.track_a, k.track_b)
    }
    sources = _sources(s, {r.source_id for r in rows}, f.include_paths)
    grouped: dict[int, list[Sighting]] = defaultdict(list)
    for r in rows:
        if r.id in confirmed_tracks:
            status = "confirmed"
        else:
            status = "single" if store_counts.get(r.identity_id, 0) <= 1 else "auto"
        if f.confirmed_only and status != "confirmed":
            continue
        grouped[r.identity_id].append(Sighting(
            track_id=r.id, identity_id=r.identity_id, camera=r.name, source=sources[r.source_id].name,
            start=as_utc(r.start_time), end=as_utc(r.end_time), first_frame=r.first_frame, last_frame=r.last_frame,
            n_obs=r.n_obs, status=status,
        ))
    order = sorted(grouped, key=lambda i: (min(x.start for x in grouped[i]), i))
    illustrated = set(order[:max_pictures])
    pictures = _best_thumbnails(s, {i: grouped[i] for i in illustrated})

    reports = []
    for ident_id in order:
        sightings = tuple(grouped[ident_id])
        links = {k.match_id: k for x in sightings for k in links_of.get(x.track_id, ())
                 if not f.confirmed_only or k.status == "confirmed"}
        ident = idents[ident_id]
        reports.append(IdentityReport(
            id=ident_id, name=ident.name, watch=bool(ident.watch), sightings=sightings,
            cameras=_presence(sightings, pictures.get(ident_id, {})),
            matches=tuple(sorted(links.values(), key=lambda k: (_STATUS_ORDER[k.status], k.distance, k.match_id))),
            illustrated=ident_id in illustrated,
        ))
    all_sightings = [x for r in reports for x in r.sightings]
    used = {by_track[x.track_id].source_id for x in all_sightings}
    used_sources = tuple(sorted((sources[i] for i in used), key=lambda r: (r.camera, r.start_time, r.id)))
    return Report(
        filters=f, provenance=provenance(s, db, f, now, [x.track_id for x in all_sightings], used_sources),
        summary=_summary(reports), identities=tuple(reports), max_pictures=max_pictures,
    )


def _match_links(s: Session, by_track: dict[int, Any]) -> dict[int, list[MatchLink]]:
    """track -> the current matches that involve it (the other end may lie outside the report)."""
    pairs = _latest_matches(s, set(by_track))
    reviews = _reviews(s) if pairs else {}
    others = _other_tracks(s, {t for pair in pairs for t in pair if t not in by_track})

    def endpoint(tid: int) -> tuple[str, int | None, datetime]:
        if tid in by_track:
            r = by_track[tid]
            return r.name, r.identity_id, as_utc(r.start_time)
        return others[tid]

    links_of: dict[int, list[MatchLink]] = defaultdict(list)
    sure = confidence.match_confidences(s, [r.id for r in pairs.values()])
    for pair, r in pairs.items():
        if any(t not in by_track and t not in others for t in pair):
            continue  # a dangling row (cannot happen with foreign keys on; skipped rather than guessed)
        (ta, cam_a, id_a, start_a), (tb, cam_b, id_b, start_b) = sorted(
            ((t, *endpoint(t)) for t in pair), key=lambda e: (e[3], e[0])
        )  # the earlier sighting first: the order in which a reader follows the person
        who, at = reviews.get(pair, (None, None)) if r.status != "auto" else (None, None)
        link = MatchLink(
            match_id=r.id, track_a=ta, track_b=tb, camera_a=cam_a, camera_b=cam_b, identity_a=id_a,
            identity_b=id_b, start_a=start_a, start_b=start_b, distance=float(r.distance), kind=r.kind,
            status=r.status, reviewed_by=who, reviewed_at=at, confidence=sure.get(r.id),
        )
        for tid in pair:
            if tid in by_track:
                links_of[tid].append(link)
    return links_of


def _summary(reports: list[IdentityReport]) -> Summary:
    sightings = [x for r in reports for x in r.sightings]
    counts = dict.fromkeys(("auto", "confirmed", "rejected"), 0)
    for link in {k.match_id: k for r in reports for k in r.matches}.values():
        counts[link.status] += 1
    return Summary(
        n_identities=len(reports), n_sightings=len(sightings), cameras=tuple(sorted({x.camera for x in sightings})),
        first_seen=min((x.start for x in sightings), default=None),
        last_seen=max((x.end for x in sightings), default=None), matches=counts,
    )


def _sources(s: Session, ids: set[int], include_paths: bool) -> dict[int, SourceRow]:
    out: dict[int, SourceRow] = {}
    for chunk in _chunks(ids):
        q = (
            select(m.Source.id, m.Camera.name, m.Source.uri, m.Source.start_time, m.Source.fps,
                   m.Source.frame_count, m.Source.status)
            .join(m.Camera, m.Camera.id == m.Source.camera_id)
            .where(m.Source.id.in_(chunk))
        )
        for r in s.execute(q):
            out[r.id] = SourceRow(
                id=r.id, camera=r.name, name=display_uri(r.uri, include_paths=include_paths),
                start_time=as_utc(r.start_time), fps=float(r.fps), frame_count=r.frame_count, status=r.status,
            )
    return out


def _best_thumbnails(s: Session, sightings: dict[int, list[Sighting]]) -> dict[int, dict[str, tuple[int, bytes]]]:
    """identity -> camera -> (track id, JPEG) of its best picture there: the track whose best embedding
    sample scored the highest quality, then the longest track, among tracks that have a thumbnail."""
    track_ids = {x.track_id for sights in sightings.values() for x in sights}
    with_thumb: set[int] = set()
    quality: dict[int, float] = {}
    for chunk in _chunks(track_ids):
        with_thumb.update(s.scalars(select(m.Track.id).where(m.Track.id.in_(chunk), m.Track.thumbnail.is_not(None))))
        best_q = select(m.Embedding.track_id, func.max(m.Embedding.quality)).where(m.Embedding.track_id.in_(chunk))
        quality.update((int(t), float(v)) for t, v in s.execute(best_q.group_by(m.Embedding.track_id)))
    chosen: dict[int, dict[str, int]] = {}
    for ident_id, sights in sightings.items():
        best: dict[str, Sighting] = {}
        for x in sights:
            if x.track_id not in with_thumb:
                continue
            key = (quality.get(x.track_id, -1.0), x.n_obs, -x.track_id)
            cur = best.get(x.camera)
            if cur is None or key > (quality.get(cur.track_id, -1.0), cur.n_obs, -cur.track_id):
                best[x.camera] = x
        chosen[ident_id] = {cam: x.track_id for cam, x in best.items()}
    blobs: dict[int, bytes] = {}
    for chunk in _chunks(t for per in chosen.values() for t in per.values()):
        blob_q = select(m.Track.id, m.Track.thumbnail).where(m.Track.id.in_(chunk))
        blobs.update((int(t), jpeg) for t, jpeg in s.execute(blob_q) if jpeg is not None)
    return {i: {cam: (t, blobs[t]) for cam, t in per.items()} for i, per in chosen.items()}


def _presence(sightings: tuple[Sighting, ...], pictures: dict[str, tuple[int, bytes]]) -> tuple[CameraPresence, ...]:
    per_cam: dict[str, list[Sighting]] = defaultdict(list)
    for x in sightings:
        per_cam[x.camera].append(x)
    out = []
    for cam, xs in per_cam.items():
        track_id, jpeg = pictures.get(cam, (max(xs, key=lambda x: (x.n_obs, -x.track_id)).track_id, None))
        out.append(CameraPresence(
            camera=cam, first_seen=min(x.start for x in xs), last_seen=max(x.end for x in xs), n_sightings=len(xs),
            best_track_id=track_id, thumbnail=jpeg,
        ))
    return tuple(sorted(out, key=lambda c: (c.first_seen, c.camera)))


def _privacy(s: Session, report: Report, f: ReportFilters, *, blur_bystanders: bool, include_audit: bool) -> Report:
    """Blur bystanders' heads and attach the audit rows of the report's scope, as asked."""
    from dataclasses import replace

    subjects = set(f.identities) if f.identities is not None else {i.id for i in report.identities}
    if blur_bystanders:
        from app.privacy.bystanders import blur_report_pictures

        blurred, n = blur_report_pictures(s, report, subjects)
        note = (f"Heads of people other than the reported identities are blurred in the pictures ({n} blurred)."
                if n else "Heads of people other than the reported identities would be blurred; none showed.")
        report = replace(blurred, privacy_note=note)  # type: ignore[type-var]
    if include_audit:
        from app.report.audit_rows import audit_lines

        tracks = {x.track_id for i in report.identities for x in i.sightings}
        report = replace(report, audit=audit_lines(s, identities=subjects, tracks=tracks,
                                                    cameras=set(f.cameras) if f.cameras else None))
    return report
