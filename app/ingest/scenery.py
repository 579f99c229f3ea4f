"""Scenery in the store: the rows of tracks that closed as scenery (or as unconfirmed refinds) go, and cut
stretches leave people's tracks.

``CameraProcessor`` decides when a track closes (``trackers.clutter``); this applies it inside the flush's
transaction, so a failed write leaves everything buffered for the next flush.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.orm import Session

from app.store import repo
from trackers.clutter import Cut, SceneryWatch

log = logging.getLogger(__name__)


class Closing(Protocol):
    """What is read of a closing track."""

    local_id: int
    db_id: int | None
    first_frame: int
    last_frame: int
    drop: bool
    unconfirmed: bool  # dropped as an unconfirmed refind (app.ingest.tracklife), not as scenery
    cuts: list[Cut]
    scenery: SceneryWatch


def apply_scenery(s: Session, closing: Sequence[Closing], created: dict[int, int]) -> set[int]:
    """Delete the dropped tracks' rows and cut the stretches out of the others; returns the ``id()`` of the
    closing tracks that are no longer in the store (dropped, or nothing left after the cuts)."""
    gone: set[int] = set()
    delete: list[int] = []
    for c in closing:
        track_id = c.db_id or created.get(c.local_id)
        if c.drop:
            gone.add(id(c))
            if track_id is not None:
                delete.append(track_id)
        elif c.cuts and track_id is not None and not repo.cut_frames(s, track_id, [(x.first, x.last) for x in c.cuts]):
            gone.add(id(c))
            delete.append(track_id)
    repo.delete_open_tracks(s, delete)
    return gone


def log_scenery(source_id: int, closing: Sequence[Closing]) -> None:
    """One line per track left out, and per track cut."""
    for c in closing:
        w = c.scenery.whole
        if c.drop and c.unconfirmed:
            log.info("source %d: track %d (frame %d) left out: found again after a long time unseen and lost "
                     "again at once", source_id, c.local_id, c.first_frame)
        elif c.drop:
            log.info("source %d: track %d (frames %d-%d) left out as scenery: %d detections, %d confident, moved "
                     "%.2f heights", source_id, c.local_id, c.first_frame, c.last_frame, w.n, w.n_confident,
                     w.extent)
        elif c.cuts:
            log.info("source %d: track %d: scenery cut out at frames %s", source_id, c.local_id,
                     ", ".join(f"{x.first}-{x.last}" for x in c.cuts))
