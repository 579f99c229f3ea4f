"""Linking without an N x N matrix: candidate pairs from the search index, components, exact clustering inside.

Constrained average (or complete) linkage only ever merges two clusters when some pair of their tracks is closer
than the threshold (an average or a maximum below t needs one pair below t). So its clusters never cross the
components of the graph of pairs closer than t plus the must-links, and clustering each component alone gives
exactly what clustering everything at once gives. The graph comes from the ANN index: each track's ``k`` nearest
neighbours, screened with eq. 8 on the index's reduced vectors with a safety ``margin``. Inside a component,
distances, hard constraints and operator decisions are exact, as in the dense run (``app.identity.cluster``).
The result equals the dense one when every pair closer than t is among the candidates (tested on small stores).
A component too big for one matrix (a crowd of look-alikes chained together) is clustered on its candidate
graph instead (``graph_agglomerative``): pairs that are not candidates count as just beyond the threshold.

Shapes: N tracks (rows of a ``TrackTable``), E candidate pairs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from app.identity import ann
from app.identity import cluster as lk
from reid_core import track_descriptors as lm

log = logging.getLogger(__name__)

K_NEIGHBOURS = 12
MARGIN = 0.05  # reduced vectors are float16 PCA projections: screen a little beyond the threshold
COMPONENT_LIMIT = 2500  # members clustered with one dense matrix at most; bigger ones on their candidate graph


def reduced_distance(index: ann.AnnIndex, a: np.ndarray, b: np.ndarray, block: int = 50_000) -> np.ndarray:
    """Eq. 8 on the index's reduced vectors for position pairs (a[e], b[e]): (E,) float32."""
    vec, vis = index.arrays["vectors"], index.arrays["visibility"]
    n_parts = vis.shape[1]
    gd = _global_dims(index)
    dp = (vec.shape[1] - gd) // n_parts
    out = np.empty(len(a), np.float32)
    for lo in range(0, len(a), block):
        ia, ib = a[lo:lo + block], b[lo:lo + block]
        va, vb = vec[ia].astype(np.float32), vec[ib].astype(np.float32)
        glob = (va[:, :gd] * vb[:, :gd]).sum(axis=1)
        pa = va[:, gd:].reshape(len(ia), n_parts, dp)
        pb = vb[:, gd:].reshape(len(ib), n_parts, dp)
        shared = (vis[ia] & vis[ib]).astype(np.float32)
        part_sim = ((pa * pb).sum(axis=2) * shared).sum(axis=1)
        out[lo:lo + block] = (shared.sum(axis=1) - part_sim + 1.0 - glob) / (shared.sum(axis=1) + 1.0)
    return out


def _global_dims(index: ann.AnnIndex) -> int:
    t = index.reducer.glob
    return int(t[0].shape[1]) if t is not None else int(index.meta["dims"][0])


def candidate_pairs(index: ann.AnnIndex, positions: np.ndarray, *, k: int = K_NEIGHBOURS, block: int = 20_000
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Each of ``positions`` (index positions of the tracks being linked) with its ``k`` nearest among them:
    (a, b) local indices into ``positions``, a < b, without repeats."""
    n_index = len(index)
    local = np.full(n_index, -1, np.int64)
    local[positions] = np.arange(len(positions))
    allowed = None if len(positions) == n_index else local >= 0
    vec, vis = index.arrays["vectors"], index.arrays["visibility"]
    pairs = []
    for lo in range(0, len(positions), block):
        rows = positions[lo:lo + block]
        q = ann.search_vectors(vec[rows], vis[rows])
        nb, _ = index.search(q, min(k + 1, len(positions)), allowed, nprobe=ann.NPROBE)  # a million searches: few lists
        a = np.repeat(np.arange(lo, lo + len(rows)), nb.shape[1])
        b = local[np.where(nb >= 0, nb, 0)].reshape(-1)
        ok = (nb.reshape(-1) >= 0) & (b >= 0) & (b != a)
        pairs.append(np.minimum(a[ok], b[ok]) * len(positions) + np.maximum(a[ok], b[ok]))  # one int64 per pair
    if not pairs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    uniq = np.unique(np.concatenate(pairs))
    return uniq // len(positions), uniq % len(positions)


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n,) component label of each item of the graph with edges (a[e], b[e]) (union-find, vectorised)."""
    parent = np.arange(n)
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    while True:  # pointer jumping: hook each edge's larger root under its smaller, until no edge moves
        ra, rb = parent[a], parent[b]
        lo, hi = np.minimum(ra, rb), np.maximum(ra, rb)
        moving = lo != hi
        if not moving.any():
            break
        np.minimum.at(parent, hi[moving], lo[moving])
        while True:
            grand = parent[parent]
            if (grand == parent).all():
                break
            parent = grand
    return parent


def groups(labels: np.ndarray, *, min_size: int = 2) -> Iterator[np.ndarray]:
    """Member indices of each label with at least ``min_size`` members."""
    order = np.argsort(labels, kind="stable")
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    for members in np.split(order, cuts):
        if len(members) >= min_size:
            yield members


@dataclass(frozen=True)
class Piece:
    """One component clustered: its member rows, their labels (0..), the spanning links as member-row pairs
    with distances, and how many cannot-link pairs it held."""

    members: np.ndarray
    labels: np.ndarray
    links: list[tuple[int, int, float]]
    cannot_pairs: int


def cluster_component(members: np.ndarray, dist: np.ndarray, threshold: float, cannot: np.ndarray,
                      must: list[tuple[int, int]], linkage: str) -> Piece:
    """Exact constrained clustering of one component (``dist``, ``cannot`` over its members, ``must`` as local
    index pairs)."""
    labels = lk.constrained_agglomerative(dist, threshold, cannot=cannot, must=must, linkage=linkage)
    links = [(int(members[i]), int(members[j]), float(dist[i, j])) for i, j in lk.spanning_links(dist, labels)]
    return Piece(members, labels, links, int(np.triu(cannot, 1).sum()))


def cluster_all(n: int, comp: np.ndarray, piece_of: Callable[[list[np.ndarray]], list[Piece]],
                batch: int = 5_000) -> tuple[np.ndarray, list[tuple[int, int, float]], int]:
    """Cluster every component of at least two members (``piece_of`` takes a batch of member arrays, so that
    their descriptors are read together); singletons are clusters of their own. Returns (N,) labels,
    spanning links (row, row, distance) and the number of cannot-link pairs inside components."""
    labels = np.full(n, -1, np.int64)
    links: list[tuple[int, int, float]] = []
    cannot_pairs = 0
    next_label = 0
    todo: list[np.ndarray] = []
    size = 0

    def flush() -> None:
        nonlocal next_label, cannot_pairs, size
        for p in piece_of(todo):
            labels[p.members] = p.labels + next_label
            next_label += int(p.labels.max()) + 1
            links.extend(p.links)
            cannot_pairs += p.cannot_pairs
        todo.clear()
        size = 0

    for members in groups(comp):
        todo.append(members)
        size += len(members)
        if size >= batch:
            flush()
    flush()
    alone = labels < 0
    labels[alone] = next_label + np.arange(int(alone.sum()))
    # labels numbered in order of each cluster's first row, as the dense run numbers them
    first = np.full(int(labels.max()) + 1 if n else 0, n, np.int64)
    np.minimum.at(first, labels, np.arange(n))
    rank = np.empty_like(first)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[labels], links, cannot_pairs


def edge_distance(d: lm.TrackDescriptors | tuple[np.ndarray, np.ndarray, np.ndarray], a: np.ndarray,
                  b: np.ndarray, block: int = 5_000) -> np.ndarray:
    """Exact eq. 8 for row pairs (a[e], b[e]) of unit descriptors (or their (global, parts, visibility) arrays,
    float16 allowed): (E,) float64, a block of pairs at a time (no copy of the descriptors)."""
    g_all, p_all, v_all = (d.global_feat, d.parts, d.visibility) if isinstance(d, lm.TrackDescriptors) else d
    out = np.empty(len(a), np.float64)
    for lo in range(0, len(a), block):
        ia, ib = a[lo:lo + block], b[lo:lo + block]
        both = (v_all[ia] & v_all[ib]).astype(np.float32)
        shared = both.sum(axis=1)
        pa, pb = p_all[ia].astype(np.float32), p_all[ib].astype(np.float32)
        part_sum = shared - (np.einsum("npd,npd->np", pa, pb) * both).sum(axis=1)
        glob = np.einsum("nd,nd->n", g_all[ia].astype(np.float32), g_all[ib].astype(np.float32))
        out[lo:lo + block] = (part_sum + 1.0 - glob) / (shared + 1.0)
    return out


def _sum_edges(x: np.ndarray, y: np.ndarray, total: np.ndarray, count: np.ndarray, worst: np.ndarray, n: int
               ) -> tuple[np.ndarray, ...]:
    """Edges between clusters (x[e], y[e]) folded into one per unordered pair, self-edges dropped: (x, y, sum of
    distances, pairs, largest distance), x < y, sorted by (x, y)."""
    lo, hi = np.minimum(x, y), np.maximum(x, y)
    keep = lo != hi
    key = lo[keep] * n + hi[keep]
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]])) if len(key) else np.zeros(0, np.int64)
    fold = (lambda v, f: f.reduceat(v[keep][order], starts)) if len(key) else (lambda v, f: v[:0])
    return (key[starts] // n, key[starts] % n, fold(total, np.add), fold(count, np.add), fold(worst, np.maximum))


def graph_agglomerative(n: int, a: np.ndarray, b: np.ndarray, d: np.ndarray, threshold: float, *, fill: float,
                        must: list[tuple[int, int]], blocked: Callable[[list[int], list[int]], bool],
                        linkage: str = "average") -> np.ndarray:
    """Constrained agglomerative clustering of n items on a graph of known distances (a[e], b[e], d[e]), for a
    component too big for one matrix. A pair without an edge (not among the candidates) counts as ``fill``
    (at least the threshold: candidates hold every pair likely to be closer), so average linkage over two
    clusters is (sum of known + missing x fill) / (size x size); complete linkage needs every pair known.
    ``blocked(members_a, members_b)`` says whether a cannot-link separates two clusters (asked before each
    merge). Must-links join first. Returns (n,) labels.

    Vectorised in rounds: every pair of clusters that are each other's nearest (below the threshold) merges at
    once. Both linkages, with blocked pairs at infinity, are reducible (a merged cluster is never closer to a third
    than the nearer of its two parts was), so this gives what merging the closest pair one at a time gives (up to
    ties); a pair found blocked drops out (its clusters never merge, whatever they grow into). Memory: a few
    arrays over the edges."""
    label = components(n, np.array([p[0] for p in must], np.int64), np.array([p[1] for p in must], np.int64))
    size = np.bincount(label, minlength=n).astype(np.float64)
    d = np.asarray(d, np.float64)
    x, y, total, count, worst = _sum_edges(label[a], label[b], d, np.ones(len(d)), d, n)
    while len(x):
        pairs = size[x] * size[y]
        if linkage == "complete":
            value = np.where(count == pairs, worst, np.inf)
        else:
            value = (total + (pairs - count) * fill) / pairs
        ok = np.flatnonzero(value < threshold)
        if not len(ok):
            break
        src, dst = np.concatenate([x[ok], y[ok]]), np.concatenate([y[ok], x[ok]])
        val = np.concatenate([value[ok], value[ok]])
        order = np.lexsort((dst, val, src))  # per cluster: nearest first (ties: the lower id)
        first = order[np.concatenate([[True], src[order][1:] != src[order][:-1]])]
        nearest = np.full(n, -1, np.int64)
        nearest[src[first]] = dst[first]
        mutual = ok[(nearest[x[ok]] == y[ok]) & (nearest[y[ok]] == x[ok])]
        members_order = np.argsort(label, kind="stable")
        starts = np.searchsorted(label[members_order], np.arange(n + 1))
        into = np.arange(n)
        drop = np.zeros(len(x), bool)
        for e in mutual.tolist():
            cx, cy = int(x[e]), int(y[e])
            if blocked(members_order[starts[cx]:starts[cx + 1]].tolist(),
                       members_order[starts[cy]:starts[cy + 1]].tolist()):
                drop[e] = True  # never these two (their members stay apart as clusters grow)
            else:
                into[cy] = cx
                size[cx] += size[cy]
        label = into[label]
        keep = ~drop
        x, y, total, count, worst = _sum_edges(into[x[keep]], into[y[keep]], total[keep], count[keep], worst[keep],
                                               n)
    _, labels = np.unique(label, return_inverse=True)
    return labels.astype(np.int64)


def graph_spanning_links(labels: np.ndarray, a: np.ndarray, b: np.ndarray, d: np.ndarray
                         ) -> list[tuple[int, int, float]]:
    """Per cluster, a minimum spanning forest over its known edges (Kruskal): (i, j, distance), i < j."""
    parent = list(range(len(labels)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    out = []
    inside = np.flatnonzero(labels[a] == labels[b])
    for e in inside[np.argsort(d[inside], kind="stable")].tolist():
        i, j = int(a[e]), int(b[e])
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
            out.append((min(i, j), max(i, j), float(d[e])))
    return out
