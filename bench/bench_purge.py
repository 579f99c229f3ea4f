"""Retention purge on a large store: how long purging half of a 100k-track store takes, and the space it returns.

A real SQLite store is bulk-written (one camera per ``--cameras``, tracks of 30 s one after another, each with
``--obs`` observations with keypoints, ``--emb`` float16 embedding samples of MobileNetV2 size (2560 global +
3 x 1280 stripes) and a JPEG-sized thumbnail; identities of 4 tracks each, some watched or held). Then
``reidwatch purge`` runs in a subprocess with a cut half way through the store's time span, and the store is
checked (``--fraction`` moves the cut): exactly the tracks before the cut are gone except those of watched or held identities, the file
shrank, the audit chain holds.

    .venv/bin/python bench/bench_purge.py --tracks 100000 --work /tmp/bench_purge
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.store import open_database  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
TRACK_S = 30.0


def _ts(dt: datetime) -> str:
    return dt.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def build(path: Path, tracks: int, obs: int, emb: int, cameras: int, seed: int = 0) -> dict[str, int]:
    """Bulk-write the store with sqlite3 (the schema comes from open_database: migrations, triggers)."""
    open_database(path).close()
    rng = np.random.default_rng(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    now = _ts(datetime.now(timezone.utc))
    for c in range(cameras):
        con.execute("INSERT INTO cameras (name, kind, created_at) VALUES (?, 'file', ?)", (f"cam{c}", now))
        con.execute("INSERT INTO sources (camera_id, uri, start_time, fps, frame_count, width, height, status, "
                    "frames_done, settings, created_at) VALUES (?, ?, ?, 10, 0, 1920, 1080, 'complete', 0, '{}', ?)",
                    (c + 1, f"/videos/cam{c}.mp4", _ts(T0), now))
    n_ident = tracks // 4
    protected = {"watch": set(range(1, n_ident + 1, 97)), "hold": set(range(2, n_ident + 1, 101))}
    con.executemany("INSERT INTO identities (id, name, watch, created_at, hold, hold_reason) VALUES (?, NULL, ?, ?, ?, ?)",
                    [(i, int(i in protected["watch"]), now, int(i in protected["hold"]),
                      "bench" if i in protected["hold"] else None) for i in range(1, n_ident + 1)])
    kps = rng.random((17, 3), np.float32).tobytes()
    g = rng.standard_normal(2560).astype(np.float16).tobytes()
    p = rng.standard_normal((3, 1280)).astype(np.float16).tobytes()
    thumb = rng.integers(0, 255, 6000, np.uint8).tobytes()
    block = 5000
    for lo in range(0, tracks, block):
        t_rows, o_rows, e_rows = [], [], []
        for tid in range(lo + 1, min(tracks, lo + block) + 1):
            cam = (tid - 1) % cameras
            k = (tid - 1) // cameras
            start = T0 + timedelta(seconds=k * TRACK_S)
            f0 = int(k * TRACK_S * 10)
            t_rows.append((tid, cam + 1, cam + 1, tid, None, (tid - 1) // 4 + 1 if (tid - 1) // 4 < n_ident else None,
                           f0, f0 + int(TRACK_S * 10) - 1, _ts(start), _ts(start + timedelta(seconds=TRACK_S - 0.1)),
                           obs, thumb))
            for j in range(obs):
                o_rows.append((tid, f0 + j * 3, _ts(start + timedelta(seconds=j * 0.3)), 100.0, 100.0, 160.0, 260.0,
                               0.9, kps, 0))
            for j in range(emb):
                e_rows.append((tid, f0 + j * 10, 0.5, g, p, 7, "pgfa;bench"))
        con.executemany("INSERT INTO tracks (id, source_id, camera_id, local_id, stay_id, identity_id, first_frame, "
                        "last_frame, start_time, end_time, n_obs, thumbnail) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", t_rows)
        con.executemany("INSERT INTO observations (track_id, frame, t, x1, y1, x2, y2, score, keypoints, predicted) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?)", o_rows)
        con.executemany("INSERT INTO embeddings (track_id, frame, quality, global_feat, parts, visibility, model_tag) "
                        "VALUES (?,?,?,?,?,?,?)", e_rows)
        con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return {"identities": n_ident, "watched": len(protected["watch"]), "held": len(protected["hold"])}


def expected_left(path: Path, cut: datetime) -> int:
    """Tracks a correct purge keeps: those ending at or after the cut, and any of watched or held identities."""
    con = sqlite3.connect(path)
    n = con.execute("SELECT count(*) FROM tracks t LEFT JOIN identities i ON i.id = t.identity_id "
                    "WHERE t.end_time >= ? OR i.watch = 1 OR i.hold = 1", (_ts(cut),)).fetchone()[0]
    con.close()
    return int(n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=100_000)
    ap.add_argument("--obs", type=int, default=20, help="observations per track")
    ap.add_argument("--emb", type=int, default=2, help="embedding samples per track")
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--fraction", type=float, default=0.5, help="share of the time span before the cut (0.5)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_purge"))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    db = args.work / "purge.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    t = time.perf_counter()
    facts = build(db, args.tracks, args.obs, args.emb, args.cameras)
    build_s = time.perf_counter() - t
    size0 = db.stat().st_size
    per_cam = -(-args.tracks // args.cameras)
    cut = T0 + timedelta(seconds=per_cam * TRACK_S * args.fraction)
    keep = expected_left(db, cut)
    days = (datetime.now(timezone.utc) - cut).total_seconds() / 86400
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "app.cli", "-q", "purge", "--older-than", f"{days:.9f}", "--db",
                           str(db), "--json", "--who", "bench"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    purge_s = time.perf_counter() - t
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr, file=sys.stderr)
        return 1
    out = json.loads(proc.stdout)
    con = sqlite3.connect(db)
    left = con.execute("SELECT count(*) FROM tracks").fetchone()[0]
    orphans = con.execute("SELECT (SELECT count(*) FROM observations WHERE track_id NOT IN (SELECT id FROM tracks))"
                          " + (SELECT count(*) FROM embeddings WHERE track_id NOT IN (SELECT id FROM tracks))").fetchone()[0]
    con.close()
    verify = subprocess.run([sys.executable, "-m", "app.cli", "-q", "audit", "verify", "--db", str(db)], cwd=ROOT,
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    result = {
        "tracks": args.tracks, "observations": args.tracks * args.obs, "embeddings": args.tracks * args.emb,
        **facts, "build_s": round(build_s, 1), "store_mb_before": round(size0 / 1e6, 1),
        "purge_wall_s": round(purge_s, 1), "purge_reported_s": out["seconds"], "vacuum_s": out["vacuum_seconds"], "tracks_deleted": out["tracks_deleted"],
        "kept_watched_or_held": out["kept_watched_or_held"], "tracks_left": left, "tracks_expected_left": keep,
        "orphans": orphans, "store_mb_after": round(db.stat().st_size / 1e6, 1), "vacuum": out["vacuum"],
        "audit_verify": verify.stdout.strip(),
    }
    print(json.dumps(result, indent=2))
    return 0 if left == keep and orphans == 0 and verify.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
