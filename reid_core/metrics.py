"""Re-identification metrics: CMC rank-k and mAP, and block-wise distance matrices.

The protocol is the standard one of Market-1501 / DukeMTMC-reID: for each query,
gallery images of the same person taken by the same camera are removed from the
ranking (they are too easy), gallery images with pid -1 are junk and removed too,
and a query left with no true match in the gallery is skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from reid_core.matching import cosine_distance, pgfa_distance

log = logging.getLogger(__name__)

DISTANCES = ("pgfa", "global")


@dataclass(frozen=True)
class RankResult:
    """CMC curve and mAP over the queries that have at least one valid gallery match.

    cmc: (max_rank,) float64, ``cmc[k-1]`` is rank-k accuracy in [0, 1];
    mean_ap: mAP in [0, 1]; num_valid: queries evaluated; num_skipped: queries with no valid match.
    """

    cmc: np.ndarray
    mean_ap: float
    num_valid: int
    num_skipped: int

    def rank(self, k: int) -> float:
        """Rank-k accuracy (1-based ``k``)."""
        if not 1 <= k <= len(self.cmc):
            raise ValueError(f"rank {k} outside 1..{len(self.cmc)}")
        return float(self.cmc[k - 1])


def _as_1d(name: str, values: np.ndarray, n: int) -> np.ndarray:
    arr = np.asarray(values).reshape(-1)
    if arr.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},), got {np.asarray(values).shape}")
    return arr.astype(np.int64)


def evaluate_rank(
    distmat: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_camids: np.ndarray,
    g_camids: np.ndarray,
    max_rank: int = 10,
    *,
    ignore: np.ndarray | None = None,
    block_size: int = 256,
) -> RankResult:
    """CMC and mAP for a query x gallery distance matrix (smaller = more similar).

    distmat: (N, M); q_pids, q_camids: (N,); g_pids, g_camids: (M,). ``ignore``:
    optional (N, M) bool, gallery items to leave out of query i's ranking on top of
    the standard rule (e.g. the same person a few seconds earlier in one video).
    Ties are broken by gallery order (stable sort). Queries are processed
    ``block_size`` rows at a time so the (N, M) index arrays never exist all at once.
    Raises ``ValueError`` on bad shapes or when no query has a valid match.
    """
    dist = np.asarray(distmat)
    if dist.ndim != 2:
        raise ValueError(f"distmat: expected shape (N, M), got {dist.shape}")
    n, m = dist.shape
    q_pids, q_camids = _as_1d("q_pids", q_pids, n), _as_1d("q_camids", q_camids, n)
    g_pids, g_camids = _as_1d("g_pids", g_pids, m), _as_1d("g_camids", g_camids, m)
    if ignore is not None:
        ignore = np.asarray(ignore, dtype=bool)
        if ignore.shape != (n, m):
            raise ValueError(f"ignore: expected shape ({n}, {m}), got {ignore.shape}")
    if max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")

    cmc_hits = np.zeros(max_rank, dtype=np.int64)
    ap_sum, num_valid = 0.0, 0
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        order = np.argsort(dist[start:stop], axis=1, kind="stable")  # (B, M)
        ranked_pids, ranked_cams = g_pids[order], g_camids[order]
        qp, qc = q_pids[start:stop, None], q_camids[start:stop, None]
        keep = ~(((ranked_pids == qp) & (ranked_cams == qc)) | (ranked_pids == -1))
        if ignore is not None:
            keep &= ~np.take_along_axis(ignore[start:stop], order, axis=1)
        hits = (ranked_pids == qp) & keep
        # Position of each kept item in the filtered ranking (1-based); meaningless where ~keep.
        position = np.cumsum(keep, axis=1)
        num_rel = hits.sum(axis=1)
        valid = num_rel > 0
        if not valid.any():
            continue
        hits, position, num_rel = hits[valid], position[valid], num_rel[valid]
        first = np.where(hits, position, m + 1).min(axis=1)  # 1-based rank of the first true match
        cmc_hits += (first[:, None] <= np.arange(1, max_rank + 1)[None, :]).sum(axis=0)
        # AP = mean over true matches of precision at that match: (#hits so far) / position.
        precision = np.cumsum(hits, axis=1) / np.maximum(position, 1)  # position 0 only where ~keep
        ap_sum += float((np.where(hits, precision, 0.0).sum(axis=1) / num_rel).sum())
        num_valid += int(valid.sum())

    if num_valid == 0:
        raise ValueError("no query has a valid match in the gallery (all are missing or same-camera)")
    if num_valid < n:
        log.info("%d of %d queries have no valid gallery match and were skipped", n - num_valid, n)
    return RankResult(
        cmc=cmc_hits / num_valid, mean_ap=ap_sum / num_valid, num_valid=num_valid, num_skipped=n - num_valid
    )


def distance_matrix(
    q_global: torch.Tensor,
    q_parts: torch.Tensor,
    q_vis: torch.Tensor,
    g_global: torch.Tensor,
    g_parts: torch.Tensor,
    g_vis: torch.Tensor,
    *,
    distance: str = "pgfa",
    block_size: int = 512,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Query x gallery distances, computed ``block_size`` queries at a time.

    q_global: (N, Dg), q_parts: (N, P, Dp), q_vis: (N, P) bool; g_*: the same with M rows.
    ``distance="pgfa"`` is the visibility-aware distance of eq. 8; ``"global"`` the
    cosine distance of the global features only (parts and visibility unused).
    The gallery is moved to ``device`` once (default: the gallery's device); each
    block's result is copied back, so the whole (N, M) float32 matrix lives in host
    memory only (2,210 x 17,661 is 156 MB). Returns (N, M) float32 numpy.
    """
    if distance not in DISTANCES:
        raise ValueError(f"unknown distance {distance!r}; valid: {', '.join(DISTANCES)}")
    if q_global.ndim != 2 or g_global.ndim != 2 or q_global.shape[1] != g_global.shape[1]:
        raise ValueError(f"global features: expected (N, D) and (M, D), got {tuple(q_global.shape)}, {tuple(g_global.shape)}")
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    dev = torch.device(device) if device is not None else g_global.device
    n, m = q_global.shape[0], g_global.shape[0]
    out = np.empty((n, m), dtype=np.float32)
    with torch.no_grad():
        gg, gp, gv = g_global.to(dev), g_parts.to(dev), g_vis.to(dev)  # moved once, not per block
        for start in range(0, n, block_size):
            stop = min(start + block_size, n)
            qg = q_global[start:stop].to(dev)
            if distance == "pgfa":
                block = pgfa_distance(qg, q_parts[start:stop].to(dev), q_vis[start:stop].to(dev), gg, gp, gv)
            else:
                block = cosine_distance(qg, gg)
            out[start:stop] = block.float().cpu().numpy()
    return out
