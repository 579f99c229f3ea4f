"""Large synthetic stores for bench_search.py and bench_link.py: real SQLite stores of N tracks with raw
MobileNetV2-sized descriptors (2560 global + 3 x 1280 stripe floats, what the offline encoder stores).

People: N / 5 of them, each track a random person (so about five sightings each, some one or ten). A person's
look is a shared positive mean (ReLU-like features) plus a person part; each sample adds noise, and a stripe is
hidden in 20 % of samples. Tracks spread over ``CAMERAS`` cameras and a day: track i starts at i * 86400 / N s and
lasts 4-30 s, so busy cameras hold overlapping tracks (people known to be different).

Each track's descriptor row is the aggregate of its samples (``app.store.descriptor_table.rows_for``), written in
bulk. Samples themselves are stored for the tracks of the middle ``sample_tracks`` stretch (what linking
calibrates on) with 4 samples each; elsewhere ``samples`` per track up to ``max_sample_tracks`` tracks (disk: a
sample is 12.8 kB), and beyond that the descriptor is drawn directly from the same distribution (the aggregate of
samples nobody stored). The person of each track is saved beside the store (``.npy``). The million-track store of
docs/benchmarks.md is built with ``--max-sample-tracks 0`` (samples for the calibration stretch only: 12.5 GiB of
descriptor rows, where 2 samples a track would add 25 GiB); rows go in with ``executemany`` of the app's own
tables, 2,000 tracks a transaction (467 s for a million).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from app.store import descriptor_table as dt
from app.store import models as m
from app.store import open_database, repo
from reid_core import track_descriptors as lm

DG, P, DP = 2560, 3, 1280
CAMERAS = 20
T0 = datetime(2026, 1, 1)
TAG = "pgfa;parts=3"
PERSON_SPREAD, SAMPLE_NOISE = 0.8, 0.6


def _centres(rng_seed: int, persons: np.ndarray, mean_g: np.ndarray, mean_p: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    g = np.empty((len(persons), DG), np.float32)
    p = np.empty((len(persons), P, DP), np.float32)
    for i, person in enumerate(persons.tolist()):  # regenerated from the person's seed: no N x D matrix held
        r = np.random.default_rng(person + 1_000_003 * (rng_seed + 1))
        g[i] = mean_g + PERSON_SPREAD * r.standard_normal(DG, np.float32)
        p[i] = mean_p + PERSON_SPREAD * r.standard_normal((P, DP), np.float32)
    return g, p


def build(path: Path, n: int, *, samples: int = 2, max_sample_tracks: int = 100_000, sample_tracks: int = 3000,
          seed: int = 0, block: int = 2000, log=print) -> np.ndarray:  # noqa: ANN001
    """Write the store at ``path``; returns (n,) the person of track id i + 1."""
    rng = np.random.default_rng(seed)
    mean_g = np.abs(rng.standard_normal(DG)).astype(np.float32)
    mean_p = np.abs(rng.standard_normal((P, DP))).astype(np.float32)
    person_of = rng.integers(0, max(1, n // 5), n)
    camera_of = rng.integers(0, CAMERAS, n)
    duration = rng.uniform(4, 30, n)
    mid_lo = max(0, n // 2 - sample_tracks // 2)
    db = open_database(path)
    with db.session() as s:
        cams, srcs = [], []
        for c in range(CAMERAS):
            cam = repo.get_or_create_camera(s, f"cam{c:02d}")
            src = repo.create_source(s, camera_id=cam.id, uri=f"synthetic-{c}", content_hash=None,
                                     start_time=T0.replace(tzinfo=timezone.utc), fps=10.0, frame_count=0,
                                     width=640, height=480, settings={})
            cams.append(cam.id)
            srcs.append(src.id)
    started = time.perf_counter()
    for lo in range(0, n, block):
        ids = np.arange(lo, min(n, lo + block))
        cg, cp = _centres(seed, person_of[ids], mean_g, mean_p)
        k = np.where((ids >= mid_lo) & (ids < mid_lo + sample_tracks), 4,
                     np.where(ids < max_sample_tracks, samples, 0))
        tracks, embs = [], []
        desc_rows: list[dict] = []
        with_samples = np.flatnonzero(k > 0)
        if len(with_samples):
            owner = np.repeat(np.arange(len(with_samples)), k[with_samples])
            g = cg[with_samples][owner] + SAMPLE_NOISE * rng.standard_normal((len(owner), DG), np.float32)
            p = cp[with_samples][owner] + SAMPLE_NOISE * rng.standard_normal((len(owner), P, DP), np.float32)
            vis = rng.random((len(owner), P)) > 0.2
            first = np.concatenate([[True], owner[1:] != owner[:-1]])
            vis[first] = True  # every stripe seen in some sample
            g16, p16 = g.astype(np.float16), p.astype(np.float16)
            bits = dt._bits(vis)
            for j in range(len(owner)):
                t = int(ids[with_samples[owner[j]]]) + 1
                embs.append({"track_id": t, "frame": j, "quality": 0.5, "global_feat": g16[j].tobytes(),
                             "parts": p16[j].tobytes(), "visibility": int(bits[j]), "model_tag": TAG})
            desc = lm.aggregate_many(g16.astype(np.float32), p16.astype(np.float32), vis, owner, len(with_samples))
            desc_rows += dt.rows_for((ids[with_samples] + 1).tolist(), desc,
                                     k[with_samples].tolist(), TAG)
        direct = np.flatnonzero(k == 0)
        if len(direct):  # the aggregate of samples nobody stored: centre + the noise of a mean of `samples`
            scale = SAMPLE_NOISE / np.sqrt(samples)
            g = cg[direct] + scale * rng.standard_normal((len(direct), DG), np.float32)
            p = cp[direct] + scale * rng.standard_normal((len(direct), P, DP), np.float32)
            desc = lm.TrackDescriptors(lm._unit(g), lm._unit(p), np.ones((len(direct), P), bool))
            desc_rows += dt.rows_for((ids[direct] + 1).tolist(), desc, [samples] * len(direct), TAG)
        for t in ids.tolist():
            start = T0 + timedelta(seconds=t * 86400 / n)
            c = int(camera_of[t])
            tracks.append({"id": t + 1, "source_id": srcs[c], "camera_id": cams[c], "local_id": t + 1,
                           "first_frame": t, "last_frame": t + int(duration[t] * 10), "start_time": start,
                           "end_time": start + timedelta(seconds=float(duration[t])), "n_obs": 10})
        with db.session() as s:
            s.execute(m.Track.__table__.insert(), tracks)
            if embs:
                s.execute(m.Embedding.__table__.insert(), embs)
            s.execute(m.TrackDescriptor.__table__.insert(), desc_rows)
        if (lo // block) % 50 == 0:
            log(f"  {lo + len(ids)} / {n} tracks written ({time.perf_counter() - started:.0f} s)")
    db.close()
    np.save(path.with_suffix(".npy"), person_of)
    return person_of


def open_or_build(work: Path, n: int, *, reuse: bool, log=print, **kw) -> tuple[Path, np.ndarray, float]:  # noqa: ANN001
    """The store for ``n`` tracks in ``work`` (built unless ``reuse`` finds one): (path, persons, write seconds)."""
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"scale_{n}.db"
    if reuse and path.exists() and path.with_suffix(".npy").exists():
        return path, np.load(path.with_suffix(".npy")), float("nan")
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)
    import shutil

    shutil.rmtree(path.with_name(path.stem + ".faiss"), ignore_errors=True)
    t = time.perf_counter()
    person_of = build(path, n, log=log, **kw)
    return path, person_of, time.perf_counter() - t
