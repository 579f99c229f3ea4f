"""Throughput of the PGFA encoder against its bare backbone, measured side by side.

For each backbone (ResNet-50 with last stride 1, MobileNetV2 at output stride 16), batch size and
precision, four variants run interleaved (their order rotates every repetition) on the same
384x128 input batch and the same random weights:

- ``backbone``: the trunk alone, normalised image tensor -> (B, C, 24, 8);
- ``extra``: only what PGFA adds, on a cached trunk output: heatmaps from COCO keypoints (numpy),
  their upload, the pose-guided pooling (one bmm), stripe pooling and L2 normalisation;
- ``pgfa``: trunk + extra through ``PGFA.forward``, i.e. the full PGFA model;
- ``encode``: ``Encoder.encode`` end to end from uint8 crops (adds uint8 upload, ImageNet
  normalisation, stripe visibility and the copy back to numpy).

It prints crops/s and the overheads over the backbone: extra / backbone (measured directly, so it
stays readable on a busy machine where the difference of two long timings is mostly noise),
pgfa / backbone - 1 and encode / backbone - 1. The issue asks for the PGFA extra to cost <= 5 %.
On CUDA it also runs fp16 (autocast + channels_last) and prints the fp32 / fp16 speed-up.

    .venv/bin/python bench/bench_encoder.py --batch-sizes 1,4,16 --max-seconds 20 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from reid_core.encoder import Encoder, pick_device
from reid_core.model import INPUT_HW, PGFA, pose_guided_pool, stripe_pool
from reid_core.pose import coco17_to_openpose18, keypoint_heatmaps

# A standing person in a 384x128 crop, COCO order (x, y).
STANDING = np.array([
    [64, 40], [70, 34], [58, 34], [76, 38], [52, 38], [86, 90], [42, 90], [92, 150], [36, 150],
    [94, 205], [34, 205], [78, 200], [50, 200], [78, 280], [50, 280], [78, 360], [50, 360],
], dtype=np.float32)  # fmt: skip
VARIANTS = ("backbone", "extra", "pgfa", "encode")


def emit(line: str = "") -> None:
    """Write one line of the report."""
    print(line, flush=True)  # noqa: T201 - this script's output is its report


def make_inputs(batch: int, device: torch.device, seed: int = 0) -> tuple[torch.Tensor, list, list]:
    """Normalised image tensor, uint8 crops and jittered COCO keypoints for ``batch`` crops."""
    rng = np.random.default_rng(seed)
    crops = [rng.integers(0, 256, size=(*INPUT_HW, 3), dtype=np.uint8) for _ in range(batch)]
    kpts = []
    for _ in range(batch):
        xy = STANDING + rng.normal(0, 4, size=STANDING.shape).astype(np.float32)
        conf = rng.uniform(0.1, 1.0, size=(17, 1)).astype(np.float32)
        kpts.append(np.concatenate([xy, conf], axis=1))
    images = torch.randn(batch, 3, *INPUT_HW, generator=torch.Generator().manual_seed(seed)).to(device)
    return images, crops, kpts


def build_variants(
    model: PGFA, encoder: Encoder, images: torch.Tensor, crops: list, kpts: list, fp16: bool
) -> dict[str, Callable[[], object]]:
    """The four timed calls, sharing one model, one input batch and one precision."""
    device = encoder.device
    if encoder.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    hw = np.tile(np.array(INPUT_HW, dtype=np.float64), (len(crops), 1))
    kpts_arr = np.stack(kpts)

    def autocast() -> torch.autocast:
        return torch.autocast(device_type=device.type, dtype=torch.float16, enabled=fp16)

    def backbone() -> object:
        with torch.inference_mode(), autocast():
            return model.backbone(images)

    with torch.inference_mode(), autocast():
        fmap = model.backbone(images)

    def extra() -> object:
        maps = torch.from_numpy(keypoint_heatmaps(coco17_to_openpose18(kpts_arr), hw)).to(device)
        with torch.inference_mode(), autocast():
            glob, parts = pose_guided_pool(fmap, maps), stripe_pool(fmap, model.parts)
            return F.normalize(glob.float(), dim=1), F.normalize(parts.float(), dim=2)

    def pgfa() -> object:
        maps = keypoint_heatmaps(coco17_to_openpose18(kpts_arr), hw)
        with torch.inference_mode(), autocast():
            out = model(images, torch.from_numpy(maps).to(device))
            return F.normalize(out.global_feat.float(), dim=1), F.normalize(out.parts.float(), dim=2)

    def encode() -> object:
        return encoder.encode(crops, kpts)

    return {"backbone": backbone, "extra": extra, "pgfa": pgfa, "encode": encode}


def sync(device: torch.device) -> None:
    """Wait for queued device work so the wall clock measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def time_interleaved(
    fns: dict[str, Callable[[], object]], device: torch.device, max_seconds: float, min_reps: int
) -> dict[str, list[float]]:
    """Seconds per call of every variant, repetitions interleaved with a rotating order."""
    for fn in fns.values():  # warm-up: allocator, oneDNN / cuDNN kernel choice
        fn()
    sync(device)
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    start, rep = time.perf_counter(), 0
    while rep < min_reps or time.perf_counter() - start < max_seconds:
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            t0 = time.perf_counter()
            fns[name]()
            sync(device)
            times[name].append(time.perf_counter() - t0)
        rep += 1
    return times


def paired_ratio(times: dict[str, list[float]], num: str, den: str) -> float:
    """Median over repetitions of num / den timed in the same repetition (robust to load drift)."""
    return statistics.median(a / b for a, b in zip(times[num], times[den], strict=True))


def summarise(name: str, device: torch.device, precision: str, batch: int, times: dict) -> dict:
    """One result row: median seconds and crops/s per variant, and the overhead ratios."""
    med = {v: statistics.median(times[v]) for v in VARIANTS}
    return {
        "backbone": name, "device": str(device), "precision": precision, "batch": batch,
        "reps": len(times["backbone"]),
        **{f"{v}_s_per_batch": med[v] for v in VARIANTS},
        **{f"{v}_crops_per_s": batch / med[v] for v in VARIANTS if v != "extra"},
        "extra_over_backbone": paired_ratio(times, "extra", "backbone"),
        "pgfa_over_backbone": paired_ratio(times, "pgfa", "backbone"),
        "encode_over_backbone": paired_ratio(times, "encode", "backbone"),
    }  # fmt: skip


HEADER = (
    f"{'backbone':<12}{'prec':<6}{'batch':>6}{'backbone/s':>12}{'pgfa/s':>10}{'encode/s':>10}"
    f"{'extra':>9}{'pgfa':>9}{'encode':>9}{'reps':>6}"
)


def format_row(row: dict) -> str:
    """One table line; the last three columns are overheads over the backbone alone."""
    return (
        f"{row['backbone']:<12}{row['precision']:<6}{row['batch']:>6}{row['backbone_crops_per_s']:>12.2f}"
        f"{row['pgfa_crops_per_s']:>10.2f}{row['encode_crops_per_s']:>10.2f}"
        f"{row['extra_over_backbone'] * 100:>+8.2f}%{(row['pgfa_over_backbone'] - 1) * 100:>+8.1f}%"
        f"{(row['encode_over_backbone'] - 1) * 100:>+8.1f}%{row['reps']:>6}"
    )


def run(args: argparse.Namespace) -> list[dict]:
    """Measure every (backbone, precision, batch size) point; print the table as it goes."""
    device = pick_device(args.device)
    precisions = ["fp32", "fp16"] if device.type == "cuda" else ["fp32"]
    emit(f"device {device}; torch {torch.__version__}; threads {torch.get_num_threads()}; random weights")
    emit("crops/s per variant; overheads over the backbone alone: extra (measured directly), pgfa, encode")
    emit(HEADER)
    results = []
    for name in args.backbones:
        for precision in precisions:
            torch.manual_seed(0)
            fp16 = precision == "fp16"
            encoder = Encoder(
                PGFA(0, backbone=name), device=args.device, batch_size=max(args.batch_sizes), fp16=fp16
            )
            model = encoder.model  # on the device, eval mode, channels_last on CUDA
            for batch in args.batch_sizes:
                images, crops, kpts = make_inputs(batch, device)
                fns = build_variants(model, encoder, images, crops, kpts, fp16)
                times = time_interleaved(fns, device, args.max_seconds, args.min_reps)
                results.append(summarise(name, device, precision, batch, times))
                emit(format_row(results[-1]))
    worst = max(r["extra_over_backbone"] for r in results)
    emit(f"largest PGFA extra over the backbone alone: {worst * 100:.2f}% (target <= 5%)")
    if len(precisions) == 2:
        emit("fp16 speed-up of encode (fp32 time / fp16 time):")
        for name in args.backbones:
            for batch in args.batch_sizes:
                pair = {r["precision"]: r for r in results if r["backbone"] == name and r["batch"] == batch}
                speedup = pair["fp32"]["encode_s_per_batch"] / pair["fp16"]["encode_s_per_batch"]
                emit(f"  {name} batch {batch}: x{speedup:.2f}")
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; default batch sizes stop at 64 off CUDA."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbones", default="resnet50,mobilenetv2", help="comma-separated backbone names")
    parser.add_argument(
        "--batch-sizes", default=None, help="comma-separated (default 1,4,16,64[,256 on CUDA])"
    )
    parser.add_argument("--max-seconds", type=float, default=10.0, help="time budget per point (default 10)")
    parser.add_argument("--min-reps", type=int, default=3, help="repetitions per point at least (default 3)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    args.backbones = [b.strip() for b in args.backbones.split(",") if b.strip()]
    if args.batch_sizes is None:
        cuda = pick_device(args.device).type == "cuda"
        args.batch_sizes = [1, 4, 16, 64, 256] if cuda else [1, 4, 16, 64]
    else:
        args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; write JSON if asked."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = run(args)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results},
                                        indent=2))  # fmt: skip
        emit(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
