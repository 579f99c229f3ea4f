"""Soak of the whole live pipeline: N cameras against local RTSP servers that restart and freeze at random.

Real GStreamer RTSP servers on 127.0.0.1 (devkit/rtsp_server.py) serve vtest.avi (people walking) in a loop;
one :class:`app.live.monitor.LiveMonitor`, built by the product's :class:`app.runtime.Runtime` with the real
YOLO11n-pose detector and the PGFA encoder (MobileNetV2) on CPU, watches them all and writes a real SQLite
store, with live linking on. While it runs:

* each camera's server is, at random times, stopped and started again (down 2-30 s) or frozen with SIGSTOP
  and thawed with SIGCONT (a stream that stalls without closing);
* ``--slow-ms`` makes the frame callback of the first camera slow (a UI that cannot keep up);
* ``--relink-every`` runs ``reidwatch link`` in another process on the same store (an operator relinking).

Reported (markdown on stdout, everything in ``--json``): per camera the delivery ratio (frames received /
frames the server sent while up), the processing lag (callback time minus capture time, p50 / p95 / max), and
per fault the recovery time (server back -> frames again -> rows stored again); for the process the RSS over
time and its slope over the second half, rows lost (observations the processors produced minus rows in the
store; must be 0), duplicate (track, frame) pairs, ``PRAGMA integrity_check``, failed flushes (retried) and
crashes (the monitor raising; must be 0). Usage::

    .venv/bin/python bench/soak_live.py [--minutes 30] [--cameras 4] [--seed 1] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.config import Config, DetectorConfig, EncoderConfig  # noqa: E402
from app.live.health import CameraState  # noqa: E402
from app.live.monitor import CameraSpec  # noqa: E402
from app.live.options import LiveOptions  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from app.store import open_database  # noqa: E402
from devkit.data import find_data  # noqa: E402
from devkit.rtsp import RtspServer, gst_rtsp_missing  # noqa: E402

log = logging.getLogger("soak_live")


@dataclass
class Fault:
    camera: str
    kind: str  # restart | freeze
    at: float  # planned start, seconds since the run began
    length_s: float
    began: float | None = None
    back: float | None = None  # server started again / thawed
    frames_again: float | None = None
    rows_again: float | None = None  # first observation stored with a capture time after ``back``

    @property
    def recovery_s(self) -> float | None:
        return None if self.frames_again is None or self.back is None else self.frames_again - self.back

    @property
    def rows_recovery_s(self) -> float | None:
        return None if self.rows_again is None or self.back is None else self.rows_again - self.back


def plan_faults(names: list[str], duration_s: float, rng: random.Random, gap_s: float = 45.0) -> list[Fault]:
    """Random restarts (down 2, 8 or 30 s, or 2-30 s) and freezes (3-10 s) per camera, ``gap_s`` apart."""
    faults = []
    for i, name in enumerate(names):
        t = 25.0 + i * gap_s / max(1, len(names))
        while True:
            t += rng.uniform(0.6, 1.4) * gap_s
            if rng.random() < 0.6:
                length = rng.choice([2.0, 8.0, 30.0, rng.uniform(2, 30)])
                kind = "restart"
            else:
                length, kind = rng.uniform(3, 10), "freeze"
            if t + length + 30 > duration_s:
                break
            faults.append(Fault(name, kind, round(t, 1), round(length, 1)))
            t += length
    return sorted(faults, key=lambda f: f.at)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stored_after(db_path: Path, camera: str, after: datetime) -> bool:
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        stamp = after.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
        return con.execute(
            "SELECT 1 FROM observations o JOIN tracks t ON t.id = o.track_id JOIN cameras c ON c.id = t.camera_id "
            "WHERE c.name = ? AND o.t > ? LIMIT 1", (camera, stamp)).fetchone() is not None
    finally:
        con.close()


def run_faults(faults: list[Fault], servers: dict[str, RtspServer], monitor, db_path: Path, t0: float,
               stop: threading.Event, duration_s: float) -> None:
    for f in faults:
        if stop.wait(max(0.0, t0 + f.at - time.monotonic())):
            return
        if time.monotonic() - t0 + f.length_s + 30 > duration_s:
            return  # delayed by slow recoveries: too late to see this one recover within the run
        srv = servers[f.camera]
        f.began = time.monotonic() - t0
        if f.kind == "restart":
            srv.stop()
        else:
            srv.pause()
        if stop.wait(f.length_s):
            srv.resume() if f.kind == "freeze" else srv.start()
            return
        if f.kind == "restart":
            srv.start()
        else:
            srv.resume()
        back_wall = datetime.now(timezone.utc)
        f.back = time.monotonic() - t0
        received = monitor.health()[f.camera].frames_received
        while not stop.is_set() and time.monotonic() - t0 - f.back < 120:
            h = monitor.health()[f.camera]
            if f.frames_again is None and h.state == CameraState.LIVE and h.frames_received > received \
                    and h.last_frame_time is not None and h.last_frame_time > back_wall:
                f.frames_again = time.monotonic() - t0
            if f.rows_again is None and stored_after(db_path, f.camera, back_wall):
                f.rows_again = time.monotonic() - t0
            if f.frames_again is not None and f.rows_again is not None:
                break
            time.sleep(0.2)
        log.info("%s %s %.1f s at %.0f s: frames again after %s s, rows after %s s", f.camera, f.kind, f.length_s,
                 f.began, _r(f.recovery_s), _r(f.rows_recovery_s))


def _r(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def relink_loop(db_path: Path, every_s: float, stop: threading.Event, out: list[int]) -> None:
    while not stop.wait(every_s):
        proc = subprocess.run([sys.executable, "-m", "app.cli", "-q", "link", "--db", str(db_path)],
                              capture_output=True, text=True, cwd=ROOT)
        out.append(proc.returncode)
        if proc.returncode != 0:
            log.warning("relink exited %d: %s", proc.returncode, proc.stderr.strip()[-300:])


def check_store(db_path: Path) -> dict[str, object]:
    con = sqlite3.connect(db_path)
    try:
        return {
            "integrity": con.execute("PRAGMA integrity_check").fetchone()[0],
            "observations": con.execute("SELECT count(*) FROM observations").fetchone()[0],
            "tracks": con.execute("SELECT count(*) FROM tracks").fetchone()[0],
            "duplicate_track_frame": con.execute(
                "SELECT count(*) FROM (SELECT track_id, frame FROM observations GROUP BY track_id, frame "
                "HAVING count(*) > 1)").fetchone()[0],
            "duplicate_local_ids": con.execute(
                "SELECT count(*) FROM (SELECT source_id, local_id FROM tracks GROUP BY source_id, local_id "
                "HAVING count(*) > 1)").fetchone()[0],
            "per_camera": dict(con.execute(
                "SELECT c.name, count(*) FROM observations o JOIN tracks t ON t.id = o.track_id "
                "JOIN cameras c ON c.id = t.camera_id GROUP BY c.name").fetchall()),
        }
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--cameras", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--size", default="384x288", help="served frame size WxH")
    p.add_argument("--fps", type=int, default=10, help="served frame rate")
    p.add_argument("--imgsz", type=int, default=320, help="detector input size")
    p.add_argument("--slow-ms", type=float, default=150.0, help="extra time in the first camera's frame callback")
    p.add_argument("--relink-every", type=float, default=180.0, help="seconds between `reidwatch link` runs")
    p.add_argument("--video", type=Path, help="video to serve (default: vtest.avi, people walking)")
    p.add_argument("--json", type=Path)
    p.add_argument("--keep", type=Path, help="keep the store here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("ultralytics", "app.identity", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    reason = gst_rtsp_missing()
    if reason:
        raise SystemExit(f"soak_live: {reason}")
    video = args.video or find_data("vtest.avi")
    if video is None:
        raise SystemExit("soak_live: vtest.avi not found (see devkit/data.py)")
    duration = args.minutes * 60
    w, h = (int(v) for v in args.size.lower().split("x"))
    names = [f"cam{i + 1}" for i in range(args.cameras)]
    faults = plan_faults(names, duration, random.Random(args.seed))
    errors: list[str] = []

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            errors.append(record.getMessage()[:300])

    counter = Count(logging.ERROR)
    logging.getLogger().addHandler(counter)

    with tempfile.TemporaryDirectory(prefix="soak_live_") as tmp:
        db_path = args.keep or Path(tmp) / "soak.db"
        servers = {n: RtspServer(video, log_dir=Path(tmp), max_seconds=duration + 600, size=(w, h), fps=args.fps)
                   for n in names}
        for s in servers.values():
            s.start()
        cfg = Config(db=db_path, device="cpu", detector=DetectorConfig(imgsz=args.imgsz),
                     encoder=EncoderConfig(backbone="mobilenetv2"))
        db = open_database(db_path)
        lags: dict[str, list[float]] = {n: [] for n in names}

        def on_frame(camera: str, frame, tracks) -> None:
            lags[camera].append((datetime.now(timezone.utc) - frame.wall_time).total_seconds())
            if camera == names[0] and args.slow_ms > 0:
                time.sleep(args.slow_ms / 1000)

        options = LiveOptions(stall_timeout_s=3.0, backoff_initial_s=0.5, backoff_max_s=4.0, flush_interval_s=2.0,
                              link_interval_s=20.0)
        monitor = Runtime(cfg).live_monitor(db, [CameraSpec(n, servers[n].url) for n in names], options=options,
                                            on_frame=on_frame)
        stop = threading.Event()
        rss: list[tuple[float, float]] = []
        relinks: list[int] = []
        t0 = time.monotonic()

        def sample() -> None:
            while not stop.wait(10):
                rss.append((round(time.monotonic() - t0, 1), round(rss_mb(), 1)))

        threads = [threading.Thread(target=run_faults, args=(faults, servers, monitor, db_path, t0, stop, duration),
                                    daemon=True),
                   threading.Thread(target=sample, daemon=True)]
        if args.relink_every > 0:
            threads.append(threading.Thread(target=relink_loop, args=(db_path, args.relink_every, stop, relinks),
                                            daemon=True))
        for t in threads:
            t.start()
        crashes = 0
        try:
            stats = monitor.run(duration)
        except Exception:
            log.exception("the monitor crashed")
            crashes += 1
            stats = monitor.stats
        finally:
            stop.set()
            for t in threads:
                t.join(30)
            for s in servers.values():
                s.stop()
        elapsed = time.monotonic() - t0
        health = monitor.health()
        db.close()
        store = check_store(db_path)

    produced = {n: st.observations for n, st in stats.cameras.items()}
    per_camera = {}
    for n in names:
        cam_faults = [f for f in faults if f.camera == n and f.began is not None]
        down = sum((f.back or elapsed) - (f.began or 0) for f in cam_faults)
        st = stats.cameras[n]
        per_camera[n] = {
            "frames_processed": st.frames, "observations_produced": produced[n],
            "observations_stored": store["per_camera"].get(n, 0), "tracks": st.tracks,
            "lag_p50_ms": round(1000 * float(np.percentile(lags[n], 50)), 0) if lags[n] else None,
            "lag_p95_ms": round(1000 * float(np.percentile(lags[n], 95)), 0) if lags[n] else None,
            "lag_max_ms": round(1000 * max(lags[n]), 0) if lags[n] else None,
            "faults": len(cam_faults), "down_s": round(down, 1),
            "frames_received": health[n].frames_received if n in health else None,
            "delivery_ratio": round(health[n].frames_received / max(1e-9, args.fps * (elapsed - down)), 3)
            if n in health else None,
        }
    half = [(t, m) for t, m in rss if t >= elapsed / 2]
    slope = float(np.polyfit([t for t, _ in half], [m for _, m in half], 1)[0] * 60) if len(half) >= 3 else float("nan")
    done = [f for f in faults if f.back is not None]
    result = {
        "minutes": round(elapsed / 60, 1), "cameras": args.cameras, "fps": args.fps, "size": args.size,
        "imgsz": args.imgsz, "slow_ms": args.slow_ms, "seed": args.seed, "per_camera": per_camera,
        "faults": [asdict(f) | {"recovery_s": f.recovery_s, "rows_recovery_s": f.rows_recovery_s} for f in done],
        "recovered": sum(f.frames_again is not None and f.rows_again is not None for f in done),
        "rows_lost": sum(produced.values()) - store["observations"], "crashes": crashes, "errors_logged": len(errors),
        "error_samples": errors[:10], "relinks": relinks, "store": {k: v for k, v in store.items() if k != "per_camera"},
        "rss_mb": {"start": rss[0][1] if rss else None, "end": rss[-1][1] if rss else None,
                   "second_half_mb_per_min": round(slope, 2)},
        "rss_samples": rss,
    }
    print_report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0 if result["rows_lost"] == 0 and crashes == 0 and store["integrity"] == "ok" else 1


def print_report(r: dict) -> None:
    print(f"\n{r['cameras']} cameras, {r['minutes']} min, {r['size']} at {r['fps']} fps, detector imgsz {r['imgsz']}")
    print("| camera | delivery | frames processed | rows produced / stored | tracks | lag p50 / p95 / max | faults (down) |")
    print("|---|---|---|---|---|---|---|")
    for n, c in r["per_camera"].items():
        print(f"| {n} | {c['delivery_ratio']} | {c['frames_processed']} | {c['observations_produced']} / {c['observations_stored']} | "
              f"{c['tracks']} | {c['lag_p50_ms']} / {c['lag_p95_ms']} / {c['lag_max_ms']} ms | "
              f"{c['faults']} ({c['down_s']} s) |")
    print("\n| camera | fault | length | frames again after | rows again after |")
    print("|---|---|---|---|---|")
    for f in r["faults"]:
        print(f"| {f['camera']} | {f['kind']} at {f['began']:.0f} s | {f['length_s']} s | {_r(f['recovery_s'])} s | "
              f"{_r(f['rows_recovery_s'])} s |")
    print(f"\nrecovered {r['recovered']}/{len(r['faults'])}; rows lost {r['rows_lost']}; crashes {r['crashes']}; "
          f"errors logged {r['errors_logged']}; store {r['store']}; relinks {r['relinks']}; RSS {r['rss_mb']}")


if __name__ == "__main__":
    sys.exit(main())
