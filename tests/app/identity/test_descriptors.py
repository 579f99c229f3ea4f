"""Pure linking maths: descriptors, constraints, decision resolution, calibration, constrained clustering."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.identity import cluster as lk
from app.identity import constraints as lc
from reid_core import track_descriptors as lm
from reid_core.matching import pgfa_distance


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_visible_mean_ignores_stripes_never_visible_and_keeps_the_ones_seen_once():
    rng = np.random.default_rng(0)
    person = _unit(rng.standard_normal((3, 16)))
    occluder = _unit(rng.standard_normal((3, 3, 16)))
    parts = np.where(np.array([[1, 1, 0], [1, 0, 0], [1, 1, 0]], bool)[:, :, None], person[None], occluder)
    vis = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 0]], bool)
    g = rng.standard_normal((3, 8)).astype(np.float32)
    d = lm.aggregate_samples(g, parts, vis)
    assert d.visibility.tolist() == [[True, True, False]]
    np.testing.assert_allclose(d.parts[0, :2], person[:2], atol=1e-5)  # the occluded sample did not count
    assert np.all(d.parts[0, 2] == 0)  # never seen: zero, invisible
    plain = lm.aggregate_samples(g, parts, vis, mode="mean")
    assert np.linalg.norm(plain.parts[0, 1] - person[1]) > 0.1  # the plain mean mixes the occluder in
    with pytest.raises(ValueError, match="unknown aggregation"):
        lm.aggregate_samples(g, parts, vis, mode="median")
    with pytest.raises(ValueError, match="expected"):
        lm.aggregate_samples(g, parts[:2], vis)


def test_descriptor_distance_is_pgfa_eq8_and_sample_pairs_reduce_per_track():
    rng = np.random.default_rng(1)
    g = rng.standard_normal((5, 8)).astype(np.float32)
    p = rng.standard_normal((5, 3, 4)).astype(np.float32)
    v = rng.random((5, 3)) > 0.3
    d = lm.TrackDescriptors(_unit(g), _unit(p) * v[:, :, None], v)
    want = pgfa_distance(*(torch.from_numpy(x) for x in (g, p, v, g, p, v))).numpy()
    np.testing.assert_allclose(lm.descriptor_distance(d, d), want, atol=1e-5)
    prepared = lm.prepare(d)
    np.testing.assert_allclose(lm.prepared_distance(prepared, prepared), want, atol=1e-5)
    owner = np.array([0, 0, 1, 1, 1])
    pair_min = lm.sample_pair_distance(g, p, v, owner, 2, reduce="min")
    pair_mean = lm.sample_pair_distance(g, p, v, owner, 2, reduce="mean")
    assert pair_min.shape == (2, 2)
    assert pair_min[0, 1] == pytest.approx(want[:2, 2:].min(), abs=1e-5)
    assert pair_mean[0, 1] == pytest.approx(want[:2, 2:].mean(), abs=1e-5)
    with pytest.raises(ValueError, match="at least one sample"):
        lm.sample_pair_distance(g, p, v, owner, 3)


def test_time_overlap_speed_gap_and_transition_constraints():
    cam = np.array([1, 1, 1, 2])
    t0 = np.array([0.0, 5.0, 20.0, 5.0])
    t1 = np.array([10.0, 15.0, 30.0, 15.0])
    over = lc.overlap_cannot_link(cam, t0, t1)
    assert over[0, 1] and over[1, 0]  # same camera, 5 s overlap
    assert not over[0, 3]  # other camera
    assert not over[0, 2] and not over.diagonal().any()
    # track 0 ends at x=0 at t=10, track 2 starts at x=1000 at t=20: 100 px/s needed
    first = np.array([[0, 0], [0, 0], [1000, 0], [0, 0]], float)
    last = np.zeros((4, 2))
    h = np.full(4, 80.0)
    assert lc.speed_cannot_link(cam, t0, t1, first, last, h, max_speed_px_s=50.0)[0, 2]
    assert not lc.speed_cannot_link(cam, t0, t1, first, last, h, max_speed_px_s=200.0)[0, 2]
    assert not lc.speed_cannot_link(cam, t0, t1, first, last, h, max_speed_px_s=1.0)[0, 3]  # across cameras
    assert lc.gap_cannot_link(cam, t0, t1, max_gap_s=5.0)[0, 2]
    assert not lc.gap_cannot_link(cam, t0, t1, max_gap_s=60.0).any()
    # camera 1 -> 2 takes 30..60 s: track 3 (start 5 s) is too early after any camera-1 track
    tr = lc.transition_cannot_link(cam, t0, t1, {(1, 2): (30.0, 60.0)})
    assert tr[0, 3] and tr[3, 0] and not tr[0, 1]


def test_later_decisions_win_over_earlier_ones():
    must, cannot = lc.resolve_constraints([("must", 1, 2), ("must", 2, 3), ("cannot", 1, 3)])
    assert cannot == [(1, 3)]
    assert (1, 2) not in must and (2, 3) in must  # the oldest edge on the path 1-2-3 was cut
    must, cannot = lc.resolve_constraints([("cannot", 1, 4), ("must", 1, 2), ("must", 2, 4)])
    assert cannot == [] and must == [(1, 2), (2, 4)]
    with pytest.raises(ValueError, match="unknown constraint"):
        lc.resolve_constraints([("maybe", 1, 2)])


def test_calibration_sits_between_the_distributions_or_says_it_could_not():
    rng = np.random.default_rng(2)
    same = rng.normal(0.15, 0.03, 200)
    different = rng.normal(0.45, 0.05, 500)
    cal = lk.calibrate_threshold(same, different, default=0.3)
    assert cal.calibrated
    assert np.quantile(same, 0.95) < cal.threshold < np.quantile(different, 0.05)
    assert cal.different_rate <= 0.011 and cal.same_rate > 0.95
    few = lk.calibrate_threshold(same[:3], different, default=0.3)
    assert not few.calibrated and few.threshold == 0.3 and "too few" in few.reason


def _blobs(rng, centres, per):
    pts = np.concatenate([c + 0.05 * rng.standard_normal((per, 2)) for c in centres])
    return np.linalg.norm(pts[:, None] - pts[None], axis=2)


@pytest.mark.parametrize("linkage", ["average", "complete"])
def test_clustering_joins_close_items_and_never_crosses_cannot_links(linkage):
    rng = np.random.default_rng(3)
    dist = _blobs(rng, [(0, 0), (3, 0), (0, 3)], 4)
    labels = lk.constrained_agglomerative(dist, 1.0, linkage=linkage)
    assert labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    cannot = np.zeros_like(dist, bool)
    cannot[0, 1] = cannot[1, 0] = True
    labels = lk.constrained_agglomerative(dist, 1.0, cannot=cannot, linkage=linkage)
    assert labels[0] != labels[1]
    assert len(set(labels[4:8])) == 1 and labels[4] not in (labels[0], labels[1])
    # must-link overrides distance
    labels = lk.constrained_agglomerative(dist, 1.0, must=[(0, 4)], linkage=linkage)
    assert labels[0] == labels[4]
    with pytest.raises(ValueError, match="square"):
        lk.constrained_agglomerative(dist[:3], 1.0)


@pytest.mark.parametrize("linkage", ["average", "complete"])
def test_unconstrained_clustering_matches_scipy_hierarchical_clustering(linkage):
    from scipy.cluster.hierarchy import fcluster
    from scipy.cluster.hierarchy import linkage as scipy_linkage
    from scipy.spatial.distance import squareform

    rng = np.random.default_rng(4)
    pts = rng.uniform(0, 30, (300, 2))
    dist = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    threshold = 2.5
    ours = lk.constrained_agglomerative(dist, threshold, linkage=linkage)
    ref = fcluster(scipy_linkage(squareform(dist, checks=False), method=linkage), threshold, criterion="distance")
    pairs_ours = ours[:, None] == ours[None, :]
    pairs_ref = ref[:, None] == ref[None, :]
    assert len(np.unique(ours)) == len(np.unique(ref))
    np.testing.assert_array_equal(pairs_ours, pairs_ref)


def test_spanning_links_hold_each_cluster_with_the_closest_edges():
    dist = np.array([[0, 1, 5, 9], [1, 0, 2, 9], [5, 2, 0, 9], [9, 9, 9, 0]], float)
    edges = lk.spanning_links(dist, np.array([0, 0, 0, 1]))
    assert sorted(edges) == [(0, 1), (1, 2)]
    assert lk.link_kind(False, False, 10.0) == "cross_camera"
    assert lk.link_kind(True, True, 100.0) == "occlusion"
    assert lk.link_kind(True, False, 2.0) == "occlusion"
    assert lk.link_kind(True, False, 60.0) == "reentry"


def test_false_merge_levels_and_clustering_calibration():
    # two people seen twice each (items 0,2 = person a; 1,3 = person b); 0 and 1 overlap in time
    dist = np.array([[0.0, 0.5, 0.1, 0.6],
                     [0.5, 0.0, 0.6, 0.1],
                     [0.1, 0.6, 0.0, 0.5],
                     [0.6, 0.1, 0.5, 0.0]])
    cannot = np.zeros((4, 4), bool)
    cannot[0, 1] = cannot[1, 0] = True
    # hiding (0, 1): the clusters {0, 2} and {1, 3} (formed at 0.1) join at their average distance 0.55
    assert lk.false_merge_levels(dist, [(0, 1)], cannot=cannot) == pytest.approx([0.55])
    assert lk.false_merge_levels(dist, [(0, 1)], cannot=cannot, must=[(0, 1)]).tolist() == [-np.inf]
    cannot[2, 3] = cannot[3, 2] = True  # another known pair keeps them apart whatever the threshold
    assert lk.false_merge_levels(dist, [(0, 1)], cannot=cannot).tolist() == [np.inf]
    cannot[2, 3] = cannot[3, 2] = False
    t, levels = lk.calibrate_by_clustering(dist, [(0, 1)], cannot=cannot, max_false_rate=0.0)
    assert t == pytest.approx(0.55) and levels == pytest.approx([0.55])
    labels = lk.constrained_agglomerative(dist, t, cannot=cannot)
    assert labels.tolist() == [0, 1, 0, 1]  # at the calibrated threshold, each person is one cluster
    with pytest.raises(ValueError, match="at least one"):
        lk.calibrate_by_clustering(dist, [], cannot=cannot)


def test_aggregate_many_equals_one_track_at_a_time():
    rng = np.random.default_rng(7)
    owner = np.array([2, 0, 1, 2, 0, 2])
    g = rng.standard_normal((6, 8)).astype(np.float32)
    p = rng.standard_normal((6, 3, 4)).astype(np.float32)
    v = rng.random((6, 3)) > 0.3
    many = lm.aggregate_many(g, p, v, owner, 3)
    for k in range(3):
        one = lm.aggregate_samples(g[owner == k], p[owner == k], v[owner == k])
        np.testing.assert_allclose(many.global_feat[k], one.global_feat[0], atol=1e-6)
        np.testing.assert_allclose(many.parts[k], one.parts[0], atol=1e-6)
        assert many.visibility[k].tolist() == one.visibility[0].tolist()
    with pytest.raises(ValueError, match="at least one sample"):
        lm.aggregate_many(g, p, v, owner, 4)


def test_unit_distance_is_eq8_for_unit_descriptors():
    from reid_core import track_descriptors as lm

    rng = np.random.default_rng(0)
    d = lm.aggregate_many(rng.standard_normal((12, 8)), rng.standard_normal((12, 3, 4)), rng.random((12, 3)) > 0.3,
                          np.arange(12) % 6, 6)
    np.testing.assert_allclose(lm.unit_distance(d, d.take([0, 2])), lm.descriptor_distance(d, d.take([0, 2])),
                               atol=1e-5)
