"""The PGFA encoder on ONNX Runtime or OpenVINO: the backbone and the pose-guided pooling exported as one graph.

:class:`EngineEncoder` keeps :class:`reid_core.encoder.Encoder`'s contract and its preprocessing (crop
resizing in torch, heatmaps and visibility in numpy); only the network runs on the engine. The graph takes
``images`` (B, 3, 384, 128) and ``heatmaps`` (B, 18, 24, 8) and returns the L2-normalised ``global``
(B, Dg) and ``parts`` (B, P, Dp), with a dynamic batch axis. Exports are cached and verified as described
in :mod:`reid_core.engines`, keyed by a hash of the model's weights and configuration. OpenVINO runs in
fp32 (``INFERENCE_PRECISION_HINT``) so that its embeddings match torch's.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reid_core.encoder import Encoder
from reid_core.engines import (
    cached_export,
    choice_key,
    describe_timings,
    engines_for,
    export_dir,
    fastest,
    load_choice,
    store_choice,
    time_interleaved,
    usable_threads,
)
from reid_core.model import INPUT_HW, PGFA
from reid_core.pose import NUM_OPENPOSE

logger = logging.getLogger(__name__)

OPSET = 17
_FEAT_HW = (INPUT_HW[0] // 16, INPUT_HW[1] // 16)


class _Graph(nn.Module):
    """PGFA in eval mode with its outputs normalised, as one traceable module."""

    def __init__(self, model: PGFA, feature_mode: str) -> None:
        super().__init__()
        self.model = model
        self.feature_mode = feature_mode

    def forward(self, images: torch.Tensor, heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.model(images, heatmaps, feature_mode=self.feature_mode)
        return F.normalize(feats.global_feat, dim=1), F.normalize(feats.parts, dim=2)


def model_hash(model: PGFA, feature_mode: str) -> str:
    """SHA-256 of the model's configuration, feature mode and every weight the graph uses (keys its exports).

    Raw features use the backbone only, so the (untrained, randomly initialised) heads are left out there.
    """
    digest = hashlib.sha256(json.dumps({**model.config, "mode": feature_mode}, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        if feature_mode == "raw" and not name.startswith("backbone."):
            continue
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def export_onnx(model: PGFA, feature_mode: str, path: Path) -> None:
    """Write ``model`` (eval, CPU, fp32) as an ONNX graph with a dynamic batch axis to ``path``."""
    import copy

    graph = _Graph(copy.deepcopy(model).float().cpu().eval(), feature_mode)
    images = torch.zeros((2, 3, *INPUT_HW))
    maps = torch.zeros((2, NUM_OPENPOSE, *_FEAT_HW))
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            graph, (images, maps), str(path), input_names=["images", "heatmaps"],
            output_names=["global", "parts"], opset_version=OPSET, dynamo=False,
            dynamic_axes={"images": {0: "batch"}, "heatmaps": {0: "batch"}, "global": {0: "batch"},
                          "parts": {0: "batch"}},
        )  # fmt: skip


def _onnx_folder(model: PGFA, feature_mode: str, digest: str) -> Path:
    folder = export_dir("encoder", digest, "onnx", INPUT_HW, "dyn")
    return cached_export(folder, lambda tmp: export_onnx(model, feature_mode, tmp / "model.onnx"),
                         what=f"PGFA {model.backbone_name} encoder (ONNX)")  # fmt: skip


def _openvino_folder(onnx_file: Path, digest: str, backbone: str) -> Path:
    def build(tmp: Path) -> None:
        import openvino as ov

        ov.save_model(ov.convert_model(str(onnx_file)), str(tmp / "model.xml"), compress_to_fp16=False)

    folder = export_dir("encoder", digest, "openvino", INPUT_HW, "dyn")
    return cached_export(folder, build, what=f"PGFA {backbone} encoder (OpenVINO)")


Runner = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def make_runner(model: PGFA, feature_mode: str, engine: str, digest: str | None = None) -> Runner:
    """A function (images, heatmaps) -> (global, parts) running the exported ``model`` on ``engine``."""
    digest = digest or model_hash(model, feature_mode)
    onnx_file = _onnx_folder(model, feature_mode, digest) / "model.onnx"
    threads = usable_threads()
    if engine == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])

        def run_ort(images: np.ndarray, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            glob, parts = session.run(None, {"images": images, "heatmaps": heatmaps})
            return glob, parts

        return run_ort
    if engine == "openvino":
        import openvino as ov

        xml = _openvino_folder(onnx_file, digest, model.backbone_name) / "model.xml"
        compiled = ov.Core().compile_model(str(xml), "CPU", {
            "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32",
        })  # fmt: skip
        request = compiled.create_infer_request()

        def run_ov(images: np.ndarray, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            out = request.infer({"images": images, "heatmaps": heatmaps})
            return np.array(out[compiled.output(0)]), np.array(out[compiled.output(1)])

        return run_ov
    raise ValueError(f"no exported runner for engine {engine!r}")


class EngineEncoder(Encoder):
    """An :class:`Encoder` whose network runs on ONNX Runtime or OpenVINO (CPU, fp32)."""

    def __init__(self, model: PGFA, *, engine: str, runner: Runner | None = None, **kwargs: Any) -> None:
        kwargs.pop("device", None)
        if kwargs.pop("fp16", None):
            raise ValueError(f"engine {engine} runs fp32 on the CPU; fp16 needs torch on CUDA")
        super().__init__(model, device="cpu", fp16=False, **kwargs)
        self.engine = engine
        self._runner = runner or make_runner(model, self.feature_mode, engine)

    def _run(self, crops: Sequence[np.ndarray], heatmaps: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        images = self.preprocess(crops).numpy().astype(np.float32, copy=False)
        glob, parts = self._runner(np.ascontiguousarray(images), np.ascontiguousarray(heatmaps, np.float32))
        return torch.from_numpy(np.asarray(glob, np.float32)), torch.from_numpy(np.asarray(parts, np.float32))


def _timing_batch(n: int = 8, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    crops = [rng.integers(0, 255, (160, 64, 3), dtype=np.uint8) for _ in range(n)]
    kpts = [np.zeros((17, 3), np.float32) for _ in range(n)]
    return crops, kpts


def engine_encoder(model: PGFA, *, engine: str, device: str, **kwargs: Any) -> Encoder:
    """An encoder on ``engine`` (``auto`` picks the fastest installed one for ``device``, measured once per
    machine and weights, and logs why); an engine that fails to export or load falls back to torch."""
    candidates = engines_for(engine, device)
    if candidates == ["torch"]:
        return Encoder(model, device=device, **kwargs)
    built: dict[str, Encoder] = {}
    for name in candidates:
        try:
            built[name] = Encoder(model, device=device, **kwargs) if name == "torch" else EngineEncoder(
                model, engine=name, **kwargs)
        except Exception as exc:  # export or engine load failures: keep the engines that work
            logger.warning("encoder engine %s unavailable (%s); not using it", name, exc)
    if not built:
        return Encoder(model, device=device, **kwargs)
    if len(built) == 1:
        return next(iter(built.values()))
    digest = model_hash(model, built["torch"].feature_mode if "torch" in built else "raw")
    key = choice_key("encoder", digest, sorted(built), INPUT_HW)
    timings = load_choice(key)
    source = "measured earlier on this machine"
    if timings is None or set(timings) - set(built):  # an engine that failed its measurement is left out of it
        crops, kpts = _timing_batch()
        timings, failures = time_interleaved({name: partial(enc.encode, crops, kpts) for name, enc in built.items()})
        for name, failure in failures.items():
            logger.warning("encoder engine %s failed its measurement (%s); not using it", name, failure)
        if not timings:
            return Encoder(model, device=device, **kwargs)
        store_choice(key, timings)
        source = "measured now"
    choice = fastest(timings)
    logger.info("encoder engine: %s (auto, %s on 8 crops: %s)", choice, source, describe_timings(timings))
    return built[choice]
