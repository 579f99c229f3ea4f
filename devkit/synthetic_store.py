"""A real SQLite store filled with synthetic people, for linking, search and decision tests.

Each identity has a centre vector per feature (global, each stripe); a sample is centre + noise. A stripe marked
invisible carries a vector from nobody (an occluder), so only visibility-aware distances ignore it. In each
camera, identity k's j-th stay starts at ``offset + j * 300 + k * 25`` seconds and lasts 60 s: identities k and
k+1 overlap in time (different people for certain), the same identity re-enters 240 s later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from app.store import Database, open_database, repo
from app.store.records import ObservationRecord

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
FPS = 10.0
KPS = np.zeros((17, 3), np.float32)


@dataclass(frozen=True)
class SyntheticStore:
    """A store of synthetic tracks with known truth: which person each track is, and each person's
    descriptor centres."""

    db: Database
    truth: dict[int, int]  # track id -> person index
    cameras: tuple[str, ...]
    centres: dict[str, np.ndarray]  # "global" (K, Dg), "parts" (K, P, Dp)
    t0: datetime = T0

    def tracks_of(self, person: int) -> list[int]:
        """The track ids of one person, sorted."""
        return sorted(t for t, p in self.truth.items() if p == person)


def add_track(db: Database, *, camera: str, start_s: float, duration_s: float, global_feat: np.ndarray,
              parts: np.ndarray, visibility: np.ndarray, first_box=(100.0, 100.0, 140.0, 200.0),
              last_box=(300.0, 120.0, 340.0, 220.0), local_id: int | None = None, tag: str | None = None) -> int:
    """One track with two observations (first and last frame) and the given embedding samples, stored under the
    model ``tag`` (default: a plain PGFA tag with the samples' number of stripes)."""
    with db.session() as s:
        cam = repo.get_or_create_camera(s, camera)
        sources = repo.list_sources(s, cam.id)
        src = sources[0] if sources else repo.create_source(
            s, camera_id=cam.id, uri=f"/videos/{camera}.avi", content_hash=None, start_time=T0, fps=FPS,
            frame_count=100_000, width=640, height=480, settings={})
        f0, f1 = round(start_s * FPS), round((start_s + duration_s) * FPS)
        local = local_id if local_id is not None else repo.max_local_id(s, src.id) + 1
        tid = repo.create_track(s, source_id=src.id, camera_id=cam.id, local_id=local, frame=f0,
                                t=T0 + timedelta(seconds=f0 / FPS))
        repo.add_observations(s, [
            ObservationRecord(tid, f, T0 + timedelta(seconds=f / FPS), box, 0.9, KPS, False)
            for f, box in ((f0, first_box), (f1, last_box))])
        n = len(global_feat)
        frames = np.linspace(f0, f1, n).round().astype(int).tolist()
        repo.add_embeddings(s, tid, frames, [0.5] * n, global_feat, parts, visibility,
                            tag or f"pgfa;parts={np.shape(parts)[1]}")
        repo.set_thumbnail(s, tid, b"\xff\xd8jpeg-of-" + str(tid).encode())
    return tid


def build_store(path: Path, *, persons: int = 5, stays: int = 2, cameras: tuple[str, ...] = ("A", "B"),
                samples: int = 4, dg: int = 64, parts: int = 3, dp: int = 32, noise: float = 0.35,
                hidden_rate: float = 0.25, seed: int = 0) -> SyntheticStore:
    rng = np.random.default_rng(seed)
    # orthogonal centres: every two people are equally far apart
    cg = np.linalg.qr(rng.standard_normal((dg, persons)))[0].T.astype(np.float32)
    cp = np.stack([np.linalg.qr(rng.standard_normal((dp, persons)))[0].T for _ in range(parts)], axis=1)
    cp = cp.astype(np.float32)
    db = open_database(path)
    truth: dict[int, int] = {}
    for ci, cam in enumerate(cameras):
        for j in range(stays):
            for k in range(persons):
                g = cg[k] + noise * rng.standard_normal((samples, dg)) / np.sqrt(dg) * 2
                p = cp[k] + noise * rng.standard_normal((samples, parts, dp)) / np.sqrt(dp) * 2
                vis = rng.random((samples, parts)) > hidden_rate
                vis[0] = True  # every stripe seen at least once
                occluder = rng.standard_normal((samples, parts, dp))
                p = np.where(vis[:, :, None], p, occluder)
                start = ci * 1000 + j * 300 + k * 25
                tid = add_track(db, camera=cam, start_s=start, duration_s=60, global_feat=g.astype(np.float32),
                                parts=p.astype(np.float32), visibility=vis)
                truth[tid] = k
    return SyntheticStore(db, truth, cameras, {"global": cg, "parts": cp})


def identity_groups(db: Database, track_ids: list[int]) -> dict[int, int | None]:
    """track id -> stored identity id."""
    with db.session() as s:
        return {t.id: t.identity_id for t in repo.list_tracks(s, ids=track_ids)}
