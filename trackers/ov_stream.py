"""Several frames in flight on OpenVINO: its throughput mode, results handed back strictly in frame order.

OpenVINO's CPU plugin runs a model either as one stream using every core (``LATENCY``, one frame at a time,
what ultralytics' predictor does) or as several streams of fewer threads each (``THROUGHPUT``), each stream
working on its own frame. On 2 cores the second is 10-17% less CPU per frame (no work is split across the
cores, so no waiting at each layer's barrier) and bit-for-bit the same outputs, as the same kernels run
(``bench/bench_streams.py``; docs/benchmarks.md, issue 15). :class:`InFlight` compiles the model that way on
the usable cores (``os.sched_getaffinity``), one stream per frame in flight, without oversubscribing; the
frame's letterbox and the NMS are ultralytics' own functions, as in its predictor (:func:`network_input`,
:func:`decode`), so the detections equal the predictor's.
"""

from __future__ import annotations

import logging
import queue
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from reid_core.engines import usable_threads
from trackers.types import NUM_KEYPOINTS, Detections

if TYPE_CHECKING:
    from trackers.detector import YoloPoseDetector

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_DET = 300  # ultralytics' default max_det, as its predictor runs


def network_input(frame_bgr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The tensor ultralytics' predictor makes of a BGR frame for an exported model of input ``shape``
    (its ``LetterBox``: centred, grey 114 borders; then RGB, (1, 3, H, W) float32 in [0, 1])."""
    from trackers.int8 import letterbox_input

    return letterbox_input(frame_bgr, shape)


def decode(raw: np.ndarray, shape: tuple[int, int], frame_hw: tuple[int, int], *, conf: float, iou: float,
           classes: list[int]) -> Detections:
    """Detections from the pose model's raw output ``(1, 5 + 51, anchors)`` for one frame: ultralytics' NMS and
    its box and keypoint scaling back to the frame, with the arguments its pose predictor passes."""
    import torch
    from ultralytics.utils import nms, ops

    pred = nms.non_max_suppression(torch.from_numpy(raw), conf, iou, classes, False, max_det=MAX_DET, nc=1)[0]
    n = int(pred.shape[0])
    if n == 0:
        return Detections.empty()
    boxes = ops.scale_boxes(shape, pred[:, :4], frame_hw)
    kpts = ops.scale_coords(shape, pred[:, 6:].view(n, NUM_KEYPOINTS, 3), frame_hw)
    return Detections(boxes=np.asarray(boxes), scores=pred[:, 4].numpy(), keypoints=np.asarray(kpts))


class Ticket:
    """One frame in flight: its request, input (kept alive while OpenVINO reads it) and sizes."""

    def __init__(self, runner: InFlight, request: Any, tensor: np.ndarray, frame_hw: tuple[int, int]) -> None:
        self.runner = runner
        self.request = request
        self.tensor = tensor
        self.shape = runner.shape
        self.frame_hw = frame_hw
        self._raw: np.ndarray | None = None

    def raw(self, conf: float = -np.inf) -> np.ndarray:
        """Wait for the frame's inference and return its raw output, only the anchors scoring above ``conf`` (the
        NMS drops the others first anyway, keeping the order); the request goes back to the pool."""
        if self._raw is None:
            if self.request is None:
                raise RuntimeError("this frame's inference failed")
            request, self.request = self.request, None
            try:  # the request goes back to the pool even when the inference failed (once)
                request.wait()
                out = request.get_output_tensor(0).data
                self._raw = np.ascontiguousarray(out[:, :, out[0, 4] > conf])
            finally:
                self.runner.release(request)
        return self._raw

    def wait(self) -> None:
        """Wait for the frame's inference and free its request (for a frame whose result is not wanted)."""
        self.raw(np.inf)


class InFlight:
    """An OpenVINO model compiled in throughput mode with :attr:`depth` infer requests, one per stream.

    ``streams`` None lets OpenVINO choose for the ``threads`` cores (2 streams of 1 thread on 2 cores).
    ``submit`` starts a frame on a free request and returns its :class:`Ticket`; reading the ticket frees the
    request. Safe to share between threads.
    """

    def __init__(self, xml: Path, shape: tuple[int, int], *, precision_hint: str | None, threads: int,
                 streams: int | None = None) -> None:
        import openvino as ov

        self.shape = shape
        self.threads = threads
        config: dict[str, Any] = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_NUM_THREADS": threads}
        if streams:
            config["NUM_STREAMS"] = streams
        if precision_hint:
            config["INFERENCE_PRECISION_HINT"] = precision_hint
        self.compiled = ov.Core().compile_model(str(xml), "CPU", config)
        self.streams = int(self.compiled.get_property("NUM_STREAMS"))
        self.depth = max(1, min(int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")), self.streams))
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for _ in range(self.depth):
            self._idle.put(self.compiled.create_infer_request())

    def submit(self, frame_bgr: np.ndarray) -> Ticket | None:
        """Start inference of one BGR frame (read the result with :meth:`Ticket.raw`); None when every request is
        in use. It never waits for a request: a caller whose own tickets hold them reads one first, and requests
        held by another thread's tickets are left to it (waiting there could deadlock two callers)."""
        try:
            request = self._idle.get_nowait()
        except queue.Empty:
            return None
        try:
            tensor = network_input(frame_bgr, self.shape)
            request.start_async({0: tensor})
        except BaseException:
            self._idle.put(request)
            raise
        return Ticket(self, request, tensor, (int(frame_bgr.shape[0]), int(frame_bgr.shape[1])))

    def release(self, request: Any) -> None:
        """Give a finished request back to the pool."""
        self._idle.put(request)


def in_flight_setting(value: int | str) -> int | str:
    """Check the detector's ``in_flight`` setting: ``"auto"`` or a count of frames >= 1 (1: one at a time)."""
    if value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"in_flight must be 'auto' or an integer >= 1, got {value!r}")
    return value


def open_in_flight(xml: Path, shape: tuple[int, int], setting: int | str, precision_hint: str | None,
                   what: str) -> InFlight | None:
    """The throughput-mode model for ``setting`` (``auto``: the streams OpenVINO chooses on the usable cores; an
    int: that many streams, at most one per usable core), or None when only one frame would be in flight. All
    streams together use the usable cores (``os.sched_getaffinity``) and no more. Logs the choice."""
    cores = usable_threads()
    if setting == 1 or cores < 2:
        log.info("detector %s at %dx%d: one frame at a time (in_flight %s, %d usable core%s)", what, *shape,
                 setting, cores, "" if cores == 1 else "s")
        return None
    runner = InFlight(xml, shape, precision_hint=precision_hint, threads=cores,
                      streams=None if setting == "auto" else min(int(setting), cores))
    if runner.depth < 2:
        log.info("detector %s at %dx%d: one frame at a time (OpenVINO chose %d stream on %d usable cores)", what,
                 *shape, runner.streams, cores)
        return None
    per = max(cores // runner.streams, 1)
    log.info("detector %s at %dx%d: OpenVINO throughput mode, %d frames in flight (%d streams x %d thread%s on %d "
             "usable cores)", what, *shape, runner.depth, runner.streams, per, "" if per == 1 else "s", cores)
    return runner


def stream_runner(det: YoloPoseDetector, frame: np.ndarray, pending: int, *, check_plan: bool = True) -> InFlight | None:
    """The throughput-mode model to run ``frame`` on now, or None to run it one at a time (engine not OpenVINO or
    not chosen yet, tiles, an input shape not loaded yet, int8 still warming up, one usable core).

    With ``check_plan`` and ``imgsz="auto"``, a frame goes in flight only when observing the ``pending`` frames
    before it cannot change its input size (:meth:`trackers.imgsz.AdaptiveImgsz.stable_for`), so the sizes, and
    so the detections, are those of one frame at a time.
    """
    from reid_core.engines import export_dir
    from trackers.engines import exported_model_path, letterbox_shape

    if det.in_flight == 1 or det.engine != "openvino" or frame.ndim != 3 or frame.shape[2] != 3:
        return None
    if len(getattr(det._model, "names", ())) != 1:  # :func:`decode` reads the one-class (person) pose layout
        return None
    hw = (int(frame.shape[0]), int(frame.shape[1]))
    if check_plan and det.imgsz_setting == "auto" and hw in det._adaptive \
            and not det._adaptive[hw].stable_for(hw, pending):
        return None
    plan = det.plan_for(frame.shape)
    if plan.tiled:
        return None
    shape = letterbox_shape(hw, plan.imgsz)
    if det.precision == "int8":
        folder = det._int8.folders.get(shape) if det._int8 is not None else None
        hint, what = None, "int8"
    elif ("openvino", shape) in det._exported:
        folder = exported_model_path(export_dir("detector", det.weights_hash, "openvino", shape, 1), "openvino")
        hint, what = ("f32", "fp32") if det.precision == "fp32" else (None, "native")
    else:
        return None
    if folder is None:
        return None
    key = (str(folder), hint)
    if key not in det._runners:
        try:
            det._runners[key] = open_in_flight(next(Path(folder).glob("*.xml")), shape, det.in_flight, hint, what)
        except Exception as exc:  # OpenVINO raises its own types; the one-at-a-time model still works
            log.warning("detector %s at %dx%d: throughput mode failed (%s); one frame at a time", what, *shape, exc)
            det._runners[key] = None
    return det._runners[key]


def finish(det: YoloPoseDetector, ticket: Ticket) -> Detections:
    """The detections of a frame in flight (waits for it)."""
    return decode(ticket.raw(det.conf), ticket.shape, ticket.frame_hw, conf=det.conf, iou=det.iou, classes=[0])


def detect_stream(det: YoloPoseDetector, items: Iterable[T], image: Callable[[T], np.ndarray]
                  ) -> Iterator[tuple[T, Detections]]:
    """``(item, detections)`` for each of ``items`` in order, up to the runner's depth of frames in flight (see
    :meth:`trackers.detector.YoloPoseDetector.detect_stream`)."""
    pending: deque[tuple[T, Ticket, int]] = deque()

    def done() -> tuple[T, Detections]:
        item, ticket, imgsz = pending.popleft()
        found = finish(det, ticket)  # frees the request first, so a caller holding the lock never waits on it
        with det.lock:
            det._last_imgsz = imgsz
            if det.imgsz_setting == "auto":
                det._adaptive[ticket.frame_hw].observe(ticket.frame_hw, found.boxes, found.scores)
        return item, found

    try:
        for item in items:
            frame = image(item)
            with det.lock:  # the lock is never held across a yield: other threads' calls go between frames
                runner = stream_runner(det, frame, len(pending))
                imgsz = det.plan_for(frame.shape).imgsz if runner is not None else 0
            if runner is None:
                while pending:
                    yield done()
                yield item, det.detect_batch([frame])[0]
                continue
            while len(pending) >= runner.depth:
                yield done()
            ticket = runner.submit(frame)
            while ticket is None and pending:
                yield done()
                ticket = runner.submit(frame)
            if ticket is None:  # another thread's frames hold every request: this one one at a time
                yield item, det.detect_batch([frame])[0]
                continue
            pending.append((item, ticket, imgsz))
        while pending:
            yield done()
    finally:
        for _, ticket, _ in pending:  # abandoned early: OpenVINO must be done with the inputs before they go
            ticket.wait()


def detect_in_flight(det: YoloPoseDetector, runner: InFlight, frames: Sequence[np.ndarray], imgsz: int
                     ) -> list[Detections]:
    """Detections of ``frames`` (one input shape), up to ``runner.depth`` at a time, in order; a frame finding
    every request held by another thread runs one at a time (``det._predict`` at ``imgsz``)."""
    out: list[Detections] = []
    pending: deque[Ticket] = deque()
    try:
        for frame in frames:
            if len(pending) >= runner.depth:
                out.append(finish(det, pending.popleft()))
            ticket = runner.submit(frame)
            while ticket is None and pending:
                out.append(finish(det, pending.popleft()))
                ticket = runner.submit(frame)
            if ticket is None:
                out.extend(det._predict([frame], imgsz))
            else:
                pending.append(ticket)
        while pending:
            out.append(finish(det, pending.popleft()))
    finally:
        for ticket in pending:
            ticket.wait()
    return out
