"""Threshold calibration and constrained agglomerative clustering of tracks into identities (pure numpy).

Shapes: N tracks; dist is an (N, N) symmetric distance matrix.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


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
