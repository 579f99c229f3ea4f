"""Turning stored tracks into MOTChallenge rows (frame 1-based, one id per stay or per identity)."""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from app.errors import UserError
from app.store import repo
from app.store.records import SourceInfo
from trackers.interpolate import interpolate_gaps
from trackers.types import TrackRows


def pick_source(s: Session, camera: str, source_id: int | None) -> SourceInfo:
    """The camera's source with ``source_id``, or its only one; a UserError when that is ambiguous or missing."""
    cam = repo.camera_by_name(s, camera)
    if cam is None:
        names = ", ".join(c.name for c in repo.list_cameras(s)) or "none"
        raise UserError(f"no camera named {camera!r} in the store (cameras: {names})")
    sources = repo.list_sources(s, cam.id)
    if source_id is not None:
        match = [x for x in sources if x.id == source_id]
        if not match:
            raise UserError(f"camera {camera!r} has no source {source_id}")
        return match[0]
    if not sources:
        raise UserError(f"camera {camera!r} has no ingested video")
    if len(sources) > 1:
        listing = "; ".join(f"{x.id}: {x.uri}" for x in sources)
        raise UserError(f"camera {camera!r} has {len(sources)} sources; pick one with --source ({listing})")
    return sources[0]


def mot_rows(s: Session, source: SourceInfo, ids: str, *, interpolate: bool = True, max_gap: int = 30) -> list[tuple]:
    """Rows (frame, id, left, top, width, height, score) for one source, frame 1-based.

    ids="track": one id per stay in view (tracker tracks, fragments joined across occlusions);
    ids="identity": the linked identity (tracks not linked to any identity keep a unique id of their own).
    Gaps of at most ``max_gap`` frames inside one id are filled by linear interpolation when ``interpolate``.
    """
    if ids not in ("track", "identity"):
        raise UserError(f"--ids must be track or identity, not {ids!r}")
    tracks = repo.list_tracks(s, source_id=source.id)
    if not tracks:
        return []
    base = max(t.id for t in tracks) + 1
    key: dict[int, int] = {}
    for t in tracks:
        if ids == "identity":
            key[t.id] = t.identity_id if t.identity_id is not None else base + t.id
        else:
            key[t.id] = t.stay_id if t.stay_id is not None else t.id
    # one box per (id, frame): an identity may hold time-overlapping tracks only where an operator overruled
    # linking; keep the most confident box then.
    best: dict[tuple[int, int], tuple] = {}
    for o in repo.observations(s, [t.id for t in tracks]):
        k = (key[o.track_id], o.frame)
        if k not in best or o.score > best[k][4]:
            best[k] = (*o.box, o.score)
    if not best:
        return []
    keys = np.array(list(best), np.int64)
    vals = np.array(list(best.values()), np.float64)
    rows = TrackRows(frames=keys[:, 1], ids=keys[:, 0], boxes=vals[:, :4], scores=vals[:, 4])
    if interpolate:
        rows, _ = interpolate_gaps(rows, max_gap=max_gap)
    # dense ids 1..K in order of first appearance, for evaluators and readers
    first: dict[int, int] = {}
    for _, i in sorted(zip(rows.frames.tolist(), rows.ids.tolist(), strict=True)):
        first.setdefault(i, len(first) + 1)
    out = [
        (int(f) + 1, first[int(i)], float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1]), float(sc))
        for f, i, b, sc in zip(rows.frames, rows.ids, rows.boxes, rows.scores, strict=True)
    ]
    out.sort(key=lambda r: (r[0], r[1]))
    return out


def format_mot(rows: list[tuple]) -> str:
    """MOTChallenge text, one line per (frame, id, x, y, w, h, score) row: ``f,id,x,y,w,h,score,-1,-1,-1``."""
    return "".join(f"{f},{i},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{sc:.3f},-1,-1,-1\n" for f, i, x, y, w, h, sc in rows)
