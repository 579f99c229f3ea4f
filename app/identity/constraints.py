"""Hard linking constraints as pure functions over arrays: who cannot be the same person (time overlap in one
camera, impossible speed, too long a gap, camera transitions) and operator must/cannot-link resolution.

Shapes: N tracks; times in seconds on one clock.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Iterable

import numpy as np

log = logging.getLogger(__name__)


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
