"""PGFA eq. 8 distances against a naive per-pair reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reid_core.encoder import Embedding
from reid_core.matching import cosine_distance, embedding_distance, pgfa_distance


def _random(n: int, p: int = 3, dg: int = 10, dp: int = 6, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    vis = torch.rand(n, p, generator=g) > 0.4
    return torch.randn(n, dg, generator=g), torch.randn(n, p, dp, generator=g), vis


def _naive(qg, qp, qv, gg, gp, gv) -> torch.Tensor:  # reference implementation, loops on purpose
    def cos_d(a: torch.Tensor, b: torch.Tensor) -> float:
        return 1.0 - float(torch.dot(a, b) / (a.norm() * b.norm()))

    out = torch.zeros(len(qg), len(gg))
    for i in range(len(qg)):
        for j in range(len(gg)):
            num, den = cos_d(qg[i], gg[j]), 1.0
            for k in range(qp.shape[1]):
                if qv[i, k] and gv[j, k]:
                    num += cos_d(qp[i, k], gp[j, k])
                    den += 1.0
            out[i, j] = num / den
    return out


def test_pgfa_distance_equals_naive_loop() -> None:
    q, g = _random(5, seed=1), _random(7, seed=2)
    dist = pgfa_distance(*q, *g)
    assert dist.shape == (5, 7) and dist.dtype == torch.float32
    torch.testing.assert_close(dist, _naive(*q, *g), atol=1e-5, rtol=1e-5)


def test_block_size_gives_the_same_matrix() -> None:
    q, g = _random(9, seed=3), _random(11, seed=4)
    torch.testing.assert_close(pgfa_distance(*q, *g, block_size=4), pgfa_distance(*q, *g))


def test_parts_hidden_in_either_image_are_ignored() -> None:
    qg, qp, _ = _random(1, seed=5)
    gg, gp, _ = _random(1, seed=6)
    qv = torch.tensor([[True, True, False]])
    gv = torch.tensor([[True, False, True]])
    base = pgfa_distance(qg, qp, qv, gg, gp, gv)
    # Changing stripes 1 and 2 (each hidden on one side) changes nothing; stripe 0 counts.
    qp2, gp2 = qp.clone(), gp.clone()
    qp2[:, 1:] = torch.randn(1, 2, 6)
    gp2[:, 1:] = torch.randn(1, 2, 6)
    torch.testing.assert_close(pgfa_distance(qg, qp2, qv, gg, gp2, gv), base)
    gp2[:, 0] = -qp[:, 0]
    assert pgfa_distance(qg, qp, qv, gg, gp2, gv) > base


def test_no_shared_parts_means_global_cosine_distance() -> None:
    qg, qp, _ = _random(4, seed=7)
    gg, gp, _ = _random(3, seed=8)
    qv = torch.tensor([[True, False, False]] * 4)
    gv = torch.tensor([[False, True, True]] * 3)
    torch.testing.assert_close(pgfa_distance(qg, qp, qv, gg, gp, gv), cosine_distance(qg, gg))


def test_identical_embeddings_have_zero_distance() -> None:
    q = _random(3, seed=9)
    dist = pgfa_distance(*q, *q)
    torch.testing.assert_close(torch.diagonal(dist), torch.zeros(3), atol=1e-6, rtol=0)
    assert (dist >= -1e-6).all() and (dist <= 2 + 1e-6).all()


def test_cosine_distance_values() -> None:
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    b = torch.tensor([[3.0, 0.0], [-1.0, 0.0], [1.0, 1.0]])
    expected = torch.tensor([[0.0, 2.0, 1 - 2**-0.5], [1.0, 1.0, 1 - 2**-0.5]])
    torch.testing.assert_close(cosine_distance(a, b), expected)


def test_shape_validation() -> None:
    q, g = _random(2, seed=10), _random(3, seed=11)
    with pytest.raises(ValueError, match="g_parts"):
        pgfa_distance(*q, g[0], g[1][:, :2], g[2])
    with pytest.raises(ValueError, match="q_vis"):
        pgfa_distance(q[0], q[1], q[2][:, :2], *g)


def test_embedding_distance_wrapper_matches_tensors() -> None:
    qg, qp, qv = _random(3, seed=12)
    gg, gp, gv = _random(4, seed=13)
    query = Embedding(global_feat=qg.numpy(), parts=qp.numpy(), visibility=qv.numpy())
    gallery = Embedding(global_feat=gg.numpy(), parts=gp.numpy(), visibility=gv.numpy())
    dist = embedding_distance(query, gallery)
    assert isinstance(dist, np.ndarray) and dist.shape == (3, 4)
    np.testing.assert_allclose(dist, pgfa_distance(qg, qp, qv, gg, gp, gv).numpy(), rtol=1e-6)
