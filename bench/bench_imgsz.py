"""Detection recall of the automatic input size against fixed sizes, on vtest.avi at several scales.

For each scale of the video (frames resized), every fixed input size and ``auto`` (sizes following the
people found, tiles for large frames) run over the same frames; recall and precision are counted against the
PETS ground truth (scaled alike), IoU >= 0.5, detections with score >= 0.25. ``auto`` starts cold at each
scale (a new detector), so its probing frames count too. Prints a markdown table, and the sizes auto chose.

    .venv/bin/python bench/bench_imgsz.py --scales 0.5,0.75,1,2.5 --step 10 --engine openvino
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devkit.data import GT_DEV, find_data  # noqa: E402
from devkit.detection_eval import mosaics, read_gt, recall, recall_on, scaled_frames  # noqa: E402
from trackers.detector import YoloPoseDetector  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(find_data("vtest.avi") or "vtest.avi"))
    ap.add_argument("--gt", default=str(find_data(GT_DEV) or GT_DEV))
    ap.add_argument("--scales", default="0.5,0.75,1,2.5")
    ap.add_argument("--sizes", default="640,960,1280,1600,1920")
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--last", type=int, default=400)
    ap.add_argument("--step", type=int, default=10)
    ap.add_argument("--engine", default="openvino")
    ap.add_argument("--mosaic", action="store_true",
                    help="also 2x2 mosaics of the 1x frames (1536x1152, people as small as in 1x): tiling")
    ap.add_argument("--json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("trackers.imgsz").setLevel(logging.INFO)
    gt = read_gt(Path(args.gt))
    numbers = range(args.first, args.last + 1, args.step)
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[str, dict[str, list[float]]] = {}
    chosen: dict[str, str] = {}
    for scale in [float(s) for s in args.scales.split(",") if s and s != "none"]:
        frames = scaled_frames(Path(args.video), numbers, scale)
        h, w = frames[0][1].shape[:2]
        row: dict[str, list[float]] = {}
        for setting in [*sizes, "auto"]:
            det = YoloPoseDetector(device="cpu", imgsz=setting, engine=args.engine)

            def run(image, det=det):  # type: ignore[no-untyped-def]
                found = det.detect(image)
                return found.boxes, found.scores

            t = time.perf_counter()
            r, p = recall(run, frames, gt, scale)
            dt = (time.perf_counter() - t) / len(frames)
            row[str(setting)] = [r, p, dt]
            if setting == "auto":
                plan = det.plan_for(frames[-1][1].shape)
                chosen[f"{scale}"] = plan.reason
            print(f"scale {scale} ({w}x{h}) {setting}: recall {r:.3f} precision {p:.3f} {dt:.2f} s/frame", flush=True)
        results[str(scale)] = row
    if args.mosaic:
        images, truths = mosaics(scaled_frames(Path(args.video), numbers, 1.0), gt)
        row = {}
        for setting in [*sizes, "auto"]:
            det = YoloPoseDetector(device="cpu", imgsz=setting, engine=args.engine)

            def run_m(image, det=det):  # type: ignore[no-untyped-def]
                found = det.detect(image)
                return found.boxes, found.scores

            t = time.perf_counter()
            r, p = recall_on(run_m, images, truths)
            row[str(setting)] = [r, p, (time.perf_counter() - t) / len(images)]
            if setting == "auto":
                chosen["mosaic"] = det.plan_for(images[-1].shape).reason
            print(f"mosaic {setting}: recall {r:.3f} precision {p:.3f} {row[str(setting)][2]:.2f} s/frame",
                  flush=True)
        results["mosaic"] = row
    print(f"\n{len(numbers)} frames ({args.first}-{args.last} step {args.step}), engine {args.engine}; "
          "recall / precision (IoU >= 0.5, score >= 0.25)\n")
    head = [*map(str, sizes), "auto"]
    print("| scale | " + " | ".join(head) + " | auto - best fixed |")
    print("|---" * (len(head) + 2) + "|")
    for scale, row in results.items():
        best = max(row[str(s)][0] for s in sizes)
        cells = [f"{row[k][0]:.3f} / {row[k][1]:.3f}" for k in head]
        label = scale if scale == "mosaic" else f"{scale}x"
        print(f"| {label} | " + " | ".join(cells) + f" | {row['auto'][0] - best:+.3f} |")
    print()
    for scale, why in chosen.items():
        print(f"- {scale if scale == 'mosaic' else f'{scale}x'}: {why}")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "auto": chosen}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
