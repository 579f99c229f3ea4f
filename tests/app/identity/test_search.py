"""Search by example over real SQLite stores: ranking, filters, the in-memory index, images through the real
detector and encoder."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from app.config import Config
from app.errors import UserError
from app.identity import ann, reduction, search
from app.ingest.pipeline import model_tag
from app.runtime import Runtime
from app.store import models as m
from app.store import open_database, repo
from devkit.synthetic_store import T0, add_track, build_store


@pytest.fixture
def store(tmp_path):
    return build_store(tmp_path / "s.db", persons=6, stays=3)


def test_true_identity_ranks_first_and_the_query_is_left_out(store):
    for person in range(6):
        q = store.tracks_of(person)[0]
        hits = search.search_by_track(store.db, q, k=10)
        assert q not in [h.track_id for h in hits]
        top = [store.truth[h.track_id] for h in hits[:5]]
        assert top == [person] * 5  # the 5 other sightings first
        assert all(a.distance <= b.distance for a, b in zip(hits, hits[1:], strict=False))
    h = hits[0]
    assert h.camera in ("A", "B") and h.start_time.tzinfo is not None and h.best_frame >= 0


def test_camera_and_time_filters(store):
    q = store.tracks_of(0)[0]
    only_b = search.search_by_track(store.db, q, k=50, cameras=["B"])
    assert only_b and {h.camera for h in only_b} == {"B"}
    t_from, t_to = T0 + timedelta(seconds=250), T0 + timedelta(seconds=700)
    window = search.search_by_track(store.db, q, k=50, t_from=t_from, t_to=t_to)
    assert window and all(h.end_time >= t_from and h.start_time <= t_to for h in window)
    assert len(window) < len(search.search_by_track(store.db, q, k=50))
    with pytest.raises(UserError, match="unknown camera"):
        search.search_by_track(store.db, q, cameras=["Z"])
    with pytest.raises(UserError, match="ends before it starts"):
        search.search_by_track(store.db, q, t_from=t_to, t_to=t_from)


def test_fragments_of_the_same_stay_are_left_out_unless_asked(store):
    a, b = store.tracks_of(1)[:2]
    with store.db.session() as s:
        repo.set_stay_ids(s, {a: a, b: a})
    assert b not in [h.track_id for h in search.search_by_track(store.db, a, k=50)]
    assert b in [h.track_id for h in search.search_by_track(store.db, a, k=50, include_same_stay=True)]


def test_compressed_index_reranks_to_the_exact_answer(tmp_path, monkeypatch):
    """An inverted file of PCA-reduced 8-bit codes (what large stores get) gives the exact answer after re-ranking."""
    exact_store = build_store(tmp_path / "exact.db", persons=6, stays=3, seed=5)
    want = {q: [(h.track_id, round(h.distance, 5)) for h in search.search_by_track(exact_store.db, q, k=2)]
            for q in exact_store.tracks_of(2)}
    assert ann.index_for(exact_store.db).meta["kind"] == "IndexFlatIP"
    monkeypatch.setattr(ann, "IVF_MIN", 10)
    monkeypatch.setattr(reduction, "GLOBAL_DIMS", 8)
    monkeypatch.setattr(reduction, "PART_DIMS", 4)
    monkeypatch.setattr(search, "RERANK", 1)  # 20 candidates of 36 for k = 2
    proj_store = build_store(tmp_path / "proj.db", persons=6, stays=3, seed=5)
    for q, expected in want.items():
        got = [(h.track_id, round(h.distance, 5)) for h in search.search_by_track(proj_store.db, q, k=2)]
        assert got == expected
    index = ann.index_for(proj_store.db)
    assert index.meta["kind"] == "IndexIVFScalarQuantizer" and index.index.d == 8 + 3 * 4 and len(index) == 36


def test_index_follows_new_and_deleted_tracks(store):
    q = store.tracks_of(0)[0]
    n = len(ann.index_for(store.db))
    g = store.centres["global"][0][None].repeat(2, 0)
    p = store.centres["parts"][0][None].repeat(2, 0)
    new = add_track(store.db, camera="C", start_s=9000, duration_s=10, global_feat=g, parts=p,
                    visibility=np.ones((2, 3), bool))
    hits = search.search_by_track(store.db, q, k=3)
    assert new in [h.track_id for h in hits] and len(ann.index_for(store.db)) == n + 1
    with store.db.session() as s:
        repo.delete_source(s, repo.list_tracks(s, ids=[new])[0].source_id)
    assert new not in [h.track_id for h in search.search_by_track(store.db, q, k=50)]
    assert len(ann.index_for(store.db)) == n


def test_bad_queries(store, tmp_path):
    with pytest.raises(UserError, match="no track 999"):
        search.search_by_track(store.db, 999)
    with pytest.raises(UserError, match="at least 1"):
        search.search_by_track(store.db, store.tracks_of(0)[0], k=0)
    with store.db.session() as s:
        src = repo.list_sources(s)[0]
        bare = repo.create_track(s, source_id=src.id, camera_id=src.camera_id, local_id=9999, frame=0, t=T0)
    with pytest.raises(UserError, match="no embeddings"):
        search.search_by_track(store.db, bare)
    empty = open_database(tmp_path / "empty.db")
    assert search.search_descriptor(empty, search.lm.aggregate_samples(
        np.ones((1, 4)), np.ones((1, 3, 2)), np.ones((1, 3), bool))) == []


@pytest.mark.slow
def test_search_by_image_finds_the_person_through_the_real_detector_and_encoder(tmp_path, shared_data):
    import cv2

    cfg = Config(db=tmp_path / "img.db", device="cpu")
    db = open_database(cfg.db)
    runtime = Runtime(cfg)
    models = runtime.models()
    ids = {}
    for name in ("basketball1.png", "messi5.jpg", "basketball2.png"):
        img = cv2.imread(str(shared_data / name))
        d = search.embed_image(models.detector, models.encoder, img)
        ids[name] = add_track(db, camera=name.split(".")[0], start_s=0, duration_s=1, global_feat=d.global_feat,
                              parts=d.parts, visibility=d.visibility, tag=model_tag(models.encoder))
    with db.session() as s:
        assert s.query(m.Embedding).count() == 3
    # the same person, mirrored and smaller, is still closest to its own track
    query = cv2.imread(str(shared_data / "messi5.jpg"))[:, ::-1]
    query = cv2.resize(query, None, fx=0.7, fy=0.7)
    hits = runtime.search_by_image(db, np.ascontiguousarray(query), k=3)
    assert hits[0].track_id == ids["messi5.jpg"]
    assert hits[0].distance < hits[1].distance
    with pytest.raises(UserError, match="no person"):
        runtime.search_by_image(db, np.full((240, 320, 3), 127, np.uint8))


def test_the_re_ranking_distance_is_eq8(store):
    with store.db.session() as s:
        _, d = search.dt.load(s, sorted(store.truth))
    want = search.lm.descriptor_distance(d.take([3]), d)[0]
    np.testing.assert_allclose(search.query_distance(d.take([3]), d), want, atol=2e-4)  # float16 rows


def test_a_query_from_another_encoder_is_one_clear_error(store):
    """A query whose stripes do not match the store's (another encoder, the colour stripes on one side only) is
    refused with one line, not compared wrongly."""
    with store.db.session() as s:
        _, d = search.dt.load(s, sorted(store.truth)[:1])
    g, p = d.global_feat.shape[1], d.parts.shape[2]
    five = search.lm.aggregate_samples(np.ones((1, g)), np.ones((1, d.parts.shape[1] + 2, p)),
                                       np.ones((1, d.parts.shape[1] + 2), bool))
    with pytest.raises(UserError, match="does not compare with the store's"):
        search.search_descriptor(store.db, five, k=3)
    assert search.search_descriptor(store.db, d, k=3)  # the store's own embedding still searches


def test_a_search_by_track_does_not_load_torch(store):
    """A fresh process answers a search by track without importing torch (a second of start-up on a small machine):
    the saved index is loaded, distances are numpy."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    ann.index_for(store.db)  # built and saved here; the fresh process only loads it
    query = sorted(store.truth)[0]
    script = ("import json, sys\nfrom app.identity import search\nfrom app.store import open_database\n"
              f"hits = search.search_by_track(open_database({str(store.db.path)!r}), {query}, k=3)\n"
              "print(json.dumps([len(hits), 'torch' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[3],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    n_hits, torch_loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert n_hits == 3 and not torch_loaded
