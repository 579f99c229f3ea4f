"""Linear box interpolation across the gaps of a track (for export and evaluation).

A person hidden for a few frames behind a post is still there; filling the gap of a (possibly
stitched) track with boxes interpolated between the last box before and the first box after
recovers those frames. Gaps longer than ``max_gap`` are left empty (the person may have left).
"""

from __future__ import annotations

import numpy as np

from trackers.types import TrackRows


def interpolate_gaps(rows: TrackRows, *, max_gap: int = 30) -> tuple[TrackRows, np.ndarray]:
    """Fill each track's missing frames between two boxes at most ``max_gap`` frames apart.

    Returns ``(rows', interpolated)``: ``rows'`` holds the input and the new rows, sorted by
    (id, frame); ``interpolated`` is (N',) bool, true for the new rows. A new row's box
    is the linear blend of its neighbours' (N, 4) xyxy boxes and its score the smaller of theirs.
    """
    if max_gap < 1:
        raise ValueError(f"max_gap must be >= 1, got {max_gap}")
    order = np.lexsort((rows.frames, rows.ids))
    frames, ids = rows.frames[order], rows.ids[order]
    boxes, scores = rows.boxes[order].astype(np.float64), rows.scores[order]
    step = np.diff(frames)
    same = ids[1:] == ids[:-1]
    if (same & (step == 0)).any():
        raise ValueError("a track has two boxes in one frame")
    gaps = np.flatnonzero(same & (step > 1) & (step <= max_gap + 1))
    new_frames, new_ids, new_boxes, new_scores = [], [], [], []
    for g in gaps:
        missing = np.arange(frames[g] + 1, frames[g + 1])
        alpha = ((missing - frames[g]) / (frames[g + 1] - frames[g]))[:, None]
        new_frames.append(missing)
        new_ids.append(np.full(len(missing), ids[g]))
        new_boxes.append((1 - alpha) * boxes[g] + alpha * boxes[g + 1])
        new_scores.append(np.full(len(missing), min(scores[g], scores[g + 1])))
    if not gaps.size:
        return TrackRows(frames=frames, ids=ids, boxes=boxes, scores=scores), np.zeros(len(frames), bool)
    all_frames = np.concatenate([frames, *new_frames])
    all_ids = np.concatenate([ids, *new_ids])
    added = np.concatenate([np.zeros(len(frames), bool), np.ones(len(all_frames) - len(frames), bool)])
    resort = np.lexsort((all_frames, all_ids))
    out = TrackRows(
        frames=all_frames[resort],
        ids=all_ids[resort],
        boxes=np.concatenate([boxes, *new_boxes])[resort],
        scores=np.concatenate([scores, *new_scores])[resort],
    )
    return out, added[resort]
