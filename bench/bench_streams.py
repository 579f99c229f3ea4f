"""OpenVINO latency mode against throughput streams for the pose detector: CPU per frame, frames/s, same outputs.

The detector's OpenVINO export (fp32, the CPU's default ``native`` precision, or the cached int8 model) is compiled
twice on the usable cores: ``latency`` (one frame at a time on every core, ultralytics' way) and ``throughput``
(OpenVINO's THROUGHPUT hint: its streams, one frame in flight on each; ``trackers/ov_stream.py``). Both run the same
pre-letterboxed vtest frames, in alternating rounds; the raw outputs are compared element by element (the
detector relies on them being identical). Inference only: no letterbox, no NMS.

    .venv/bin/python bench/bench_streams.py --frames 30 --rounds 6 --precisions fp32,native,int8
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devkit.data import find_data  # noqa: E402
from reid_core.engines import export_dir, usable_threads  # noqa: E402
from trackers.detector import YoloPoseDetector  # noqa: E402
from trackers.engines import exported_model_path, letterbox_shape  # noqa: E402
from trackers.int8 import letterbox_input  # noqa: E402


def model_xml(frames: list[np.ndarray], imgsz: int, precision: str) -> tuple[Path, tuple[int, int]]:
    """The OpenVINO model file the detector runs at ``precision`` (exported, or quantised, on first use)."""
    det = YoloPoseDetector(device="cpu", imgsz=imgsz, engine="openvino", precision=precision, in_flight=1)
    shape = letterbox_shape(frames[0].shape[:2], imgsz)
    for i in range(200 if precision == "int8" else 1):  # int8: until calibrated and quantised
        det.detect(frames[i % len(frames)])
        if precision != "int8" or shape in det._int8.folders:
            break
    if precision == "int8":
        folder = det._int8.folders[shape]
    else:
        folder = exported_model_path(export_dir("detector", det.weights_hash, "openvino", shape, 1), "openvino")
    return next(folder.glob("*.xml")), shape


def run_latency(compiled: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    request = compiled.create_infer_request()
    out = []
    for x in inputs:
        request.infer({0: x})
        out.append(request.get_output_tensor(0).data.copy())
    return out


def run_throughput(compiled: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import openvino as ov

    jobs = ov.AsyncInferQueue(compiled, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
    out: list[Any] = [None] * len(inputs)

    def done(request: Any, i: int) -> None:
        out[i] = request.get_output_tensor(0).data.copy()

    jobs.set_callback(done)
    for i, x in enumerate(inputs):
        jobs.start_async({0: x}, i)
    jobs.wait_all()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(find_data("vtest.avi") or "vtest.avi"))
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--imgsz", type=int, default=1280)
    ap.add_argument("--precisions", default="fp32,native", help="comma-separated: fp32, native, int8")
    args = ap.parse_args()
    import openvino as ov

    cap = cv2.VideoCapture(args.video)
    frames = []
    while len(frames) < args.frames:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cores = usable_threads()
    print(f"{len(frames)} frames of {Path(args.video).name}, imgsz {args.imgsz}, {cores} usable cores, "
          f"load {os.getloadavg()[0]:.1f}")
    print("| precision | mode | streams | frames/s (median) | spread | CPU s/frame | max abs diff to latency |\n"
          "|---|---|---|---|---|---|---|")
    for precision in [p for p in args.precisions.split(",") if p]:
        xml, shape = model_xml(frames, args.imgsz, precision)
        inputs = [letterbox_input(f, shape) for f in frames]
        hint = {"INFERENCE_PRECISION_HINT": "f32"} if precision == "fp32" else {}
        core = ov.Core()
        modes = {
            "latency": (core.compile_model(str(xml), "CPU", {"PERFORMANCE_HINT": "LATENCY",
                                                             "INFERENCE_NUM_THREADS": cores, **hint}), run_latency),
            "throughput": (core.compile_model(str(xml), "CPU", {"PERFORMANCE_HINT": "THROUGHPUT",
                                                                "INFERENCE_NUM_THREADS": cores, **hint}),
                           run_throughput),
        }
        fps: dict[str, list[float]] = {m: [] for m in modes}
        cpu: dict[str, list[float]] = {m: [] for m in modes}
        outs: dict[str, list[np.ndarray]] = {}
        for compiled, run in modes.values():
            run(compiled, inputs[:2])  # warm-up
        for r in range(args.rounds):
            for name in (list(modes) if r % 2 == 0 else list(modes)[::-1]):
                compiled, run = modes[name]
                t, c = time.perf_counter(), time.process_time()
                outs[name] = run(compiled, inputs)
                fps[name].append(len(inputs) / (time.perf_counter() - t))
                cpu[name].append((time.process_time() - c) / len(inputs))
        for name, (compiled, _) in modes.items():
            diff = max(float(np.abs(a - b).max()) for a, b in zip(outs[name], outs["latency"], strict=True))
            print(f"| {precision} | {name} | {compiled.get_property('NUM_STREAMS')} | "
                  f"{statistics.median(fps[name]):.2f} | {min(fps[name]):.2f}-{max(fps[name]):.2f} | "
                  f"{statistics.median(cpu[name]):.3f} | {diff:.3g} |", flush=True)
    print(f"load {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
