"""Issues 11 and 12: several processes on one store (a SQLite file, a PostgreSQL database), as a user runs them,
and no write is lost or refused.

Three writer processes at once on one real store file: an ingest (a file source), a watch (a live source), each
a real :class:`CameraProcessor` with ByteTrack and the encoder flushing every couple of frames, and an operator
renaming identities and putting them on the watchlist (one short transaction per decision); the test process
reads meanwhile, as the UI does. Every row each writer produced must be in the store exactly once.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from app.store import open_database

pytestmark = pytest.mark.slow
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
FRAMES = 240
DECISIONS = 60


def camera_writer(db_path: str, name: str, out: mp.Queue) -> None:
    """Ingest- or watch-like writer: 2 people walking, flushed every 2 frames; reports what it produced."""
    import numpy as np

    from app.ingest.pipeline import CameraProcessor
    from app.store import repo
    from reid_core.weights import build_encoder
    from trackers.registry import make_tracker
    from trackers.types import Detections

    try:
        db = open_database(db_path)
        with db.session() as s:
            cam = repo.get_or_create_camera(s, name, kind="rtsp" if name == "watch" else "file")
            src = repo.create_source(s, camera_id=cam.id, uri=name, content_hash=None, start_time=T0, fps=10.0,
                                     frame_count=FRAMES, width=320, height=240, settings={})
        proc = CameraProcessor(db=db, camera_id=cam.id, source_id=src.id, tracker=make_tracker("bytetrack"),
                               encoder=build_encoder(None, backbone="mobilenetv2", device="cpu"), close_after_s=1.0)
        image = np.full((240, 320, 3), 90, np.uint8)
        kps = np.zeros((2, 17, 3), np.float32)
        kps[:, :, 2] = 0.9
        failures = 0
        for i in range(FRAMES):
            x = 10 + (i % 60) * 3  # every 60 frames the people jump back: new tracks, closed ones embedded
            boxes = np.array([[x, 40, x + 40, 200], [250 - x / 2, 30, 290 - x / 2, 210]], np.float32)
            kps[:, :, 0] = boxes[:, :1] + 20
            kps[:, :, 1] = np.linspace(50, 190, 17)
            proc.process(i, image, Detections(boxes, np.array([0.9, 0.8], np.float32), kps),
                         T0 + timedelta(seconds=i / 10))
            if i % 2 == 1 and not proc.flush(i + 1):
                failures += 1
        while not proc.close_all(FRAMES, status="complete"):
            failures += 1
        out.put((name, src.id, proc.stats.observations, proc.stats.tracks_closed, failures, None))
    except Exception as exc:  # report it: the test fails with the message
        out.put((name, 0, 0, 0, 0, f"{type(exc).__name__}: {exc}"))


def operator_writer(db_path: str, out: mp.Queue) -> None:
    """An operator at the UI: identities renamed and watched, one decision per transaction."""
    from app.identity.decisions import rename_identity, set_watch
    from app.store import models as m

    try:
        db = open_database(db_path)
        ids = []
        for _ in range(DECISIONS // 2):
            with db.session() as s:
                ident = m.Identity(created_at=T0.replace(tzinfo=None))
                s.add(ident)
                s.flush()
                ids.append(ident.id)
        for n, ident in enumerate(ids):
            rename_identity(db, ident, f"person {n}", who="test")
            set_watch(db, ident, True, who="test")
        out.put(("operator", 0, len(ids), 0, 0, None))
    except Exception as exc:
        out.put(("operator", 0, 0, 0, 0, f"{type(exc).__name__}: {exc}"))


def test_three_writers_at_once_lose_nothing(store_url: str):
    db_path = store_url
    first = open_database(db_path)  # created and migrated once, as the first program to open it does
    url = first.url
    first.close()
    engine = create_engine(url)
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=camera_writer, args=(str(db_path), "ingest", out)),
             ctx.Process(target=camera_writer, args=(str(db_path), "watch", out)),
             ctx.Process(target=operator_writer, args=(str(db_path), out))]
    for p in procs:
        p.start()
    reads, read_errors = [0], []
    done = threading.Event()

    def ui_reader() -> None:  # the UI refreshing its lists while the others write
        while not done.is_set():
            try:
                with engine.connect() as con:
                    con.execute(text("SELECT count(*) FROM observations")).one()
                    con.execute(text("SELECT id, name FROM identities")).all()
                reads[0] += 1
            except SQLAlchemyError as exc:
                read_errors.append(str(exc))
            done.wait(0.05)

    reader = threading.Thread(target=ui_reader, daemon=True)
    reader.start()
    results = {}
    try:
        for _ in procs:
            name, source_id, produced, closed, failures, error = out.get(timeout=300)
            results[name] = (source_id, produced, closed, failures, error)
    finally:
        done.set()
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    assert all(r[4] is None for r in results.values()), results
    assert not read_errors and reads[0] > 0
    con = engine.connect()

    def one(sql: str, *params: object) -> tuple:
        return tuple(con.exec_driver_sql(sql.replace("?", "%s" if "postgresql" in url else "?"), params).one())

    try:
        if "sqlite" in url:
            assert one("PRAGMA integrity_check")[0] == "ok"
        for name in ("ingest", "watch"):
            source_id, produced, closed, _, _ = results[name]
            assert produced >= 2 * FRAMES - 12, "two people in every frame (a new track shows from its 2nd frame)"
            stored = one("SELECT count(*) FROM observations o JOIN tracks t ON t.id = o.track_id "
                         "WHERE t.source_id = ?", source_id)[0]
            assert stored == produced, f"{name}: {stored} rows stored of {produced}"
            assert one("SELECT count(DISTINCT frame) FROM observations o JOIN tracks t ON t.id = o.track_id "
                       "WHERE t.source_id = ?", source_id)[0] >= FRAMES - 6
            n_tracks, with_emb = one(
                "SELECT count(DISTINCT t.id), count(DISTINCT e.track_id) FROM tracks t LEFT JOIN embeddings e "
                "ON e.track_id = t.id WHERE t.source_id = ?", source_id)
            assert n_tracks == closed == with_emb and closed >= 8, "every track closed and embedded once"
        assert con.execute(text("SELECT count(*) FROM observations GROUP BY track_id, frame HAVING count(*) > 1")
                           ).all() == []
        assert con.execute(text("SELECT count(*) FROM identities WHERE watch = 1 AND name LIKE 'person %'")
                           ).scalar() == DECISIONS // 2
        assert con.execute(text("SELECT count(*) FROM decisions")).scalar() == DECISIONS
    finally:
        con.close()
        engine.dispose()
