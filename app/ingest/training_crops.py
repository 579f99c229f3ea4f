"""Training crops of one open track, kept for tracks whose video will not be kept (live cameras).

``reidwatch adapt`` learns from up to ``[ingest] training_crops`` crops per track spread over its time in view
(``app.training.crops``); a file source's crops are re-read from its video, but a live camera keeps no video, so
its crops are kept at ingest. Memory stays bounded whatever a track lasts: :class:`CropReservoir` keeps at most
one candidate per time bin (the best by the pipeline's cheap quality score, cut only when it wins its bin) and
at most ``2 * cap`` bins: when there are more, the bins double in length and each pair keeps its better one. So
an open track holds at most ``2 * cap + 1`` crops of at most :data:`MAX_HEIGHT` pixels, and when it closes
``cap`` of them, evenly spread over time, are JPEG-encoded (:func:`CropReservoir.finish`) for the store.

Crops are cut exactly as ingest cuts its samples (``app.ingest.sampling.crop_box``, 5% padding); a crop taller
than ``MAX_HEIGHT`` is scaled down, and the keypoints are moved (and scaled) into the stored image's pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

import cv2
import numpy as np
from sqlalchemy.orm import Session

from app.ingest.sampling import crop_box, sample_quality, sharpness
from app.store.crops import TrackCrop, add_track_crops

MAX_HEIGHT = 256  # px: the encoder sees 384x128; taller crops add bytes, little else, for adaptation
JPEG_QUALITY = 85
MIN_HEIGHT = 24  # px: smaller boxes carry too little to learn from (as app.training.crops)
FIRST_BIN_S = 0.25  # seconds: the first bin length; bins double as the track lasts


@dataclass
class _Candidate:
    frame: int
    rough: float  # the cheap score that chose it
    crop: np.ndarray  # BGR, at most MAX_HEIGHT high
    keypoints: np.ndarray  # (17, 3) in ``crop`` pixels
    box: tuple[int, int, int, int]  # what was cut, frame pixels
    frame_box: np.ndarray  # the detection box (for the final quality score)
    frame_kps: np.ndarray
    overlap: float
    frame_hw: tuple[int, int]


def cut_crop(image: np.ndarray, box: np.ndarray, keypoints: np.ndarray,
             max_height: int = MAX_HEIGHT) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """Cut a person as ingest does and scale it to at most ``max_height``: (BGR crop, keypoints (17, 3) in its
    pixels, box cut (x1, y1, x2, y2) in frame pixels). Pure."""
    crop, cut = crop_box(image, box)
    kp = np.asarray(keypoints, np.float32).copy()
    kp[:, 0] -= cut[0]
    kp[:, 1] -= cut[1]
    h, w = crop.shape[:2]
    if h > max_height:
        scale = max_height / h
        crop = cv2.resize(crop, (max(1, round(w * scale)), max_height), interpolation=cv2.INTER_AREA)
        kp[:, :2] *= np.float32([crop.shape[1] / w, crop.shape[0] / h])
    return crop, kp, (int(cut[0]), int(cut[1]), int(cut[2]), int(cut[3]))


def spread(n: int, k: int) -> np.ndarray:
    """Up to ``k`` indexes of ``range(n)`` evenly spread, first and last included. Pure."""
    if n <= 0 or k <= 0:
        return np.zeros(0, np.int64)
    return np.unique(np.linspace(0, n - 1, num=min(n, k)).round().astype(np.int64))


class CropReservoir:
    """Candidate crops of one open track, one per time bin, at most ``2 * cap`` bins (see the module)."""

    def __init__(self, cap: int, *, first_bin_s: float = FIRST_BIN_S) -> None:
        if cap < 1:
            raise ValueError(f"cap: expected >= 1, got {cap}")
        if not first_bin_s > 0:
            raise ValueError(f"first_bin_s: expected > 0, got {first_bin_s}")
        self.cap = cap
        self.bin_s = float(first_bin_s)
        self._t0: datetime | None = None
        self._bins: dict[int, _Candidate] = {}
        self._done: list[TrackCrop] | None = None

    def __len__(self) -> int:
        return len(self._bins) if self._done is None else len(self._done)

    def offer(self, frame: int, t: datetime, image: np.ndarray, box: np.ndarray, keypoints: np.ndarray,
              overlap: float) -> None:
        """One detection of the track (BGR frame, box xyxy, keypoints (17, 3) in frame pixels, its overlap with
        other boxes): kept when its time bin is empty or it beats the bin's candidate."""
        if self._done is not None or float(box[3] - box[1]) < MIN_HEIGHT:
            return
        if self._t0 is None:
            self._t0 = t
        fh, fw = image.shape[:2]
        rough = sample_quality(box, keypoints, overlap, 300.0, (fh, fw))
        b = int(max(0.0, (t - self._t0).total_seconds()) // self.bin_s)
        old = self._bins.get(b)
        if rough <= 0 or (old is not None and old.rough >= rough):
            return
        crop, kp, cut = cut_crop(image, box, keypoints)
        if crop.shape[0] < 8 or crop.shape[1] < 4:
            return
        self._bins[b] = _Candidate(frame, rough, crop, kp, cut, np.asarray(box, np.float32).copy(),
                                   np.asarray(keypoints, np.float32).copy(), float(overlap), (fh, fw))
        while len(self._bins) > 2 * self.cap:
            self._coarsen()

    def _coarsen(self) -> None:
        self.bin_s *= 2.0
        merged: dict[int, _Candidate] = {}
        for b, c in self._bins.items():
            old = merged.get(b // 2)
            if old is None or c.rough > old.rough:
                merged[b // 2] = c
        self._bins = merged

    def drop_frames(self, drop: Callable[[int], bool]) -> None:
        """Forget the candidates at frames where ``drop(frame)`` (scenery cut out of the track), before finish."""
        if self._done is None:
            self._bins = {b: c for b, c in self._bins.items() if not drop(c.frame)}

    def finish(self) -> list[TrackCrop]:
        """The track closed: ``cap`` candidates evenly spread over time, JPEG-encoded (track id 0: the writer
        sets it). The raw crops are freed; calling again returns the same list."""
        if self._done is None:
            cands = sorted(self._bins.values(), key=lambda c: c.frame)
            out = []
            for i in spread(len(cands), self.cap):
                c = cands[int(i)]
                ok, buf = cv2.imencode(".jpg", c.crop, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                if not ok:
                    continue
                q = sample_quality(c.frame_box, c.frame_kps, c.overlap, sharpness(c.crop), c.frame_hw)
                out.append(TrackCrop(0, c.frame, c.box, q, c.keypoints, buf.tobytes()))
            self._done, self._bins = out, {}
        return self._done


def new_reservoir(cap: int) -> CropReservoir | None:
    """A reservoir for a new open track, or None when no training crops are kept (``cap`` 0)."""
    return CropReservoir(cap) if cap > 0 else None


def write_track_crops(s: Session, track_id: int, reservoir: CropReservoir | None) -> int:
    """Store a closed track's crops in the open session ``s``; returns how many."""
    if reservoir is None:
        return 0
    crops = [replace(c, track_id=track_id) for c in reservoir.finish()]
    add_track_crops(s, track_id, crops)
    return len(crops)
