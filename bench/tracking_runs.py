"""Tracker runs for the tracking benchmarks: ours and ultralytics' on cached detections, post-processing
(stitching, interpolation) and MOT scoring. Shared by ``bench_tracking.py`` and ``tracking_sweep.py``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trackers.types import Detections


@dataclass(frozen=True)
class Run:
    rows: object  # trackers.types.TrackRows
    features: np.ndarray | None
    seconds: float


def run_ours(
    tracker, frames: list[np.ndarray], dets: list[Detections], feats: list[np.ndarray] | None
) -> Run:
    """Our tracker over all frames; features go to the tracker only if it needs them, but each
    output row keeps its detection's feature (for appearance-aware stitching)."""
    from trackers.types import TrackRows

    per_frame, row_feats = [], []
    t0 = time.perf_counter()
    for i, (frame, d) in enumerate(zip(frames, dets, strict=True)):
        f = feats[i] if feats is not None else None
        tracks = tracker.update(d, frame, f if tracker.needs_features else None)
        per_frame.append(tracks)
        if f is not None:
            row_feats.append(f[tracks.det_index])
    seconds = time.perf_counter() - t0
    rows = TrackRows.from_tracks(list(range(1, len(per_frame) + 1)), per_frame)
    return Run(rows, np.concatenate(row_feats) if row_feats else None, seconds)


def collected_run(frames: list, ids: list, boxes: list, scores: list, seconds: float) -> Run:
    """A Run from per-frame lists of frame numbers, ids, xyxy boxes and scores."""
    from trackers.types import TrackRows

    rows = TrackRows(frames=np.concatenate(frames), ids=np.concatenate(ids), boxes=np.concatenate(boxes),
                     scores=np.concatenate(scores))
    return Run(rows, None, seconds)


def run_ultralytics(tracker_yaml: str, frames: list[np.ndarray], dets: list[Detections]) -> Run:
    """ultralytics' tracker with its stock YAML, fed as ``model.track`` feeds it; boxes as it reports them."""
    import torch
    from ultralytics.engine.results import Boxes
    from ultralytics.trackers.track import TRACKER_MAP
    from ultralytics.utils import YAML, IterableSimpleNamespace
    from ultralytics.utils.checks import check_yaml


    cfg = IterableSimpleNamespace(**YAML.load(check_yaml(tracker_yaml)))
    cfg.device = "cpu"
    tracker = TRACKER_MAP[cfg.tracker_type](args=cfg)
    out_f, out_id, out_box, out_score = [], [], [], []
    t0 = time.perf_counter()
    for i, (frame, d) in enumerate(zip(frames, dets, strict=True)):
        data = np.concatenate([d.boxes, d.scores[:, None], np.zeros((len(d), 1), np.float32)], axis=1)
        boxes = Boxes(torch.from_numpy(data), frame.shape[:2]).cpu().numpy()
        tracks = tracker.update(boxes, frame)
        if len(tracks):
            out_f.append(np.full(len(tracks), i + 1))
            out_id.append(tracks[:, 4])
            out_box.append(tracks[:, :4])
            out_score.append(tracks[:, 5])
    return collected_run(out_f, out_id, out_box, out_score, time.perf_counter() - t0)


def run_ultralytics_live(tracker_yaml: str, video: Path, limit: int, *, imgsz: int | str, conf: float) -> Run:
    """``model.track`` itself over the first ``limit`` frames (detector included in the time)."""
    from ultralytics import YOLO

    from trackers.detector import resolve_pose_weights

    weights, _ = resolve_pose_weights()
    model = YOLO(str(weights), task="pose")
    out_f, out_id, out_box, out_score = [], [], [], []
    t0 = time.perf_counter()
    stream = model.track(
        source=str(video), tracker=tracker_yaml, imgsz=imgsz, conf=conf, stream=True, verbose=False
    )
    for i, result in enumerate(stream):
        if i >= limit:
            break
        b = result.boxes
        if b is not None and b.id is not None and len(b):
            out_f.append(np.full(len(b), i + 1))
            out_id.append(b.id.numpy())
            out_box.append(b.xyxy.numpy())
            out_score.append(b.conf.numpy())
    return collected_run(out_f, out_id, out_box, out_score, time.perf_counter() - t0)


FRAME_SIZE = (768, 576)  # vtest.avi (width, height)


def postprocess(run: Run, stitch_config, max_gap: int) -> tuple[object, float]:
    """Stitch fragments (appearance when the run has features) and interpolate gaps up to ``max_gap``
    frames (0: no interpolation); returns rows, seconds."""
    from trackers.interpolate import interpolate_gaps
    from trackers.stitch import stitch_rows

    t0 = time.perf_counter()
    rows = stitch_rows(run.rows, run.features, stitch_config, frame_size=FRAME_SIZE)
    if max_gap > 0:
        rows, _ = interpolate_gaps(rows, max_gap=max_gap)
    return rows, time.perf_counter() - t0


def interpolate_only(run: Run, max_gap: int) -> tuple[object, float]:
    from trackers.interpolate import interpolate_gaps

    t0 = time.perf_counter()
    rows, _ = interpolate_gaps(run.rows, max_gap=max_gap)
    return rows, time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# scoring and the table


def score(rows, gt, frames: tuple[int, int]) -> dict:
    from app.mot.files import evaluate_tables, table_from_rows

    s = evaluate_tables(table_from_rows(rows), gt, frames)
    strict = evaluate_tables(table_from_rows(rows), gt, frames, forgive_ignored=False)
    return {
        "mota": s.mota,
        "idf1": s.idf1,
        "hota": s.hota,
        "idsw": s.id_switches,
        "fp": s.false_positives,
        "fn": s.false_negatives,
        "mota_strict": strict.mota,
        "ids_scored": s.num_result_ids,
    }
