"""Issue 12: several processes assigning identities in one PostgreSQL store at once, serialised by the store's
advisory lock (app.store.locks): no person gets two identities, and no operator decision is lost to a linking run
that started before it."""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest
from sqlalchemy import text

from app.store import open_database
from app.store.locks import IDENTITIES, lock_key, store_lock
from devkit.synthetic_store import build_store, identity_groups

pytestmark = pytest.mark.slow


def _link_camera(url: str, camera: str, start: mp.Event, out: mp.Queue) -> None:
    """A node giving identities to the new tracks of its camera (live linking)."""
    try:
        from app.config import Config, LinkConfig
        from app.identity.incremental import link_new_tracks
        from app.store import repo

        db = open_database(url)
        with db.session() as s:
            cam = {c.name: c.id for c in repo.list_cameras(s)}[camera]
            tracks = [t.id for t in repo.list_tracks(s) if t.camera_id == cam]
        start.wait(60)
        link_new_tracks(db, Config(link=LinkConfig(threshold=0.5)), tracks)  # one at a time, this links each person
        out.put((camera, None))
    except Exception as exc:
        out.put((camera, f"{type(exc).__name__}: {exc}"))


def _waiting(db) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))
                   .scalar() or 0)


def _run_parallel(db, targets: list[tuple], timeout: float = 240) -> list:
    """Start the processes while this test holds the identities lock; once every one of them waits for it (seen
    in pg_locks), let go: they then run into each other as nodes do, with the lock as their only guard."""
    ctx = mp.get_context("spawn")
    out, start = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=fn, args=(*args, start, out)) for fn, *args in targets]
    try:
        with db.session() as s, store_lock(s, IDENTITIES):
            for p in procs:
                p.start()
            start.set()
            deadline = time.monotonic() + timeout
            while _waiting(db) < len(procs):
                assert time.monotonic() < deadline, "the processes never waited for the identities lock"
                assert all(p.is_alive() for p in procs), "a process ended without taking the lock"
                time.sleep(0.1)
        return [out.get(timeout=timeout) for _ in procs]
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()


def test_two_nodes_linking_at_once_give_each_person_one_identity(postgres_server):
    url = postgres_server.url()
    store = build_store(url, persons=5, stays=2, cameras=("A", "B"))
    results = _run_parallel(store.db, [(_link_camera, url, "A"), (_link_camera, url, "B")])
    assert all(err is None for _, err in results), results
    groups = identity_groups(store.db, list(store.truth))
    assert all(g is not None for g in groups.values())
    by_person: dict[int, set] = {}
    for tid, person in store.truth.items():
        by_person.setdefault(person, set()).add(groups[tid])
    assert all(len(ids) == 1 for ids in by_person.values()), by_person  # never two identities for one person
    assert len({next(iter(v)) for v in by_person.values()}) == 5  # and never one for two people
    store.db.close()


def _link_runs(url: str, runs: int, start: mp.Event, out: mp.Queue) -> None:
    try:
        from app.config import Config
        from app.identity.linking import link_store

        db = open_database(url)
        start.wait(60)
        for _ in range(runs):
            link_store(db, Config(), threshold=0.9)  # generous: without the rejections every pair links
        out.put(("link", None))
    except Exception as exc:
        out.put(("link", f"{type(exc).__name__}: {exc}"))


def _operator(url: str, pairs: list[tuple[int, int]], start: mp.Event, out: mp.Queue) -> None:
    try:
        import time

        from app.identity.decisions import reject_match

        db = open_database(url)
        start.wait(60)
        for n, (a, b) in enumerate(pairs):
            time.sleep(0.3 * n)  # the first waits with the first run for the lock, the others come during runs
            reject_match(db, a, b, who="operator")
        out.put(("operator", None))
    except Exception as exc:
        out.put(("operator", f"{type(exc).__name__}: {exc}"))


def test_operator_decisions_made_during_linking_runs_survive(postgres_server):
    url = postgres_server.url()
    store = build_store(url, persons=3, stays=2, cameras=("A", "B"))
    from app.config import Config
    from app.identity.linking import link_store

    link_store(store.db, Config(), threshold=0.9)
    pairs = [(store.tracks_of(p)[0], store.tracks_of(p)[-1]) for p in range(3)]
    results = _run_parallel(store.db, [(_link_runs, url, 6), (_operator, url, pairs)])
    assert all(err is None for _, err in results), results
    groups = identity_groups(store.db, list(store.truth))
    for a, b in pairs:  # every rejection holds, whichever run read the store before it
        assert groups[a] != groups[b] or groups[a] is None, (a, b, groups)
    with store.db.session() as s:
        assert s.execute(text("SELECT count(*) FROM decisions WHERE kind = 'reject'")).scalar() == 3
    store.db.close()


def test_the_lock_makes_a_second_session_wait(postgres_server):
    db = open_database(postgres_server.url())
    with db.session() as s1, store_lock(s1, IDENTITIES):
        with db.engine.connect() as c2:
            got = c2.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": lock_key(IDENTITIES)}).scalar()
            assert got is False  # held by s1 until its commit
    with db.engine.connect() as c2:
        assert c2.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": lock_key(IDENTITIES)}).scalar()
    db.close()
