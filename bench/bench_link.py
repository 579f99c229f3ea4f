"""Linking time and memory as the store grows: a whole run from scratch, then 1,000 new tracks into it.

Stores come from ``bench/scale_store.py`` (the ones bench_search.py builds; ``--reuse`` takes them). Each size runs
in a fresh subprocess, so that ``peak_mib`` is that process's peak resident memory:

- ``index_s``: the search index brought up to date first (built when absent: linking takes its candidate pairs
  from it; ingest and search keep it current in normal use);
- ``seconds``: ``link_store`` from scratch (no identities yet): "auto" links past 3,000 tracks with the sparse
  method (``app.identity.link_sparse``);
- ``new_1000_seconds``: 1,000 more tracks (sightings of existing people, written through
  ``repo.add_embeddings`` as ingest does) linked by ``link_new_tracks`` (live cameras, new ingests into a large
  store); they are deleted again afterwards, and the index files and descriptor epoch put back as they were (the
  store is as before, so the next run does not rebuild its index). ``--new-only`` measures just this step, on the
  identities an earlier run left in the store (``seconds`` is then null).

    .venv/bin/python bench/bench_link.py --sizes 10000,100000 --reuse --json /tmp/bench_link.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import scale_store  # noqa: E402

NEW = 1000


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def add_new_tracks(path: Path, person_of: np.ndarray, rng: np.random.Generator) -> list[int]:
    """1,000 new tracks of existing people (2 samples each) through ``repo.add_embeddings``."""
    from app.store import models as m
    from app.store import open_database, repo

    n = len(person_of)
    db = open_database(path)
    mean_rng = np.random.default_rng(0)
    mean_g = np.abs(mean_rng.standard_normal(scale_store.DG)).astype(np.float32)
    mean_p = np.abs(mean_rng.standard_normal((scale_store.P, scale_store.DP))).astype(np.float32)
    people = person_of[rng.integers(0, n, NEW)]
    cg, cp = scale_store._centres(0, people, mean_g, mean_p)
    with db.session() as s:
        cams = [c.id for c in repo.list_cameras(s)]
        srcs = {x.camera_id: x.id for x in repo.list_sources(s)}
        ids = list(range(n + 1, n + NEW + 1))
        rows = []
        for i, t in enumerate(ids):
            cam = cams[i % len(cams)]
            start = scale_store.T0 + timedelta(seconds=86400 + i * 3.0)
            rows.append({"id": t, "source_id": srcs[cam], "camera_id": cam, "local_id": t, "first_frame": t,
                         "last_frame": t + 50, "start_time": start, "end_time": start + timedelta(seconds=5),
                         "n_obs": 10})
        s.execute(m.Track.__table__.insert(), rows)
        for i, t in enumerate(ids):
            g = cg[i] + scale_store.SAMPLE_NOISE * rng.standard_normal((2, scale_store.DG), np.float32)
            p = cp[i] + scale_store.SAMPLE_NOISE * rng.standard_normal((2, scale_store.P, scale_store.DP),
                                                                       np.float32)
            repo.add_embeddings(s, t, [0, 1], [0.5, 0.5], g, p, np.ones((2, scale_store.P), bool),
                                scale_store.TAG)
    db.close()
    return ids


def child(path: Path, new_only: bool = False) -> None:
    """One size, in this (fresh) process: prints one JSON object."""
    import logging
    import shutil

    from sqlalchemy import delete

    from app.config import Config
    from app.identity import ann
    from app.identity.incremental import link_new_tracks
    from app.identity.linking import link_store
    from app.store import descriptor_table, open_database
    from app.store import models as m

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    person_of = np.load(path.with_suffix(".npy"))
    db = open_database(path)
    t = time.perf_counter()
    ann.index_for(db)
    index_s = time.perf_counter() - t
    cfg = Config(db=path)
    seconds = identities = threshold = calibrated = None
    if not new_only:
        with db.session() as s:  # from scratch
            s.query(m.Match).delete()
            s.query(m.Track).update({m.Track.identity_id: None})
            s.query(m.Identity).delete()
            s.query(m.LinkRun).delete()
        t = time.perf_counter()
        summary = link_store(db, cfg, who="bench")
        seconds = time.perf_counter() - t
        identities, threshold, calibrated = summary.identities, summary.threshold, summary.calibrated
    peak_link = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    folder = ann.index_dir(db)
    saved = folder.with_name(folder.name + ".bench")
    shutil.rmtree(saved, ignore_errors=True)
    shutil.copytree(folder, saved)
    with db.session() as s:
        epoch = descriptor_table.epoch(s)
    new = add_new_tracks(path, person_of, np.random.default_rng(5))
    t = time.perf_counter()
    got = link_new_tracks(db, cfg, new)
    new_s = time.perf_counter() - t
    truth = {t: int(person_of[t - 1]) for t in range(1, len(person_of) + 1)}
    with db.session() as s:
        ident = dict(s.query(m.Track.id, m.Track.identity_id).all())
        s.execute(delete(m.Match).where(m.Match.track_b.in_(new)))
        s.execute(delete(m.TrackDescriptor).where(m.TrackDescriptor.track_id.in_(new)))
        s.execute(delete(m.Embedding).where(m.Embedding.track_id.in_(new)))
        s.execute(delete(m.Track).where(m.Track.id.in_(new)))
        row = s.get(m.Setting, descriptor_table.EPOCH_KEY)
        if row is not None:
            row.value = {"value": epoch}  # as before the new tracks
    shutil.rmtree(folder)
    saved.rename(folder)  # the index as it was: it holds exactly the store's rows again
    purity = _purity(ident, truth)
    mates = sum(1 for t, p in zip(new, _people_of_new(person_of), strict=True)
                if got[t] is not None and any(ident.get(o) == got[t] for o in _tracks_of(person_of, p)))
    purity["new_joined_own_person"] = mates / NEW
    print(json.dumps({"tracks": len(person_of), "seconds": seconds, "peak_mib": peak_link,
                      "new_1000_seconds": new_s, "index_s": index_s, "identities": identities,
                      "threshold": threshold, "calibrated": calibrated,
                      "method": "sparse" if len(person_of) > 3000 else "dense", **purity,
                      "peak_mib_with_new": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _people_of_new(person_of: np.ndarray) -> np.ndarray:
    return person_of[np.random.default_rng(5).integers(0, len(person_of), NEW)]  # as add_new_tracks drew them


def _tracks_of(person_of: np.ndarray, person: int) -> list[int]:
    return (np.flatnonzero(person_of == person) + 1).tolist()


def _purity(ident: dict, truth: dict) -> dict:
    """Pairwise precision / recall of the run's identities against the synthetic people (tracks 1..N)."""
    from collections import Counter

    pairs_same_ident = Counter((ident[t], truth[t]) for t in truth if ident.get(t) is not None)
    per_ident = Counter(i for i, _ in pairs_same_ident.elements())
    per_person = Counter(truth.values())
    tp = sum(c * (c - 1) // 2 for c in pairs_same_ident.values())
    linked = sum(c * (c - 1) // 2 for c in per_ident.values())
    same = sum(c * (c - 1) // 2 for c in per_person.values())
    return {"pair_precision": tp / max(1, linked), "pair_recall": tp / max(1, same)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_scale"))
    ap.add_argument("--reuse", action="store_true", help="take stores built by an earlier run (bench_search too)")
    ap.add_argument("--max-sample-tracks", type=int, default=100_000)
    ap.add_argument("--new-only", action="store_true",
                    help="only link 1,000 new tracks into the identities an earlier run left (needs --reuse)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.new_only)
        return
    results = []
    for n in (int(x) for x in args.sizes.split(",")):
        path, _, _ = scale_store.open_or_build(args.work, n, reuse=args.reuse, log=say,
                                               max_sample_tracks=args.max_sample_tracks)
        out = subprocess.run([sys.executable, __file__, "--child", str(path), *(["--new-only"] * args.new_only)],
                             capture_output=True, text=True)
        path.with_name(f"bench_link_{n}.log").write_text(out.stderr)  # the run's log lines
        if out.returncode != 0:
            say(out.stderr[-3000:])
            raise SystemExit(f"size {n} failed")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        say(json.dumps(r))
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    say("\n| tracks | link s | peak MiB | 1,000 new tracks s | index s | identities | pair precision / recall |")
    say("|---|---|---|---|---|---|---|")
    for r in results:
        say(f"| {r['tracks']} | {r['seconds'] or float('nan'):.1f} | {r['peak_mib']:.0f} | {r['new_1000_seconds']:.2f} | "
            f"{r['index_s']:.1f} | {r['identities']} | {r['pair_precision']:.3f} / {r['pair_recall']:.3f} |")


if __name__ == "__main__":
    main()
