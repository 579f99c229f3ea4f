"""A smaller, softer recording of the scene: reidwatch's product path against ultralytics ByteTrack at 1280.

A stand-in for issue 15's held-back file (576x432, people about 60 px, slightly soft). It uses vtest.avi frames
0..N-1 resized by ``--scale`` and blurred, with the dev ground truth scaled alike. reidwatch runs as a user runs
it: ``reidwatch ingest`` (extra arguments after ``--``), then ``export-mot --ids track``. ultralytics runs
``model.track(imgsz=1280, tracker="bytetrack.yaml")`` with its defaults. Both are scored on frames 1..N.

    .venv/bin/python bench/bench_small_recording.py --work /tmp/small [--peer] [-- --imgsz 1280]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.mot.files import MotScores, MotTable, evaluate_tables, read_mot  # noqa: E402


def _data(name: str) -> Path:
    for base in (ROOT.parent / "shared" / "data", ROOT / "tests" / "data", Path("/usr/share/opencv4/samples/data")):
        if (base / name).exists():
            return base / name
    raise SystemExit(f"{name} not found")


def make_clip(video: Path, out: Path, frames: int, scale: float, blur: float) -> None:
    """The first ``frames`` frames of ``video``, resized by ``scale`` and blurred (sigma ``blur``), as MJPG."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    writer = None
    for _ in range(frames):
        ok, f = cap.read()
        if not ok:
            break
        f = cv2.resize(f, (round(f.shape[1] * scale), round(f.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        if blur > 0:
            f = cv2.GaussianBlur(f, (3, 3), blur)
        if writer is None:
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 7.0, (f.shape[1], f.shape[0]))
        writer.write(f)
    cap.release()
    if writer is not None:
        writer.release()


def run_reidwatch(clip: Path, work: Path, extra: list[str]) -> Path:
    db, out = work / "reidwatch.db", work / "reidwatch.txt"
    db.unlink(missing_ok=True)
    rw = [sys.executable, "-m", "app.cli"]
    subprocess.run([*rw, "ingest", str(clip), "--camera", "small", "--fps", "7", "--db", str(db), "--no-progress",
                    "--start", "2026-01-01T09:00:00", *extra], check=True, cwd=ROOT)
    subprocess.run([*rw, "-q", "export-mot", "--camera", "small", "--ids", "track", "--out", str(out),
                    "--db", str(db)], check=True, cwd=ROOT)
    return out


def run_ultralytics(clip: Path, work: Path, weights: Path) -> Path:
    from ultralytics import YOLO

    rows = []
    model = YOLO(str(weights))
    for i, res in enumerate(model.track(source=str(clip), imgsz=1280, tracker="bytetrack.yaml", stream=True,
                                        verbose=False)):
        if res.boxes is None or res.boxes.id is None:
            continue
        for b, t, c in zip(res.boxes.xyxy.numpy(), res.boxes.id.numpy(), res.boxes.conf.numpy(), strict=True):
            rows.append(f"{i + 1},{int(t)},{b[0]:.1f},{b[1]:.1f},{b[2] - b[0]:.1f},{b[3] - b[1]:.1f},{c:.3f},-1,-1,-1")
    out = work / "ultralytics.txt"
    out.write_text("\n".join(rows) + "\n")
    return out


def line(name: str, r: MotScores) -> str:
    return (f"| {name} | {r.mota:.3f} | {r.idf1:.3f} | {r.hota:.3f} | {r.id_switches} | {r.false_positives} | "
            f"{r.false_negatives} | {r.recall:.3f} / {r.precision:.3f} |")


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=400, help="frames from the start (the dev ground truth: 400)")
    ap.add_argument("--scale", type=float, default=0.75)
    ap.add_argument("--blur", type=float, default=0.8, help="Gaussian sigma; 0 = sharp")
    ap.add_argument("--peer", action="store_true", help="also run ultralytics ByteTrack at 1280")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.work.mkdir(parents=True, exist_ok=True)
    clip = args.work / f"small-{args.scale:g}-{args.blur:g}.avi"
    if not clip.exists():
        make_clip(_data("vtest.avi"), clip, args.frames, args.scale, args.blur)
    gt = read_mot(_data("pets09-s2l1-gt-dev.txt")).in_frames(1, args.frames)
    gt = MotTable(frames=gt.frames, ids=gt.ids, boxes=gt.boxes * np.float64(args.scale), scores=gt.scores)
    results = {f"reidwatch {' '.join(extra) or 'defaults'}": run_reidwatch(clip, args.work, extra)}
    if args.peer:
        from trackers.detector import resolve_pose_weights

        results["ultralytics ByteTrack, imgsz 1280"] = run_ultralytics(clip, args.work, resolve_pose_weights(None)[0])
    print("| method | MOTA | IDF1 | HOTA | IDSW | FP | FN | recall / precision |\n|---|---|---|---|---|---|---|---|")
    scores = {}
    for name, path in results.items():
        scores[name] = evaluate_tables(read_mot(path), gt, (1, args.frames))
        print(line(name, scores[name]))
    if args.json:
        args.json.write_text(json.dumps({k: dataclasses.asdict(v) for k, v in scores.items()}, indent=2, default=float))


if __name__ == "__main__":
    main()
