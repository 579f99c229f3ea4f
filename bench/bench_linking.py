"""Identity linking on vtest.avi (PETS09-S2L1) with a cross-camera proxy, measured against ground truth.

Camera A is vtest.avi itself (frames 0..end-1). Camera B is a proxy: frames ``--b-range`` of the same video,
mirrored, scaled by 0.8 and re-coloured (gamma 0.8, warmer), written with cv2.VideoWriter, starting 3 minutes
after camera A: the same people "seen later by another camera". Both go through the real pipeline
(``reidwatch ingest``, once; ``--reuse`` keeps the store), then the stays are stitched and linking is re-run for
each variant. Scores:

- identity IDF1 per camera: ``export-mot --ids identity`` rows against the ground truth whose ids are merged per
  real person (``bench/vtest_persons.txt``), so an unlinked re-entry costs IDF1; the tracker alone (track ids)
  is the baseline;
- pairwise linking over tracks matched to ground truth (IoU >= 0.5 on most of their boxes): re-entry pairs
  (one camera, different ground-truth stays), cross-camera pairs, and all pairs of different stays;
  precision = share of linked pairs that are the same person, recall = share of same-person pairs linked.

    .venv/bin/python bench/bench_linking.py --work /tmp/bench_link            # dev ground truth: frames 1-400
    .venv/bin/python bench/bench_linking.py --work /tmp/full --gt FULL_GT.txt --end 795 --b-range 400:795
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _data(name: str) -> Path:
    """A sample file found by devkit.data (../shared/data, opencv-doc, ...), else the bare name."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from devkit.data import find_data

    return find_data(name) or Path(name)


from app.config import Config, LinkConfig  # noqa: E402
from app.identity.incremental import stitch_source  # noqa: E402
from app.identity.linking import link_store  # noqa: E402
from app.mot.export import mot_rows  # noqa: E402
from app.mot.files import MotTable, box_iou_ltwh, evaluate_tables, read_mot  # noqa: E402
from app.store import models as m  # noqa: E402
from app.store import open_database, repo  # noqa: E402

SCALE_B = 0.8
START_A = datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)
START_B = START_A + timedelta(minutes=3)


def read_labels(path: Path) -> dict[int, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            gid, person = line.split()
            out[int(gid)] = person
    return out


def make_camera_b(video: Path, out: Path, first: int, last: int, fps: float) -> tuple[int, int]:
    import cv2

    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, first)
    lut = np.clip(((np.arange(256) / 255.0) ** 0.8) * 255, 0, 255).astype(np.uint8)
    writer, size = None, (0, 0)
    for _ in range(first, last):
        ok, frame = cap.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        size = (int(w * SCALE_B), int(h * SCALE_B))
        g = cv2.LUT(cv2.resize(frame, size, interpolation=cv2.INTER_AREA)[:, ::-1], lut).astype(np.float32)
        g = np.clip(g * np.array([0.85, 1.0, 1.12], np.float32), 0, 255).astype(np.uint8)
        if writer is None:
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
        writer.write(g)
    cap.release()
    if writer is None:
        raise SystemExit(f"no frames {first}..{last} in {video}")
    writer.release()
    return size


def gt_for_b(gt: MotTable, first: int, last: int, width: int) -> MotTable:
    """Camera A's ground truth of frames first..last-1 (0-based) as camera B sees it."""
    t = gt.in_frames(first + 1, last)
    b = t.boxes.copy()
    b[:, 0] = width - (t.boxes[:, 0] + t.boxes[:, 2])
    return MotTable(frames=t.frames - first, ids=t.ids, boxes=b * SCALE_B, scores=t.scores)


def ingest(db: Path, video: Path, camera: str, start: datetime, args: argparse.Namespace, max_frames: int | None):
    cmd = [sys.executable, "-m", "app.cli", "-q", "ingest", str(video), "--camera", camera, "--fps", str(args.fps),
           "--start", start.isoformat(), "--imgsz", str(args.imgsz), "--no-link", "--no-progress", "--db", str(db),
           "--device", args.device]
    if max_frames:
        cmd += ["--max-frames", str(max_frames)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    say(f"ingested {video.name} as camera {camera} in {time.perf_counter() - t:.0f} s")


def match_tracks(s, source, gt: MotTable) -> dict[int, int]:  # type: ignore[no-untyped-def]
    """track id -> ground-truth id covering most of its boxes (IoU >= 0.5 on at least half of them)."""
    tracks = repo.list_tracks(s, source_id=source.id)
    by_frame: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for f in np.unique(gt.frames):
        sel = gt.frames == f
        by_frame[int(f)] = (gt.ids[sel], gt.boxes[sel])
    votes: dict[int, list[int]] = {}
    for o in repo.observations(s, [t.id for t in tracks]):
        if o.predicted:
            continue
        entry = by_frame.get(o.frame + 1)
        lst = votes.setdefault(o.track_id, [])
        if entry is None:
            continue
        x1, y1, x2, y2 = o.box
        iou = box_iou_ltwh(np.array([[x1, y1, x2 - x1, y2 - y1]]), entry[1])[0]
        j = int(np.argmax(iou)) if len(iou) else -1
        lst.append(int(entry[0][j]) if j >= 0 and iou[j] >= 0.5 else -1)
    out = {}
    for tid, v in votes.items():
        ids, counts = np.unique([x for x in v if x >= 0], return_counts=True)
        if len(ids) and counts.max() >= 0.5 * len(v):
            out[tid] = int(ids[np.argmax(counts)])
    return out


def pair_scores(tracks: list[tuple[int, str, int]], person: dict[int, str], ident: dict[int, int | None]) -> dict:
    """tracks: (track id, camera, gt id). Pairs of different ground-truth stays, by category."""
    cats = {"reentry": [0, 0, 0], "cross_camera": [0, 0, 0], "all": [0, 0, 0], "same_stay": [0, 0, 0]}
    for i, (ta, ca, ga) in enumerate(tracks):
        for tb, cb, gb in tracks[i + 1:]:
            same = person.get(ga, f"gt{ga}") == person.get(gb, f"gt{gb}")
            linked = ident[ta] is not None and ident[ta] == ident[tb]
            if ca == cb and ga == gb:
                keys = ["same_stay"]
            else:
                keys = ["all", "reentry" if ca == cb else "cross_camera"]
            for k in keys:
                c = cats[k]
                c[0] += int(same and linked)
                c[1] += int(linked)
                c[2] += int(same)
    out = {}
    for k, (tp, pred, pos) in cats.items():
        out[k] = {"precision": tp / pred if pred else float("nan"), "recall": tp / pos if pos else float("nan"),
                  "linked": pred, "same": pos}
    return out


def evaluate(db, cams: dict, person: dict[int, str], ids: str) -> dict:  # type: ignore[no-untyped-def]
    merged_ids = {}
    res: dict = {}
    tracks: list[tuple[int, str, int]] = []
    with db.session() as s:
        for name, (source, gt) in cams.items():
            pid = np.array([merged_ids.setdefault(person.get(int(g), f"gt{g}"), len(merged_ids) + 1) for g in gt.ids])
            gt_person = MotTable(frames=gt.frames, ids=pid, boxes=gt.boxes, scores=gt.scores)
            rows = mot_rows(s, source, "identity" if ids == "identity" else "track")
            arr = np.array([r[:7] for r in rows], np.float64).reshape(-1, 7)
            result = MotTable(frames=arr[:, 0], ids=arr[:, 1], boxes=arr[:, 2:6], scores=arr[:, 6])
            frames = (1, int(gt.frames.max()))
            res[f"idf1_{name}"] = evaluate_tables(result, gt_person, frames).idf1
            res[f"idf1_track_gt_{name}"] = evaluate_tables(result, gt, frames).idf1
            matched = match_tracks(s, source, gt)
            tracks += [(t, name, g) for t, g in matched.items()]
        all_tracks = repo.list_tracks(s)
    if ids == "identity":
        ident = {t.id: t.identity_id for t in all_tracks}
    elif ids == "stay":
        ident = {t.id: (t.source_id, t.stay_id if t.stay_id is not None else t.id) for t in all_tracks}
    else:
        ident = {t.id: t.id for t in all_tracks}
    res["pairs"] = pair_scores(sorted(tracks), person, ident)  # type: ignore[arg-type]
    res["matched_tracks"] = len(tracks)
    return res


def row(name: str, r: dict, extra: str = "") -> str:
    p = r["pairs"]

    def pr(k: str) -> str:
        return f"{p[k]['precision']:.2f} / {p[k]['recall']:.2f} ({p[k]['linked']}/{p[k]['same']})"

    return (f"| {name} | {r['idf1_A']:.3f} | {r.get('idf1_B', float('nan')):.3f} | {pr('reentry')} | "
            f"{pr('cross_camera')} | {pr('all')} | {p['same_stay']['recall']:.2f} | {extra} |")


def say(text: str, flush: bool = True) -> None:
    sys.stdout.write(text + "\n")
    if flush:
        sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the store and the camera-B video")
    ap.add_argument("--video", type=Path, default=_data("vtest.avi"))
    ap.add_argument("--gt", type=Path, default=_data("pets09-s2l1-gt-dev.txt"))
    ap.add_argument("--labels", type=Path, default=ROOT / "bench" / "vtest_persons.txt")
    ap.add_argument("--end", type=int, default=400, help="camera A: frames 0..END-1 (default 400, the dev GT)")
    ap.add_argument("--b-range", default="200:400", help="camera B: frames FIRST:LAST of the video")
    ap.add_argument("--fps", type=float, default=7.0, help="vtest's nominal rate (the file says 10)")
    ap.add_argument("--imgsz", type=int, default=1280)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--reuse", action="store_true", help="keep an existing store (skip ingest)")
    ap.add_argument("--thresholds", default="", help="extra fixed thresholds to sweep, e.g. 0.2,0.25")
    ap.add_argument("--sweep", default="pair_min", help="aggregation for the --thresholds sweep")
    ap.add_argument("--json", type=Path, help="write all figures here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.work.mkdir(parents=True, exist_ok=True)
    db_path = args.work / "link.db"
    b_first, b_last = (int(x) for x in args.b_range.split(":"))
    video_b = args.work / "camB.avi"
    gt = read_mot(args.gt)
    if not (args.reuse and db_path.exists()):
        db_path.unlink(missing_ok=True)
        size = make_camera_b(args.video, video_b, b_first, b_last, args.fps)
        say(f"camera B: frames {b_first}-{b_last - 1}, {size[0]}x{size[1]}")
        ingest(db_path, args.video, "A", START_A, args, args.end)
        ingest(db_path, video_b, "B", START_B, args, None)
    db = open_database(db_path)
    width = 768
    with db.session() as s:
        src_a = repo.list_sources(s, repo.camera_by_name(s, "A").id)[0]
        src_b = repo.list_sources(s, repo.camera_by_name(s, "B").id)[0]
        width = src_a.width
    cams = {"A": (src_a, gt.in_frames(1, args.end)), "B": (src_b, gt_for_b(gt, b_first, min(b_last, args.end), width))}
    if len(cams["B"][1]) == 0:
        del cams["B"]
    person = read_labels(args.labels)
    with db.session() as s:  # the tracker's own ids first (a reused store may hold an earlier run's stays)
        s.execute(update(m.Track).values(stay_id=None, identity_id=None))
    base = evaluate(db, cams, person, "track")
    joins = sum(stitch_source(db, src.id) for src, _ in cams.values())
    cfg = Config(db=db_path, link=LinkConfig())
    results: dict = {"stitch_joins": joins}
    lines = ["| variant | IDF1 A (person GT) | IDF1 B | re-entry P / R | cross-camera P / R | all pairs P / R | "
             "same-stay fragments joined | notes |", "|---|---|---|---|---|---|---|---|"]
    results["tracker"] = base
    lines.append(row("tracker only (ByteTrack ids)", base, f"IDF1 A vs per-stay GT {base['idf1_track_gt_A']:.3f}"))
    stays = evaluate(db, cams, person, "stay")
    results["stitched"] = stays
    lines.append(row("+ occlusion stitching (stays)", stays, f"{joins} joins"))
    variants = [(agg, None, "average") for agg in ("auto", "visible_mean", "mean", "pair_min", "pair_mean")]
    variants += [("pair_min", None, "complete")]
    variants += [(args.sweep, float(t), "average") for t in args.thresholds.split(",") if t]
    for agg, thr, linkage in variants:
        t0 = time.perf_counter()
        summary = link_store(db, replace(cfg), threshold=thr, aggregation=agg, linkage=linkage, who="bench")
        secs = time.perf_counter() - t0
        r = evaluate(db, cams, person, "identity")
        name = f"link {agg}, {linkage}" + (f", threshold {thr}" if thr is not None else "")
        r.update(threshold=summary.threshold, calibrated=summary.calibrated, seconds=secs,
                 identities=summary.identities)
        results[name] = r
        lines.append(row(name, r, f"thr {summary.threshold:.3f}{'' if summary.calibrated or thr else ' (default)'}, "
                                  f"{summary.identities} ids, {secs:.2f} s"))
    say("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
