"""Store growth and cost of keeping training crops for live cameras (issue 10), side by side in one run.

vtest.avi is processed as a live camera would be (``CameraProcessor`` with wall-clock frame times, no video
kept): every frame is detected once and the same detections are fed to two processors writing two SQLite stores,
one keeping ``--crops`` training crops per track (``[ingest] keep_crops = "live"``, the default for live
cameras) and one keeping none. Reported: tracks, crops, JPEG bytes per crop and per track, the stores' sizes and
their difference, that growth per hour of this (busy) camera, and the processors' milliseconds per frame (next
to the detector's, which dominates a frame's cost).

    .venv/bin/python bench/bench_training_crops.py --json /tmp/crops.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.config import Config  # noqa: E402
from app.ingest.pipeline import CameraProcessor  # noqa: E402
from app.runtime.components import build_tracker  # noqa: E402
from app.store import open_database, repo  # noqa: E402
from app.store.crops import crop_stats  # noqa: E402
from devkit.data import find_data  # noqa: E402
from reid_core.weights import build_encoder  # noqa: E402
from trackers.detector import YoloPoseDetector  # noqa: E402

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def _processor(path: Path, encoder: object, crops: int, fps: float) -> tuple[CameraProcessor, object]:
    db = open_database(path)
    with db.session() as s:
        cam = repo.get_or_create_camera(s, "door", kind="rtsp", url_redacted="rtsp://127.0.0.1:8554/door")
        src = repo.create_source(s, camera_id=cam.id, uri="rtsp://127.0.0.1:8554/door", content_hash=None,
                                 start_time=T0, fps=0.0, frame_count=0, width=0, height=0, settings={"live": True})
    proc = CameraProcessor(db=db, camera_id=cam.id, source_id=src.id, tracker=build_tracker(Config(), fps),
                           encoder=encoder, close_after_s=Config().tracker.close_after_s,
                           training_crops=crops)  # type: ignore[arg-type]
    return proc, db


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=None, help="default: vtest.avi")
    ap.add_argument("--frames", type=int, default=0, help="at most this many frames (0: all)")
    ap.add_argument("--fps", type=float, default=7.0, help="the camera's true frame rate (vtest.avi: 7)")
    ap.add_argument("--crops", type=int, default=Config().ingest.training_crops)
    ap.add_argument("--imgsz", default="960")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    video = args.video or find_data("vtest.avi")
    if video is None:
        sys.exit("vtest.avi not found (see devkit/data.py)")
    detector = YoloPoseDetector(imgsz=int(args.imgsz) if args.imgsz.isdigit() else args.imgsz, device="cpu")
    encoder = build_encoder(None, backbone="auto", device="cpu")
    tmp = Path(tempfile.mkdtemp(prefix="bench-crops-"))
    runs = {"crops": _processor(tmp / "crops.db", encoder, args.crops, args.fps),
            "none": _processor(tmp / "none.db", encoder, 0, args.fps)}
    ms: dict[str, list[float]] = {k: [] for k in runs}
    det_ms: list[float] = []
    cap = cv2.VideoCapture(str(video))
    i = 0
    while not args.frames or i < args.frames:
        ok, frame = cap.read()
        if not ok:
            break
        t1 = time.perf_counter()
        dets = detector.detect(frame)
        det_ms.append((time.perf_counter() - t1) * 1e3)
        t = T0 + timedelta(seconds=i / args.fps)
        for name in (list(runs) if i % 2 == 0 else list(runs)[::-1]):  # alternate order: drift hits both alike
            proc = runs[name][0]
            t1 = time.perf_counter()
            proc.process(i, frame, dets, t)
            if i % 25 == 24:
                proc.flush(i + 1)
            ms[name].append((time.perf_counter() - t1) * 1e3)
        i += 1
    cap.release()
    out: dict[str, object] = {"video": video.name, "frames": i, "fps": args.fps, "crops_per_track": args.crops,
                              "minutes": round(i / args.fps / 60, 2),
                              "detect_ms_per_frame_median": round(statistics.median(det_ms), 1)}
    for name, (proc, db) in runs.items():
        assert proc.close_all(i, status="complete")
        with db.session() as s:
            stats = crop_stats(s)
            tracks = len(repo.list_tracks(s))
        db.engine.dispose()
        from app.privacy.retention import reclaim_space

        reclaim_space(db)  # checkpoint the write-ahead log: sizes compare files, not logs
        out[name] = {"tracks": tracks, "crops": stats.crops, "jpeg_bytes": stats.jpeg_bytes,
                     "store_bytes": db.size_bytes(), "ms_per_frame_median": round(statistics.median(ms[name]), 2),
                     "ms_per_frame_mean": round(statistics.fmean(ms[name]), 2)}
    c, n = out["crops"], out["none"]
    assert isinstance(c, dict) and isinstance(n, dict)
    hours = i / args.fps / 3600
    out["growth_bytes"] = c["store_bytes"] - n["store_bytes"]
    out["growth_per_track"] = round(out["growth_bytes"] / max(1, c["tracks"]))
    out["jpeg_per_crop"] = round(c["jpeg_bytes"] / max(1, c["crops"]))
    out["growth_mb_per_hour"] = round(out["growth_bytes"] / hours / 1e6, 1)
    out["store_mb_per_hour_with"] = round(c["store_bytes"] / hours / 1e6, 1)
    out["store_mb_per_hour_without"] = round(n["store_bytes"] / hours / 1e6, 1)
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
