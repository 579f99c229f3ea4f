"""Frames/s of the reidwatch ingest pipeline next to ultralytics' own tracking, side by side in one run, per engine.

Same video, frames and detector settings (YOLO11n-pose, same weights, same imgsz and conf) for every method:
  detect[E]         detection alone on engine E (the ceiling for any tracker using this detector), frames fed
                    as a stream (``detect_stream``: on OpenVINO several frames in flight, as the ingest runs it)
  detect-1[E]       the same one frame at a time (``in_flight=1``; ``--single E``)
  ul-bytetrack[E]   ultralytics model.track(tracker="bytetrack.yaml"): on torch as users run it, and on the
                    OpenVINO export (a fair peer on the same engine)
  ul-bytetrack[openvino:fp32]
                    the same on the OpenVINO export recompiled at fp32, reidwatch's default precision
                    (``--ul-fp32``; ultralytics as users run it gets OpenVINO's default, bf16 where the CPU has
                    it); reidwatch at fp32 is compared with it in the "same engine" column when it ran
  ul-botsort[torch] ultralytics model.track(tracker="botsort.yaml") (``--botsort``)
  reidwatch[E]      app.ingest.job.ingest_video with detector and encoder on engine E: detection + tracking +
                    best-sample PGFA embeddings + SQLite writes
  reidwatch-1[E]    the same with the detector one frame at a time (``--single E``)
E is an engine (torch, openvino, onnxruntime), optionally with the detector's precision: ``openvino:native``
(OpenVINO's CPU default, bf16 where the CPU has it), ``openvino:int8`` (NNCF, calibrated on this clip's first
frames before timing: trackers/int8.py). Plain ``openvino`` is fp32. ultralytics on OpenVINO runs its export as
users run it (OpenVINO's default precision). Each method runs ``--rounds`` times in alternating order (ABCD
DCBA ...) so drift on a shared machine hits all of them alike; the median is reported with the ratios to
ultralytics ByteTrack on torch and on the same engine, and to detection alone on the same engine and precision,
and the process CPU seconds per frame (all threads: less sensitive to other programs' load than wall time).
``--cores N`` pins the process to N cores first.

    .venv/bin/python bench/bench_pipeline.py --frames 60 --rounds 2 --imgsz 1280 --json /tmp/pipeline.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.ingest.job import ingest_video  # noqa: E402
from app.store import open_database  # noqa: E402
from devkit.data import find_data  # noqa: E402
from reid_core.engines import export_dir, installed_engines  # noqa: E402
from reid_core.weights import build_encoder  # noqa: E402
from trackers.detector import YoloPoseDetector  # noqa: E402
from trackers.engines import exported_model_path, letterbox_shape  # noqa: E402
from trackers.registry import make_tracker  # noqa: E402


def cut_video(src: Path, dst: Path, n: int) -> tuple[list, float]:
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    frames = []
    writer = None
    while len(frames) < n:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
        if writer is None:
            writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"MJPG"), fps, f.shape[1::-1])
        writer.write(f)
    writer.release()
    return frames, fps


def run_detect(det: YoloPoseDetector, frames: list) -> float:
    t = time.perf_counter()
    for _ in det.detect_stream(frames):
        pass
    return len(frames) / (time.perf_counter() - t)


def split_label(label: str) -> tuple[str, str]:
    """``openvino:int8`` -> ``("openvino", "int8")``; a plain engine runs fp32."""
    engine, _, precision = label.partition(":")
    return engine, precision or "fp32"


def same_engine_peer(method: str, med: dict[str, float]) -> float | None:
    """ultralytics ByteTrack's median on the same engine as ``method`` (``name[label]``), at the same precision
    where it ran at it: reidwatch and detection at fp32 against ultralytics recompiled at fp32 (``--ul-fp32``), the
    others against ultralytics as users run it (OpenVINO's default precision). An ultralytics row is its own."""
    if method.startswith("ul-"):
        return med.get(method)
    engine, precision = split_label(method[method.index("[") + 1:-1])
    if precision == "fp32" and f"ul-bytetrack[{engine}:fp32]" in med:
        return med[f"ul-bytetrack[{engine}:fp32]"]
    return med.get(f"ul-bytetrack[{engine}]")


def warm_int8(det: YoloPoseDetector, frames: list) -> None:
    """Run the clip until the int8 model is in use (calibrated and quantised on the clip's first frames)."""
    shape = letterbox_shape(frames[0].shape[:2], det.imgsz_for(frames[0].shape))
    for i in range(10_000):
        det.detect(frames[i % len(frames)])
        if det._int8 is not None and shape in det._int8._models:
            return
    raise RuntimeError("the int8 detector did not become ready")


def ultralytics_ov_at_fp32(model, export: Path) -> None:  # type: ignore[no-untyped-def]
    """Recompile the OpenVINO model inside an ultralytics ``YOLO`` (after its first predict) with fp32 inference,
    as reidwatch's default detector runs: OpenVINO's CPU default is bf16 where the CPU has it. The same LATENCY
    hint ultralytics uses; a later reshape (a new input shape) compiles at fp32 too. ``export``: the export's
    folder (or .xml file)."""
    from functools import partial

    import openvino as ov

    auto = model.predictor.model  # AutoBackend; it answers for its backend's attributes, so look inside first
    backend = next((b for b in (*vars(auto).values(), auto) if "ov_compiled_model" in getattr(b, "__dict__", {})),
                   None)
    if backend is None:
        raise RuntimeError("no OpenVINO model inside this ultralytics model")
    xml = export if export.suffix == ".xml" else next(export.glob("*.xml"))
    core = ov.Core()
    backend.compile_model = partial(core.compile_model, device_name="CPU",
                                    config={"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": ov.Type.f32})
    backend.ov_compiled_model = backend.compile_model(core.read_model(xml))
    assert backend.ov_compiled_model.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32


def run_ultralytics(det: YoloPoseDetector, frames: list, tracker: str, engine: str = "torch",
                    fp32: bool = False) -> float:
    from ultralytics import YOLO

    if fp32 and engine != "openvino":
        raise ValueError("fp32 recompiles an OpenVINO export; torch runs fp32 already")
    size = det.imgsz_for(frames[0].shape)
    if engine == "torch":
        model = YOLO(str(det.weights), task="pose")
        kwargs: dict = {"imgsz": size, "device": det.device}
    else:  # the same cached export reidwatch runs
        shape = letterbox_shape(frames[0].shape[:2], size)
        det._exported_model(engine, shape)  # builds the export when it is not cached yet
        export = exported_model_path(export_dir("detector", det.weights_hash, engine, shape, 1), engine)
        model = YOLO(str(export), task="pose")
        kwargs = {"imgsz": list(shape)}
    # warm-up with the timed call's own arguments: ultralytics builds a new predictor (and loads or compiles the
    # model again) when the tracker differs from the last call's, so a predict() warm-up would leave that inside
    # the timed loop; then the tracker forgets the warm-up frame
    model.track(frames[0], persist=True, tracker=tracker, conf=det.conf, classes=[0], verbose=False, **kwargs)
    if fp32:
        ultralytics_ov_at_fp32(model, Path(export))
        model.track(frames[0], persist=True, tracker=tracker, conf=det.conf, classes=[0], verbose=False, **kwargs)
    for trk in model.predictor.trackers:
        trk.reset()
    t = time.perf_counter()
    for f in frames:
        model.track(f, persist=True, tracker=tracker, conf=det.conf, classes=[0], verbose=False, **kwargs)
    return len(frames) / (time.perf_counter() - t)


def run_reidwatch(det: YoloPoseDetector, encoder, video: Path, n: int, fps: float, tmp: Path, i: int | str,
                  overlap: bool | None = None) -> float:
    db = open_database(tmp / f"bench{i}.db")
    t = time.perf_counter()
    ingest_video(db, video, camera="bench", detector=det, tracker=make_tracker("bytetrack"), encoder=encoder,
                 start=datetime(2026, 1, 1, tzinfo=timezone.utc), fps=fps, overlap=overlap)
    dt = time.perf_counter() - t
    db.close()
    return n / dt


def ingest_spans(det: YoloPoseDetector, encoder, video: Path, fps: float, tmp: Path, tag: str) -> dict[str, float]:
    """One ingest (detection on the consumer thread) with wall seconds per stage: decode (the reader thread's own
    time), detect, track + sample selection, embed, store writes; and the process CPU seconds."""
    from collections import defaultdict

    from app.ingest import pipeline
    from app.ingest import video as video_mod

    spans: dict[str, float] = defaultdict(float)
    patched: list[tuple[object, str, object]] = []

    def wrap(owner: object, name: str, key: str, thread_cpu: bool = False) -> None:
        original = getattr(owner, name)
        clock = time.thread_time if thread_cpu else time.perf_counter

        def timed(*a, **k):  # type: ignore[no-untyped-def]
            t = clock()
            try:
                return original(*a, **k)
            finally:
                spans[key] += clock() - t

        patched.append((owner, name, original))
        setattr(owner, name, timed)

    wrap(det, "detect_batch", "detect")
    stream = det.detect_stream

    def timed_stream(items, image=None):
        it = stream(items, image)
        while True:
            t = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                return
            finally:
                spans["detect"] += time.perf_counter() - t
            yield item

    det.detect_stream = timed_stream  # type: ignore[method-assign]
    wrap(pipeline.CameraProcessor, "process", "track + samples")
    wrap(pipeline.CameraProcessor, "_embed", "embed")
    wrap(pipeline.repo, "add_observations", "store writes")
    wrap(pipeline.repo, "create_track", "store writes")
    wrap(pipeline.repo, "add_embeddings", "store writes")
    wrap(pipeline.repo, "set_thumbnail", "store writes")
    wrap(pipeline, "thumbnail_jpeg", "store writes")
    wrap(video_mod.FrameReader, "_run", "decode (reader thread CPU)", thread_cpu=True)
    db = open_database(tmp / f"spans-{tag}.db")
    t, c = time.perf_counter(), time.process_time()
    try:
        ingest_video(db, video, camera="bench", detector=det, tracker=make_tracker("bytetrack"), encoder=encoder,
                     start=datetime(2026, 1, 1, tzinfo=timezone.utc), fps=fps, overlap=False)
    finally:
        for owner, name, original in patched:
            setattr(owner, name, original)
        del det.detect_stream
        db.close()
    spans["total"] = time.perf_counter() - t
    spans["process CPU"] = time.process_time() - c
    return dict(spans)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(find_data("vtest.avi") or "vtest.avi"))
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--imgsz", default="1280", help="detector input size, or auto")
    ap.add_argument("--engines", default=",".join(installed_engines()), help="comma-separated engines to run")
    ap.add_argument("--cores", type=int, help="pin the process to this many cores first")
    ap.add_argument("--botsort", action="store_true", help="also run ultralytics BoT-SORT on torch")
    ap.add_argument("--serial", default="", metavar="ENGINES",
                    help="comma-separated engines on which to also run reidwatch with detection on the consumer "
                         "thread (no overlap)")
    ap.add_argument("--single", default="", metavar="ENGINES",
                    help="comma-separated engines on which to also run detection and reidwatch one frame at a time "
                         "(in_flight=1: no OpenVINO throughput streams)")
    ap.add_argument("--spans", default="", metavar="ENGINES",
                    help="comma-separated engines on which to time one ingest stage by stage (after the rounds)")
    ap.add_argument("--ul-fp32", action="store_true",
                    help="also run ultralytics ByteTrack on the OpenVINO export compiled at fp32 (reidwatch's default "
                         "precision; ultralytics runs OpenVINO's default, bf16 where the CPU has it)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    if args.cores:
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: args.cores]))
    engines = [e for e in args.engines.split(",") if e]
    imgsz = args.imgsz if args.imgsz == "auto" else int(args.imgsz)
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    frames, fps = cut_video(Path(args.video), tmp / "clip.avi", args.frames)
    dets = {e: YoloPoseDetector(device=args.device, imgsz=imgsz, engine=split_label(e)[0],
                                precision=split_label(e)[1]) for e in engines}
    encoders = {e: build_encoder(None, device=dets[e].device, engine=split_label(e)[0]) for e in engines}
    single = [e for e in args.single.split(",") if e]
    singles = {e: YoloPoseDetector(device=args.device, imgsz=imgsz, engine=split_label(e)[0],
                                   precision=split_label(e)[1], in_flight=1) for e in single}
    for d in [*dets.values(), *singles.values()]:
        d.detect(frames[0])  # warm-up (and export on first use)
        if d.precision == "int8":
            warm_int8(d, frames)
        for _ in d.detect_stream(frames[:3]):  # the throughput-mode model too, where there is one
            pass
    base_det = dets[engines[0]]
    methods: dict = {}
    for e in engines:
        methods[f"detect[{e}]"] = lambda i, e=e: run_detect(dets[e], frames)
        if e in singles:
            methods[f"detect-1[{e}]"] = lambda i, e=e: run_detect(singles[e], frames)
    methods["ul-bytetrack[torch]"] = lambda i: run_ultralytics(base_det, frames, "bytetrack.yaml")
    ov = next((e for e in engines if split_label(e)[0] == "openvino"), None)
    if ov is not None:
        methods["ul-bytetrack[openvino]"] = lambda i: run_ultralytics(dets[ov], frames, "bytetrack.yaml", "openvino")
        if args.ul_fp32:
            methods["ul-bytetrack[openvino:fp32]"] = lambda i: run_ultralytics(dets[ov], frames, "bytetrack.yaml",
                                                                               "openvino", fp32=True)
    if args.botsort:
        methods["ul-botsort[torch]"] = lambda i: run_ultralytics(base_det, frames, "botsort.yaml")
    for e in engines:
        methods[f"reidwatch[{e}]"] = lambda i, e=e: run_reidwatch(dets[e], encoders[e], tmp / "clip.avi",
                                                                  len(frames), fps, tmp, f"{e}{i}".replace(":", "-"))
        if e in singles:
            methods[f"reidwatch-1[{e}]"] = lambda i, e=e: run_reidwatch(
                singles[e], encoders[e], tmp / "clip.avi", len(frames), fps, tmp, f"{e}{i}-1".replace(":", "-"))
        if e in args.serial.split(","):
            methods[f"reidwatch-serial[{e}]"] = lambda i, e=e: run_reidwatch(
                dets[e], encoders[e], tmp / "clip.avi", len(frames), fps, tmp, f"{e}{i}s".replace(":", "-"), overlap=False)
    names = list(methods)
    results: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            c = time.process_time()
            results[name].append(methods[name](r))
            cpu[name].append((time.process_time() - c) / len(frames))
            print(f"round {r + 1} {name:28s} {results[name][-1]:6.2f} frames/s {cpu[name][-1]:6.3f} cpu s/frame",
                  flush=True)
    for e in [e for e in args.spans.split(",") if e]:
        sp = ingest_spans(dets[e], encoders[e], tmp / "clip.avi", fps, tmp, e.replace(":", "-"))
        print(f"stages of one ingest[{e}] ({len(frames)} frames), seconds: "
              + ", ".join(f"{k} {v:.2f}" for k, v in sp.items()), flush=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    base = med["ul-bytetrack[torch]"]
    print(f"\n{len(frames)} frames of {Path(args.video).name}, imgsz {base_det.imgsz_for(frames[0].shape)}, "
          f"conf {base_det.conf}, device {base_det.device}, cores {len(os.sched_getaffinity(0))}, "
          f"encoder {getattr(encoders[engines[0]], 'weights_info', None)}")
    print("| method | frames/s (median) | spread | x ul ByteTrack torch | x ul ByteTrack same engine "
          "| x detect same engine | CPU s/frame |\n|---|---|---|---|---|---|---|")
    for k in names:
        label = k[k.index("[") + 1:-1]
        same = same_engine_peer(k, med)
        det = med.get(f"detect[{label}]")
        spread = f"{min(results[k]):.2f}-{max(results[k]):.2f}"
        print(f"| {k} | {med[k]:.2f} | {spread} | {med[k] / base:.2f} | "
              f"{f'{med[k] / same:.2f}' if same else '-'} | {f'{med[k] / det:.2f}' if det else '-'} | "
              f"{statistics.median(cpu[k]):.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"frames": len(frames), "device": base_det.device, "runs": results,
                                               "cpu_s_per_frame": cpu, "median": med}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
