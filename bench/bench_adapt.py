"""Site adaptation before / after on vtest.avi: identity IDF1, re-entry and cross-camera link P/R, separation, time.

The store must hold camera A = vtest.avi ingested from frame 0 (any length; figures use the dev ground truth of
frames 1-400) and, optionally, camera B = the same scene through ``make_camera_b`` (a different framing: 6% / 4%
cropped off each side, scaled 0.7, blurred, cooler white balance, gamma 1.15; not mirrored, unlike
bench_linking's proxy), ingested into the same store a few minutes later. The store is copied twice: one copy is
relinked as it is (before), the other is adapted with ``reidwatch adapt`` (after: re-embedded and relinked).

    .venv/bin/python bench/bench_adapt.py --make-b /tmp/camB.avi          # write camera B, then ingest it
    .venv/bin/python bench/bench_adapt.py --db STORE --work /tmp/bench_adapt --cam-a entrance --cam-b platform
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_linking import _data, evaluate, read_labels  # noqa: E402

from app.mot.files import MotTable, read_mot  # noqa: E402
from app.store import open_database, repo  # noqa: E402

CROP_X, CROP_Y, SCALE_B = 0.06, 0.04, 0.7


def make_camera_b(video: Path, out: Path) -> None:
    """Camera B: the same frames with other geometry, resolution, optics and colour."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 7.0
    writer = None
    while True:
        ok, f = cap.read()
        if not ok:
            break
        h, w = f.shape[:2]
        f = f[int(CROP_Y * h):int((1 - CROP_Y) * h), int(CROP_X * w):int((1 - CROP_X) * w)]
        f = cv2.resize(f, (int(f.shape[1] * SCALE_B), int(f.shape[0] * SCALE_B)), interpolation=cv2.INTER_AREA)
        f = cv2.GaussianBlur(f, (3, 3), 0.9)
        g = f.astype(np.float32) * np.array([1.12, 1.02, 0.82], np.float32)
        g = (255.0 * (g / 255.0).clip(0, 1) ** 1.15).clip(0, 255).astype(np.uint8)
        if writer is None:
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, (g.shape[1], g.shape[0]))
        writer.write(g)
    cap.release()
    if writer is not None:
        writer.release()


def gt_for_b(gt: MotTable, width: int, height: int) -> MotTable:
    """Camera A's ground truth as camera B sees it."""
    b = gt.boxes.copy()
    b[:, 0] = (gt.boxes[:, 0] - int(CROP_X * width)) * SCALE_B
    b[:, 1] = (gt.boxes[:, 1] - int(CROP_Y * height)) * SCALE_B
    b[:, 2:] = gt.boxes[:, 2:] * SCALE_B
    return MotTable(frames=gt.frames, ids=gt.ids, boxes=b, scores=gt.scores)


def cli(*args: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "app.cli", "-q", *args], check=True, cwd=ROOT)
    return time.perf_counter() - t


def score(db_path: Path, cam_a: str, cam_b: str | None, gt: MotTable, person: dict[int, str]) -> dict:
    db = open_database(db_path, create=False)
    with db.session() as s:
        cams = {}
        for name, key in ((cam_a, "A"), (cam_b, "B")):
            if name is None:
                continue
            src = repo.list_sources(s, repo.camera_by_name(s, name).id)[0]  # type: ignore[union-attr]
            cams[key] = (src, gt if key == "A" else gt_for_b(gt, 768, 576))
    res = evaluate(db, cams, person, "identity")
    db.close()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--make-b", type=Path, help="only write camera B's video here and stop")
    ap.add_argument("--video", type=Path, default=_data("vtest.avi"))
    ap.add_argument("--db", type=Path, help="the store (camera A, optionally camera B)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_adapt"))
    ap.add_argument("--cam-a", default="entrance")
    ap.add_argument("--cam-b", default=None)
    ap.add_argument("--gt", type=Path, default=_data("pets09-s2l1-gt-dev.txt"))
    ap.add_argument("--labels", type=Path, default=ROOT / "bench" / "vtest_persons.txt")
    ap.add_argument("--adapt-args", default="", help="extra arguments for `reidwatch adapt`")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.make_b:
        make_camera_b(args.video, args.make_b)
        print(f"wrote {args.make_b}")
        return
    if args.db is None:
        ap.error("--db is required")
    args.work.mkdir(parents=True, exist_ok=True)
    gt = read_mot(args.gt).in_frames(1, 400)
    person = read_labels(args.labels)
    before_db, after_db = args.work / "before.db", args.work / "after.db"
    for p in (before_db, after_db):
        shutil.copy(args.db, p)
        shutil.rmtree(p.parent / f"{p.stem}.models", ignore_errors=True)
    out: dict = {"link_before_s": cli("link", "--db", str(before_db))}
    out["before"] = score(before_db, args.cam_a, args.cam_b, gt, person)
    out["adapt_s"] = cli("adapt", "--db", str(after_db), *args.adapt_args.split())
    out["after"] = score(after_db, args.cam_a, args.cam_b, gt, person)
    card = sorted((args.work / "after.models").glob("adapted-*.json"))[-1]
    out["card"] = json.loads(card.read_text())
    for k in ("before", "after"):
        r, p = out[k], out[k]["pairs"]
        print(f"{k}: IDF1 A {r['idf1_A']:.3f}" + (f" B {r['idf1_B']:.3f}" if "idf1_B" in r else "") +
              "".join(f"; {c} P/R {p[c]['precision']:.2f}/{p[c]['recall']:.2f} ({p[c]['linked']}/{p[c]['same']})"
                      for c in ("reentry", "cross_camera", "all")))
    print(f"separation before {out['card']['separation_before']}, after {out['card']['separation_after']}; "
          f"adapt + re-embed + relink {out['adapt_s']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
