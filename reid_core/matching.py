"""Distances between PGFA embeddings (eq. 8 of the paper), for whole query x gallery blocks.

    dist(q, g) = (sum_i lq_i * lg_i * d_i + d_pose) / (sum_i lq_i * lg_i + 1)

d_i is the cosine distance of stripe i, d_pose that of the pose-guided global features and l the
visibility bits: a stripe counts only when it is visible in both images; the global term always
counts. With normalised vectors the masked sum of stripe distances is
``shared - (q * lq) . (g * lg)`` over the flattened stripes, so one block is two matrix products.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from reid_core.encoder import Embedding


def _check_2d(name: str, t: torch.Tensor) -> None:
    if t.dim() != 2:
        raise ValueError(f"{name}: expected shape (N, D), got {tuple(t.shape)}")


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - cosine similarity between rows: a (N, D), b (M, D) -> (N, M) in [0, 2].

    Rows need not be normalised; a zero row has similarity 0 with everything (distance 1).
    """
    _check_2d("a", a)
    _check_2d("b", b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: a {tuple(a.shape)}, b {tuple(b.shape)}")
    return 1.0 - F.normalize(a.float(), dim=1) @ F.normalize(b.float(), dim=1).T


def _check_inputs(
    q_global: torch.Tensor,
    q_parts: torch.Tensor,
    q_vis: torch.Tensor,
    g_global: torch.Tensor,
    g_parts: torch.Tensor,
    g_vis: torch.Tensor,
) -> None:
    _check_2d("q_global", q_global)
    _check_2d("g_global", g_global)
    n, m = len(q_global), len(g_global)
    if q_parts.dim() != 3 or len(q_parts) != n:
        raise ValueError(f"q_parts: expected shape ({n}, P, Dp), got {tuple(q_parts.shape)}")
    p, dp = q_parts.shape[1:]
    if tuple(g_parts.shape) != (m, p, dp):
        raise ValueError(f"g_parts: expected shape ({m}, {p}, {dp}), got {tuple(g_parts.shape)}")
    if tuple(q_vis.shape) != (n, p):
        raise ValueError(f"q_vis: expected shape ({n}, {p}), got {tuple(q_vis.shape)}")
    if tuple(g_vis.shape) != (m, p):
        raise ValueError(f"g_vis: expected shape ({m}, {p}), got {tuple(g_vis.shape)}")
    if q_global.shape[1] != g_global.shape[1]:
        raise ValueError(f"global sizes differ: {tuple(q_global.shape)} vs {tuple(g_global.shape)}")


def pgfa_distance(
    q_global: torch.Tensor,
    q_parts: torch.Tensor,
    q_vis: torch.Tensor,
    g_global: torch.Tensor,
    g_parts: torch.Tensor,
    g_vis: torch.Tensor,
    *,
    block_size: int | None = None,
) -> torch.Tensor:
    """PGFA eq. 8 distance matrix, float32 (N, M) on the inputs' device.

    q_global (N, Dg), q_parts (N, P, Dp), q_vis (N, P) bool; g_global (M, Dg), g_parts
    (M, P, Dp), g_vis (M, P) bool. Vectors need not be normalised. ``block_size`` bounds the
    number of query rows and gallery columns handled at once (memory for huge galleries).
    """
    _check_inputs(q_global, q_parts, q_vis, g_global, g_parts, g_vis)
    n, m = len(q_global), len(g_global)
    device = q_global.device
    if block_size is not None and block_size <= 0:
        raise ValueError(f"block_size must be positive, got {block_size}")
    step_n = block_size or max(n, 1)
    step_m = block_size or max(m, 1)

    def prepare(glob: torch.Tensor, parts: torch.Tensor, vis: torch.Tensor) -> tuple[torch.Tensor, ...]:
        lv = vis.to(device=device, dtype=torch.float32)
        masked = F.normalize(parts.to(device).float(), dim=2) * lv[:, :, None]
        return F.normalize(glob.to(device).float(), dim=1), masked.flatten(1), lv

    qg, qp, ql = prepare(q_global, q_parts, q_vis)
    gg, gp, gl = prepare(g_global, g_parts, g_vis)
    out = torch.empty((n, m), dtype=torch.float32, device=device)
    for i in range(0, n, step_n):
        for j in range(0, m, step_m):
            rows, cols = slice(i, i + step_n), slice(j, j + step_m)
            shared = ql[rows] @ gl[cols].T  # number of stripes visible in both
            part_sum = shared - qp[rows] @ gp[cols].T  # sum over shared stripes of (1 - cos)
            d_pose = 1.0 - qg[rows] @ gg[cols].T
            out[rows, cols] = (part_sum + d_pose) / (shared + 1.0)
    return out


def embedding_distance(
    query: Embedding,
    gallery: Embedding,
    *,
    device: str | torch.device = "cpu",
    block_size: int | None = None,
) -> np.ndarray:
    """``pgfa_distance`` between two ``Embedding`` batches, as a float32 numpy (N, M) array."""

    def tensors(e: Embedding) -> tuple[torch.Tensor, ...]:
        return tuple(
            torch.from_numpy(np.asarray(a)).to(device) for a in (e.global_feat, e.parts, e.visibility)
        )

    dist = pgfa_distance(*tensors(query), *tensors(gallery), block_size=block_size)
    return dist.cpu().numpy()
