"""The maths of linking, as pure functions over arrays: track descriptors, hard constraints, operator
constraints, threshold calibration and constrained agglomerative clustering. No store, no I/O.

Shapes: N tracks, S samples of one track, P stripes, Dg / Dp global / stripe feature sizes.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from reid_core.matching import pgfa_distance

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


# ---------------------------------------------------------------- hard constraints
def same_camera_pairs(camera: np.ndarray) -> np.ndarray:
    """(N, N) bool: both tracks are from one camera. camera (N,) integer ids."""
    camera = np.asarray(camera)
    return camera[:, None] == camera[None, :]


def time_gaps(t_start: np.ndarray, t_end: np.ndarray) -> np.ndarray:
    """(N, N) seconds from the end of the earlier track to the start of the later; negative = overlap.
    t_start, t_end (N,) seconds on one clock."""
    t0 = np.asarray(t_start, np.float64)
    t1 = np.asarray(t_end, np.float64)
    return np.maximum(t0[None, :] - t1[:, None], t0[:, None] - t1[None, :])


def overlap_cannot_link(camera: np.ndarray, t_start: np.ndarray, t_end: np.ndarray, *,
                        tolerance_s: float = 0.25) -> np.ndarray:
    """(N, N) bool: same camera and overlapping in time by more than ``tolerance_s`` -> two people."""
    out = same_camera_pairs(camera) & (time_gaps(t_start, t_end) < -tolerance_s)
    np.fill_diagonal(out, False)
    return out


def speed_cannot_link(camera: np.ndarray, t_start: np.ndarray, t_end: np.ndarray, first_centre: np.ndarray,
                      last_centre: np.ndarray, heights: np.ndarray, *, max_speed_px_s: float) -> np.ndarray:
    """(N, N) bool: same camera, and going from the earlier track's last box centre to the later one's first
    would need more than ``max_speed_px_s`` (half a box height of slack for detection jitter).

    first_centre, last_centre (N, 2) pixels; heights (N,) typical box height in pixels.
    """
    t0 = np.asarray(t_start, np.float64)
    t1 = np.asarray(t_end, np.float64)
    fc = np.asarray(first_centre, np.float64)
    lc = np.asarray(last_centre, np.float64)
    h = np.asarray(heights, np.float64)
    # i before j: from lc[i] at t1[i] to fc[j] at t0[j]
    disp = np.linalg.norm(fc[None, :, :] - lc[:, None, :], axis=2)
    gap = t0[None, :] - t1[:, None]
    slack = 0.25 * (h[:, None] + h[None, :])
    fast = (gap >= 0) & (disp - slack > max_speed_px_s * np.maximum(gap, 1e-3))
    out = (fast | fast.T) & same_camera_pairs(camera)
    np.fill_diagonal(out, False)
    return out


def gap_cannot_link(camera: np.ndarray, t_start: np.ndarray, t_end: np.ndarray, *, max_gap_s: float) -> np.ndarray:
    """(N, N) bool: same camera and further apart in time than ``max_gap_s`` (re-entries that old are not linked)."""
    out = same_camera_pairs(camera) & (time_gaps(t_start, t_end) > max_gap_s)
    np.fill_diagonal(out, False)
    return out


def transition_cannot_link(camera: np.ndarray, t_start: np.ndarray, t_end: np.ndarray,
                           windows: dict[tuple[int, int], tuple[float, float]]) -> np.ndarray:
    """(N, N) bool from an optional camera-to-camera prior: for a configured (from, to) camera pair, a person
    leaving ``from`` reaches ``to`` after ``lo..hi`` seconds; pairs of those cameras outside it are two people."""
    camera = np.asarray(camera)
    t0 = np.asarray(t_start, np.float64)
    t1 = np.asarray(t_end, np.float64)
    out = np.zeros((len(camera), len(camera)), bool)
    for (ca, cb), (lo, hi) in windows.items():
        ia, ib = np.flatnonzero(camera == ca), np.flatnonzero(camera == cb)
        gap = t0[ib][None, :] - t1[ia][:, None]
        bad = (gap < lo) | (gap > hi)
        out[np.ix_(ia, ib)] |= bad
        out[np.ix_(ib, ia)] |= bad.T
    return out


# ---------------------------------------------------------------- operator constraints
def resolve_constraints(events: Iterable[tuple[str, int, int]]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Operator decisions, oldest first, as ("must" | "cannot", a, b) -> (must pairs, cannot pairs) that do not
    contradict each other. A later decision wins: a must-link removes earlier cannot-links between the two
    groups it joins; a cannot-link cuts the oldest must-link edges on the paths joining its two tracks."""
    must: dict[tuple[int, int], int] = {}
    cannot: dict[tuple[int, int], int] = {}

    def key(a: int, b: int) -> tuple[int, int]:
        return (a, b) if a <= b else (b, a)

    def adjacency() -> dict[int, list[tuple[int, tuple[int, int]]]]:
        adj: dict[int, list[tuple[int, tuple[int, int]]]] = defaultdict(list)
        for (a, b) in must:
            adj[a].append((b, (a, b)))
            adj[b].append((a, (a, b)))
        return adj

    def component(start: int, adj: dict) -> set[int]:
        seen, todo = {start}, [start]
        while todo:
            for nxt, _ in adj.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    def path(a: int, b: int, adj: dict) -> list[tuple[int, int]] | None:
        prev: dict[int, tuple[int, tuple[int, int]] | None] = {a: None}
        queue = deque([a])
        while queue:
            node = queue.popleft()
            if node == b:
                edges = []
                while prev[node] is not None:
                    node, edge = prev[node]  # type: ignore[misc]
                    edges.append(edge)
                return edges
            for nxt, edge in adj.get(node, ()):
                if nxt not in prev:
                    prev[nxt] = (node, edge)
                    queue.append(nxt)
        return None

    for order, (kind, a, b) in enumerate(events):
        a, b = int(a), int(b)
        if a == b:
            continue
        if kind == "must":
            adj = adjacency()
            ca, cb = component(a, adj), component(b, adj)
            for pair in [p for p in cannot if (p[0] in ca and p[1] in cb) or (p[0] in cb and p[1] in ca)]:
                del cannot[pair]
            must[key(a, b)] = order
        elif kind == "cannot":
            while (edges := path(a, b, adjacency())) is not None:
                del must[min(edges, key=lambda e: must[e])]
            cannot[key(a, b)] = order
        else:
            raise ValueError(f"unknown constraint kind {kind!r}; valid: must, cannot")
    return sorted(must), sorted(cannot)


# ---------------------------------------------------------------- calibration
@dataclass(frozen=True)
class Calibration:
    """The chosen operating point and the evidence behind it."""

    threshold: float
    calibrated: bool
    n_same: int
    n_different: int
    same_rate: float  # share of known-same pairs below the threshold
    different_rate: float  # share of known-different pairs below the threshold (false links)
    reason: str


def _rate_below(x: np.ndarray, t: float) -> float:
    return float((x < t).mean()) if len(x) else float("nan")


def calibrate_threshold(same: np.ndarray, different: np.ndarray, *, default: float, max_false_rate: float = 0.01,
                        min_pairs: int = 10) -> Calibration:
    """Pick the linking threshold from distances of pairs known to be the same person (``same`` (K,)) and known
    to be different people (``different`` (L,)).

    The threshold is the ``max_false_rate`` quantile of the different-people distances: as far as one can go
    while linking few different people. Known-same pairs (halves of one track, stitched fragments) are easier
    than real re-entries, so they only report the share they would link. With fewer than ``min_pairs`` of
    either kind, ``default`` is returned, marked uncalibrated.
    """
    same = np.sort(np.asarray(same, np.float64).reshape(-1))
    diff = np.sort(np.asarray(different, np.float64).reshape(-1))
    if len(same) < min_pairs or len(diff) < min_pairs:
        return Calibration(default, False, len(same), len(diff), _rate_below(same, default),
                           _rate_below(diff, default),
                           f"too few known pairs (same {len(same)}, different {len(diff)}, need {min_pairs} each)")
    t = float(np.quantile(diff, max_false_rate))
    reason = f"{max_false_rate:.1%} quantile of {len(diff)} different-people distances"
    return Calibration(t, True, len(same), len(diff), _rate_below(same, t), _rate_below(diff, t), reason)


# ---------------------------------------------------------------- clustering
def must_link_components(n: int, must: Iterable[tuple[int, int]]) -> np.ndarray:
    """(n,) int64 component label per item from must-link pairs of item indices (union-find)."""
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return int(i)

    for a, b in must:
        ra, rb = find(int(a)), find(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(i) for i in range(n)], np.int64)
    return np.unique(roots, return_inverse=True)[1].astype(np.int64)


def constrained_agglomerative(dist: np.ndarray, threshold: float, *, cannot: np.ndarray | None = None,
                              must: Iterable[tuple[int, int]] = (), linkage: str = "average",
                              history: list[tuple[float, int, int]] | None = None) -> np.ndarray:
    """Cluster N items: must-link pairs are joined first, then the two closest clusters are merged while their
    linkage distance is below ``threshold``; clusters holding a cannot-link pair between them never merge.

    dist (N, N) symmetric; cannot (N, N) bool (ignored inside a must-link group: the operator overrules);
    linkage "average" (mean pair distance) or "complete" (largest). Returns (N,) int64 labels 0..K-1 in order
    of each cluster's first item. ``history``, when given, receives every merge in order as
    (linkage distance, item in the kept cluster, item in the absorbed cluster).
    """
    d = np.asarray(dist, np.float64)
    n = len(d)
    if d.shape != (n, n):
        raise ValueError(f"dist: expected a square (N, N) matrix, got {d.shape}")
    if linkage not in ("average", "complete"):
        raise ValueError(f"unknown linkage {linkage!r}; valid: average, complete")
    if n == 0:
        return np.zeros(0, np.int64)
    cl = np.zeros((n, n), bool) if cannot is None else np.asarray(cannot, bool)
    if cl.shape != (n, n):
        raise ValueError(f"cannot: expected shape ({n}, {n}), got {cl.shape}")
    comp = must_link_components(n, must)
    k = int(comp.max()) + 1
    order = np.argsort(comp, kind="stable")
    counts = np.bincount(comp, minlength=k)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ds = d[order][:, order]
    if linkage == "average":
        agg = np.add.reduceat(np.add.reduceat(ds, starts, axis=0), starts, axis=1)
    else:
        agg = np.maximum.reduceat(np.maximum.reduceat(ds, starts, axis=0), starts, axis=1)
    blocked = np.add.reduceat(np.add.reduceat(cl[order][:, order].astype(np.int32), starts, axis=0),
                              starts, axis=1) > 0
    size = counts.astype(np.float64)
    alive = np.ones(k, bool)

    def linkage_row(i: int) -> np.ndarray:
        row = agg[i] / (size[i] * size) if linkage == "average" else agg[i].copy()
        row[blocked[i] | ~alive] = np.inf
        row[i] = np.inf
        return row

    cur = np.stack([linkage_row(i) for i in range(k)]) if k > 1 else np.full((1, 1), np.inf)
    best = cur.argmin(axis=1)
    best_d = cur[np.arange(k), best]
    while True:
        i = int(best_d.argmin())
        if not best_d[i] < threshold:
            break
        j = int(best[i])
        i, j = min(i, j), max(i, j)
        if history is not None:
            history.append((float(best_d[i] if best[i] == j else best_d[j]), int(np.argmax(comp == i)),
                            int(np.argmax(comp == j))))
        # merge j into i
        if linkage == "average":
            agg[i] += agg[j]
            agg[:, i] += agg[:, j]
        else:
            agg[i] = np.maximum(agg[i], agg[j])
            agg[:, i] = np.maximum(agg[:, i], agg[:, j])
        blocked[i] |= blocked[j]
        blocked[:, i] |= blocked[:, j]
        size[i] += size[j]
        comp[comp == j] = i
        alive[j] = False
        cur[j], cur[:, j] = np.inf, np.inf
        best_d[j] = np.inf
        cur[i] = linkage_row(i)
        cur[:, i] = cur[i]
        best[i], best_d[i] = int(cur[i].argmin()), cur[i].min()
        stale = np.flatnonzero(alive & ((best == i) | (best == j)))
        for r in stale:
            best[r], best_d[r] = int(cur[r].argmin()), cur[r].min()
        better = alive & (cur[:, i] < best_d)
        best[better], best_d[better] = i, cur[better, i]
    first_item: dict[int, int] = {}
    for item, c in enumerate(comp):
        first_item.setdefault(int(c), item)
    relabel = {c: new for new, c in enumerate(sorted(first_item, key=lambda c: first_item[c]))}
    return np.array([relabel[int(c)] for c in comp], np.int64)


def false_merge_levels(dist: np.ndarray, held_out: Sequence[tuple[int, int]], *, cannot: np.ndarray,
                       must: Iterable[tuple[int, int]] = (), linkage: str = "average") -> np.ndarray:
    """For pairs known to be different: the threshold above which clustering would put them together.

    Clusters ``dist`` (N, N) with ``cannot`` (N, N) minus the ``held_out`` pairs (item indices). Returns
    (len(held_out),) levels: a pair is joined by every threshold above its level (inf: never joined, -inf:
    must-linked from the start). Clusters at threshold t are the merges made before the first merge >= t.
    """
    n = len(dist)
    blocked = np.asarray(cannot, bool).copy()
    for a, b in held_out:
        blocked[a, b] = blocked[b, a] = False
    history: list[tuple[float, int, int]] = []
    constrained_agglomerative(dist, np.inf, cannot=blocked, must=must, linkage=linkage, history=history)
    start = must_link_components(n, must)
    partners: dict[int, set[int]] = {}
    for a, b in held_out:
        partners.setdefault(a, set()).add(b)
        partners.setdefault(b, set()).add(a)
    members = {int(c): [int(i) for i in np.flatnonzero(start == c)] for c in np.unique(start)}
    owner = {i: int(start[i]) for i in range(n)}
    level = {(min(a, b), max(a, b)): (-np.inf if start[a] == start[b] else np.inf) for a, b in held_out}
    running = -np.inf
    for height, keep_item, gone_item in history:
        running = max(running, height)
        keep, gone = owner[keep_item], owner[gone_item]
        small, big = sorted((members[keep], members[gone]), key=len)
        big_set = set(big)
        for a in small:
            for b in partners.get(a, ()):
                key = (min(a, b), max(a, b))
                if b in big_set and level[key] == np.inf:
                    level[key] = running
        for i in members[gone]:
            owner[i] = keep
        members[keep] = members[keep] + members.pop(gone)
    return np.array([level[(min(a, b), max(a, b))] for a, b in held_out], np.float64)


def calibrate_by_clustering(dist: np.ndarray, known_different: Sequence[tuple[int, int]], *, cannot: np.ndarray,
                            must: Iterable[tuple[int, int]] = (), linkage: str = "average",
                            max_false_rate: float = 0.02, folds: int = 2, seed: int = 0,
                            ceiling: float = 2.0) -> tuple[float, np.ndarray]:
    """The largest threshold at which clustering joins at most ``max_false_rate`` of the known-different pairs
    it was not told about (each of ``folds`` runs hides a share of them from ``cannot``), at most ``ceiling``.
    Returns (threshold, the join level of every known-different pair). This calibrates the whole decision
    (threshold, constraints, linkage) rather than lone pairs: in a crowd, the constraints keep most different
    people apart, so the appearance threshold may go higher than pair distances alone would allow."""
    pairs = list(known_different)
    if not pairs:
        raise ValueError("calibration needs at least one known-different pair")
    must = list(must)
    fold_of = np.random.default_rng(seed).permutation(len(pairs)) % folds
    levels = np.empty(len(pairs))
    for f in range(folds):
        idx = np.flatnonzero(fold_of == f)
        if len(idx):
            levels[idx] = false_merge_levels(dist, [pairs[i] for i in idx], cannot=cannot, must=must,
                                             linkage=linkage)
    ordered = np.sort(levels)
    m = int(np.floor(max_false_rate * len(ordered)))
    return float(min(ordered[m], ceiling)), levels


def spanning_links(dist: np.ndarray, labels: np.ndarray) -> list[tuple[int, int]]:
    """For each cluster, the edges (i, j), i < j, of a minimum spanning tree over ``dist`` (N, N): the closest
    links that hold each identity together, the ones an operator reviews."""
    d = np.asarray(dist, np.float64)
    edges: list[tuple[int, int]] = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < 2:
            continue
        sub = d[np.ix_(members, members)]
        in_tree = np.zeros(len(members), bool)
        in_tree[0] = True
        best = sub[0].copy()
        parent = np.zeros(len(members), np.int64)
        for _ in range(len(members) - 1):
            cand = np.where(in_tree, np.inf, best)
            j = int(cand.argmin())
            in_tree[j] = True
            a, b = int(members[parent[j]]), int(members[j])
            edges.append((min(a, b), max(a, b)))
            closer = sub[j] < best
            best[closer], parent[closer] = sub[j][closer], j
    return edges


def link_kind(same_camera: bool, same_stay: bool, gap_s: float, *, occlusion_gap_s: float = 5.0) -> str:
    """occlusion (one stay, or a short gap in one camera), reentry (same camera later) or cross_camera."""
    if not same_camera:
        return "cross_camera"
    return "occlusion" if same_stay or gap_s <= occlusion_gap_s else "reentry"
