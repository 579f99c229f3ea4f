"""Linking on real SQLite stores filled with synthetic people (known identities)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from app.config import Config, LinkConfig
from app.errors import UserError
from app.identity.incremental import link_after_ingest, stitch_source
from app.identity.linking import link_store
from app.store import models as m
from app.store import open_database, queries, repo
from devkit.synthetic_store import add_track, build_store, identity_groups


def _partition(groups: dict[int, int | None], truth: dict[int, int]) -> tuple[int, int]:
    """(same-person pairs split apart, different-person pairs put together)."""
    ids = sorted(truth)
    split = merged = 0
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            together = groups[a] is not None and groups[a] == groups[b]
            if truth[a] == truth[b] and not together:
                split += 1
            if truth[a] != truth[b] and together:
                merged += 1
    return split, merged


def test_links_same_person_across_reentries_and_cameras_and_keeps_others_apart(tmp_path):
    st = build_store(tmp_path / "s.db")
    summary = link_store(st.db, Config(db=st.db.path))
    assert summary.calibrated and summary.identities == 5 and summary.tracks == 20
    assert _partition(identity_groups(st.db, list(st.truth)), st.truth) == (0, 0)
    kinds = {x.kind for x in queries.pending_matches(st.db)}
    assert kinds <= {"reentry", "cross_camera", "occlusion"} and "cross_camera" in kinds
    assert summary.links == 15  # a spanning tree per identity: 5 x (4 - 1)
    with st.db.session() as s:
        setting = repo.get_setting(s, "link.threshold")
        run = s.get(m.LinkRun, summary.run_id)
        assert setting["value"] == pytest.approx(summary.threshold) and setting["source"] == "calibrated"
        assert run.threshold == pytest.approx(summary.threshold)
        cal = run.stats["calibration"]
        assert cal["n_different"] > 0 and cal["n_same"] >= 20 and cal["same_rate"] == 1.0


def test_visibility_aware_aggregation_beats_plain_means_when_stripes_are_occluded(tmp_path):
    # half the stripe samples show an occluder: only the visibility-aware descriptor stays clean
    st = build_store(tmp_path / "s.db", persons=6, hidden_rate=0.6, noise=0.6, seed=3)
    with st.db.session() as s:
        from app.identity.linking import descriptors_for, distance_matrix

        ids = sorted(st.truth)
        res = {}
        for mode in ("visible_mean", "mean"):
            kept, d, samples = descriptors_for(s, ids, aggregation=mode)
            dist = distance_matrix(kept, d, samples, mode)
            same = np.array([[st.truth[a] == st.truth[b] for b in kept] for a in kept])
            off = ~np.eye(len(kept), dtype=bool)
            res[mode] = dist[same & off].mean() / dist[~same].mean()
    assert res["visible_mean"] < res["mean"]  # same-person distances relatively smaller


def test_time_overlap_and_speed_keep_identical_looking_tracks_apart(tmp_path):
    db = open_database(tmp_path / "s.db")
    rng = np.random.default_rng(0)
    g, p = rng.standard_normal((3, 32)).astype(np.float32), rng.standard_normal((3, 3, 16)).astype(np.float32)
    vis = np.ones((3, 3), bool)
    same = dict(global_feat=g, parts=p, visibility=vis)
    a = add_track(db, camera="A", start_s=0, duration_s=30, **same)
    overlap = add_track(db, camera="A", start_s=20, duration_s=30, **same)  # 10 s overlap with a
    # ends at x=320 at 30 s; 'far' starts 2 s later 600 px away: 300 px/s > 100 px/s allowed
    far = add_track(db, camera="A", start_s=32, duration_s=10, first_box=(900, 120, 940, 220), **same)
    other_cam = add_track(db, camera="B", start_s=100, duration_s=10, **same)
    cfg = Config(db=db.path, link=LinkConfig(max_speed_px_s=100.0))
    link_store(db, cfg, threshold=0.5)
    groups = identity_groups(db, [a, overlap, far, other_cam])
    assert groups[a] != groups[overlap] and groups[a] != groups[far]
    assert groups[other_cam] in (groups[a], groups[overlap], groups[far])  # identical look, another camera
    link_store(db, replace(cfg, link=LinkConfig(max_speed_px_s=10_000.0)), threshold=0.5)
    groups = identity_groups(db, [a, overlap, far, other_cam])
    assert groups[a] == groups[far] != groups[overlap]


def test_identity_ids_and_names_survive_relinking_and_new_tracks_join_them(tmp_path):
    st = build_store(tmp_path / "s.db")
    cfg = Config(db=st.db.path)
    link_store(st.db, cfg)
    before = identity_groups(st.db, list(st.truth))
    person0 = before[st.tracks_of(0)[0]]
    from app.identity.decisions import rename_identity

    rename_identity(st.db, person0, "Alice", who="tester")
    # a new sighting of person 0 on camera B, later
    rng = np.random.default_rng(9)
    g = st.centres["global"][0] + 0.1 * rng.standard_normal((3, 64)) / 8
    p = st.centres["parts"][0] + 0.1 * rng.standard_normal((3, 3, 32)) / 6
    new = add_track(st.db, camera="B", start_s=1700, duration_s=20, global_feat=g.astype(np.float32),
                    parts=p.astype(np.float32), visibility=np.ones((3, 3), bool))
    link_store(st.db, cfg)
    after = identity_groups(st.db, [*st.truth, new])
    assert {t: after[t] for t in st.truth} == before  # same ids for the same groups
    assert after[new] == person0
    assert queries.identity(st.db, person0).name == "Alice"


def test_link_only_some_cameras_and_bad_inputs(tmp_path):
    st = build_store(tmp_path / "s.db")
    cfg = Config(db=st.db.path)
    summary = link_store(st.db, cfg, cameras=["A"], threshold=0.5)
    assert summary.tracks == 10 and summary.threshold == 0.5
    groups = identity_groups(st.db, list(st.truth))
    with st.db.session() as s:
        b_tracks = {t.id for t in repo.list_tracks(s, camera_id=repo.camera_by_name(s, "B").id)}
        assert repo.get_setting(s, "link.threshold")["source"] == "given"
    assert all(groups[t] is None for t in b_tracks)
    with pytest.raises(UserError, match="unknown camera"):
        link_store(st.db, cfg, cameras=["nope"])
    with pytest.raises(UserError, match="between 0 and 2"):
        link_store(st.db, cfg, threshold=-1.0)


def test_too_few_known_pairs_falls_back_to_the_default_threshold(tmp_path):
    db = open_database(tmp_path / "s.db")
    rng = np.random.default_rng(0)
    for k in range(2):
        add_track(db, camera="A", start_s=k * 100, duration_s=10,
                  global_feat=rng.standard_normal((2, 16)).astype(np.float32),
                  parts=rng.standard_normal((2, 3, 8)).astype(np.float32), visibility=np.ones((2, 3), bool))
    summary = link_store(db, Config(db=db.path))
    assert not summary.calibrated and "default" in summary.message


def test_stitching_joins_fragments_broken_by_an_occlusion_into_one_stay(tmp_path):
    db = open_database(tmp_path / "s.db")
    rng = np.random.default_rng(0)
    look = dict(global_feat=rng.standard_normal((2, 16)).astype(np.float32),
                parts=rng.standard_normal((2, 3, 8)).astype(np.float32), visibility=np.ones((2, 3), bool))
    # walks right at 20 px/s (2 px per frame), hidden for 1 s between the fragments
    a = add_track(db, camera="A", start_s=0, duration_s=5, first_box=(100, 100, 140, 200),
                  last_box=(200, 100, 240, 200), **look)
    b = add_track(db, camera="A", start_s=6, duration_s=5, first_box=(220, 100, 260, 200),
                  last_box=(320, 100, 360, 200), **look)
    elsewhere = add_track(db, camera="A", start_s=6, duration_s=5, first_box=(600, 300, 640, 400),
                          last_box=(500, 300, 540, 400), **look)
    with db.session() as s:
        source_id = repo.list_tracks(s, ids=[a])[0].source_id
    assert stitch_source(db, source_id) == 1
    with db.session() as s:
        stays = {t.id: t.stay_id for t in repo.list_tracks(s, source_id=source_id)}
    assert stays[a] == stays[b] == a and stays[elsewhere] == elsewhere
    message = link_after_ingest(db, Config(db=db.path), source_id)
    assert "1 occlusion joins" in message
    groups = identity_groups(db, [a, b, elsewhere])
    assert groups[a] == groups[b] != groups[elsewhere]  # 'elsewhere' overlaps b in time: another person
    kinds = {(x.track_a, x.track_b): x.kind for x in queries.pending_matches(db)}
    assert kinds[(a, b)] == "occlusion"


def test_new_tracks_of_a_live_camera_join_identities_incrementally(tmp_path):
    from app.identity.incremental import link_new_tracks

    st = build_store(tmp_path / "s.db")
    cfg = Config(db=st.db.path)
    link_store(st.db, cfg)
    person2 = identity_groups(st.db, st.tracks_of(2))
    rng = np.random.default_rng(5)

    def sighting(start_s: float, first_box=(100.0, 100.0, 140.0, 200.0)) -> int:
        g = st.centres["global"][2] + 0.2 * rng.standard_normal((3, 64)) / 8
        p = st.centres["parts"][2] + 0.2 * rng.standard_normal((3, 3, 32)) / 6
        return add_track(st.db, camera="B", start_s=start_s, duration_s=30, global_feat=g.astype(np.float32),
                         parts=p.astype(np.float32), visibility=np.ones((3, 3), bool), first_box=first_box)

    later = sighting(1700)
    # same look, but on camera B at the same time as person 2's last stay there: someone else
    last_b = max(st.tracks_of(2))
    with st.db.session() as s:
        t_last = repo.list_tracks(s, ids=[last_b])[0]
    clash = sighting((t_last.start_time - st.t0).total_seconds() + 10)
    got = link_new_tracks(st.db, cfg, [later, clash])
    assert got[later] == person2[last_b]
    assert got[clash] not in set(person2.values()) and got[clash] is not None
    kinds = [x.kind for x in queries.matches_for_identity(st.db, got[later]) if later in (x.track_a, x.track_b)]
    assert kinds == ["reentry"]
