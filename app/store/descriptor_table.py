"""The per-track descriptor table (``track_descriptors``): written when a track's samples are stored
(``app.store.repo.add_embeddings``: ingest, resume, live monitoring, re-embedding) and by migration 0004 for older
stores; search and linking read it and never aggregate samples again.

A row holds ``reid_core.track_descriptors.aggregate_many`` of all the track's samples (visible_mean), float16.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.orm import Session

from app.errors import UserError
from app.store import models as m
from reid_core import track_descriptors as lm

log = logging.getLogger(__name__)

T = m.TrackDescriptor.__table__
E = m.Embedding.__table__


def parts_from_tag(tag: str, flat_dim: int) -> int:
    """Number of stripes recorded in a model tag ("...;parts=3"), else guessed from the flat size."""
    for piece in tag.split(";"):
        if piece.startswith("parts="):
            return int(piece.split("=", 1)[1])
    return 3 if flat_dim % 3 == 0 else 1


def _bits(vis: np.ndarray) -> np.ndarray:
    """(N, P) bool -> (N,) int64 bit masks (bit i = stripe i)."""
    return (np.asarray(vis, np.int64) << np.arange(vis.shape[1], dtype=np.int64)).sum(axis=1)


def rows_for(track_ids: Sequence[int], desc: lm.TrackDescriptors, n_samples: Sequence[int], tag: str) -> list[dict]:
    """Insertable rows for ``desc`` (one per track id)."""
    bits = _bits(desc.visibility)
    g = desc.global_feat.astype(np.float16)
    p = desc.parts.astype(np.float16)
    return [{"track_id": int(t), "model_tag": tag, "n_samples": int(n), "global_feat": g[i].tobytes(),
             "parts": p[i].tobytes(), "visibility": int(bits[i])}
            for i, (t, n) in enumerate(zip(track_ids, n_samples, strict=True))]


def write_track(s: Session, track_id: int, global_feat: np.ndarray, parts: np.ndarray, visibility: np.ndarray,
                tag: str) -> None:
    """(Re)write one track's descriptor after samples were added. The first write aggregates the new samples
    (the usual case: a track's samples are stored once, when it closes); a later one aggregates every stored
    sample of the track, so the row always describes all of them."""
    old = s.execute(select(T.c.id).where(T.c.track_id == track_id)).first()
    if old is not None:
        s.execute(delete(T).where(T.c.track_id == track_id))
        bump_epoch(s)
        fill(s.connection(), track_ids=[track_id])
        return
    # as stored (float16), so that a row written here equals one aggregated later from the stored samples
    g = np.asarray(global_feat, np.float16).astype(np.float32)
    if len(g) == 0:
        return
    desc = lm.aggregate_samples(g, np.asarray(parts, np.float16).astype(np.float32), visibility)
    s.execute(insert(T), rows_for([track_id], desc, [len(g)], tag))


def fill(conn: Connection, *, track_ids: Sequence[int] | None = None, block: int = 2000) -> int:
    """Aggregate stored samples into descriptor rows for tracks that have samples and no row (all tracks, or
    ``track_ids``). Used by migration 0004 and when samples are added to a track that already had a row.
    Returns the number of rows written."""
    have = select(T.c.track_id)
    q = select(E.c.track_id).where(E.c.track_id.not_in(have)).distinct().order_by(E.c.track_id)
    if track_ids is not None:
        q = q.where(E.c.track_id.in_(list(track_ids)))
    todo = [int(t) for t in conn.execute(q).scalars()]
    written = 0
    for lo in range(0, len(todo), block):
        chunk = todo[lo:lo + block]
        rows = conn.execute(select(E.c.track_id, E.c.global_feat, E.c.parts, E.c.visibility, E.c.model_tag)
                            .where(E.c.track_id.in_(chunk)).order_by(E.c.track_id, E.c.id)).all()
        by_tag: dict[tuple[str, int, int], list] = {}
        for r in rows:  # one aggregation per encoder and size (a store holds one, unless mixed by mistake)
            by_tag.setdefault((r[4], len(r[1]), len(r[2])), []).append(r)
        for (tag, _, _), group in by_tag.items():
            kept = sorted({r[0] for r in group})
            pos = {t: i for i, t in enumerate(kept)}
            owner = np.array([pos[r[0]] for r in group], np.int64)
            g = np.frombuffer(b"".join(r[1] for r in group), np.float16).reshape(len(group), -1).astype(np.float32)
            flat = np.frombuffer(b"".join(r[2] for r in group), np.float16).reshape(len(group), -1)
            n_parts = parts_from_tag(tag, flat.shape[1])
            bits = np.array([r[3] for r in group], np.int64)
            vis = (bits[:, None] >> np.arange(n_parts)[None, :] & 1).astype(bool)
            desc = lm.aggregate_many(g, flat.astype(np.float32).reshape(len(group), n_parts, -1), vis, owner,
                                     len(kept))
            conn.execute(insert(T), rows_for(kept, desc, np.bincount(owner, minlength=len(kept)).tolist(), tag))
            written += len(kept)
    if written:
        log.info("descriptor table: %d track descriptors aggregated from stored samples", written)
    return written


def _decode(rows: Sequence) -> lm.TrackDescriptors:
    """Rows of (global_feat, parts, visibility, model_tag) -> descriptors (float32)."""
    g, p, vis = _decode_half(rows)
    return lm.TrackDescriptors(g.astype(np.float32), p.astype(np.float32), vis)


def _decode_half(rows: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of (global_feat, parts, visibility, model_tag) -> float16 (N, Dg), (N, P, Dp) as stored, (N, P) bool."""
    sizes = {(len(r[0]), len(r[1]), r[3]) for r in rows}
    if len({sz[:2] for sz in sizes}) > 1:
        raise UserError(f"the store holds descriptors of different sizes {sorted(sz[:2] for sz in sizes)}: tracks "
                        f"embedded with different encoders cannot be compared; re-ingest with one encoder")
    g = np.frombuffer(b"".join(r[0] for r in rows), np.float16).reshape(len(rows), -1)
    flat = np.frombuffer(b"".join(r[1] for r in rows), np.float16).reshape(len(rows), -1)
    n_parts = parts_from_tag(rows[0][3], flat.shape[1])
    bits = np.array([r[2] for r in rows], np.int64)
    vis = (bits[:, None] >> np.arange(n_parts)[None, :] & 1).astype(bool)
    return g, flat.reshape(len(rows), n_parts, -1), vis


def _fetch(s: Session, track_ids: Sequence[int]) -> tuple[list[int], list[tuple]]:
    found: dict[int, tuple] = {}
    ids = list(dict.fromkeys(int(t) for t in track_ids))
    for lo in range(0, len(ids), 5000):
        q = select(T.c.track_id, T.c.global_feat, T.c.parts, T.c.visibility, T.c.model_tag).where(
            T.c.track_id.in_(ids[lo:lo + 5000]))
        found.update((int(r[0]), tuple(r[1:])) for r in s.execute(q))
    kept = [t for t in ids if t in found]
    return kept, [found[t] for t in kept]


def load(s: Session, track_ids: Sequence[int]) -> tuple[list[int], lm.TrackDescriptors | None]:
    """Descriptors of those tracks that have one, in the caller's order -> (ids kept, descriptors)."""
    kept, rows = _fetch(s, track_ids)
    return (kept, _decode(rows)) if kept else ([], None)


def load_half(s: Session, track_ids: Sequence[int]
              ) -> tuple[list[int], tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """As ``load``, but (global, parts, visibility) arrays as stored, float16: half the memory and no conversion,
    for callers that convert only the few rows they use at a time."""
    kept, rows = _fetch(s, track_ids)
    return (kept, _decode_half(rows)) if kept else ([], None)


def iter_blocks(s: Session, *, after_id: int = 0, block: int = 20_000
                ) -> Iterator[tuple[np.ndarray, np.ndarray, lm.TrackDescriptors, str]]:
    """Every descriptor row with id > ``after_id`` in id order, in blocks: (row ids, track ids, descriptors,
    model tag of the block's first row)."""
    last = after_id
    while True:
        rows = s.execute(select(T.c.id, T.c.track_id, T.c.global_feat, T.c.parts, T.c.visibility, T.c.model_tag)
                         .where(T.c.id > last).order_by(T.c.id).limit(block)).all()
        if not rows:
            return
        last = int(rows[-1][0])
        yield (np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64),
               _decode([r[2:] for r in rows]), str(rows[0][5]))


def state(s: Session) -> tuple[int, int]:
    """(largest row id, number of rows) of the table: 0, 0 when empty."""
    hi, n = s.execute(select(func.max(T.c.id), func.count(T.c.id))).one()
    return int(hi or 0), int(n or 0)


def max_id(s: Session) -> int:
    """The largest row id (0 when empty); one index lookup."""
    return int(s.scalar(select(func.max(T.c.id))) or 0)


def count_upto(s: Session, row_id: int) -> int:
    """Rows with id <= ``row_id`` (an index holding that many is complete up to there): all rows (counted on the
    smallest index, 0.1 s at a million rows where a range count walks the table in 0.6 s) less the few newer."""
    total = select(func.count()).select_from(T).scalar_subquery()
    newer = select(func.count(T.c.id)).where(T.c.id > row_id).scalar_subquery()
    return int(s.scalar(select(total - newer)) or 0)  # one statement, one snapshot: no row slips in between


EPOCH_KEY = "descriptors.epoch"


def epoch(s: Session) -> int:
    """A counter that every deletion or replacement of descriptor rows moves on (one primary-key lookup)."""
    row = s.get(m.Setting, EPOCH_KEY)
    return int(row.value.get("value", 0)) if row is not None else 0


def bump_epoch(s: Session) -> None:
    """Record that descriptor rows were deleted or replaced: every search index rebuilds at its next use."""
    row = s.get(m.Setting, EPOCH_KEY)
    if row is None:
        s.add(m.Setting(key=EPOCH_KEY, value={"value": 1}))
    else:
        row.value = {"value": int(row.value.get("value", 0)) + 1}


def row_tracks(s: Session, row_ids: Sequence[int]) -> list[int | None]:
    """The track id of each descriptor row id (None where there is no such row)."""
    found = dict(s.execute(select(T.c.id, T.c.track_id).where(T.c.id.in_(list(row_ids)))).all())
    return [found.get(int(r)) for r in row_ids]
