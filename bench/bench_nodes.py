"""Camera nodes on one machine: frames/s and cameras served by 1, 2 and 3 `reidwatch watch --node` processes on
one PostgreSQL store, what each node costs (memory, CPU), and the failover time after a SIGKILL.

Starts ``--cameras`` loopback GStreamer RTSP servers (devkit/rtsp_server.py) serving a small clip of two people
who walk out of view and back, and a throwaway PostgreSQL server (devkit/postgres.py). For each node count it
registers the cameras in a fresh database (``reidwatch camera add``), starts the nodes, waits until every camera
is held and live, then measures for ``--seconds``: frames processed per camera (the lease rows' counters, which
``reidwatch camera list`` shows), each node's resident memory and CPU time (psutil). With more than one node it
then kills the node holding the most cameras (SIGKILL) and times how long until all of its cameras are held by the
others and processing frames again. Usage::

    .venv/bin/python bench/bench_nodes.py [--cameras 6] [--nodes 1,2,3] [--seconds 30] [--json OUT]

Everything shares this machine's cores, so the figures measure the per-node cost and the CPU cap, not scaling:
on a site each node is its own machine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.nodes.registry import add_camera, registered_cameras  # noqa: E402
from app.store import open_database  # noqa: E402
from devkit.data import find_data  # noqa: E402
from devkit.postgres import PostgresServer  # noqa: E402
from devkit.rtsp import RtspServer, gst_rtsp_missing  # noqa: E402

CONFIG = ('[detector]\nimgsz = 320\nengine = "torch"\n[encoder]\nbackbone = "mobilenetv2"\nengine = "torch"\n'
          '[tracker]\nmemory_s = 1.0\n')


def walking_clip(path: Path, fps: float) -> Path:
    """Two people in view for 4 s, then an empty scene for 6 s (tracks close after 4 s unseen)."""
    found = find_data("basketball1.png")
    if found is None:
        raise SystemExit("basketball1.png not found (Debian's opencv-doc; see devkit/data.py)")
    base = cv2.imread(str(found))
    if base is None:
        raise SystemExit(f"cannot read {found}")
    h, w = base.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (w, h))
    n_in, n_out = int(4 * fps), int(6 * fps)
    for i in range(n_in):
        shift = np.array([[1, 0, 50 * i / n_in - 25], [0, 1, 0]], dtype=np.float32)
        writer.write(cv2.warpAffine(base, shift, (w, h), borderMode=cv2.BORDER_REPLICATE))
    for _ in range(n_out):
        writer.write(np.full_like(base, 128))
    writer.release()
    return path


def tree_usage(proc: psutil.Process) -> tuple[float, float]:
    """(RSS in MiB, CPU seconds) of a process and its children."""
    rss, cpu = 0.0, 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            rss += p.memory_info().rss / 2**20
            t = p.cpu_times()
            cpu += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return rss, cpu


def wait(pred: Callable[[], bool], timeout: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(0.5)
    return None


def run_nodes(pg: PostgresServer, urls: list[str], n_nodes: int, seconds: float, work: Path) -> dict:
    db_url = pg.url()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REIDWATCH_FILES": str(work / f"files{n_nodes}")}
    db = open_database(db_url)
    for i, url in enumerate(urls):
        env[f"BENCH_CAM{i}"] = url
        add_camera(db, f"cam{i}", f"env:BENCH_CAM{i}")
    config = work / "config.toml"
    config.write_text(CONFIG)
    procs: dict[str, subprocess.Popen] = {}
    out: dict = {"nodes": n_nodes, "cameras": len(urls)}
    try:
        for k in range(n_nodes):
            name = f"node{k + 1}"
            log = (work / f"{n_nodes}-{name}.log").open("w")
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "--config", str(config), "watch", "--node", name, "--db", db_url,
                 "--device", "cpu", "--poll-interval", "2", "--link-interval", "10"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            log.close()
        t0 = time.monotonic()

        def all_live() -> bool:
            cams = registered_cameras(db)
            return all(c.node is not None and c.health == "live" and c.frames > 0 for c in cams)

        ready = wait(all_live, 300)
        out["start_to_all_live_s"] = None if ready is None else round(time.monotonic() - t0, 1)
        time.sleep(6)  # past the first frames' one-off costs
        before = {c.name: c.frames for c in registered_cameras(db)}
        usage0 = {n: tree_usage(psutil.Process(p.pid)) for n, p in procs.items()}
        t1 = time.monotonic()
        time.sleep(seconds)
        after = registered_cameras(db)
        usage1 = {n: tree_usage(psutil.Process(p.pid)) for n, p in procs.items()}
        dt = time.monotonic() - t1
        per_node: dict[str, dict] = {}
        for n in procs:
            cams = [c for c in after if c.node == n]
            frames = sum(c.frames - before.get(c.name, 0) for c in cams)
            per_node[n] = {"cameras": len(cams), "frames_per_s": round(frames / dt, 2),
                           "rss_mib": round(usage1[n][0]), "cpu_cores": round((usage1[n][1] - usage0[n][1]) / dt, 2)}
        out["per_node"] = per_node
        out["cameras_served"] = sum(1 for c in after if c.node is not None)
        out["frames_per_s"] = round(sum(v["frames_per_s"] for v in per_node.values()), 2)
        if n_nodes > 1:
            victim = max(per_node, key=lambda n: per_node[n]["cameras"])
            moved = {c.name for c in after if c.node == victim}
            frames_at_kill = {c.name: c.frames for c in after}
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait()
            t_kill = time.monotonic()

            def taken_over() -> bool:
                now = {c.name: c for c in registered_cameras(db)}
                return all(now[m].node not in (None, victim) and now[m].health == "live" and now[m].frames > 0
                           and now[m].frames != frames_at_kill.get(m) for m in moved)

            took = wait(taken_over, 90)
            out["failover"] = {"killed": victim, "cameras": sorted(moved),
                               "seconds": None if took is None else round(time.monotonic() - t_kill, 1)}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(90)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        db.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=6)
    ap.add_argument("--nodes", default="1,2,3", help="node counts to run, comma-separated")
    ap.add_argument("--seconds", type=float, default=30.0, help="measurement window per node count")
    ap.add_argument("--fps", type=int, default=5, help="frames/s each camera sends")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if reason := gst_rtsp_missing():
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-nodes-"))
    clip = walking_clip(work / "walk.avi", args.fps)
    servers = [RtspServer(clip, log_dir=work, size=(320, 240), fps=args.fps, max_seconds=3600)
               for _ in range(args.cameras)]
    results = []
    try:
        urls = [srv.start() for srv in servers]
        with PostgresServer() as pg:
            for n in (int(x) for x in args.nodes.split(",")):
                res = run_nodes(pg, urls, n, args.seconds, work)
                results.append(res)
                print(json.dumps(res), flush=True)
    finally:
        for srv in servers:
            srv.stop()
    print(f"\n{args.cameras} cameras at {args.fps} frames/s each, 320x240, imgsz 320, torch on CPU "
          f"({os.cpu_count()} cores); logs in {work}\n")
    print("| nodes | cameras served | frames/s (all) | per node: cameras, frames/s, RSS MiB, CPU cores | "
          "start -> all live | failover after SIGKILL |")
    print("|---|---|---|---|---|---|")
    for r in results:
        nodes = "; ".join(f"{v['cameras']} cam, {v['frames_per_s']} f/s, {v['rss_mib']} MiB, {v['cpu_cores']}"
                          for v in r["per_node"].values())
        fo = r.get("failover")
        fo_text = "-" if fo is None else f"{fo['seconds']} s ({len(fo['cameras'])} cameras)"
        print(f"| {r['nodes']} | {r['cameras_served']} | {r['frames_per_s']} | {nodes} | "
              f"{r['start_to_all_live_s']} s | {fo_text} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
