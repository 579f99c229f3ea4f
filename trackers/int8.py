"""The OpenVINO pose detector in int8: NNCF post-training quantisation calibrated on the user's own frames.

``[detector] precision = "int8"`` in the config, on the OpenVINO engine. A frame size without a calibration set
is detected in fp32 for its first ``CALIBRATION_FRAMES * CALIBRATION_STRIDE`` frames (the start of the video being
ingested, or of a live camera), every ``CALIBRATION_STRIDE``-th of them kept; then the fp32 export is quantised
with them and the detector switches to int8. The frames are saved (lossless PNG) under
``<cache>/calibration/<hash>/`` and recorded as the current calibration for that frame size, so later videos of
the same size, and other input sizes, reuse them instead of calibrating again (delete ``<cache>/calibration`` to
calibrate on the next video anew). Each int8 model is cached like the other exports
(:func:`reid_core.engines.cached_export`: verified by its manifest, rebuilt when corrupt), keyed by the weights'
hash, the input shape and the calibration set's hash.

What is quantised: the convolutions of the backbone and neck. What is not (:data:`FP32_SCOPE`): the detection
head, its convolutions and its decoding of boxes and keypoints (anchor grid, strides, DFL, score sigmoid), which
runs at the CPU's default precision; quantising the head's convolutions too cost tracking quality on vtest
(docs/benchmarks.md). Needs ``nncf`` (``pip install 'reidwatch[int8]'``); without it the detector runs fp32 and
says so in one log line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from reid_core.engines import cache_root, cached_export, export_dir, update_json_map, verify_export

log = logging.getLogger(__name__)

CALIBRATION_FRAMES = 24  # frames kept for calibration (one every CALIBRATION_STRIDE frames from the start)
CALIBRATION_STRIDE = 2
MAX_SIDE = 1920  # calibration frames larger than this are scaled down before they are kept
POINTER = "current.json"
# what is left unquantised: "decode" (the head's box and keypoint decoding) or "head" (the whole detection head,
# its convolutions too: better tracking on vtest, docs/benchmarks.md)
FP32_SCOPE = "head"


def nncf_available() -> bool:
    """Whether NNCF can be imported (the optional ``int8`` extra)."""
    try:
        import nncf  # noqa: F401
    except ImportError:
        return False
    return True


def usable_precision(precision: str, candidates: Sequence[str]) -> str:
    """``int8`` when it can run here (OpenVINO among the engines, NNCF installed), else ``fp32``, said once."""
    if precision != "int8":
        return precision
    if "openvino" not in candidates:
        log.warning("precision int8 runs on the OpenVINO engine only (engine here: %s); using fp32",
                    ", ".join(candidates))
        return "fp32"
    if not nncf_available():
        log.warning("precision int8 needs nncf (pip install 'reidwatch[int8]'); using fp32")
        return "fp32"
    return "int8"


def calibration_root() -> Path:
    """Where calibration frame sets live: ``<cache>/calibration``."""
    return cache_root() / "calibration"


def _capped(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    scale = MAX_SIDE / max(h, w)
    if scale >= 1:
        return np.ascontiguousarray(frame)
    return cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def calibration_hash(frames: Sequence[np.ndarray]) -> str:
    """SHA-256 of a calibration set (each frame's shape and pixels, in order)."""
    digest = hashlib.sha256()
    for f in frames:
        digest.update(str(f.shape).encode())
        digest.update(np.ascontiguousarray(f).tobytes())
    return digest.hexdigest()


def _frame_size_key(frame_hw: Sequence[int]) -> str:
    return f"{int(frame_hw[0])}x{int(frame_hw[1])}"


def save_calibration(frames: Sequence[np.ndarray]) -> str:
    """Keep ``frames`` (BGR uint8) as a calibration set, record it as the current one for their frame size and
    return its hash."""
    if not frames:
        raise ValueError("a calibration set needs at least one frame")
    kept = [_capped(f) for f in frames]
    digest = calibration_hash(kept)
    folder = calibration_root() / digest[:16]

    def build(tmp: Path) -> None:
        for i, f in enumerate(kept):
            path = tmp / f"frame_{i:03d}.png"
            if not cv2.imwrite(str(path), f):
                raise OSError(f"cannot write calibration frame {i} under {tmp}")
            os.chmod(path, 0o600)  # camera frames show people: owner only, like the store

    root = calibration_root()
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    cached_export(folder, build, what=f"int8 calibration set of {len(kept)} frames")
    _set_current(frames[0].shape[:2], digest)
    return digest


def load_calibration(digest: str) -> list[np.ndarray] | None:
    """The frames of a saved calibration set, or None when it is missing or does not match its hash."""
    folder = calibration_root() / digest[:16]
    frames = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in sorted(folder.glob("frame_*.png"))]
    if not frames or any(f is None for f in frames) or calibration_hash(frames) != digest:  # type: ignore[arg-type]
        return None
    return frames  # type: ignore[return-value]


def current_calibration(frame_hw: Sequence[int]) -> str | None:
    """The hash of the calibration set recorded for frames of this size, or None."""
    try:
        data = json.loads((calibration_root() / POINTER).read_text(encoding="utf-8"))
        value = data[_frame_size_key(frame_hw)]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(value) if isinstance(value, str) else None


def _set_current(frame_hw: Sequence[int], digest: str) -> None:
    update_json_map(calibration_root() / POINTER, _frame_size_key(frame_hw), digest)


def letterbox_input(frame_bgr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The network input ultralytics' predictor makes of a frame for an exported model of input ``shape``:
    letterboxed (centred, grey 114 borders), RGB, (1, 3, H, W) float32 in [0, 1]."""
    from ultralytics.data.augment import LetterBox

    img = np.asarray(LetterBox(new_shape=shape, auto=False, stride=32)(image=frame_bgr))
    out = np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1)[None], np.float32)
    out /= np.float32(255.0)  # in place: the same float32 division as x / 255.0, one array fewer
    return out


def head_scope(xml: Path) -> Any:
    """NNCF's ignored scope for the detection head's decoding: the operations of the last ``model.N`` module that
    are not convolutions (box and keypoint decoding, DFL, score sigmoid)."""
    import nncf

    text = xml.read_text(encoding="utf-8", errors="replace")
    indices = [int(i) for i in re.findall(r"__module\.model\.(\d+)[./]", text)]
    if not indices:
        raise ValueError(f"{xml}: no ultralytics module names; cannot find the detection head")
    head = max(indices)
    if FP32_SCOPE == "head":
        return nncf.IgnoredScope(patterns=[rf".*__module\.model\.{head}[./].*"], validate=False)
    return nncf.IgnoredScope(patterns=[rf".*__module\.model\.{head}/.*", rf".*__module\.model\.{head}\.dfl.*"],
                             validate=False)


def quantize_into(fp32_model_dir: Path, frames: Sequence[np.ndarray], shape: tuple[int, int], tmp: Path) -> None:
    """Quantise the fp32 OpenVINO export in ``fp32_model_dir`` with ``frames`` and write it to
    ``tmp/model_openvino_model`` (beside ultralytics' ``metadata.yaml``, so ultralytics loads it as it is)."""
    import nncf
    import openvino as ov

    xml = next(fp32_model_dir.glob("*.xml"))
    model = ov.Core().read_model(str(xml))
    inputs = [letterbox_input(f, shape) for f in frames]
    log.info("int8: quantising the pose detector at %dx%d on %d frames (once; about a minute or two)", *shape,
             len(inputs))
    nncf.set_log_level(logging.WARNING)  # NNCF logs a line per operation it leaves in fp32
    quantized = nncf.quantize(
        model, nncf.Dataset(inputs), preset=nncf.QuantizationPreset.MIXED, subset_size=len(inputs),
        ignored_scope=head_scope(xml),
    )
    out = tmp / "model_openvino_model"
    out.mkdir()
    ov.save_model(quantized, str(out / "model.xml"), compress_to_fp16=False)
    shutil.copyfile(fp32_model_dir / "metadata.yaml", out / "metadata.yaml")


def int8_dir(weights_hash: str, shape: tuple[int, int], calibration: str) -> Path:
    """The cache folder of the int8 export for these weights, input shape and calibration set."""
    return export_dir("detector", weights_hash, f"openvino-int8-{FP32_SCOPE}-{calibration[:12]}", shape, 1)


def build_int8(fp32_model_dir: Path, weights_hash: str, shape: tuple[int, int], calibration: str,
               frames: Sequence[np.ndarray]) -> Path:
    """The verified int8 export (built from ``frames`` when missing or corrupt); returns its model folder."""
    folder = int8_dir(weights_hash, shape, calibration)
    what = f"int8 pose detector at {shape[0]}x{shape[1]} (calibration {calibration[:12]}, {len(frames)} frames)"
    cached_export(folder, lambda tmp: quantize_into(fp32_model_dir, frames, shape, tmp), what=what)
    return folder / "model_openvino_model"


def load_int8_model(fp32_model_dir: Path, weights_hash: str, shape: tuple[int, int], calibration: str,
                    frames: Sequence[np.ndarray]) -> Any:
    """An ultralytics YOLO running the int8 export (built if needed). The quantised convolutions run int8, the
    rest (the head) at the CPU's default precision, bf16 where it has it: 1.4x faster than fp32 there (0.097
    against 0.137 CPU s a frame at 960x1280). A cached export that passes its checksum but fails to load is
    rebuilt once."""
    from ultralytics import YOLO

    from trackers.engines import pin_openvino_fp32

    for attempt in (0, 1):
        folder = build_int8(fp32_model_dir, weights_hash, shape, calibration, frames)
        try:
            model = YOLO(str(folder), task="pose")
            model.predict(np.zeros((*shape, 3), np.uint8), imgsz=list(shape), verbose=False)
            pin_openvino_fp32(model, folder, hint=None)
            return model
        except Exception as exc:  # OpenVINO raises its own types for unreadable models
            if attempt:
                raise
            log.warning("int8 detector at %dx%d: cached export does not load (%s); rebuilding it", *shape, exc)
            shutil.rmtree(folder.parent, ignore_errors=True)
    raise AssertionError("unreachable")


class Int8Models:
    """One detector's int8 models by input shape, calibrated on the first frames it sees.

    :meth:`model_for` returns the cached int8 model of an input shape at once; a shape not quantised yet warms up
    first (its first :attr:`warmup` frames, run in fp32 by the caller; the calibration frames are taken from them
    when the frame size has no calibration set yet), then it is quantised once and cached on disk.
    """

    def __init__(self, weights_hash: str, *, frames: int = CALIBRATION_FRAMES, stride: int = CALIBRATION_STRIDE) -> None:
        if frames < 1 or stride < 1:
            raise ValueError(f"frames and stride must be >= 1, got {frames}, {stride}")
        self.weights_hash = weights_hash
        self.frames = frames
        self.stride = stride
        self.warmup = frames * stride
        self._models: dict[tuple[int, int], Any] = {}
        self.folders: dict[tuple[int, int], Path] = {}  # input shape -> its int8 model folder, once loaded
        self._uses: dict[tuple[int, int], int] = {}
        self._calibration: dict[tuple[int, int], str | None] = {}  # frame size -> hash of its set
        self._collected: dict[tuple[int, int], list[np.ndarray]] = {}
        self._seen: dict[tuple[int, int], int] = {}

    def model_for(self, shape: tuple[int, int], frame: np.ndarray, fp32_model_dir: Path) -> Any | None:
        """The int8 model for input ``shape`` once ready, else None (run ``frame`` in fp32)."""
        model = self._models.get(shape)
        if model is not None:
            return model
        hw = (int(frame.shape[0]), int(frame.shape[1]))
        if hw not in self._calibration:
            digest = current_calibration(hw)
            self._calibration[hw] = digest if digest and verify_export(calibration_root() / digest[:16]) else None
        self._collect(hw, frame)
        self._uses[shape] = self._uses.get(shape, 0) + 1
        digest = self._calibration[hw]
        ready = digest is not None and int8_dir(self.weights_hash, shape, digest).exists()  # verified on loading
        if self._uses[shape] < self.warmup and not ready:
            return None  # a new shape: quantise only once it is in use (the adaptive input size settles first)
        frames = load_calibration(digest) if digest else None
        if frames is None or digest is None:  # a new frame size (or its saved set was removed): calibrate on the frames seen
            frames = [_capped(f) for f in self._collected.pop(hw, [])] or [_capped(frame)]
            digest = save_calibration(frames)
            self._calibration[hw] = digest
            log.info("int8: calibration set %s from %d frames of this video (%dx%d)", digest[:12], len(frames), *hw)
        self._models[shape] = load_int8_model(fp32_model_dir, self.weights_hash, shape, digest, frames)
        self.folders[shape] = int8_dir(self.weights_hash, shape, digest) / "model_openvino_model"
        log.info("int8 detector ready at %dx%d (calibration %s)", *shape, digest[:12])
        return self._models[shape]

    def _collect(self, hw: tuple[int, int], frame: np.ndarray) -> None:
        seen = self._seen.get(hw, 0)
        self._seen[hw] = seen + 1
        if self._calibration.get(hw) is not None:
            return
        kept = self._collected.setdefault(hw, [])
        if seen % self.stride == 0 and len(kept) < self.frames:
            kept.append(frame.copy())
