"""The YOLO pose detector on OpenVINO or ONNX Runtime: exports through ultralytics, cached and verified.

An export is made for one input shape (the letterboxed (H, W) a frame size and input size give, so the
exported model sees exactly the pixels torch sees) and batch 1, in the cache described in
:mod:`reid_core.engines`. The exported model is run through ultralytics' own predictor, so pre- and
post-processing (letterbox, NMS, keypoint decoding) are the same code as on torch.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reid_core.engines import (
    cached_export,
    choice_key,
    describe_timings,
    export_dir,
    fastest,
    load_choice,
    store_choice,
    time_interleaved,
    usable_threads,
)

log = logging.getLogger(__name__)

STRIDE = 32
_FORMATS = {"openvino": "openvino", "onnxruntime": "onnx"}


def letterbox_shape(frame_hw: Sequence[int], imgsz: int) -> tuple[int, int]:
    """The network input (H, W) ultralytics uses for a frame at ``imgsz``: long side = imgsz, short side
    scaled alike and rounded up to the stride (its "rect" letterbox)."""
    h, w = int(frame_hw[0]), int(frame_hw[1])
    r = min(imgsz / h, imgsz / w)
    new_h, new_w = round(h * r), round(w * r)
    return (new_h + (imgsz - new_h) % STRIDE, new_w + (imgsz - new_w) % STRIDE)


def _export_into(weights: Path, engine: str, shape: tuple[int, int], precision: dict[str, Any]) -> Callable[[Path], None]:
    def build(tmp: Path) -> None:
        from ultralytics import YOLO
        from ultralytics.utils import LOGGER

        local = tmp / "model.pt"
        shutil.copyfile(weights, local)
        level = LOGGER.level
        LOGGER.setLevel(logging.WARNING)  # ultralytics prints a page per export; ours is one log line
        try:
            YOLO(str(local), task="pose").export(
                format=_FORMATS[engine], imgsz=list(shape), batch=1, dynamic=False, simplify=True, verbose=False,
                device="cpu", **precision,
            )
        finally:
            LOGGER.setLevel(level)
        local.unlink()

    return build


def exported_model_path(folder: Path, engine: str) -> Path:
    """What ultralytics loads from an export folder: the OpenVINO model folder or the ONNX file."""
    if engine == "openvino":
        return folder / "model_openvino_model"
    return folder / "model.onnx"


def load_exported(
    weights: Path, weights_hash: str, engine: str, shape: tuple[int, int], precision: dict[str, Any],
    fp32: bool = True,
) -> Any:
    """An ultralytics YOLO running the ``engine`` export of ``weights`` for input ``shape`` (built if needed).

    ``fp32`` pins OpenVINO to fp32 (torch's detections); False leaves OpenVINO's CPU default (bf16 where the
    CPU has it: faster, detections within a pixel or so). A cached export that passes its checksum but fails to load is deleted and exported once more.
    """
    from ultralytics import YOLO

    folder = export_dir("detector", weights_hash, engine, shape, 1)
    what = f"pose detector {weights.name} on {engine} at {shape[0]}x{shape[1]}"
    for attempt in (0, 1):
        cached_export(folder, _export_into(weights, engine, shape, precision), what=what)
        try:
            model = YOLO(str(exported_model_path(folder, engine)), task="pose")
            model.predict(np.zeros((*shape, 3), np.uint8), imgsz=list(shape), verbose=False)  # builds the backend
            if engine == "openvino" and fp32:
                pin_openvino_fp32(model, exported_model_path(folder, engine))
            return model
        except Exception as exc:  # engines raise their own types for unreadable models
            if attempt:
                raise
            log.warning("%s: cached export does not load (%s); rebuilding it", what, exc)
            shutil.rmtree(folder, ignore_errors=True)
    raise AssertionError("unreachable")


def pin_openvino_fp32(model: Any, folder: Path, *, hint: str | None = "f32") -> bool:
    """Recompile an ultralytics OpenVINO model in fp32 (``hint=None``: the CPU's default precision) on the usable
    cores.

    OpenVINO's CPU plugin defaults to bf16 on CPUs that have it (AMX, AVX512-BF16), which moved vtest's
    tracking figures by up to 0.007 MOTA; fp32 gives torch's detections. Returns False (and leaves the model
    as it is) when this ultralytics version keeps its OpenVINO model elsewhere.
    """
    backend = getattr(getattr(getattr(model, "predictor", None), "model", None), "backend", None)
    if backend is None or not hasattr(backend, "ov_compiled_model"):
        log.warning("cannot pin the OpenVINO detector to fp32 (ultralytics internals changed); it runs at "
                    "OpenVINO's default precision")
        return False
    import openvino as ov

    xml = next(Path(folder).glob("*.xml"))
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": usable_threads()}
    if hint:
        config["INFERENCE_PRECISION_HINT"] = hint
    backend.ov_compiled_model = ov.Core().compile_model(str(xml), "CPU", config)
    return True


def choose_engine(
    candidates: Sequence[str], weights_hash: str, shape: tuple[int, int], runners: dict[str, Callable[[], object]],
    kind: str = "detector",
) -> str:
    """The fastest of ``candidates`` at ``shape``: from the per-machine cache, else measured now and cached.

    ``runners`` maps an engine to a zero-argument call that runs it once on a real frame; an engine whose
    runner raises is left out (logged). Logs the choice and the times behind it.
    """
    if len(candidates) == 1:
        return candidates[0]
    key = choice_key(kind, weights_hash, candidates, shape)
    timings = load_choice(key)
    source = "measured earlier on this machine"
    if timings is None or set(timings) - set(candidates):
        timings, failures = time_interleaved({engine: runners[engine] for engine in candidates})
        for engine, exc in failures.items():  # an engine that fails to export or run is simply not chosen
            log.warning("engine %s failed its measurement (%s); not using it", engine, exc)
        if not timings:
            return "torch"
        store_choice(key, timings)
        source = "measured now"
    choice = fastest(timings)
    log.info("detector engine: %s (auto, %s at %dx%d: %s)", choice, source, shape[0], shape[1],
             describe_timings(timings))
    return choice


def merge_tiles(
    parts: Sequence[tuple[tuple[int, int, int, int], np.ndarray, np.ndarray, np.ndarray]],
    frame_hw: Sequence[int],
    iou: float = 0.5,
    margin: float = 2.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Join detections of overlapping tiles: ``(tile (x0, y0, x1, y1), boxes, scores, keypoints)`` per
    tile, all in frame pixels.

    A box touching a tile edge inside the frame is a person cut by the tile; the tiles overlap by more than
    a person's height, so the neighbouring tile holds them whole and the cut box is dropped. People found
    whole by two tiles are then merged by IoU suppression (highest score kept).
    """
    h, w = int(frame_hw[0]), int(frame_hw[1])
    boxes_l, scores_l, kpts_l = [], [], []
    for (x0, y0, x1, y1), boxes, scores, kpts in parts:
        b = np.asarray(boxes, np.float32).reshape(-1, 4)
        cut = np.zeros(len(b), bool)
        if x0 > 0:
            cut |= b[:, 0] <= x0 + margin
        if y0 > 0:
            cut |= b[:, 1] <= y0 + margin
        if x1 < w:
            cut |= b[:, 2] >= x1 - margin
        if y1 < h:
            cut |= b[:, 3] >= y1 - margin
        boxes_l.append(b[~cut])
        scores_l.append(np.asarray(scores, np.float32).reshape(-1)[~cut])
        kpts_l.append(np.asarray(kpts, np.float32)[~cut])
    boxes = np.concatenate(boxes_l) if boxes_l else np.zeros((0, 4), np.float32)
    scores = np.concatenate(scores_l) if scores_l else np.zeros(0, np.float32)
    kpts = np.concatenate(kpts_l) if kpts_l else np.zeros((0, 17, 3), np.float32)
    order = np.argsort(-scores, kind="stable")
    area = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    keep: list[int] = []
    for i in order:
        if keep:
            k = np.array(keep)
            lt = np.maximum(boxes[k, :2], boxes[i, :2])
            rb = np.minimum(boxes[k, 2:], boxes[i, 2:])
            inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
            if np.any(inter > iou * np.maximum(area[k] + area[i] - inter, 1e-6)):
                continue
        keep.append(int(i))
    idx = np.array(keep, dtype=np.int64)
    return boxes[idx], scores[idx], kpts[idx]
