"""Linking through the search index (candidate pairs, components, exact clustering inside) gives the partition
the dense N x N run gives, on real SQLite stores: synthetic people, operator decisions, stitched stays and, in
the slow test, tracks ingested from vtest.avi."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from app.cli import main
from app.config import Config
from app.identity import decisions, sparse
from app.identity.linking import link_store
from app.store import open_database, repo
from devkit.synthetic_store import build_store


def _partition(db) -> set[frozenset[int]]:
    with db.session() as s:
        tracks = repo.list_tracks(s)
    groups: dict[int, set[int]] = {}
    for t in tracks:
        if t.identity_id is not None:
            groups.setdefault(t.identity_id, set()).add(t.id)
    return {frozenset(g) for g in groups.values()}


def _both(db, cfg: Config, **kw) -> tuple:
    dense = link_store(db, cfg, method="dense", aggregation="visible_mean", **kw)
    want = _partition(db)
    sparse_run = link_store(db, cfg, method="sparse", **kw)
    return dense, want, sparse_run, _partition(db)


@pytest.mark.parametrize("shape", [
    dict(),
    dict(persons=12, stays=3, noise=0.6, hidden_rate=0.5, seed=3),
    dict(persons=20, stays=2, cameras=("A", "B", "C"), noise=0.9, seed=7),
])
def test_sparse_linking_equals_dense_on_synthetic_stores(tmp_path, monkeypatch, caplog, shape):
    monkeypatch.setattr(sparse, "K_NEIGHBOURS", 5)  # far fewer than N - 1 candidates per track
    st = build_store(tmp_path / "s.db", **shape)
    cfg = Config(db=st.db.path)
    with caplog.at_level(logging.INFO, logger="app.identity.link_sparse"):
        dense, want, got, partition = _both(st.db, cfg)
    assert partition == want
    assert got.threshold == pytest.approx(dense.threshold) and got.calibrated == dense.calibrated
    assert (got.identities, got.links) == (dense.identities, dense.links)
    n = len(st.truth)
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("sparse linking"))
    pairs = int(line.split(",")[1].split()[0])
    assert pairs < n * (n - 1) // 2  # not a dense run in disguise


def test_sparse_linking_respects_operator_decisions_and_stays_like_dense(tmp_path, monkeypatch):
    monkeypatch.setattr(sparse, "K_NEIGHBOURS", 4)
    st = build_store(tmp_path / "s.db", persons=8, stays=3, noise=0.5, seed=11)
    cfg = Config(db=st.db.path)
    p0, p1 = st.tracks_of(0), st.tracks_of(1)
    decisions.reject_match(st.db, p0[0], p0[1], who="op")  # one person, said to be two
    decisions.confirm_match(st.db, p0[2], p1[0], who="op")  # two people, said to be one
    with st.db.session() as s:
        repo.set_stay_ids(s, {p1[1]: p1[1], p1[2]: p1[1]})  # stitched fragments
    dense, want, got, partition = _both(st.db, cfg, threshold=0.3)
    assert partition == want
    assert not any(p0[0] in g and p0[1] in g for g in partition)
    assert any(p0[2] in g and p1[0] in g for g in partition)


def test_components_and_groups_match_a_plain_union_find():
    rng = np.random.default_rng(0)
    n = 300
    a, b = rng.integers(0, n, 200), rng.integers(0, n, 200)
    labels = sparse.components(n, a, b)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        parent[find(x)] = find(y)
    want = {}
    for i in range(n):
        want.setdefault(find(i), set()).add(i)
    got = {}
    for i, c in enumerate(labels.tolist()):
        got.setdefault(c, set()).add(i)
    assert {frozenset(g) for g in got.values()} == {frozenset(g) for g in want.values()}
    multi = [set(g.tolist()) for g in sparse.groups(labels)]
    assert sorted(map(sorted, multi)) == sorted(sorted(g) for g in want.values() if len(g) > 1)


@pytest.mark.parametrize("linkage", ["average", "complete"])
def test_graph_clustering_with_every_pair_known_equals_the_dense_clustering(linkage):
    from app.identity import cluster as lk

    rng = np.random.default_rng(4)
    for trial in range(5):
        n = 40
        centres = rng.normal(size=(8, 6))
        x = centres[rng.integers(0, 8, n)] + 0.35 * rng.normal(size=(n, 6))
        dist = np.linalg.norm(x[:, None] - x[None], axis=2) / 4
        cannot = np.zeros((n, n), bool)
        for i, j in rng.integers(0, n, (6, 2)):
            if i != j:
                cannot[i, j] = cannot[j, i] = True
        must = [(int(i), int(j)) for i, j in rng.integers(0, n, (2, 2)) if i != j and not cannot[i, j]]
        want = lk.constrained_agglomerative(dist, 0.3, cannot=cannot, must=must, linkage=linkage)
        a, b = np.triu_indices(n, 1)
        got = sparse.graph_agglomerative(n, a, b, dist[a, b], 0.3, fill=9.0, must=must, linkage=linkage,
                                         blocked=lambda xs, ys, c=cannot: bool(c[np.ix_(xs, ys)].any()))
        assert _same_partition(want, got), trial
        links = sparse.graph_spanning_links(got, a, b, dist[a, b])
        assert len(links) == n - len(set(got.tolist()))


def _same_partition(x: np.ndarray, y: np.ndarray) -> bool:
    return {frozenset(np.flatnonzero(x == c).tolist()) for c in set(x.tolist())} == \
        {frozenset(np.flatnonzero(y == c).tolist()) for c in set(y.tolist())}


@pytest.mark.parametrize("exact_limit", [10_000, 2])
def test_components_too_big_for_a_matrix_are_clustered_on_their_candidate_graph(tmp_path, monkeypatch, caplog,
                                                                                exact_limit):
    from app.identity import link_sparse

    monkeypatch.setattr(sparse, "COMPONENT_LIMIT", 3)  # every component of people takes the graph path
    monkeypatch.setattr(link_sparse, "EXACT_GRAPH_LIMIT", exact_limit)  # 2: reduced distances, fitted to eq. 8
    st = build_store(tmp_path / "s.db", persons=6, stays=3, seed=1)
    with caplog.at_level(logging.INFO, logger="app.identity.link_sparse"):
        summary = link_store(st.db, Config(db=st.db.path), method="sparse")
    how = "exact eq. 8" if exact_limit > 2 else "fitted on"
    assert any("clustered on its" in r.getMessage() and how in r.getMessage() for r in caplog.records)
    groups = _partition(st.db)
    truth = {frozenset(st.tracks_of(p)) for p in range(6)}
    assert groups == truth and summary.links == len(st.truth) - 6


@pytest.mark.slow
def test_sparse_linking_equals_dense_on_vtest_tracks(tmp_path, vtest_clip, monkeypatch):
    db_path = tmp_path / "v.db"
    for cam, start in (("gate", "2026-11-27T10:00:00"), ("hall", "2026-11-27T10:05:00")):
        assert main(["-q", "ingest", str(vtest_clip), "--camera", cam, "--start", start, "--db", str(db_path),
                     "--no-link"]) == 0
    monkeypatch.setattr(sparse, "K_NEIGHBOURS", 6)
    db = open_database(db_path)
    dense, want, got, partition = _both(db, Config(db=db_path))
    assert dense.tracks >= 6 and partition == want and got.identities == dense.identities
