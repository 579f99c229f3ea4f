"""Turning stored tracks into MOTChallenge rows (frame 1-based, one id per stay or per identity)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from sqlalchemy.orm import Session

from app.errors import UserError
from app.store import repo
from app.store.records import SourceInfo


def pick_source(s: Session, camera: str, source_id: int | None) -> SourceInfo:
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


def mot_rows(s: Session, source: SourceInfo, ids: str, *, interpolate: bool = True) -> list[tuple]:
    """Rows (frame, id, left, top, width, height, score) for one source.

    ids="track": one id per stay in view (tracker tracks, fragments joined across occlusions);
    ids="identity": the linked identity (tracks not linked to any identity keep a unique id of their own).
    Gaps inside a joined stay are filled by linear interpolation of the boxes when ``interpolate``.
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
    per_id: dict[int, dict[int, tuple]] = defaultdict(dict)
    for o in repo.observations(s, [t.id for t in tracks]):
        k = key[o.track_id]
        prev = per_id[k].get(o.frame)
        if prev is None or o.score > prev[4]:
            per_id[k][o.frame] = (*o.box, o.score)
    # identities may hold time-overlapping tracks only if linking was overruled; keep one box per frame
    # and renumber ids densely (1..K) for the evaluators.
    rows: list[tuple] = []
    for new_id, (_, frames) in enumerate(sorted(per_id.items(), key=lambda kv: min(kv[1])), start=1):
        fs = np.array(sorted(frames))
        boxes = np.array([frames[f][:4] for f in fs], np.float64)
        scores = np.array([frames[f][4] for f in fs], np.float64)
        if interpolate and len(fs) > 1:
            full = np.arange(fs[0], fs[-1] + 1)
            gaps = np.setdiff1d(full, fs)
            if len(gaps):
                gb = np.stack([np.interp(gaps, fs, boxes[:, c]) for c in range(4)], axis=1)
                fs = np.concatenate([fs, gaps])
                boxes = np.concatenate([boxes, gb])
                scores = np.concatenate([scores, np.zeros(len(gaps))])
                order = np.argsort(fs)
                fs, boxes, scores = fs[order], boxes[order], scores[order]
        for f, b, sc in zip(fs, boxes, scores):
            rows.append((int(f) + 1, new_id, b[0], b[1], b[2] - b[0], b[3] - b[1], float(sc)))
    rows.sort(key=lambda r: (r[0], r[1]))
    return rows


def format_mot(rows: list[tuple]) -> str:
    return "".join(f"{f},{i},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{sc:.3f},-1,-1,-1\n" for f, i, x, y, w, h, sc in rows)
