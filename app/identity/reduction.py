"""The reduction that the search index (``app.identity.ann``) applies to track descriptors before FAISS: a PCA of
the global feature and of the stripes, fitted by randomised SVD, and the scaling that makes the index's inner
product follow eq. 8. Pure maths on arrays, plus the projection's file format."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reid_core import track_descriptors as lm

GLOBAL_DIMS = 128
PART_DIMS = 64
TRAIN_ROWS = 4096
Projection = tuple[np.ndarray, np.ndarray]  # (D, d) basis, (d,) offset: x -> x @ basis + offset


@dataclass
class Reducer:
    """PCA of the global feature and of a stripe (None: kept at full size)."""

    glob: Projection | None = None
    part: Projection | None = None

    def apply(self, d: lm.TrackDescriptors) -> tuple[np.ndarray, np.ndarray]:
        """-> (N, dg + P * dp) float32 unit global and unit stripes, (N, P) bool visibility."""
        def project(x: np.ndarray, t: Projection | None) -> np.ndarray:
            return x if t is None else x @ t[0] + t[1]

        g = project(d.global_feat, self.glob)
        n, p, dp = d.parts.shape
        parts = project(d.parts.reshape(n * p, dp), self.part).reshape(n, p, -1)
        parts = lm._unit(parts) * d.visibility[:, :, None]
        return np.concatenate([lm._unit(g), parts.reshape(n, -1)], axis=1).astype(np.float32), d.visibility


def pca(x: np.ndarray, k: int) -> Projection | None:
    """The top ``k`` principal directions of the rows of ``x`` (centred), by randomised SVD (seconds, where an
    exact eigen-decomposition of a 2560 x 2560 covariance, as faiss.PCAMatrix does, takes a minute)."""
    if x.shape[1] <= k or len(x) < 2 * k:
        return None
    import torch  # only building an index needs it: a search starts without loading torch

    x = np.ascontiguousarray(x[:TRAIN_ROWS], np.float32)
    mean = x.mean(axis=0)
    _, _, v = torch.svd_lowrank(torch.from_numpy(x - mean), q=min(k + 16, *x.shape), niter=4)
    basis = np.ascontiguousarray(v[:, :k].numpy())  # (D, k)
    return basis, (-mean @ basis).astype(np.float32)


def fit_reducer(d: lm.TrackDescriptors) -> Reducer:
    """PCA where the descriptor is wider than GLOBAL_DIMS / PART_DIMS and there are enough rows to fit it."""
    return Reducer(pca(d.global_feat, GLOBAL_DIMS), pca(d.parts[d.visibility], PART_DIMS))


def search_vectors(vectors: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """Stored reduced rows -> the vectors FAISS indexes: scaled by 1 / sqrt(1 + visible stripes)."""
    scale = 1.0 / np.sqrt(1.0 + visibility.sum(axis=1, dtype=np.float32))
    return np.ascontiguousarray(vectors.astype(np.float32) * scale[:, None])


def write_projection(path: str, t: Projection) -> None:
    """Save a projection (``np.savez`` to an open file, so ``path`` keeps its name)."""
    with open(path, "wb") as f:
        np.savez(f, basis=t[0], offset=t[1])


def read_projection(path: Path) -> Projection:
    """A projection saved by :func:`write_projection`."""
    with np.load(path) as z:
        return z["basis"], z["offset"]
