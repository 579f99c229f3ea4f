"""What linking and operator decisions both read from the store: a table of tracks, their aggregated
descriptors, identity rows, the decisions in force as constraints, and the distance and kind of one pair.

``app.identity.linking`` (runs) and ``app.identity.decisions`` (operators) both import this module and
never each other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import UserError
from app.identity import cluster as lk
from app.identity import constraints as lc
from app.store import descriptor_table as dt
from app.store import models as m
from app.store import repo
from app.store.records import as_utc
from reid_core import track_descriptors as lm

DEFAULT_AGGREGATION = "visible_mean"  # descriptors: what search uses, and linking on large stores
OCCLUSION_GAP_S = 5.0  # same-camera links with a shorter gap are occlusions, longer ones re-entries
CONSTRAINT_KINDS = ("confirm", "reject", "merge", "split")


@dataclass(frozen=True)
class TrackTable:
    """What linking knows about N tracks. ids, camera, source, stay, identity (-1 = none) (N,) int64;
    t_start, t_end (N,) float64 epoch seconds; first_centre, last_centre (N, 2) and height (N,) pixels."""

    ids: np.ndarray
    camera: np.ndarray
    source: np.ndarray
    stay: np.ndarray
    identity: np.ndarray
    t_start: np.ndarray
    t_end: np.ndarray
    first_centre: np.ndarray
    last_centre: np.ndarray
    height: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def load_track_table(s: Session, *, camera_ids: list[int] | None = None, track_ids: list[int] | None = None
                     ) -> TrackTable:
    """Tracks (of those cameras / with those ids) in id order, with their end boxes."""
    q = select(m.Track.id, m.Track.camera_id, m.Track.source_id, m.Track.stay_id, m.Track.identity_id,
               m.Track.start_time, m.Track.end_time, m.Track.first_frame, m.Track.last_frame).order_by(m.Track.id)
    if camera_ids is not None:
        q = q.where(m.Track.camera_id.in_(camera_ids))
    if track_ids is not None:
        q = q.where(m.Track.id.in_(list(track_ids)))
    rows = s.execute(q).all()
    n = len(rows)
    ids = np.array([r[0] for r in rows], np.int64)
    boxes: dict[tuple[int, int], tuple[float, float, float, float]] = {}
    for lo in range(0, n, 500):
        chunk = rows[lo:lo + 500]
        ends = select(m.Observation.track_id, m.Observation.frame, m.Observation.x1, m.Observation.y1,
                      m.Observation.x2, m.Observation.y2).where(
            m.Observation.track_id.in_([r[0] for r in chunk]),
            m.Observation.frame.in_({r[7] for r in chunk} | {r[8] for r in chunk}))
        for tid, frame, x1, y1, x2, y2 in s.execute(ends):
            boxes[(tid, frame)] = (x1, y1, x2, y2)
    nan_box = (np.nan, np.nan, np.nan, np.nan)
    first = np.array([boxes.get((r[0], r[7]), nan_box) for r in rows], np.float64).reshape(n, 4)
    last = np.array([boxes.get((r[0], r[8]), nan_box) for r in rows], np.float64).reshape(n, 4)
    heights = np.nan_to_num(((first[:, 3] - first[:, 1]) + (last[:, 3] - last[:, 1])) / 2, nan=0.0)
    return TrackTable(
        ids=ids,
        camera=np.array([r[1] for r in rows], np.int64),
        source=np.array([r[2] for r in rows], np.int64),
        stay=np.array([r[3] if r[3] is not None else -1 for r in rows], np.int64),
        identity=np.array([r[4] if r[4] is not None else -1 for r in rows], np.int64),
        t_start=np.array([as_utc(r[5]).timestamp() for r in rows], np.float64),
        t_end=np.array([as_utc(r[6]).timestamp() for r in rows], np.float64),
        first_centre=(first[:, :2] + first[:, 2:]) / 2,
        last_centre=(last[:, :2] + last[:, 2:]) / 2,
        height=heights,
    )


def stay_keys(table: TrackTable) -> np.ndarray:
    """(N,) one key per stay: fragments joined by stitching share it; an unstitched track is its own stay."""
    return np.where(table.stay >= 0, table.source * 1_000_000_007 + table.stay, -table.ids - 1)


def descriptors_for(s: Session, track_ids: list[int], *, aggregation: str = DEFAULT_AGGREGATION,
                    samples: bool = True) -> tuple[list[int], lm.TrackDescriptors | None, dict]:
    """Descriptors of the tracks that have embeddings -> (ids kept, descriptors, raw samples). ``visible_mean``
    (and the pair aggregations) read the descriptor table (``app.store.descriptor_table``); ``mean``, kept
    for comparison, aggregates the samples. ``samples=False``: no raw samples (an empty dict) unless needed."""
    raw = repo.track_embeddings(s, track_ids) if track_ids and (samples or aggregation == "mean") else {}
    if aggregation != "mean":
        kept, table_descs = dt.load(s, track_ids)
        return kept, table_descs, raw
    kept = [t for t in track_ids if t in raw]
    if not kept:
        return [], None, raw
    descs = [lm.aggregate_samples(raw[t].global_feat, raw[t].parts, raw[t].visibility, mode="mean") for t in kept]
    dims = {(d.global_feat.shape[1], d.parts.shape[1:]) for d in descs}
    if len(dims) > 1:
        raise UserError(f"the store holds embeddings of different sizes {sorted(dims)}: tracks embedded with "
                        f"different encoders cannot be compared; re-ingest with one encoder")
    return kept, lm.TrackDescriptors.stack(descs), raw


def take_tracks(table: TrackTable, rows: np.ndarray) -> TrackTable:
    """The sub-table of ``rows`` (integer indices or a boolean mask), every column taken alike."""
    return TrackTable(**{k: getattr(table, k)[rows] for k in TrackTable.__dataclass_fields__})


def pair_distance_and_kind(s: Session, track_a: int, track_b: int) -> tuple[float, str]:
    """Distance (-1 when a track has no embeddings) and link kind of two tracks, for decided matches."""
    table = load_track_table(s, track_ids=[track_a, track_b])
    if len(table) != 2:
        raise UserError(f"no track {track_a if track_a not in table.ids else track_b} in the store")
    kept, descs, _ = descriptors_for(s, [int(t) for t in table.ids])
    distance = float(lm.descriptor_distance(descs, descs)[0, 1]) if descs is not None and len(kept) == 2 else -1.0
    keys = stay_keys(table)
    gap = float(lc.time_gaps(table.t_start, table.t_end)[0, 1])
    return distance, lk.link_kind(bool(table.camera[0] == table.camera[1]), bool(keys[0] == keys[1]), gap,
                                  occlusion_gap_s=OCCLUSION_GAP_S)


def new_identity(s: Session, *, name: str | None = None, watch: bool = False) -> int:
    """Create an identity row and return its id."""
    ident = m.Identity(name=name, watch=int(watch), created_at=repo._naive_utc(repo.utcnow()))
    s.add(ident)
    s.flush()
    return ident.id


def constraint_events(s: Session) -> list[tuple[str, int, int]]:
    """Decisions in force as ("must" | "cannot", track_a, track_b) events, oldest first."""
    events: list[tuple[str, int, int]] = []
    rows = s.scalars(select(m.Decision).where(m.Decision.undone == 0, m.Decision.kind.in_(CONSTRAINT_KINDS))
                     .order_by(m.Decision.at, m.Decision.id))
    for d in rows:
        value = json.loads(d.value or "{}")
        if d.kind == "confirm" and d.track_a is not None and d.track_b is not None:
            events.append(("must", d.track_a, d.track_b))
        elif d.kind == "reject" and d.track_a is not None and d.track_b is not None:
            events.append(("cannot", d.track_a, d.track_b))
        elif d.kind == "merge":
            tracks = [int(t) for t in value.get("tracks", [])]
            events.extend(("must", tracks[0], t) for t in tracks[1:])
        elif d.kind == "split" and d.track_a is not None:
            events.extend(("cannot", d.track_a, int(t)) for t in value.get("others", []))
    return events
