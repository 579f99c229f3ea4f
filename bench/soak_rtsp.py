"""Soak test of the live capture layer: N cameras for D seconds against local RTSP servers that restart.

Starts ``--cameras`` GStreamer RTSP test servers (devkit/rtsp_server.py, system Python with python3-gi)
serving the same looping video, watches them with one :class:`app.live.group.CameraGroup`, and kills and
restarts each server ``--restarts`` times on its own port (staggered, ``--down-s`` seconds down each time).
One consumer takes frames round-robin, spending ``--work-ms`` on each as a stand-in for detection.

It reports, per camera: frames received and consumed, the delivery ratio (frames received / frames the server
sent while it was up, at the video's frame rate), the lag of consumed frames (wall clock at consumption minus
capture time: p50 / p95 / max), reconnects and, for every restart, the time from the server being back to
frames flowing again; for the process: RSS over time and its growth over the second half of the run
(a leak shows as a steady slope). Usage::

    .venv/bin/python bench/soak_rtsp.py [--cameras 4] [--duration 600] [--restarts 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.live.capture import CameraCapture  # noqa: E402
from app.live.group import CameraGroup  # noqa: E402
from devkit.rtsp import RtspServer, gst_rtsp_missing, write_test_video  # noqa: E402

log = logging.getLogger("soak_rtsp")


@dataclass
class Restart:
    camera: str
    stopped_at: float  # seconds since the start of the run
    restarted_at: float
    live_at: float | None = None  # first frame again

    @property
    def recovery_s(self) -> float | None:
        return None if self.live_at is None else self.live_at - self.restarted_at


@dataclass
class CameraStats:
    lags: list[float] = field(default_factory=list)
    consumed: int = 0
    down_s: float = 0.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def restart_loop(
    servers: dict[str, RtspServer],
    group: CameraGroup,
    schedule: list[tuple[float, str]],
    down_s: float,
    t0: float,
    stop: threading.Event,
    out: list[Restart],
) -> None:
    """Kill and restart servers at the scheduled times; time how long each camera takes to come back."""
    captures = {c.name: c for c in group.captures}
    for at, name in schedule:
        if stop.wait(max(0.0, t0 + at - time.monotonic())):
            return
        before = captures[name].health.reconnects
        stopped = time.monotonic() - t0
        servers[name].stop()
        if stop.wait(down_s):
            return
        servers[name].start()
        record = Restart(name, stopped, time.monotonic() - t0)
        out.append(record)
        while not stop.is_set():
            if captures[name].health.reconnects > before:
                record.live_at = time.monotonic() - t0
                break
            time.sleep(0.02)
        log.info("%s: server down at %.1f s, back at %.1f s, frames again after %.2f s",
                 name, record.stopped_at, record.restarted_at, record.recovery_s or float("nan"))  # fmt: skip


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cameras", type=int, default=4)
    p.add_argument("--duration", type=float, default=600.0, help="seconds")
    p.add_argument("--restarts", type=int, default=2, help="server restarts per camera")
    p.add_argument("--down-s", type=float, default=3.0, help="how long a server stays down")
    p.add_argument("--video", type=Path, help="video to serve (default: a generated 320x240 25 fps clip)")
    p.add_argument("--size", default="320x240", help="served frame size WxH")
    p.add_argument("--fps", type=int, default=25, help="served frame rate")
    p.add_argument("--work-ms", type=float, default=20.0, help="consumer time per frame")
    p.add_argument("--stall-timeout", type=float, default=5.0)
    p.add_argument("--backoff-max", type=float, default=10.0)
    p.add_argument("--sample-every", type=float, default=5.0, help="seconds between RSS samples")
    p.add_argument("--json", type=Path, help="write the figures here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    reason = gst_rtsp_missing()
    if reason:
        raise SystemExit(f"soak_rtsp: {reason}")
    width, height = (int(v) for v in args.size.lower().split("x"))

    with tempfile.TemporaryDirectory(prefix="soak_rtsp_") as tmp:
        video = args.video or write_test_video(
            Path(tmp) / "clip.avi", frames=100, fps=args.fps, size=(width, height)
        )
        names = [f"cam{i + 1}" for i in range(args.cameras)]
        servers = {
            n: RtspServer(
                video, log_dir=Path(tmp), max_seconds=args.duration + 300, size=(width, height), fps=args.fps
            )
            for n in names
        }
        for s in servers.values():
            s.start()
        group = CameraGroup(
            CameraCapture(
                n, servers[n].url, stall_timeout_s=args.stall_timeout, backoff_max_s=args.backoff_max
            )
            for n in names
        )
        # Restarts spread over the run, staggered between cameras so they are not all down at once.
        schedule = sorted(
            (
                args.duration * (k + 1) / (args.restarts + 1)
                + i * args.duration / (args.restarts + 1) / (len(names) + 1),
                n,
            )
            for i, n in enumerate(names)
            for k in range(args.restarts)
        )
        schedule = [(at, n) for at, n in schedule if at + args.down_s < args.duration - 5]
        stats = {n: CameraStats() for n in names}
        restarts: list[Restart] = []
        rss: list[tuple[float, float]] = []
        stop = threading.Event()
        t0 = time.monotonic()
        restarter = threading.Thread(
            target=restart_loop, args=(servers, group, schedule, args.down_s, t0, stop, restarts), daemon=True
        )
        group.start()
        restarter.start()
        next_sample = 0.0
        try:
            while (now := time.monotonic() - t0) < args.duration:
                if now >= next_sample:
                    rss.append((round(now, 1), round(rss_mb(), 1)))
                    next_sample += args.sample_every
                frame = group.get(timeout=0.5)
                if frame is None:
                    continue
                lag = (datetime.now(timezone.utc) - frame.wall_time).total_seconds()
                st = stats[frame.camera]
                st.lags.append(lag)
                st.consumed += 1
                if args.work_ms > 0:
                    time.sleep(args.work_ms / 1000)
            rss.append((round(time.monotonic() - t0, 1), round(rss_mb(), 1)))
        finally:
            stop.set()
            restarter.join(10)
            stopped = group.stop(timeout=15)
            for s in servers.values():
                s.stop()
        health = group.health()

    elapsed = time.monotonic() - t0
    for r in restarts:
        stats[r.camera].down_s += r.restarted_at - r.stopped_at
    per_camera = {}
    for n in names:
        h, st = health[n], stats[n]
        expected = args.fps * max(1e-9, args.duration - st.down_s)
        per_camera[n] = {
            "frames_received": h.frames_received,
            "frames_consumed": st.consumed,
            "frames_dropped": h.frames_dropped,
            "delivery_ratio": round(h.frames_received / expected, 3),
            "reconnects": h.reconnects,
            "lag_p50_ms": round(1000 * percentile(st.lags, 50), 1),
            "lag_p95_ms": round(1000 * percentile(st.lags, 95), 1),
            "lag_max_ms": round(1000 * max(st.lags, default=float("nan")), 1),
            "final_state": h.state.value,
        }
    recoveries = [r.recovery_s for r in restarts if r.recovery_s is not None]
    half = [(t, m) for t, m in rss if t >= args.duration / 2]
    slope = (
        float(np.polyfit([t for t, _ in half], [m for _, m in half], 1)[0] * 60)
        if len(half) >= 3
        else float("nan")
    )
    result = {
        "cameras": args.cameras,
        "duration_s": round(elapsed, 1),
        "restarts_per_camera": args.restarts,
        "down_s": args.down_s,
        "fps": args.fps,
        "size": f"{width}x{height}",
        "work_ms": args.work_ms,
        "per_camera": per_camera,
        "restarts": [asdict(r) | {"recovery_s": r.recovery_s} for r in restarts],
        "recovery_s": {
            "count": len(recoveries),
            "missing": len(restarts) - len(recoveries),
            "median": round(percentile(recoveries, 50), 2),
            "max": round(max(recoveries, default=float("nan")), 2),
        },
        "rss_mb": {
            "start": rss[0][1],
            "end": rss[-1][1],
            "max": max(m for _, m in rss),
            "second_half_mb_per_min": round(slope, 2),
        },
        "rss_samples": rss,
        "threads_stopped_cleanly": stopped,
    }

    log.info("%-6s %9s %9s %8s %6s %8s %8s %8s %5s", "camera", "received", "consumed", "delivery", "reconn",
             "lag p50", "lag p95", "lag max", "state")  # fmt: skip
    for n, c in per_camera.items():
        log.info("%-6s %9d %9d %8.3f %6d %6.0f ms %6.0f ms %6.0f ms %5s", n, c["frames_received"], c["frames_consumed"],
                 c["delivery_ratio"], c["reconnects"], c["lag_p50_ms"], c["lag_p95_ms"], c["lag_max_ms"], c["final_state"])  # fmt: skip
    log.info("recovery after a restart (server back -> frames again): median %.2f s, max %.2f s over %d restarts (%d missing)",
             result["recovery_s"]["median"], result["recovery_s"]["max"], len(recoveries), len(restarts) - len(recoveries))  # fmt: skip
    log.info("RSS: start %.1f MB, end %.1f MB, max %.1f MB, second-half growth %.2f MB/min; threads stopped: %s",
             rss[0][1], rss[-1][1], result["rss_mb"]["max"], slope, stopped)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
        log.info("wrote %s", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
