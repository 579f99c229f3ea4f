"""Search speed and quality as the store grows: FAISS over the descriptor table, exact eq. 8 re-ranking.

Each size gets a real SQLite store from ``bench/scale_store.py`` (synthetic people, raw MobileNetV2-sized
descriptors, 20 cameras over a day). Then, per size:

- ``build_s``: the index built from the descriptor table and saved beside the store (X.faiss/);
- ``first_query_s``: a fresh process (a subprocess) opens the store and answers one ``search_by_track``: the
  saved index is loaded, not rebuilt (``memory_mib``: what that process's resident memory grew by);
- ``median_ms`` / ``p95_ms``: ``search_by_track`` end to end (k = 20), ``filtered_*``: with a one-camera filter
  (1 of 20) and with a two-hour window;
- ``recall_at_20``: a person's own tracks in the top 20, as a share of those that exact eq. 8 over every
  descriptor (brute force, streamed from the table) puts in its top 20.

    .venv/bin/python bench/bench_search.py --sizes 10000,100000 --json /tmp/bench_search.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.identity import ann, search  # noqa: E402
from app.store import descriptor_table as dt  # noqa: E402
from app.store import open_database  # noqa: E402
from app.store.records import as_utc  # noqa: E402
from bench import scale_store  # noqa: E402
from reid_core import track_descriptors as lm  # noqa: E402

FRESH = """
import sys, time, resource
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
from app.identity import search
from app.store import open_database
def rss():
    return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) / 1024
base = rss()
t1 = time.perf_counter()
db = open_database({path!r})
hits = search.search_by_track(db, {query}, k=20)
t2 = time.perf_counter()
print(t2 - t1, rss() - base, t2 - t0, len(hits))
"""


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def exact_top(db, queries: list[int], k: int) -> dict[int, list[int]]:  # noqa: ANN001
    """Brute-force eq. 8 top ``k`` of each query over every descriptor, one streamed pass over the table."""
    with db.session() as s:
        _, qd = dt.load(s, queries)
        prepared_q = lm.prepare(qd)
        best_d = np.full((len(queries), 0), np.inf, np.float32)
        best_t = np.zeros((len(queries), 0), np.int64)
        for _, tids, d, _ in dt.iter_blocks(s, block=20_000):
            dist = lm.prepared_distance(prepared_q, lm.prepare(d))
            dist[np.array(queries)[:, None] == tids[None, :]] = np.inf
            cat_d = np.concatenate([best_d, dist], axis=1)
            cat_t = np.concatenate([best_t, np.broadcast_to(tids, dist.shape)], axis=1)
            top = np.argsort(cat_d, axis=1, kind="stable")[:, :k]
            best_d, best_t = np.take_along_axis(cat_d, top, 1), np.take_along_axis(cat_t, top, 1)
    return {q: best_t[i].tolist() for i, q in enumerate(queries)}


def measure(path: Path, person_of: np.ndarray, queries: int, k: int) -> dict:
    db = open_database(path)
    ann.forget(db)
    t = time.perf_counter()
    index = ann.index_for(db)
    build_s = time.perf_counter() - t
    rng = np.random.default_rng(1)
    qs = (rng.choice(len(person_of), queries, replace=False) + 1).tolist()
    out = subprocess.run([sys.executable, "-c", FRESH.format(root=str(ROOT), path=str(path), query=qs[0])],
                         capture_output=True, text=True, check=True)
    first_s, mem, total_s, _ = (float(x) for x in out.stdout.split())
    times, filtered, windowed, got = [], [], [], {}
    for q in qs:
        t = time.perf_counter()
        got[q] = [h.track_id for h in search.search_by_track(db, q, k=k)]
        times.append(time.perf_counter() - t)
        cam = f"cam{(q * 7) % scale_store.CAMERAS:02d}"
        t = time.perf_counter()
        search.search_by_track(db, q, k=k, cameras=[cam])
        filtered.append(time.perf_counter() - t)
        t_mid = as_utc(scale_store.T0) + timedelta(seconds=float(rng.uniform(0, 86400)))
        t = time.perf_counter()
        search.search_by_track(db, q, k=k, t_from=t_mid, t_to=t_mid + timedelta(hours=2))
        windowed.append(time.perf_counter() - t)
    exact = exact_top(db, qs, k)
    own_ann = own_exact = 0
    for q in qs:
        mates = set((np.flatnonzero(person_of == person_of[q - 1]) + 1).tolist()) - {q}
        own_ann += len(mates & set(got[q]))
        own_exact += len(mates & set(exact[q]))
    db.close()
    ms = lambda xs, p: 1000 * float(np.quantile(xs, p))  # noqa: E731
    return {"tracks": len(person_of), "median_ms": 1000 * statistics.median(times), "p95_ms": ms(times, 0.95),
            "filtered_median_ms": 1000 * statistics.median(filtered), "filtered_p95_ms": ms(filtered, 0.95),
            "window_median_ms": 1000 * statistics.median(windowed), "window_p95_ms": ms(windowed, 0.95),
            "recall_at_20": own_ann / max(1, own_exact), "first_query_s": first_s,
            "first_query_with_imports_s": total_s, "build_s": build_s, "memory_mib": mem,
            "index_kind": index.meta.get("kind"), "index_mib": sum(
                p.stat().st_size for p in ann.index_dir(db).iterdir()) / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("-k", type=int, default=20)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_scale"))
    ap.add_argument("--reuse", action="store_true", help="keep stores built by an earlier run (bench_link too)")
    ap.add_argument("--max-sample-tracks", type=int, default=100_000,
                    help="tracks that get stored samples (beyond, descriptors only; see scale_store.py)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    results = []
    for n in (int(x) for x in args.sizes.split(",")):
        path, person_of, write_s = scale_store.open_or_build(args.work, n, reuse=args.reuse, log=say,
                                                             max_sample_tracks=args.max_sample_tracks)
        r = measure(path, person_of, args.queries, args.k)
        r["write_s"] = write_s
        r["store_mib"] = path.stat().st_size / 2**20
        results.append(r)
        say(json.dumps(r))
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    say("\n| tracks | median ms | p95 ms | camera filter median / p95 ms | 2 h window median / p95 ms | "
        "recall@20 vs exact | first query s (fresh process) | index build s | memory MiB | store MiB |")
    say("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        say(f"| {r['tracks']} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | {r['filtered_median_ms']:.1f} / "
            f"{r['filtered_p95_ms']:.1f} | {r['window_median_ms']:.1f} / {r['window_p95_ms']:.1f} | "
            f"{r['recall_at_20']:.3f} | {r['first_query_s']:.2f} | {r['build_s']:.1f} | {r['memory_mib']:.0f} | "
            f"{r['store_mib']:.0f} |")


if __name__ == "__main__":
    main()
