"""Live linking that fails is retried, not dropped (issue 11): `app/live/monitor.py` used to drop the batch.

The failure is the real one: another program holds the store's write lock while the monitor links.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import event

from app.config import Config
from app.identity.incremental import link_new_tracks
from app.live.monitor import LiveMonitor
from app.store import open_database, repo
from tests.app.ingest.test_track_lifecycle import FRAME, T0, encoder, nobody, person, processor  # noqa: F401
from trackers.registry import make_tracker

pytestmark = pytest.mark.slow


def test_failed_live_linking_is_retried_with_the_same_tracks(tmp_path, encoder):  # noqa: F811
    path = tmp_path / "live.db"
    db = open_database(path)
    proc = processor(db, encoder, close_after_s=1.0)
    plan = [person(100 + i) for i in range(6)] + [nobody()] * 8 + [person(180 + i) for i in range(6)]
    for i, dets in enumerate(plan):
        proc.process(i, FRAME, dets, T0 + timedelta(seconds=0.25 * i) + (timedelta(seconds=5) if i >= 14 else
                                                                            timedelta(0)))
    assert proc.close_all(len(plan), status="complete")
    closed = list(proc.stats.closed_track_ids)
    assert len(closed) == 2
    monitor = LiveMonitor(db=db, cameras=[], detector=None, encoder=encoder,  # type: ignore[arg-type]
                          tracker_factory=lambda: make_tracker("bytetrack"),
                          link=lambda database, _cams, ids: link_new_tracks(database, Config(), ids))
    db.engine.dispose()  # a short busy timeout, so that the held lock fails the first run at once
    event.listen(db.engine, "connect", lambda con, _rec: con.execute("PRAGMA busy_timeout=200"))
    monitor._pending_closed = list(closed)
    holder = sqlite3.connect(path, timeout=1)
    holder.execute("BEGIN IMMEDIATE")
    try:
        monitor._link()
    finally:
        holder.rollback()
        holder.close()
    assert monitor.stats.link_runs == 0 and sorted(monitor._pending_closed) == sorted(closed), \
        "the failed batch is kept for the next linking run"
    monitor._link()
    assert monitor.stats.link_runs == 1 and monitor._pending_closed == []
    with db.session() as s:
        assert all(t.identity_id is not None for t in repo.list_tracks(s) if t.id in closed)
