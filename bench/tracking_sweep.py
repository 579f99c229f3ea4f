"""Sensitivity of the default tracking pipeline (bench_tracking.py --sweep): one setting moved at a time."""

from __future__ import annotations

import numpy as np
from tracking_runs import Run, interpolate_only, postprocess, run_ours, score

SWEEP_TRACKER = {
    "track_buffer": (15, 60),
    "match_thresh": (0.7, 0.9),
    "track_high_thresh": (0.2, 0.35),
    "new_track_thresh": (0.2, 0.35),
    "fuse_score": (False,),
}
SWEEP_STITCH = {
    "max_gap": (15, 60),
    "motion_gate": (0.3, 0.8),
    "motion_gate_per_frame": (0.02, 0.1),
    "max_appearance_distance": (0.3, 0.7),
    "appearance_weight": (0.0, 2.0),
}


def sensitivity(frames, dets, feats, gt, span: tuple[int, int]) -> list[dict]:
    """Score the default pipeline with one tracker or stitching setting moved up or down at a time."""
    from dataclasses import replace

    from trackers.bytetrack import ByteTrackConfig, ByteTrackTracker
    from trackers.stitch import StitchConfig

    base_t, base_s = ByteTrackConfig(), StitchConfig()
    out = []
    base_run = run_ours(ByteTrackTracker(base_t), frames, dets, feats)
    variants = [("default", base_t, base_s, base_run)]
    for key, values in SWEEP_TRACKER.items():
        for v in values:
            cfg = replace(base_t, **{key: v})
            variants.append(
                (f"tracker {key}={v}", cfg, base_s, run_ours(ByteTrackTracker(cfg), frames, dets, feats))
            )
    for key, values in SWEEP_STITCH.items():
        for v in values:
            variants.append((f"stitch {key}={v}", base_t, replace(base_s, **{key: v}), base_run))
    variants.append(("no stitching", base_t, None, base_run))
    variants.append(("stitch without appearance", base_t, base_s, Run(base_run.rows, None, base_run.seconds)))
    for gap in (0, 10):
        variants.append((f"interpolate max_gap={gap}", base_t, base_s, base_run, gap))
    for name, _, stitch_cfg, run, *gap in variants:
        if stitch_cfg is None:
            rows, _ = interpolate_only(run, base_s.max_gap)
        else:
            rows, _ = postprocess(run, stitch_cfg, gap[0] if gap else stitch_cfg.max_gap)
        out.append({"name": name, **score(rows, gt, span), "ids_all": int(len(np.unique(rows.ids)))})
    return out


def sweep_table(rows: list[dict]) -> str:
    lines = ["| variant | MOTA | IDF1 | HOTA | IDSW | ids (all frames) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['mota']:.3f} | {r['idf1']:.3f} | {r['hota']:.3f} | {r['idsw']} | {r['ids_all']} |"
        )
    return "\n".join(lines)
