"""MOTChallenge text files: read, write, build from tracker output, and score with TrackEval.

A MOTChallenge line is ``frame,id,left,top,width,height,score,x,y,z`` with a 1-based frame
number. In ground-truth files the 7th column is the "consider" flag; rows marked 0 are
ignored annotations (PETS09-S2L1 marks a far, barely visible walker that way). Scoring drops
them from the ground truth and, by default, also drops the result boxes that match them
(IoU >= 0.5, optimal assignment per frame), so tracking an ignored person is neither rewarded
nor penalised, as the MOTChallenge devkit's preprocessing does. ``forgive_ignored=False``
keeps those result boxes as false positives, which is what TrackEval's MOT15 loader does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.errors import UserError
from trackers.types import TrackRows, Tracks

log = logging.getLogger(__name__)

IOU_THRESHOLD = 0.5  # a box is a match when IoU >= 0.5 (CLEAR MOT and IDF1 convention)


class MotFormatError(UserError):
    """A MOTChallenge file that cannot be parsed."""


@dataclass(frozen=True, kw_only=True)
class MotTable:
    """Rows of a MOTChallenge file.

    frames: (N,) int64, 1-based; ids: (N,) int64; boxes: (N, 4) float64 left, top, width, height;
    scores: (N,) float64 (the 7th column: confidence, or the "consider" flag in ground truth).
    """

    frames: np.ndarray
    ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "frames", np.asarray(self.frames, dtype=np.int64).reshape(-1))
        n = len(self.frames)
        object.__setattr__(self, "ids", np.asarray(self.ids, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "boxes", np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4))
        object.__setattr__(self, "scores", np.asarray(self.scores, dtype=np.float64).reshape(-1))
        for name in ("ids", "boxes", "scores"):
            got = getattr(self, name).shape
            if got[0] != n:
                raise ValueError(f"{name}: expected {n} rows (one per frame entry), got shape {got}")

    def __len__(self) -> int:
        return len(self.frames)

    def select(self, mask: np.ndarray) -> MotTable:
        """The rows where ``mask`` (N,) bool is true."""
        return MotTable(
            frames=self.frames[mask], ids=self.ids[mask], boxes=self.boxes[mask], scores=self.scores[mask]
        )

    def in_frames(self, first: int, last: int) -> MotTable:
        """The rows with ``first <= frame <= last``."""
        return self.select((self.frames >= first) & (self.frames <= last))


@dataclass(frozen=True, kw_only=True)
class MotScores:
    """CLEAR MOT, identity and HOTA scores of one result against one ground truth."""

    mota: float
    motp: float
    idf1: float
    idp: float
    idr: float
    hota: float
    deta: float
    assa: float
    id_switches: int
    fragmentations: int
    false_positives: int
    false_negatives: int
    true_positives: int
    mostly_tracked: int
    mostly_lost: int
    recall: float
    precision: float
    num_gt_ids: int
    num_result_ids: int
    num_frames: int

    def summary(self) -> str:
        """One line with the headline numbers."""
        return (
            f"MOTA {self.mota:.3f}  IDF1 {self.idf1:.3f}  HOTA {self.hota:.3f}  IDSW {self.id_switches}  "
            f"FP {self.false_positives}  FN {self.false_negatives}  frames {self.num_frames}"
        )


def read_mot(path: str | Path) -> MotTable:
    """Parse a MOTChallenge text file; :class:`MotFormatError` names the first bad line."""
    path = Path(path)
    if not path.is_file():
        raise MotFormatError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise MotFormatError(f"{path}: not a text file ({exc.reason})") from None
    rows: list[list[float]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        fields = [f for f in line.replace(",", " ").split()]
        if len(fields) < 6:
            raise MotFormatError(
                f"{path}:{lineno}: expected at least 6 comma-separated values, got {len(fields)}"
            )
        try:
            values = [float(f) for f in fields[:7]]
        except ValueError:
            raise MotFormatError(f"{path}:{lineno}: not a number in {line[:60]!r}") from None
        if not all(np.isfinite(values)):
            raise MotFormatError(f"{path}:{lineno}: non-finite value in {line[:60]!r}")
        if values[0] < 1 or values[0] != int(values[0]) or values[1] != int(values[1]):
            raise MotFormatError(f"{path}:{lineno}: frame must be an integer >= 1 and id an integer")
        if values[4] < 0 or values[5] < 0:
            raise MotFormatError(f"{path}:{lineno}: negative box width or height")
        rows.append(values if len(values) == 7 else values + [1.0])
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, 7)
    return MotTable(frames=arr[:, 0], ids=arr[:, 1], boxes=arr[:, 2:6], scores=arr[:, 6])


def write_mot(path: str | Path, table: MotTable) -> None:
    """Write ``table`` as ``frame,id,left,top,width,height,score,-1,-1,-1`` lines sorted by frame, id."""
    order = np.lexsort((table.ids, table.frames))
    lines = [
        f"{table.frames[i]},{table.ids[i]},{b[0]:.2f},{b[1]:.2f},{b[2]:.2f},{b[3]:.2f},{table.scores[i]:.4f},-1,-1,-1\n"
        for i, b in ((i, table.boxes[i]) for i in order)
    ]
    Path(path).write_text("".join(lines), encoding="utf-8")


def table_from_rows(rows: TrackRows) -> MotTable:
    """A MOT table (1-based frames, ltwh boxes) from tracker rows (xyxy boxes, frames as given)."""
    xyxy = rows.boxes.astype(np.float64)
    ltwh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    return MotTable(frames=rows.frames, ids=rows.ids, boxes=ltwh, scores=rows.scores)


def table_from_tracks(frame_numbers: Sequence[int], tracks: Sequence[Tracks]) -> MotTable:
    """A MOT table from per-frame tracker output; ``frame_numbers`` are 1-based, one per ``tracks``."""
    return table_from_rows(TrackRows.from_tracks(list(frame_numbers), list(tracks)))


def parse_frame_range(text: str) -> tuple[int, int]:
    """``"1-400"`` -> ``(1, 400)``; raises :class:`UserError` on anything else."""
    parts = text.split("-")
    try:
        first, last = (int(p) for p in parts)
    except ValueError:
        raise UserError(f"frame range must look like 1-400, got {text!r}") from None
    if first < 1 or last < first:
        raise UserError(f"frame range must be FIRST-LAST with 1 <= FIRST <= LAST, got {text!r}")
    return first, last


def evaluate_mot(
    result_path: str | Path,
    gt_path: str | Path,
    frames: tuple[int, int] | None = None,
    *,
    forgive_ignored: bool = True,
) -> MotScores:
    """Score a MOTChallenge result file against a ground-truth file (see :func:`evaluate_tables`)."""
    return evaluate_tables(read_mot(result_path), read_mot(gt_path), frames, forgive_ignored=forgive_ignored)


def evaluate_tables(
    result: MotTable,
    gt: MotTable,
    frames: tuple[int, int] | None = None,
    *,
    forgive_ignored: bool = True,
) -> MotScores:
    """CLEAR MOT, IDF1 and HOTA (TrackEval's metrics) of ``result`` against ``gt``.

    ``frames`` is an inclusive 1-based range; ``None`` means frame 1 to the last ground-truth
    frame. Rows outside the range are ignored (result rows beyond the ground truth are logged).
    Ground-truth rows with a 0 in the 7th column are ignored (see the module docstring for
    ``forgive_ignored``).
    """
    from trackeval.metrics import CLEAR, HOTA, Identity

    if frames is None:
        if len(gt) == 0:
            raise UserError("the ground truth has no rows; pass a frame range")
        frames = (1, int(gt.frames.max()))
    first, last = frames
    outside = len(result) - len(result.in_frames(first, last))
    if outside:
        log.info("ignoring %d result rows outside frames %d-%d", outside, first, last)
    gt = gt.in_frames(first, last)
    result = result.in_frames(first, last)
    ignored = gt.scores == 0
    if forgive_ignored and ignored.any():
        result = result.select(~_matches_ignored(result, gt, ignored))
    data = _trackeval_data(result, gt.select(~ignored), first, last)
    clear = CLEAR({"THRESHOLD": IOU_THRESHOLD, "PRINT_CONFIG": False}).eval_sequence(data)
    ident = Identity({"THRESHOLD": IOU_THRESHOLD, "PRINT_CONFIG": False}).eval_sequence(data)
    hota = HOTA().eval_sequence(data)
    return MotScores(
        mota=float(clear["MOTA"]),
        motp=float(clear["MOTP"]),
        idf1=float(ident["IDF1"]),
        idp=float(ident["IDP"]),
        idr=float(ident["IDR"]),
        hota=float(np.mean(hota["HOTA"])),
        deta=float(np.mean(hota["DetA"])),
        assa=float(np.mean(hota["AssA"])),
        id_switches=int(clear["IDSW"]),
        fragmentations=int(clear["Frag"]),
        false_positives=int(clear["CLR_FP"]),
        false_negatives=int(clear["CLR_FN"]),
        true_positives=int(clear["CLR_TP"]),
        mostly_tracked=int(clear["MT"]),
        mostly_lost=int(clear["ML"]),
        recall=float(clear["CLR_Re"]),
        precision=float(clear["CLR_Pr"]),
        num_gt_ids=int(data["num_gt_ids"]),
        num_result_ids=int(data["num_tracker_ids"]),
        num_frames=int(data["num_timesteps"]),
    )


def box_iou_ltwh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of (N, 4) and (M, 4) left-top-width-height boxes -> (N, M) in [0, 1]."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _matches_ignored(result: MotTable, gt: MotTable, ignored: np.ndarray) -> np.ndarray:
    """(N,) bool: result rows assigned (IoU >= threshold, per-frame optimal matching) to an ignored gt row."""
    from scipy.optimize import linear_sum_assignment

    out = np.zeros(len(result), bool)
    for frame in np.unique(gt.frames[ignored]):
        r = np.flatnonzero(result.frames == frame)
        g = np.flatnonzero(gt.frames == frame)
        if len(r) == 0:
            continue
        iou = box_iou_ltwh(gt.boxes[g], result.boxes[r])
        iou[iou < IOU_THRESHOLD - 1e-9] = 0.0
        rows, cols = linear_sum_assignment(-iou)
        hit = (iou[rows, cols] > 0) & ignored[g[rows]]
        out[r[cols[hit]]] = True
    return out


def _dense_ids(ids: np.ndarray) -> tuple[np.ndarray, int]:
    unique, inverse = np.unique(ids, return_inverse=True)
    return inverse.astype(np.int64), len(unique)


def _trackeval_data(result: MotTable, gt: MotTable, first: int, last: int) -> dict:
    """TrackEval's per-sequence dict: ids renumbered 0..K-1, one entry per frame first..last."""
    for name, table in (("result", result), ("ground truth", gt)):
        pairs = table.frames * (1 << 32) + table.ids
        unique, counts = np.unique(pairs, return_counts=True)
        if (counts > 1).any():
            dup = unique[counts > 1][0]
            raise UserError(f"{name}: id {dup % (1 << 32)} appears twice in frame {dup >> 32}")
    gt_ids, num_gt_ids = _dense_ids(gt.ids)
    tr_ids, num_tr_ids = _dense_ids(result.ids)
    data: dict = {"gt_ids": [], "tracker_ids": [], "similarity_scores": []}
    gt_order = np.argsort(gt.frames, kind="stable")
    tr_order = np.argsort(result.frames, kind="stable")
    gt_bounds = np.searchsorted(gt.frames[gt_order], np.arange(first, last + 2))
    tr_bounds = np.searchsorted(result.frames[tr_order], np.arange(first, last + 2))
    for t in range(last - first + 1):
        g = gt_order[gt_bounds[t] : gt_bounds[t + 1]]
        r = tr_order[tr_bounds[t] : tr_bounds[t + 1]]
        data["gt_ids"].append(gt_ids[g])
        data["tracker_ids"].append(tr_ids[r])
        data["similarity_scores"].append(box_iou_ltwh(gt.boxes[g], result.boxes[r]))
    data.update(
        num_timesteps=last - first + 1,
        num_gt_ids=num_gt_ids,
        num_tracker_ids=num_tr_ids,
        num_gt_dets=len(gt),
        num_tracker_dets=len(result),
    )
    return data
