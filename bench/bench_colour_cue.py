"""Does a pose-aligned colour cue add to the PGFA eq. 8 distance? (issue 10, item 3: "keep it only if it helps")

For every track of a store, up to ``--samples`` of its detected boxes are read back from the source video; each
box gives two stripes placed by its keypoints (torso: shoulders to hips; legs: below the hips to the ankles; the
middle half of the box's width, to keep background out) and each stripe a CIE Lab histogram (4 x 8 x 8 bins).
With ``--normalise`` each camera's colour is first centred on its own median (L, a, b) and its lightness spread,
a grey-world step against a camera's white balance and exposure. The colour distance of two tracks is the mean
over the stripes both have of the Bhattacharyya distance (1 - sum sqrt(p q)).

Pairs are scored on tracks matched to the dev ground truth (frames 1-400; persons merged with
``bench/vtest_persons.txt``), or, with ``--labels-json``, on a JSON map ``person -> [track ids]`` made by eye for
that store. Categories: re-entry (one camera, different ground-truth stays) and cross-camera. Reported: the AUC
(chance that a same-person pair is closer than a different-person pair) of eq. 8 alone, colour alone, and
eq. 8 + w * colour for a few w.

    .venv/bin/python bench/bench_colour_cue.py --db STORE.db [--cam-b platform] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_adapt import gt_for_b  # noqa: E402
from bench_linking import _data, match_tracks, read_labels  # noqa: E402

from app.identity.linking import distance_matrix  # noqa: E402
from app.identity.tables import descriptors_for, load_track_table  # noqa: E402
from app.mot.files import read_mot  # noqa: E402
from app.store import open_database, repo  # noqa: E402

BINS = (4, 8, 8)
RANGE = ((0, 256), (96, 160), (96, 160))  # Lab a/b of clothing sit well inside 96-160 (OpenCV 8-bit Lab)
WEIGHTS = (0.5, 1.0, 2.0)
SHOULDERS, HIPS, ANKLES = [5, 6], [11, 12], [15, 16]


def stripes(lab: np.ndarray, box: Sequence[float], keypoints: np.ndarray) -> list[np.ndarray | None]:
    """Torso and legs pixels (K, 3) of one box of a Lab frame, placed by the visible keypoints."""
    x1, y1, x2, y2 = (round(v) for v in box)
    h, w = y2 - y1, x2 - x1
    k = np.asarray(keypoints, np.float32).reshape(17, 3)

    def y_of(ids: list[int], frac: float) -> float:
        v = k[ids]
        v = v[v[:, 2] > 0.5]
        return float(v[:, 1].mean()) if len(v) else y1 + frac * h

    ys, yh, ya = y_of(SHOULDERS, 0.2), y_of(HIPS, 0.5), y_of(ANKLES, 0.95)
    c0, c1 = max(0, x1 + w // 4), min(lab.shape[1], x2 - w // 4)
    out: list[np.ndarray | None] = []
    for top, bottom in ((ys, yh), (yh + 0.1 * (ya - yh), ya)):
        a, b = int(max(0, top)), int(min(lab.shape[0], bottom))
        out.append(lab[a:b, c0:c1].reshape(-1, 3).astype(np.float32) if b > a + 2 and c1 > c0 + 2 else None)
    return out


def histogram(px: np.ndarray, norm: tuple[float, float, float, float] | None) -> np.ndarray:
    """Normalised Lab histogram of (K, 3) pixels; ``norm`` = the camera's (median L, L spread, median a, b)."""
    if norm is not None:
        px = np.stack([(px[:, 0] - norm[0]) / max(norm[1], 1.0) * 40 + 128,
                       px[:, 1] - norm[2] + 128, px[:, 2] - norm[3] + 128], axis=1)
    h, _ = np.histogramdd(px, bins=BINS, range=RANGE)
    h = h.ravel()
    return h / max(h.sum(), 1.0)


def colour_distance(a: list[np.ndarray | None], b: list[np.ndarray | None]) -> float:
    """Mean Bhattacharyya distance over the stripes both tracks have (nan when none)."""
    ds = [1.0 - float(np.sqrt(p * q).sum()) for p, q in zip(a, b, strict=True) if p is not None and q is not None]
    return float(np.mean(ds)) if ds else float("nan")


def auc(same: np.ndarray, diff: np.ndarray) -> float:
    """P(a same-person pair is closer than a different-person pair), nan pairs left out."""
    same, diff = same[np.isfinite(same)], diff[np.isfinite(diff)]
    if not len(same) or not len(diff):
        return float("nan")
    return float((same[:, None] < diff[None, :]).mean() + 0.5 * (same[:, None] == diff[None, :]).mean())


def read_pixels(s, source, samples: int) -> dict[tuple[int, int], list[np.ndarray]]:  # type: ignore[no-untyped-def]
    """(track id, stripe) -> pixel arrays from up to ``samples`` evenly spread detected boxes of each track."""
    want: dict[int, list] = {}
    for t in repo.list_tracks(s, source_id=source.id):
        obs = [o for o in repo.observations(s, [t.id]) if not o.predicted]
        if not obs:
            continue
        for i in np.unique(np.linspace(0, len(obs) - 1, min(samples, len(obs))).astype(int)):
            want.setdefault(obs[i].frame, []).append((t.id, obs[i]))
    pix: dict[tuple[int, int], list[np.ndarray]] = {}
    cap = cv2.VideoCapture(source.uri)
    if not cap.isOpened():
        raise SystemExit(f"cannot read {source.uri}: the colour cue needs the source video")
    frame = 0
    while want:
        ok, img = cap.read()
        if not ok:
            break
        if frame in want:
            lab = cv2.cvtColor(img, cv2.COLOR_BGR2LAB)
            for tid, o in want.pop(frame):
                for si, p in enumerate(stripes(lab, o.box, np.asarray(o.keypoints))):
                    if p is not None and len(p):
                        pix.setdefault((tid, si), []).append(p)
        frame += 1
    cap.release()
    return pix


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--cam-a", default="entrance")
    ap.add_argument("--cam-b", default=None)
    ap.add_argument("--gt", type=Path, default=_data("pets09-s2l1-gt-dev.txt"))
    ap.add_argument("--persons", type=Path, default=ROOT / "bench" / "vtest_persons.txt")
    ap.add_argument("--labels-json", type=Path, help="person -> [track ids], by eye, instead of the ground truth")
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    gt = read_mot(args.gt).in_frames(1, 400)
    person = read_labels(args.persons)
    db = open_database(args.db, create=False)
    lab: dict[int, tuple[str, object, str]] = {}
    cam_of: dict[int, str] = {}
    pix: dict[tuple[int, int], list[np.ndarray]] = {}
    with db.session() as s:
        table = load_track_table(s)
        kept, _, samples = descriptors_for(s, [int(t) for t in table.ids])
        for name, g in ((args.cam_a, gt), (args.cam_b, gt_for_b(gt, 768, 576))):
            cam = repo.camera_by_name(s, name) if name else None
            if cam is None:
                continue
            source = repo.list_sources(s, cam.id)[0]
            got = read_pixels(s, source, args.samples)
            pix.update(got)
            cam_of.update({t: name for t, _ in got})
            if args.labels_json is None:
                lab.update({t: (name, gid, person.get(gid, f"gt{gid}")) for t, gid in match_tracks(s, source, g).items()})
    if args.labels_json is not None:
        con = sqlite3.connect(args.db)
        stay = {t: (st if st is not None else -t) for t, st in con.execute("select id, stay_id from tracks")}
        con.close()
        for p, ts in json.loads(args.labels_json.read_text()).items():
            lab.update({int(t): (cam_of.get(int(t), "?"), stay[int(t)], p) for t in ts})
    norms = {}
    for c in set(cam_of.values()):
        allp = np.concatenate([np.concatenate(v) for (t, _), v in pix.items() if cam_of[t] == c])
        norms[c] = (float(np.median(allp[:, 0])), float(allp[:, 0].std()),
                    float(np.median(allp[:, 1])), float(np.median(allp[:, 2])))
    d = distance_matrix(kept, None, samples, "pair_min")
    ix = {t: i for i, t in enumerate(kept)}
    labelled = sorted(t for t in lab if t in ix)
    out: dict = {"store": str(args.db), "norms": norms}
    for mode in ("raw", "normalised"):
        hist = {t: [histogram(np.concatenate(pix[(t, si)]), norms[cam_of[t]] if mode == "normalised" else None)
                    if (t, si) in pix else None for si in range(2)] for t in labelled}
        pairs: dict[str, tuple[list, list]] = {"reentry": ([], []), "cross_camera": ([], [])}
        for i, a in enumerate(labelled):
            for b in labelled[i + 1:]:
                if lab[a][0] == lab[b][0] and lab[a][1] == lab[b][1]:
                    continue  # one ground-truth stay
                cat = "cross_camera" if lab[a][0] != lab[b][0] else "reentry"
                pairs[cat][0 if lab[a][2] == lab[b][2] else 1].append((d[ix[a], ix[b]], colour_distance(hist[a], hist[b])))
        for cat, (same_l, diff_l) in pairs.items():
            if not same_l or not diff_l:
                continue
            same, diff = np.array(same_l), np.array(diff_l)
            row = {"same_pairs": len(same), "different_pairs": len(diff), "eq8": auc(same[:, 0], diff[:, 0]),
                   "colour": auc(same[:, 1], diff[:, 1])}
            row.update({f"eq8+{w}*colour": auc(same[:, 0] + w * same[:, 1], diff[:, 0] + w * diff[:, 1]) for w in WEIGHTS})
            out[f"{mode}/{cat}"] = row
            print(f"{mode:10s} {cat:12s} " + " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                                     for k, v in row.items()))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
