"""Frames/s of the reidwatch ingest pipeline next to ultralytics' own tracking, side by side in one run.

Runs on the same video, frames and detector settings (YOLO11n-pose, same weights, same imgsz and conf):
  detect      detection alone (the ceiling for any tracker using this detector)
  ul-bytetrack ultralytics model.track(tracker="bytetrack.yaml")
  ul-botsort  ultralytics model.track(tracker="botsort.yaml")
  reidwatch   app.ingest.job.ingest_video: detection + tracking + best-sample PGFA embeddings + SQLite writes
Each method runs ``--rounds`` times in alternating order (ABCD DCBA ...) so drift on a shared machine
hits all of them alike; the median is reported with the ratio to ultralytics ByteTrack.

    .venv/bin/python bench/bench_pipeline.py --frames 120 --rounds 2 --json /tmp/pipeline.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.ingest.job import ingest_video  # noqa: E402
from app.store import open_database  # noqa: E402
from devkit.data import find_data  # noqa: E402
from reid_core.weights import build_encoder  # noqa: E402
from trackers.detector import YoloPoseDetector  # noqa: E402
from trackers.registry import make_tracker  # noqa: E402


def cut_video(src: Path, dst: Path, n: int) -> tuple[list, float]:
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    frames = []
    writer = None
    while len(frames) < n:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
        if writer is None:
            writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"MJPG"), fps, f.shape[1::-1])
        writer.write(f)
    writer.release()
    return frames, fps


def run_detect(det: YoloPoseDetector, frames: list) -> float:
    t = time.perf_counter()
    for f in frames:
        det.detect(f)
    return len(frames) / (time.perf_counter() - t)


def run_ultralytics(det: YoloPoseDetector, frames: list, tracker: str) -> float:
    from ultralytics import YOLO

    model = YOLO(str(det.weights), task="pose")
    size = det.imgsz_for(frames[0].shape)
    model.predict(frames[0], imgsz=size, verbose=False, device=det.device)  # warm-up, fuse
    t = time.perf_counter()
    for f in frames:
        model.track(f, persist=True, tracker=tracker, imgsz=size, conf=det.conf, classes=[0], verbose=False,
                    device=det.device)
    return len(frames) / (time.perf_counter() - t)


def run_reidwatch(det: YoloPoseDetector, encoder, video: Path, n: int, fps: float, tmp: Path, i: int) -> float:
    db = open_database(tmp / f"bench{i}.db")
    t = time.perf_counter()
    ingest_video(db, video, camera="bench", detector=det, tracker=make_tracker("bytetrack"), encoder=encoder,
                 start=datetime(2026, 1, 1, tzinfo=timezone.utc), fps=fps)
    dt = time.perf_counter() - t
    db.close()
    return n / dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(find_data("vtest.avi") or "vtest.avi"))
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    frames, fps = cut_video(Path(args.video), tmp / "clip.avi", args.frames)
    det = YoloPoseDetector(device=args.device)
    encoder = build_encoder(None, device=det.device)
    det.detect(frames[0])  # warm-up
    methods = {
        "detect": lambda i: run_detect(det, frames),
        "ul-bytetrack": lambda i: run_ultralytics(det, frames, "bytetrack.yaml"),
        "ul-botsort": lambda i: run_ultralytics(det, frames, "botsort.yaml"),
        "reidwatch": lambda i: run_reidwatch(det, encoder, tmp / "clip.avi", len(frames), fps, tmp, i),
    }
    names = list(methods)
    results: dict[str, list[float]] = {k: [] for k in names}
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            results[name].append(methods[name](r))
            print(f"round {r + 1} {name:13s} {results[name][-1]:6.2f} frames/s", flush=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    base = med["ul-bytetrack"]
    print(f"\n{len(frames)} frames of {Path(args.video).name}, imgsz {det.imgsz_for(frames[0].shape)}, "
          f"conf {det.conf}, device {det.device}, encoder {getattr(encoder, 'weights_info', None)}")
    print("| method | frames/s (median) | x ultralytics ByteTrack |\n|---|---|---|")
    for k in names:
        print(f"| {k} | {med[k]:.2f} | {med[k] / base:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"frames": len(frames), "device": det.device, "runs": results,
                                               "median": med}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
