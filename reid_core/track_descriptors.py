"""The maths of linking, as pure functions over arrays: track descriptors and their distances. Constraints live in
app.identity.constraints, calibration and clustering in app.identity.cluster. No store, no I/O.

Shapes: N tracks, S samples of one track, P stripes, Dg / Dp global / stripe feature sizes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

AGGREGATIONS = ("visible_mean", "mean", "pair_min", "pair_mean")


@dataclass(frozen=True)
class TrackDescriptors:
    """One appearance descriptor per track: global_feat (N, Dg) and parts (N, P, Dp) float32, unit rows
    (a stripe never seen is all zeros), visibility (N, P) bool: stripe i was visible in some sample."""

    global_feat: np.ndarray
    parts: np.ndarray
    visibility: np.ndarray

    def __post_init__(self) -> None:
        g = np.asarray(self.global_feat, np.float32)
        p = np.asarray(self.parts, np.float32)
        v = np.asarray(self.visibility, bool)
        if g.ndim != 2:
            raise ValueError(f"global_feat: expected shape (N, Dg), got {g.shape}")
        if p.ndim != 3 or len(p) != len(g):
            raise ValueError(f"parts: expected shape ({len(g)}, P, Dp), got {p.shape}")
        if v.shape != p.shape[:2]:
            raise ValueError(f"visibility: expected shape {p.shape[:2]}, got {v.shape}")
        object.__setattr__(self, "global_feat", g)
        object.__setattr__(self, "parts", p)
        object.__setattr__(self, "visibility", v)

    def __len__(self) -> int:
        return len(self.global_feat)

    def take(self, index: np.ndarray | Sequence[int]) -> TrackDescriptors:
        """The descriptors at ``index`` (integer array or boolean mask)."""
        return TrackDescriptors(self.global_feat[index], self.parts[index], self.visibility[index])

    @staticmethod
    def stack(items: Sequence[TrackDescriptors]) -> TrackDescriptors:
        """Concatenate in order; sizes must agree."""
        if not items:
            raise ValueError("stack needs at least one TrackDescriptors")
        return TrackDescriptors(np.concatenate([d.global_feat for d in items]),
                                np.concatenate([d.parts for d in items]),
                                np.concatenate([d.visibility for d in items]))


def _unit(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Rows scaled to unit length; zero rows stay zero."""
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def aggregate_samples(global_feat: np.ndarray, parts: np.ndarray, visibility: np.ndarray, *,
                      mode: str = "visible_mean") -> TrackDescriptors:
    """One track's S samples -> a descriptor of one row (see ``aggregate_many``).

    global_feat (S, Dg), parts (S, P, Dp), visibility (S, P) bool.
    """
    g = np.asarray(global_feat)
    if g.ndim != 2 or len(g) == 0:
        raise ValueError(f"global_feat: expected shape (S >= 1, Dg), got {g.shape}")
    return aggregate_many(g, parts, visibility, np.zeros(len(g), np.int64), 1, mode=mode)


def aggregate_many(global_feat: np.ndarray, parts: np.ndarray, visibility: np.ndarray, owner: np.ndarray,
                   n_tracks: int, *, mode: str = "visible_mean") -> TrackDescriptors:
    """The samples of many tracks -> one descriptor per track, (n_tracks) rows.

    global_feat (T, Dg), parts (T, P, Dp), visibility (T, P) bool: all samples; owner (T,) the track index
    (0..n_tracks-1) of each sample, every track owning at least one. The global feature is the mean of the unit
    sample vectors. ``visible_mean``: stripe i is the mean over the samples where it was visible and is visible
    when it was seen once; ``mean``: every sample counts for every stripe (visibility ignored, for comparison).
    Means are scaled back to unit length; a stripe never seen is all zeros.
    """
    g = np.asarray(global_feat, np.float32)
    p = np.asarray(parts, np.float32)
    v = np.asarray(visibility, bool)
    owner = np.asarray(owner, np.int64).reshape(-1)
    if g.ndim != 2:
        raise ValueError(f"global_feat: expected shape (T, Dg), got {g.shape}")
    if p.ndim != 3 or len(p) != len(g) or v.shape != p.shape[:2] or len(owner) != len(g):
        raise ValueError(f"parts/visibility/owner: expected ({len(g)}, P, Dp) / ({len(g)}, P) / ({len(g)},), "
                         f"got {p.shape} / {v.shape} / {owner.shape}")
    if mode not in ("visible_mean", "mean"):
        raise ValueError(f"unknown aggregation {mode!r}; valid: visible_mean, mean")
    counts = np.bincount(owner, minlength=n_tracks)
    if len(counts) != n_tracks or (counts == 0).any():
        raise ValueError(f"owner must give every one of the {n_tracks} tracks at least one sample")
    n_parts, dp = p.shape[1:]
    order = np.argsort(owner, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # tracks grouped by their number of samples: each group is one gather and one sum over a short axis
    # (several times faster than np.add.reduceat along axis 0)
    groups = [(tr, order[starts[tr][:, None] + np.arange(c)])
              for c in np.unique(counts) for tr in [np.flatnonzero(counts == c)]]

    def segment_sum(x: np.ndarray) -> np.ndarray:  # (T, ...) -> (n_tracks, D), summed per owner
        flat = x.reshape(len(x), -1)
        out = np.empty((n_tracks, flat.shape[1]), np.float32)
        for tracks, rows in groups:
            out[tracks] = flat[rows].sum(axis=1)
        return out

    glob = _unit(segment_sum(_unit(g)))
    up = _unit(p)
    w = v.astype(np.float32)
    vis = segment_sum(w) > 0
    if mode == "visible_mean":
        up = up * w[:, :, None]
    summed = segment_sum(up)
    return TrackDescriptors(glob, _unit(summed.reshape(n_tracks, n_parts, dp)), vis)


def descriptor_distance(a: TrackDescriptors, b: TrackDescriptors, *, block_size: int | None = 4096) -> np.ndarray:
    """PGFA eq. 8 distance between two sets of track descriptors: (len(a), len(b)) float32."""
    import torch

    from reid_core.matching import pgfa_distance

    t = [torch.from_numpy(x) for x in (a.global_feat, a.parts, a.visibility, b.global_feat, b.parts, b.visibility)]
    return pgfa_distance(*t, block_size=block_size).numpy()


@dataclass(frozen=True)
class PreparedDescriptors:
    """Descriptors laid out once for eq. 8 against many queries: glob (N, Dg) unit rows, parts (N, P * Dp) unit
    stripes times their visibility, vis (N, P) float32 (torch tensors, CPU)."""

    glob: torch.Tensor
    parts: torch.Tensor
    vis: torch.Tensor

    def __len__(self) -> int:
        return len(self.glob)


def prepare(d: TrackDescriptors) -> PreparedDescriptors:
    """Lay descriptors out once, so that each later distance is two matrix products. Descriptors are unit rows
    by construction (``aggregate_many``, a projection's ``apply``); invisible stripes are masked here."""
    import torch

    vis = torch.from_numpy(d.visibility.astype(np.float32))
    parts = torch.from_numpy(d.parts) * vis[:, :, None]
    return PreparedDescriptors(torch.from_numpy(d.global_feat), parts.flatten(1).contiguous(), vis)


def prepared_distance(q: PreparedDescriptors, g: PreparedDescriptors) -> np.ndarray:
    """Eq. 8 (as ``reid_core.matching.pgfa_distance``) between prepared sets: (len(q), len(g)) float32."""
    shared = q.vis @ g.vis.T
    part_sum = shared - q.parts @ g.parts.T
    return ((part_sum + 1.0 - q.glob @ g.glob.T) / (shared + 1.0)).numpy()


def sample_pair_distance(global_feat: np.ndarray, parts: np.ndarray, visibility: np.ndarray, owner: np.ndarray,
                         n_tracks: int, *, reduce: str = "min") -> np.ndarray:
    """Track-to-track distance from every pair of their samples: (n_tracks, n_tracks) float32.

    global_feat (T, Dg), parts (T, P, Dp), visibility (T, P): all samples of all tracks; owner (T,) the track
    index (0..n_tracks-1) of each sample. ``reduce`` "min" or "mean" over the sample pairs of two tracks.
    """
    owner = np.asarray(owner, np.int64)
    import torch

    from reid_core.matching import pgfa_distance

    t = [torch.from_numpy(np.asarray(x)) for x in (global_feat, parts, visibility)]
    d = pgfa_distance(*t, *t, block_size=4096).numpy()
    order = np.argsort(owner, kind="stable")
    counts = np.bincount(owner, minlength=n_tracks)
    if (counts == 0).any():
        raise ValueError("every track needs at least one sample")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    d = d[order][:, order]
    if reduce == "min":
        rows = np.minimum.reduceat(d, starts, axis=0)
        return np.minimum.reduceat(rows, starts, axis=1)
    if reduce == "mean":
        sums = np.add.reduceat(np.add.reduceat(d, starts, axis=0), starts, axis=1)
        return (sums / np.outer(counts, counts)).astype(np.float32)
    raise ValueError(f"unknown reduce {reduce!r}; valid: min, mean")


def unit_distance(a: TrackDescriptors, b: TrackDescriptors) -> np.ndarray:
    """Eq. 8 between descriptors whose rows are already unit (the descriptor table's): (len(a), len(b)) float32,
    as three numpy matrix products (no tensors to lay out: linking and search call it for a few dozen rows at a
    time, many times)."""
    va, vb = a.visibility.astype(np.float32), b.visibility.astype(np.float32)
    shared = va @ vb.T
    width = a.parts.shape[1] * a.parts.shape[2]
    pa = (a.parts * va[:, :, None]).reshape(len(a), width)
    pb = (b.parts * vb[:, :, None]).reshape(len(b), width)
    return ((shared - pa @ pb.T + 1.0 - a.global_feat @ b.global_feat.T) / (shared + 1.0)).astype(np.float32)
