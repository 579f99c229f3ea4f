"""Search speed as the store grows: 1k / 10k / 100k synthetic tracks with raw MobileNetV2-sized descriptors.

Each size gets a real SQLite store (bulk-written: one camera, tracks of N/5 synthetic people, ``--samples``
float16 embedding samples per track of 2560 global + 3 x 1280 stripe floats, some stripes invisible). Then:
index build (the first search in a process reads every embedding once, in blocks), query latency of
``search_by_track`` end to end (coarse ranking, exact re-ranking of the pool from SQLite, hit metadata), the
index's memory, and whether the top hit is the same synthetic person. Ratios between sizes show the growth.

    .venv/bin/python bench/bench_search.py --sizes 1000,10000,100000 --work /tmp/bench_search
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.identity import search  # noqa: E402
from app.store import models as m  # noqa: E402
from app.store import open_database, repo  # noqa: E402

DG, P, DP = 2560, 3, 1280
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc).replace(tzinfo=None)


def build(path: Path, n_tracks: int, samples: int, seed: int = 0) -> np.ndarray:
    """Write the store; returns (n_tracks,) the person of each track id - 1."""
    rng = np.random.default_rng(seed)
    persons = max(1, n_tracks // 5)
    # ReLU-like features: a shared positive mean plus a person-specific part plus per-sample noise
    mean_g = np.abs(rng.standard_normal(DG)).astype(np.float32)
    mean_p = np.abs(rng.standard_normal((P, DP))).astype(np.float32)
    person_of = rng.integers(0, persons, n_tracks)
    db = open_database(path)
    with db.session() as s:
        cam = repo.get_or_create_camera(s, "cam")
        src = repo.create_source(s, camera_id=cam.id, uri="synthetic", content_hash=None,
                                 start_time=T0.replace(tzinfo=timezone.utc), fps=10.0, frame_count=0, width=640,
                                 height=480, settings={})
    block = 2000
    for lo in range(0, n_tracks, block):
        ids = np.arange(lo, min(n_tracks, lo + block))
        # person centres are regenerated from their seed so that no N x D matrix is ever held
        g_rows, p_rows, tracks, embs = [], [], [], []
        for t in ids:
            prng = np.random.default_rng(int(person_of[t]) + 1_000_000 * (seed + 1))
            cg = mean_g + 0.8 * prng.standard_normal(DG).astype(np.float32)
            cp = mean_p + 0.8 * prng.standard_normal((P, DP)).astype(np.float32)
            g = cg + 0.6 * rng.standard_normal((samples, DG)).astype(np.float32)
            p = cp + 0.6 * rng.standard_normal((samples, P, DP)).astype(np.float32)
            vis = rng.random((samples, P)) > 0.2
            vis[:, 0] = True
            start = T0 + timedelta(seconds=int(t) * 7)
            tracks.append({"id": int(t) + 1, "source_id": src.id, "camera_id": cam.id, "local_id": int(t) + 1,
                           "first_frame": int(t) * 70, "last_frame": int(t) * 70 + 60, "start_time": start,
                           "end_time": start + timedelta(seconds=6), "n_obs": 60})
            for k in range(samples):
                bits = sum(1 << j for j in range(P) if vis[k, j])
                embs.append({"track_id": int(t) + 1, "frame": int(t) * 70 + k, "quality": 0.5,
                             "global_feat": g[k].astype(np.float16).tobytes(),
                             "parts": p[k].astype(np.float16).tobytes(), "visibility": bits,
                             "model_tag": "pgfa;parts=3"})
            g_rows.append(g)
            p_rows.append(p)
        with db.session() as s:
            s.execute(m.Track.__table__.insert(), tracks)
            s.execute(m.Embedding.__table__.insert(), embs)
    db.close()
    return person_of


def measure(path: Path, person_of: np.ndarray, queries: int, k: int) -> dict:
    search._INDEXES.clear()
    db = open_database(path)
    t = time.perf_counter()
    index = search.track_index(db)
    build_s = time.perf_counter() - t
    mem = index.nbytes()
    rng = np.random.default_rng(1)
    qs = rng.choice(len(person_of), queries, replace=False) + 1
    times, found, wanted = [], 0, 0
    for q in qs:
        t = time.perf_counter()
        hits = search.search_by_track(db, int(q), k=k)
        times.append(time.perf_counter() - t)
        mates = set((np.flatnonzero(person_of == person_of[q - 1]) + 1).tolist()) - {int(q)}
        found += len(mates & {h.track_id for h in hits})
        wanted += min(k, len(mates))
    agreement = float("nan")
    if not index.exact and len(person_of) <= 20_000:  # brute force over exact descriptors, for comparison
        from app.identity import descriptors as lm

        with db.session() as s:
            ids = list(range(1, len(person_of) + 1))
            parts = [search.load_descriptors(s, ids[lo:lo + 2000]) for lo in range(0, len(ids), 2000)]
        exact = lm.prepare(lm.TrackDescriptors.stack([p[1] for p in parts]))
        overlaps = []
        for q in qs:
            d = lm.prepared_distance(lm.PreparedDescriptors(exact.glob[q - 1:q], exact.parts[q - 1:q],
                                                            exact.vis[q - 1:q]), exact)[0]
            d[q - 1] = np.inf
            want = set((np.argsort(d)[:k] + 1).tolist())
            got = {h.track_id for h in search.search_by_track(db, int(q), k=k)}
            overlaps.append(len(want & got) / k)
        agreement = float(np.mean(overlaps))
    db.close()
    return {"tracks": len(person_of), "index_build_s": build_s, "index_mb": mem / 2**20, "exact": index.exact,
            "query_median_ms": 1000 * statistics.median(times), "query_p90_ms": 1000 * float(np.quantile(times, 0.9)),
            "same_person_recall": found / max(1, wanted), "topk_agreement_with_exact": agreement}


def say(text: str, flush: bool = True) -> None:
    sys.stdout.write(text + "\n")
    if flush:
        sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--samples", type=int, default=2, help="embedding samples per track (ingest keeps up to 6)")
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("-k", type=int, default=20)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_search"))
    ap.add_argument("--reuse", action="store_true", help="keep stores built by an earlier run")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results = []
    for n in (int(x) for x in args.sizes.split(",")):
        path = args.work / f"search_{n}_{args.samples}.db"
        persons_file = path.with_suffix(".npy")
        if args.reuse and path.exists() and persons_file.exists():
            person_of, write_s = np.load(persons_file), float("nan")
        else:
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                p.unlink(missing_ok=True)
            t = time.perf_counter()
            person_of = build(path, n, args.samples)
            write_s = time.perf_counter() - t
            np.save(persons_file, person_of)
        r = measure(path, person_of, args.queries, args.k)
        r["write_s"] = write_s
        r["db_mb"] = path.stat().st_size / 2**20
        results.append(r)
        say(f"{n:>7} tracks: query median {r['query_median_ms']:.1f} ms (p90 {r['query_p90_ms']:.1f}), "
              f"index build {r['index_build_s']:.1f} s, index {r['index_mb']:.1f} MiB "
              f"({'exact' if r['exact'] else 'projected + exact re-rank'}), same-person tracks found "
              f"{r['same_person_recall']:.2f}, top-{args.k} agreement with exact brute force "
              f"{r['topk_agreement_with_exact']:.2f}, store {r['db_mb']:.0f} MiB written in {write_s:.1f} s")
    say("\n| tracks | query median ms | p90 ms | x previous | index build s | index MiB | mode | same person found | "
        "top-k = exact |")
    say("|---|---|---|---|---|---|---|---|---|")
    prev = None
    for r in results:
        ratio = f"{r['query_median_ms'] / prev:.2f}" if prev else "-"
        prev = r["query_median_ms"]
        say(f"| {r['tracks']} | {r['query_median_ms']:.1f} | {r['query_p90_ms']:.1f} | {ratio} | "
              f"{r['index_build_s']:.1f} | {r['index_mb']:.1f} | {'exact' if r['exact'] else 'projected'} | "
              f"{r['same_person_recall']:.2f} | {r['topk_agreement_with_exact']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
