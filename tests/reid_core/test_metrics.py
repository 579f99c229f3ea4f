"""CMC / mAP against hand-computed cases and a per-query loop; block-wise distance matrices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reid_core.matching import cosine_distance, pgfa_distance
from reid_core.metrics import distance_matrix, evaluate_rank


def test_same_id_same_camera_is_excluded() -> None:
    q_pids, q_cams = np.array([1, 2]), np.array([0, 0])
    g_pids, g_cams = np.array([1, 1, 2, 3]), np.array([0, 1, 1, 1])
    dist = np.array([
        [0.1, 0.4, 0.2, 0.3],  # g0 is the same person on the same camera: removed -> true match at rank 3
        [0.5, 0.6, 0.1, 0.9],  # true match first
    ])
    res = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank=4)
    np.testing.assert_allclose(res.cmc, [0.5, 0.5, 1.0, 1.0])
    assert res.mean_ap == pytest.approx((1 / 3 + 1.0) / 2)
    assert (res.num_valid, res.num_skipped) == (2, 0)
    assert res.rank(3) == 1.0
    # Without the exclusion q0 would be right at rank 1: check that the camera really matters.
    res_other_cam = evaluate_rank(dist, q_pids, g_pids, np.array([5, 0]), g_cams, max_rank=4)
    assert res_other_cam.rank(1) == 1.0


def test_average_precision_with_several_matches_and_junk() -> None:
    # Ranking: junk(-1), hit, miss, hit, miss, hit -> junk ignored; AP = (1/1 + 2/3 + 3/5) / 3.
    g_pids = np.array([-1, 7, 3, 7, 4, 7])
    dist = np.arange(6, dtype=np.float64)[None, :]
    res = evaluate_rank(dist, np.array([7]), g_pids, np.array([0]), np.ones(6, int), max_rank=5)
    assert res.mean_ap == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    np.testing.assert_allclose(res.cmc, [1, 1, 1, 1, 1])


def test_queries_without_valid_match_are_skipped() -> None:
    g_pids, g_cams = np.array([1, 2, 2]), np.array([0, 0, 1])
    q_pids, q_cams = np.array([9, 1, 2]), np.array([0, 0, 0])  # 9: absent; 1: only on its own camera
    dist = np.array([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1]])
    res = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank=2)
    assert (res.num_valid, res.num_skipped) == (1, 2)
    # Query 2: g2 (match, other camera) first; g1 is the same person on the same camera.
    np.testing.assert_allclose(res.cmc, [1.0, 1.0])
    assert res.mean_ap == 1.0
    with pytest.raises(ValueError, match="no query has a valid match"):
        evaluate_rank(dist[:2], q_pids[:2], g_pids, q_cams[:2], g_cams)


def test_ignore_mask_removes_items_per_query() -> None:
    g_pids, g_cams = np.array([1, 1, 2]), np.ones(3, int)
    dist = np.array([[0.1, 0.5, 0.2], [0.1, 0.5, 0.2]])
    ignore = np.array([[True, False, False], [False, False, False]])  # query 0 may not use g0
    res = evaluate_rank(dist, np.array([1, 1]), g_pids, np.zeros(2, int), g_cams, max_rank=3, ignore=ignore)
    # Query 0: g2 (wrong), g1 (right) -> rank 2, AP 1/2; query 1: g0 (right), g2, g1 (right) -> AP (1 + 2/3) / 2.
    np.testing.assert_allclose(res.cmc, [0.5, 1.0, 1.0])
    assert res.mean_ap == pytest.approx((0.5 + (1 + 2 / 3) / 2) / 2)
    with pytest.raises(ValueError, match=r"ignore: expected shape \(2, 3\)"):
        evaluate_rank(dist, np.array([1, 1]), g_pids, np.zeros(2, int), g_cams, ignore=ignore[:, :2])


def _loop_reference(dist, q_pids, g_pids, q_cams, g_cams, max_rank):
    """The textbook per-query algorithm, written independently of the vectorised one."""
    cmcs, aps = [], []
    for i in range(len(q_pids)):
        order = np.argsort(dist[i], kind="stable")
        kept = [g for g in order if not (g_pids[g] == q_pids[i] and g_cams[g] == q_cams[i]) and g_pids[g] != -1]
        matches = np.array([g_pids[g] == q_pids[i] for g in kept], dtype=float)
        if matches.sum() == 0:
            continue
        cmc = np.minimum(np.cumsum(matches), 1.0)
        cmcs.append(np.pad(cmc, (0, max(0, max_rank - len(cmc))), constant_values=1.0)[:max_rank])
        precision = np.cumsum(matches) / np.arange(1, len(matches) + 1)
        aps.append(float((precision * matches).sum() / matches.sum()))
    return np.mean(cmcs, axis=0), float(np.mean(aps))


def test_matches_loop_reference_on_random_data() -> None:
    rng = np.random.default_rng(3)
    n, m = 37, 120
    q_pids, g_pids = rng.integers(0, 15, n), rng.integers(-1, 15, m)
    q_cams, g_cams = rng.integers(0, 3, n), rng.integers(0, 3, m)
    dist = rng.random((n, m)).round(2)  # rounding creates ties, broken by gallery order in both
    cmc_ref, map_ref = _loop_reference(dist, q_pids, g_pids, q_cams, g_cams, 10)
    for block in (1, 5, 256):
        res = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank=10, block_size=block)
        np.testing.assert_allclose(res.cmc, cmc_ref)
        assert res.mean_ap == pytest.approx(map_ref)


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match=r"q_pids: expected shape \(2,\)"):
        evaluate_rank(np.zeros((2, 3)), np.zeros(3), np.zeros(3), np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match=r"expected shape \(N, M\)"):
        evaluate_rank(np.zeros(3), np.zeros(1), np.zeros(3), np.zeros(1), np.zeros(3))


def test_distance_matrix_blocks_equal_one_shot() -> None:
    g = torch.Generator().manual_seed(0)
    n, m, p = 11, 17, 3
    qg, gg = torch.randn(n, 8, generator=g), torch.randn(m, 8, generator=g)
    qp, gp = torch.randn(n, p, 5, generator=g), torch.randn(m, p, 5, generator=g)
    qv, gv = torch.rand(n, p, generator=g) > 0.3, torch.rand(m, p, generator=g) > 0.3
    qp_before = qp.clone()
    full = pgfa_distance(qg, qp, qv, gg, gp, gv).numpy()
    blocked = distance_matrix(qg, qp, qv, gg, gp, gv, block_size=4)
    assert blocked.shape == (n, m) and blocked.dtype == np.float32
    np.testing.assert_allclose(blocked, full, atol=1e-6)
    glob = distance_matrix(qg, qp, qv, gg, gp, gv, distance="global", block_size=3)
    np.testing.assert_allclose(glob, cosine_distance(qg, gg).numpy(), atol=1e-6)
    assert not np.allclose(glob, full)  # the part terms change the result
    assert torch.equal(qp, qp_before)
    with pytest.raises(ValueError, match="unknown distance 'l2'"):
        distance_matrix(qg, qp, qv, gg, gp, gv, distance="l2")
