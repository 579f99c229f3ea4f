"""The descriptor table (written with the samples, filled by migration 0004 for older stores) and the FAISS
index persisted beside the store: reused by a fresh process, extended with new rows, rebuilt when rows went
away, were replaced or the files are damaged."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text

from app.identity import ann, reduction, search
from app.store import descriptor_table as dt
from app.store import models as m
from app.store import open_database, repo
from devkit.synthetic_store import add_track, build_store
from reid_core import track_descriptors as lm


@pytest.fixture
def store(tmp_path):
    return build_store(tmp_path / "s.db", persons=6, stays=3)


def _from_samples(db, ids):
    with db.session() as s:
        samples = repo.track_embeddings(s, ids)
    return lm.TrackDescriptors.stack([lm.aggregate_samples(samples[t].global_feat, samples[t].parts,
                                                           samples[t].visibility) for t in ids])


def test_rows_are_written_with_the_samples_and_equal_their_aggregate(store):
    ids = sorted(store.truth)
    with store.db.session() as s:
        kept, desc = dt.load(s, ids)
    want = _from_samples(store.db, ids)
    assert kept == ids
    np.testing.assert_allclose(desc.global_feat, want.global_feat, atol=2e-3)
    np.testing.assert_allclose(desc.parts, want.parts, atol=2e-3)
    assert (desc.visibility == want.visibility).all()


def test_more_samples_for_a_track_rewrite_its_row_from_all_of_them(store):
    t = store.tracks_of(0)[0]
    rng = np.random.default_rng(0)
    with store.db.session() as s:
        repo.add_embeddings(s, t, [900, 901], [0.5, 0.5], rng.standard_normal((2, 64)),
                            rng.standard_normal((2, 3, 32)), np.ones((2, 3), bool), "pgfa;parts=3")
        row = s.query(m.TrackDescriptor).filter_by(track_id=t).one()
        assert row.n_samples == 6
        _, desc = dt.load(s, [t])
    np.testing.assert_allclose(desc.global_feat, _from_samples(store.db, [t]).global_feat, atol=2e-3)


def test_migration_fills_the_table_of_a_store_made_before_it(store, tmp_path):
    path = store.db.path
    with store.db.session() as s:
        n = s.query(m.TrackDescriptor).count()
    store.db.close()
    from alembic import command
    from sqlalchemy import create_engine

    from app.store.db import _alembic_config

    url = f"sqlite:///{path}"
    engine = create_engine(url)
    with engine.begin() as c:  # back to revision 0003: no table, samples only
        cfg = _alembic_config(url)
        cfg.attributes["connection"] = c
        command.downgrade(cfg, "0003")
        assert "track_descriptors" not in c.exec_driver_sql("SELECT name FROM sqlite_master").scalars().all()
    engine.dispose()
    db = open_database(path)
    ids = sorted(store.truth)
    with db.session() as s:
        assert s.query(m.TrackDescriptor).count() == n == len(ids)
        _, desc = dt.load(s, ids)
    np.testing.assert_allclose(desc.parts, _from_samples(db, ids).parts, atol=2e-3)


def test_a_fresh_process_reuses_the_saved_index_without_rebuilding(store, monkeypatch):
    q = store.tracks_of(0)[0]
    want = [h.track_id for h in search.search_by_track(store.db, q, k=5)]
    folder = ann.index_dir(store.db)
    assert folder == store.db.path.with_name("s.faiss") and (folder / "index.faiss").exists()
    ann._INDEXES.clear()  # as a new process
    monkeypatch.setattr(ann, "build", lambda *a, **k: pytest.fail("rebuilt a valid index"))
    assert [h.track_id for h in search.search_by_track(store.db, q, k=5)] == want
    # new tracks extend it in place
    g = store.centres["global"][0][None].repeat(2, 0)
    p = store.centres["parts"][0][None].repeat(2, 0)
    new = add_track(store.db, camera="C", start_s=9000, duration_s=10, global_feat=g, parts=p,
                    visibility=np.ones((2, 3), bool))
    assert new in [h.track_id for h in search.search_by_track(store.db, q, k=3)]
    ann._INDEXES.clear()
    assert len(ann.index_for(store.db)) == len(store.truth) + 1


def test_a_saved_inverted_file_is_mapped_then_read_in_full_to_take_new_tracks(tmp_path, monkeypatch):
    monkeypatch.setattr(ann, "IVF_MIN", 10)
    monkeypatch.setattr(reduction, "GLOBAL_DIMS", 8)
    monkeypatch.setattr(reduction, "PART_DIMS", 4)
    st = build_store(tmp_path / "ivf.db", persons=6, stays=3)
    q = st.tracks_of(0)[0]
    want = [h.track_id for h in search.search_by_track(st.db, q, k=5)]
    ann._INDEXES.clear()  # as a new process: the inverted file is mapped read-only
    monkeypatch.setattr(ann, "build", lambda *a, **k: pytest.fail("rebuilt a valid index"))
    index = ann.index_for(st.db)
    assert index.meta["kind"] == "IndexIVFScalarQuantizer" and index.mapped
    assert [h.track_id for h in search.search_by_track(st.db, q, k=5)] == want
    g = st.centres["global"][0][None].repeat(2, 0)
    p = st.centres["parts"][0][None].repeat(2, 0)
    new = add_track(st.db, camera="C", start_s=9000, duration_s=10, global_feat=g, parts=p,
                    visibility=np.ones((2, 3), bool))
    assert new in [h.track_id for h in search.search_by_track(st.db, q, k=3)]  # extended, not rebuilt
    assert not index.mapped and len(index) == len(st.truth) + 1
    ann._INDEXES.clear()
    assert len(ann.index_for(st.db)) == len(st.truth) + 1


def test_damaged_or_stale_index_files_are_rebuilt(store):
    q = store.tracks_of(1)[0]
    want = [h.track_id for h in search.search_by_track(store.db, q, k=5)]
    folder = ann.index_dir(store.db)
    (folder / "index.faiss").write_bytes(b"not an index")
    ann._INDEXES.clear()
    assert [h.track_id for h in search.search_by_track(store.db, q, k=5)] == want
    # a purge elsewhere deleted rows behind this process's back: the epoch moves, the index is rebuilt
    gone = want[0]
    with store.db.session() as s:
        s.execute(text("DELETE FROM track_descriptors WHERE track_id = :t"), {"t": gone})
        dt.bump_epoch(s)
    assert gone not in [h.track_id for h in search.search_by_track(store.db, q, k=5)]
    assert len(ann.index_for(store.db)) == len(store.truth) - 1
    # a deletion nobody announced: the missing candidate is dropped and the index rebuilt next time
    other = want[1]
    with store.db.session() as s:
        s.execute(text("DELETE FROM track_descriptors WHERE track_id = :t"), {"t": other})
    assert other not in [h.track_id for h in search.search_by_track(store.db, q, k=5)]
    assert len(ann.index_for(store.db)) == len(store.truth) - 2


def test_a_new_encoder_tag_rebuilds_the_index(store):
    ix = ann.index_for(store.db)
    assert ix.meta["model_tag"] == "pgfa;parts=3"
    with store.db.session() as s:
        rows = s.query(m.TrackDescriptor).all()
        for r in rows:  # as re-embedding does: rows replaced, with the new tag
            s.delete(r)
        dt.bump_epoch(s)
    with store.db.session() as s:
        s.flush()
        dt.fill(s.connection())
        s.execute(text("UPDATE track_descriptors SET model_tag = 'other;parts=3'"))
    assert ann.index_for(store.db).meta["model_tag"] == "other;parts=3"


def test_server_databases_keep_their_index_in_a_cache_folder_named_without_the_password(monkeypatch, tmp_path):
    from sqlalchemy import create_engine

    from app.store.db import Database

    monkeypatch.setenv("REIDWATCH_CACHE_DIR", str(tmp_path / "cache"))
    folders = set()
    for password in ("secret", "other"):
        engine = create_engine(f"postgresql+psycopg://me:{password}@127.0.0.1:5432/site")
        folder = ann.index_dir(Database(tmp_path / "site", engine, None))  # type: ignore[arg-type]
        assert password not in str(folder) and folder.is_relative_to(tmp_path / "cache")
        folders.add(folder)
    assert len(folders) == 1


def test_search_and_sparse_linking_behave_alike_on_postgresql(tmp_path, monkeypatch, postgres_server):
    from app.config import Config
    from app.identity.linking import link_store

    monkeypatch.setenv("REIDWATCH_FILES", str(tmp_path / "files"))
    monkeypatch.setenv("REIDWATCH_CACHE_DIR", str(tmp_path / "cache"))
    lite = build_store(tmp_path / "lite.db", persons=6, stays=3, seed=2)
    pg = build_store(postgres_server.url(), persons=6, stays=3, seed=2)  # type: ignore[arg-type]
    assert ann.index_dir(pg.db).is_relative_to(tmp_path / "cache")
    for person in range(6):
        q_lite, q_pg = lite.tracks_of(person)[0], pg.tracks_of(person)[0]
        got_lite = search.search_by_track(lite.db, q_lite, k=6, cameras=["B"])
        got_pg = search.search_by_track(pg.db, q_pg, k=6, cameras=["B"])
        assert [lite.truth[h.track_id] for h in got_lite] == [pg.truth[h.track_id] for h in got_pg]
        assert [round(h.distance, 4) for h in got_lite] == [round(h.distance, 4) for h in got_pg]
    ann._INDEXES.clear()
    monkeypatch.setattr(ann, "build", lambda *a, **k: pytest.fail("rebuilt a valid index"))
    assert len(ann.index_for(pg.db)) == len(pg.truth)
    monkeypatch.undo()
    monkeypatch.setenv("REIDWATCH_FILES", str(tmp_path / "files"))
    a = link_store(lite.db, Config(db=lite.db.path), method="sparse")
    b = link_store(pg.db, Config(), method="sparse")
    assert (a.identities, a.links, round(a.threshold, 4)) == (b.identities, b.links, round(b.threshold, 4))


def test_two_processes_extend_one_saved_index(tmp_path, monkeypatch):
    """Another process extends the saved index while this one holds it mapped: this one takes over the saved files
    under the folder lock before adding its own tracks, so the index holds every track once and finds both."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    monkeypatch.setattr(ann, "IVF_MIN", 10)
    monkeypatch.setattr(reduction, "GLOBAL_DIMS", 8)
    monkeypatch.setattr(reduction, "PART_DIMS", 4)
    st = build_store(tmp_path / "two.db", persons=6, stays=3)
    q = st.tracks_of(0)[0]
    search.search_by_track(st.db, q, k=5)  # built and saved
    ann._INDEXES.clear()
    assert ann.index_for(st.db).mapped
    script = (
        "import numpy as np, json\nfrom app.identity import ann\nfrom app.store import open_database\n"
        "from devkit.synthetic_store import add_track\n"
        f"db = open_database({str(st.db.path)!r})\n"
        f"g = np.array({st.centres['global'][0].tolist()}, np.float32)[None].repeat(2, 0)\n"
        f"p = np.array({st.centres['parts'][0].tolist()}, np.float32)[None].repeat(2, 0)\n"
        "t = add_track(db, camera='C', start_s=9000, duration_s=10, global_feat=g, parts=p, "
        "visibility=np.ones((2, 3), bool))\n"
        "print(json.dumps([t, len(ann.index_for(db))]))")
    out = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[3],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    theirs, their_len = json.loads(out.stdout.strip().splitlines()[-1])
    assert their_len == len(st.truth) + 1
    g = st.centres["global"][0][None].repeat(2, 0)
    p = st.centres["parts"][0][None].repeat(2, 0)
    mine = add_track(st.db, camera="D", start_s=9500, duration_s=10, global_feat=g, parts=p,
                     visibility=np.ones((2, 3), bool))
    index = ann.index_for(st.db)
    assert len(index) == len(st.truth) + 2 and sorted(index.track_ids.tolist()[-2:]) == sorted([theirs, mine])
    assert len(set(index.track_ids.tolist())) == len(index)  # every track once
    found = [h.track_id for h in search.search_by_track(st.db, q, k=4)]
    assert theirs in found and mine in found
    ann._INDEXES.clear()
    assert len(ann.index_for(st.db)) == len(st.truth) + 2  # the saved files agree
