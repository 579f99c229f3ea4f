"""Tracking quality and speed on vtest.avi, side by side with ultralytics' own trackers.

Runs the YOLO pose detector over the video once and caches the detections (``--cache``), then
runs every tracker over the same cached detections of the whole video and scores frames
``--frames`` (default 1-400, the development ground truth) with ``app.mot.files.evaluate_tables``:

- reidwatch's ``bytetrack`` and ``deepsort`` adapters (DeepSORT fed with HSV colour histograms
  of the upper and lower body), each raw and with stitching + interpolation;
- ultralytics' ByteTrack and BoT-SORT with their stock YAML settings, fed exactly what
  ``model.track(..., tracker="bytetrack.yaml"/"botsort.yaml")`` feeds them (``--live-peers``
  runs ``model.track`` itself, detector included, to confirm that).

Speed: "track fps" counts the tracker (and features, stitching) alone; "detector fps" is measured
on ``--det-sample`` frames in the same run; "end-to-end" combines both, and "vs BT" is the ratio
to ultralytics ByteTrack's end-to-end frames/s. Usage::

    .venv/bin/python bench/bench_tracking.py [--frames 1-400] [--json OUT] [--cache PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tracking_runs import Run, postprocess, run_ours, run_ultralytics, run_ultralytics_live, score
from tracking_sweep import sensitivity, sweep_table

from trackers.types import NUM_KEYPOINTS, Detections

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

def _data(name: str) -> Path:
    from devkit.data import find_data

    return find_data(name) or Path(name)


log = logging.getLogger("bench_tracking")


@dataclass(frozen=True)
class DetectionCache:
    """Per-frame detections of a whole video plus the time the detector took per frame."""

    detections: list[Detections]
    seconds: np.ndarray  # (F,) detector wall time per frame
    meta: dict


def read_frames(video: Path, limit: int | None = None) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise SystemExit(f"cannot open {video}")
    frames = []
    while limit is None or len(frames) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def save_cache(path: Path, cache: DetectionCache) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    counts = np.array([len(d) for d in cache.detections], np.int64)
    np.savez_compressed(
        path,
        counts=counts,
        boxes=np.concatenate([d.boxes for d in cache.detections] or [np.zeros((0, 4), np.float32)]),
        scores=np.concatenate([d.scores for d in cache.detections] or [np.zeros((0,), np.float32)]),
        keypoints=np.concatenate(
            [d.keypoints for d in cache.detections] or [np.zeros((0, NUM_KEYPOINTS, 3), np.float32)]
        ),
        seconds=cache.seconds,
        meta=np.array(json.dumps(cache.meta)),
    )


def load_cache(path: Path) -> DetectionCache:
    with np.load(path) as z:
        counts = z["counts"]
        ends = np.cumsum(counts)
        starts = ends - counts
        dets = [
            Detections(boxes=z["boxes"][a:b], scores=z["scores"][a:b], keypoints=z["keypoints"][a:b])
            for a, b in zip(starts, ends, strict=True)
        ]
        return DetectionCache(dets, z["seconds"].copy(), json.loads(str(z["meta"])))


def detect_video(
    frames: list[np.ndarray], *, imgsz: int | str, conf: float, batch: int = 1
) -> DetectionCache:
    from trackers.detector import YoloPoseDetector

    detector = YoloPoseDetector(imgsz=imgsz, conf=conf)
    detector.detect(frames[0])  # warm-up, not timed
    dets: list[Detections] = []
    seconds = []
    for i in range(0, len(frames), batch):
        t0 = time.perf_counter()
        out = detector.detect_batch(frames[i : i + batch])
        dt = (time.perf_counter() - t0) / len(out)
        dets.extend(out)
        seconds.extend([dt] * len(out))
        if (i // batch) % 50 == 0:
            log.info("detected %d/%d frames (%.2f frames/s)", i + len(out), len(frames), 1 / dt)
    meta = {"weights": str(detector.weights), "imgsz": detector.imgsz, "conf": conf, "frames": len(frames)}
    return DetectionCache(dets, np.asarray(seconds), meta)


def cached_detections(
    frames: list[np.ndarray], cache: Path, *, imgsz: int | str, conf: float
) -> DetectionCache:
    if cache.is_file():
        loaded = load_cache(cache)
        if (
            loaded.meta.get("frames") == len(frames)
            and loaded.meta.get("conf") == conf
            and (imgsz == "auto" or loaded.meta.get("imgsz") == imgsz)
        ):
            log.info("detections: cached in %s", cache)
            return loaded
        log.info("detections: cache %s was made with other settings, re-running the detector", cache)
    log.info("detections: running the detector over %d frames (imgsz %s, conf %g)", len(frames), imgsz, conf)
    result = detect_video(frames, imgsz=imgsz, conf=conf)
    save_cache(cache, result)
    return result


def default_cache(imgsz: int | str, conf: float) -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("reidwatch")) / "bench" / f"vtest_pose_{imgsz}_{conf:g}.npz"


# ---------------------------------------------------------------------------------------------
# appearance features for DeepSORT and stitching


def hsv_features(frame: np.ndarray, boxes: np.ndarray, bins: tuple[int, int] = (8, 4)) -> np.ndarray:
    """(N, 2*h*s) colour descriptors: hue-saturation histograms of the torso and legs of each xyxy box.

    Torso = 15-50 % of the box height, legs = 50-90 %, both the central 60 % of the width (less
    background). Each histogram is normalised to sum 1 and square-rooted (Hellinger), so the
    cosine of two descriptors is the Bhattacharyya coefficient averaged over the two parts.
    """
    import cv2

    h_img, w_img = frame.shape[:2]
    out = np.zeros((len(boxes), 2 * bins[0] * bins[1]), np.float32)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        bw, bh = x2 - x1, y2 - y1
        parts = []
        for top, bottom in ((0.15, 0.5), (0.5, 0.9)):
            xa, xb = int(max(0, x1 + 0.2 * bw)), int(min(w_img, x2 - 0.2 * bw))
            ya, yb = int(max(0, y1 + top * bh)), int(min(h_img, y1 + bottom * bh))
            if xb - xa < 2 or yb - ya < 2:
                parts.append(np.zeros(bins[0] * bins[1], np.float32))
                continue
            hsv = cv2.cvtColor(frame[ya:yb, xa:xb], cv2.COLOR_BGR2HSV)
            hist = cv2.calcHist([hsv], [0, 1], None, list(bins), [0, 180, 0, 256]).reshape(-1)
            parts.append(np.sqrt(hist / max(hist.sum(), 1.0)))
        out[i] = np.concatenate(parts) / np.sqrt(2.0)
    return out


# ---------------------------------------------------------------------------------------------
# runners: each returns the per-frame rows, the per-row appearance (or None) and the seconds spent


def time_detector(frames: list[np.ndarray], *, imgsz: int | str, conf: float, sample: int) -> float:
    """Detector seconds per frame over ``sample`` frames spread over the video (after one warm-up)."""
    from trackers.detector import YoloPoseDetector

    detector = YoloPoseDetector(imgsz=imgsz, conf=conf)
    picks = np.linspace(0, len(frames) - 1, sample).astype(int)
    detector.detect(frames[picks[0]])
    t0 = time.perf_counter()
    for i in picks:
        detector.detect(frames[i])
    return (time.perf_counter() - t0) / sample


def markdown_table(results: list[dict]) -> str:
    head = "| tracker | MOTA | IDF1 | HOTA | IDSW | FP | FN | MOTA (strict) | ids (all frames) | track fps | end-to-end fps | vs BT |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['mota']:.3f} | {r['idf1']:.3f} | {r['hota']:.3f} | {r['idsw']} | {r['fp']} | {r['fn']} | "
            f"{r['mota_strict']:.3f} | {r['ids_all']} | {r['track_fps']:.0f} | {r['e2e_fps']:.2f} | {r['vs_bt']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from app.mot.files import parse_frame_range, read_mot
    from trackers.bytetrack import ByteTrackConfig, ByteTrackTracker
    from trackers.deepsort import DeepSortConfig, DeepSortTracker
    from trackers.stitch import StitchConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=_data("vtest.avi"))
    parser.add_argument("--gt", type=Path, default=_data("pets09-s2l1-gt-dev.txt"))
    parser.add_argument("--frames", default="1-400", help="scored frame range (default 1-400)")
    parser.add_argument(
        "--cache", type=Path, default=None, help="detections cache (.npz; default in the user cache dir)"
    )
    parser.add_argument(
        "--imgsz", default="1280", help="detector input size or 'auto' (default 1280, the peers' setting)"
    )
    parser.add_argument("--conf", type=float, default=0.1)
    parser.add_argument(
        "--det-sample", type=int, default=20, help="frames timed for the detector-alone speed"
    )
    parser.add_argument(
        "--live-peers", action="store_true", help="also run ultralytics model.track (detector included)"
    )
    parser.add_argument("--detect-only", action="store_true", help="only build the detections cache")
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    parser.add_argument(
        "--sweep", action="store_true", help="also print the sensitivity of the default to its settings"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("ultralytics", "trackers", "app"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    imgsz = args.imgsz if args.imgsz == "auto" else int(args.imgsz)
    first, last = parse_frame_range(args.frames)
    cache_path = args.cache or default_cache(imgsz, args.conf)
    frames = read_frames(args.video)
    cache = cached_detections(frames, cache_path, imgsz=imgsz, conf=args.conf)
    if args.detect_only:
        return 0
    dets = cache.detections
    gt = read_mot(args.gt)

    t0 = time.perf_counter()
    feats = [hsv_features(f, d.boxes) for f, d in zip(frames, dets, strict=True)]
    feat_seconds = time.perf_counter() - t0
    det_spf = (
        time_detector(frames, imgsz=imgsz, conf=args.conf, sample=args.det_sample)
        if args.det_sample
        else float(np.median(cache.seconds))
    )
    stitch_cfg = StitchConfig()
    max_gap = stitch_cfg.max_gap

    runs: list[tuple[str, Run, float]] = []  # name, run, extra seconds (features, post-processing)
    bt = run_ultralytics("bytetrack.yaml", frames, dets)
    runs.append(("ultralytics ByteTrack", bt, 0.0))
    runs.append(("ultralytics BoT-SORT", run_ultralytics("botsort.yaml", frames, dets), 0.0))
    ours_bt = run_ours(ByteTrackTracker(ByteTrackConfig()), frames, dets, feats)
    runs.append(("reidwatch bytetrack", ours_bt, 0.0))
    rows, sec = postprocess(ours_bt, stitch_cfg, max_gap)
    runs.append(
        ("reidwatch bytetrack + stitch + interp", Run(rows, None, ours_bt.seconds), sec + feat_seconds)
    )
    rows, sec = postprocess(Run(ours_bt.rows, None, 0.0), stitch_cfg, max_gap)
    runs.append(
        ("reidwatch bytetrack + stitch (motion only) + interp", Run(rows, None, ours_bt.seconds), sec)
    )
    ours_ds = run_ours(DeepSortTracker(DeepSortConfig()), frames, dets, feats)
    runs.append(("reidwatch deepsort (HSV)", ours_ds, feat_seconds))
    rows, sec = postprocess(ours_ds, stitch_cfg, max_gap)
    runs.append(
        ("reidwatch deepsort (HSV) + stitch + interp", Run(rows, None, ours_ds.seconds), sec + feat_seconds)
    )
    if args.live_peers:
        for name in ("bytetrack.yaml", "botsort.yaml"):
            live = run_ultralytics_live(name, args.video, last, imgsz=imgsz, conf=args.conf)
            runs.append((f"ultralytics model.track {name} (live, detector in time)", live, -1.0))

    n = len(frames)
    bt_e2e = n / (n * det_spf + bt.seconds)
    results = []
    for name, run, extra in runs:
        track_seconds = run.seconds + max(extra, 0.0)
        e2e = n / (n * det_spf + track_seconds) if extra >= 0 else last / run.seconds
        results.append(
            {
                "name": name,
                **score(run.rows, gt, (first, last)),
                "ids_all": int(len(np.unique(run.rows.ids))),
                "track_fps": n / track_seconds if extra >= 0 else float("nan"),
                "e2e_fps": e2e,
                "vs_bt": e2e / bt_e2e,
            }
        )
    sys.stdout.write(
        f"vtest.avi: {n} frames, {sum(len(d) for d in dets)} detections (imgsz {cache.meta.get('imgsz')}, conf "
        f"{args.conf}); scored frames {first}-{last} against {args.gt.name}\n"
        f"detector alone: {1 / det_spf:.2f} frames/s ({args.det_sample} frames timed); HSV features "
        f"{n / feat_seconds:.0f} frames/s\n\n"
    )
    sys.stdout.write(markdown_table(results) + "\n")
    sweep = sensitivity(frames, dets, feats, gt, (first, last)) if args.sweep else []
    if sweep:
        sys.stdout.write(
            "\nsensitivity of reidwatch bytetrack + stitch + interp (one setting changed at a time):\n\n"
        )
        sys.stdout.write(sweep_table(sweep) + "\n")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"frames": [first, last], "detector_fps": 1 / det_spf, "results": results, "sweep": sweep},
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
