"""A linking run at any size (``app.identity.linking.link_store`` with method "sparse", and "auto" on large
stores): the threshold is calibrated as in a dense run on at most ``CALIBRATION_TRACKS`` tracks (all of them on
a small store), candidate pairs come from the search index, and each component of close pairs is clustered
exactly (``app.identity.sparse``). Memory grows with the tracks and their k neighbours, never with N x N.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable

import numpy as np
from sqlalchemy.orm import Session

from app.config import Config
from app.identity import ann, sparse
from app.identity.link_inputs import (
    Clustering,
    calibrate,
    choose_threshold,
    hard_constraints,
    operator_pairs,
    trained_pairs,
    transition_windows,
)
from app.identity.tables import DEFAULT_AGGREGATION, TrackTable, take_tracks
from app.store import Database, repo
from app.store import descriptor_table as dt
from reid_core import track_descriptors as lm

log = logging.getLogger(__name__)

CALIBRATION_TRACKS = 3000
CHECK_PAIRS = 5000
EXACT_GRAPH_LIMIT = 150_000  # a component's descriptors held in float16 for exact pair distances: ~2 GiB


def calibration_rows(table: TrackTable, limit: int = CALIBRATION_TRACKS) -> np.ndarray:
    """Rows the threshold is calibrated on: all, or the ``limit`` tracks around the middle of the time span (a
    contiguous stretch, so that the people who met in a camera, the known-different pairs, are in it together)."""
    n = len(table)
    if n <= limit:
        return np.arange(n)
    order = np.argsort(table.t_start, kind="stable")
    lo = (n - limit) // 2
    return np.sort(order[lo:lo + limit])


def _pairs_by_component(pairs: list[tuple[int, int]], comp: np.ndarray) -> dict[int, list[tuple[int, int]]]:
    out: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for a, b in pairs:
        if comp[a] == comp[b]:
            out[int(comp[a])].append((a, b))
    return out


def cluster_sparse(db: Database, s: Session, cfg: Config, table: TrackTable, *, threshold: float | None,
                   linkage: str, k: int | None = None) -> Clustering:
    """Cluster the tracks of ``table`` that have descriptors (see the module docstring); ``k`` neighbours per
    track (``sparse.K_NEIGHBOURS``)."""
    k = k or sparse.K_NEIGHBOURS
    index = ann.index_for(db)
    order = np.argsort(index.track_ids, kind="stable")
    sorted_ids = index.track_ids[order]
    at = np.searchsorted(sorted_ids, table.ids)
    found = (at < len(sorted_ids)) & (sorted_ids[np.minimum(at, len(sorted_ids) - 1)] == table.ids) \
        if len(sorted_ids) else np.zeros(len(table), bool)
    rows = np.flatnonzero(found)
    positions = order[at[rows]]
    sub = take_tracks(table, rows)
    n = len(sub)
    windows = transition_windows(s)
    must, op_cannot = operator_pairs(s, sub)
    trained = trained_pairs(s, sub)

    # the threshold, as a dense run calibrates it, on a stretch of at most CALIBRATION_TRACKS tracks
    cal_rows = calibration_rows(sub)
    local = np.full(n, -1, np.int64)
    local[cal_rows] = np.arange(len(cal_rows))
    cal_sub = take_tracks(sub, cal_rows)
    cal_ids = [int(t) for t in cal_sub.ids]
    _, cal_descs = dt.load(s, cal_ids)
    samples = repo.track_embeddings(s, cal_ids)
    cal_dist = lm.descriptor_distance(cal_descs, cal_descs) if cal_descs is not None else np.zeros((0, 0))
    inside = lambda pairs: [(int(local[a]), int(local[b])) for a, b in pairs  # noqa: E731
                            if local[a] >= 0 and local[b] >= 0]
    cal_cannot = hard_constraints(cal_sub, cfg, windows)
    for x, y in inside(op_cannot):
        cal_cannot[x, y] = cal_cannot[y, x] = True
    cal_must = inside(must)
    cal = calibrate(cal_sub, cal_ids, samples, cal_dist, cal_cannot, cal_must, DEFAULT_AGGREGATION, linkage,
                    inside(trained))
    chosen, source = choose_threshold(threshold, cfg, cal)
    del samples, cal_cannot

    # candidate pairs -> components of pairs that may be closer than the threshold, and of must-links
    empty = np.zeros(0, np.int64)
    a, b = sparse.candidate_pairs(index, positions, k=k) if n > 1 else (empty, empty)
    d = sparse.reduced_distance(index, positions[a], positions[b]) if len(a) else np.zeros(0, np.float32)
    close = d < chosen + sparse.MARGIN
    ma = np.array([p[0] for p in must], np.int64)
    mb = np.array([p[1] for p in must], np.int64)
    comp = sparse.components(n, np.concatenate([a[close], ma]), np.concatenate([b[close], mb]))
    log.info("sparse linking: %d tracks, %d candidate pairs (%d closer than %.3f + %.2f), %d components of 2+",
             n, len(a), int(close.sum()), chosen, sparse.MARGIN, sum(1 for _ in sparse.groups(comp)))
    must_of = _pairs_by_component(must, comp)
    cannot_of = _pairs_by_component(op_cannot, comp)
    edges = (a[close], b[close], d[close])

    def load(ids: list[int]) -> lm.TrackDescriptors:
        kept, descs = dt.load(s, ids)
        if descs is None or len(kept) != len(ids):
            raise RuntimeError("descriptor rows went away during a linking run")
        return descs

    def pieces(batch: list[np.ndarray]) -> list[sparse.Piece]:
        small = [x for x in batch if len(x) <= sparse.COMPONENT_LIMIT]
        ids = [int(t) for members in small for t in sub.ids[members]]
        descs = load(ids) if ids else None
        row_of = {t: i for i, t in enumerate(ids)}
        out = []
        for members in batch:
            c = int(comp[members[0]])
            if len(members) <= sparse.COMPONENT_LIMIT:
                out.append(_cluster_part(members, sub, descs, row_of, cfg, windows, chosen, linkage,  # type: ignore[arg-type]
                                         must_of.get(c, []), cannot_of.get(c, [])))
            else:
                out.append(_cluster_graph(members, sub, load, cfg, windows, chosen, linkage, must_of.get(c, []),
                                          cannot_of.get(c, []), edges))
        return out

    labels, links, cannot_pairs = sparse.cluster_all(n, comp, pieces)
    return Clustering("sparse", DEFAULT_AGGREGATION, rows, sub, labels, links, must, cannot_pairs, cal, chosen,
                      source, cal_sub, cal_descs, cal_dist, cal_must)


def _cluster_part(members: np.ndarray, sub: TrackTable, descs: lm.TrackDescriptors, row_of: dict[int, int],
                  cfg: Config, windows: dict, threshold: float, linkage: str, must: list[tuple[int, int]],
                  op_cannot: list[tuple[int, int]]) -> sparse.Piece:
    """Exact distances and constraints of one component, clustered as the dense run would."""
    if len(members) == 1:
        return sparse.Piece(members, np.zeros(1, np.int64), [], 0)
    part = take_tracks(sub, members)
    d = descs.take(np.array([row_of[int(t)] for t in part.ids], np.int64))
    dist = lm.unit_distance(d, d).astype(np.float64)
    np.fill_diagonal(dist, 0.0)
    cannot = hard_constraints(part, cfg, windows)
    pos = {int(r): i for i, r in enumerate(members)}
    for a, b in op_cannot:
        if a in pos and b in pos:
            cannot[pos[a], pos[b]] = cannot[pos[b], pos[a]] = True
    local_must = [(pos[a], pos[b]) for a, b in must if a in pos and b in pos]
    return sparse.cluster_component(members, dist, threshold, cannot, local_must, linkage)


def _cluster_graph(members: np.ndarray, sub: TrackTable, load: Callable[[list[int]], lm.TrackDescriptors],
                   cfg: Config, windows: dict, threshold: float, linkage: str, must: list[tuple[int, int]],
                   op_cannot: list[tuple[int, int]], edges: tuple[np.ndarray, np.ndarray, np.ndarray]
                   ) -> sparse.Piece:
    """A component too big for one matrix (a crowd of look-alikes chained together, up to every track of the
    store): clustered on its candidate pairs, constraints checked between two clusters before they merge
    (``sparse.graph_agglomerative``). Pair distances are exact eq. 8 up to EXACT_GRAPH_LIMIT members (their
    descriptors held in float16); beyond, the descriptors would not fit in memory, so they are the index's
    reduced ones, mapped onto eq. 8 by a straight line fitted on ``CHECK_PAIRS`` pairs computed exactly."""
    local = np.full(len(sub), -1, np.int64)
    local[members] = np.arange(len(members))
    a, b, reduced = edges
    keep = (local[a] >= 0) & (local[b] >= 0)
    la, lb, dr = local[a[keep]], local[b[keep]], reduced[keep].astype(np.float64)
    if len(members) <= EXACT_GRAPH_LIMIT:  # float16 copies fit: exact distances for every candidate pair
        how = "exact eq. 8"
        d = sparse.edge_distance(_half_precision(load, [int(t) for t in sub.ids[members]]), la, lb)
    else:
        pick = np.random.default_rng(0).choice(len(la), min(len(la), CHECK_PAIRS), replace=False)
        ids = sorted({int(t) for t in sub.ids[members[la[pick]]]} | {int(t) for t in sub.ids[members[lb[pick]]]})
        at = {t: i for i, t in enumerate(ids)}
        exact = sparse.edge_distance(load(ids), np.array([at[int(t)] for t in sub.ids[members[la[pick]]]]),
                                     np.array([at[int(t)] for t in sub.ids[members[lb[pick]]]]))
        slope, offset = np.polyfit(dr[pick], exact, 1) if len(pick) > 1 else (1.0, 0.0)
        d = slope * dr + offset
        how = f"eq. 8 ~ {slope:.3f} x reduced {offset:+.3f}, fitted on {len(pick)} exact pairs"
    refused = {(min(int(local[x]), int(local[y])), max(int(local[x]), int(local[y]))) for x, y in op_cannot}

    camera = sub.camera[members].tolist()

    def blocked(xs: list[int], ys: list[int]) -> bool:
        if refused and any((min(x, y), max(x, y)) in refused for x in xs for y in ys):
            return True
        if not windows and not {camera[x] for x in xs} & {camera[y] for y in ys}:
            return False  # without transition windows, every hard constraint is between tracks of one camera
        both = take_tracks(sub, members[np.array(xs + ys, np.int64)])
        return bool(hard_constraints(both, cfg, windows)[: len(xs), len(xs):].any())

    local_must = [(int(local[x]), int(local[y])) for x, y in must]
    labels = sparse.graph_agglomerative(len(members), la, lb, d, threshold, fill=threshold + sparse.MARGIN,
                                        must=local_must, blocked=blocked, linkage=linkage)
    links = [(int(members[i]), int(members[j]), dist) for i, j, dist in sparse.graph_spanning_links(labels, la, lb, d)]
    log.info("a component of %d look-alike tracks clustered on its %d candidate pairs (%s)", len(members), len(la),
             how)
    return sparse.Piece(members, labels, links, len(refused))


def _half_precision(load: Callable[[list[int]], lm.TrackDescriptors], ids: list[int], block: int = 10_000
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The descriptors of ``ids`` as float16 (global, parts) and bool visibility arrays, read a block at a time."""
    first = load(ids[:1])
    glob = np.empty((len(ids), first.global_feat.shape[1]), np.float16)
    parts = np.empty((len(ids), *first.parts.shape[1:]), np.float16)
    vis = np.empty((len(ids), first.parts.shape[1]), bool)
    for lo in range(0, len(ids), block):
        d = load(ids[lo:lo + block])
        glob[lo:lo + len(d)], parts[lo:lo + len(d)], vis[lo:lo + len(d)] = d.global_feat, d.parts, d.visibility
    return glob, parts, vis
