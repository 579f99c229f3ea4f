"""PGFA network: shapes for both backbones, the pose-guided pooling, stripes and the loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reid_core.model import PGFA, pgfa_loss, pose_guided_pool, stripe_pool


@pytest.fixture(scope="module")
def resnet_model() -> PGFA:
    torch.manual_seed(0)
    return PGFA(7, parts=3, backbone="resnet50")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(2, 3, 384, 128, generator=torch.Generator().manual_seed(1))


def _heatmaps(b: int, seed: int = 2) -> torch.Tensor:
    return torch.rand(b, 18, 24, 8, generator=torch.Generator().manual_seed(seed))


def test_resnet50_last_stride_one(resnet_model: PGFA, images: torch.Tensor) -> None:
    block = resnet_model.backbone.layer4[0]
    assert block.conv2.stride == (1, 1) and block.downsample[0].stride == (1, 1)
    assert resnet_model.feat_dim == 2048
    resnet_model.eval()
    with torch.no_grad():
        fmap = resnet_model.feature_map(images[:1])
    assert fmap.shape == (1, 2048, 24, 8)


@pytest.mark.slow
def test_resnet50_train_and_eval_outputs(resnet_model: PGFA, images: torch.Tensor) -> None:
    heat = _heatmaps(2)
    resnet_model.train()
    with torch.no_grad():
        out = resnet_model(images, heat)
    assert len(out.part_logits) == 3
    assert all(t.shape == (2, 7) for t in out.part_logits) and out.pose_logits.shape == (2, 7)

    resnet_model.eval()
    one = images[:1]
    with torch.no_grad():
        raw = resnet_model(one, heat[:1], feature_mode="raw")
        head = resnet_model(one, heat[:1], feature_mode="head")
        fmap = resnet_model.feature_map(one)
    assert raw.global_feat.shape == (1, 4096) and raw.parts.shape == (1, 3, 2048)
    assert head.global_feat.shape == (1, 256) and head.parts.shape == (1, 3, 256)
    assert resnet_model.embedding_dims("raw") == (4096, 2048)
    assert resnet_model.embedding_dims("head") == (256, 256)
    # raw stripe features are the mean of 8 feature-map rows each; P1 is the mean of everything,
    # and the 256-d head features are the heads applied to those raw features.
    torch.testing.assert_close(raw.parts[:, 1], fmap[:, :, 8:16].mean(dim=(2, 3)))
    torch.testing.assert_close(raw.global_feat[:, :2048], fmap.mean(dim=(2, 3)))
    with torch.no_grad():
        torch.testing.assert_close(head.parts[:, 2], resnet_model.part_heads[2](raw.parts[:, 2]))
        torch.testing.assert_close(head.global_feat, resnet_model.pose_head(raw.global_feat))


def test_mobilenetv2_shapes_and_backward() -> None:
    torch.manual_seed(0)
    model = PGFA(5, parts=6, backbone="mobilenetv2")
    assert model.feat_dim == 1280
    model.eval()
    with torch.no_grad():
        assert model.feature_map(torch.randn(1, 3, 384, 128)).shape == (1, 1280, 24, 8)
        emb = model(torch.randn(1, 3, 384, 128), None)
    assert emb.global_feat.shape == (1, 2560) and emb.parts.shape == (1, 6, 1280)
    # Training step on half-size crops (output stride 16 -> 12x4 maps) to keep the CPU backward quick.
    model.train()
    out = model(torch.randn(2, 3, 192, 64), torch.rand(2, 18, 12, 4))
    assert len(out.part_logits) == 6 and out.pose_logits.shape == (2, 5)
    pgfa_loss(out, torch.tensor([1, 4])).backward()
    assert model.pose_head[0].weight.grad is not None
    assert model.part_classifiers[5].weight.grad.abs().sum() > 0
    assert model.backbone.features[0][0].weight.grad.abs().sum() > 0


def test_pose_guided_pool_equals_naive_loop() -> None:
    g = torch.Generator().manual_seed(3)
    fmap = torch.randn(3, 5, 4, 2, generator=g)
    heat = torch.rand(3, 18, 4, 2, generator=g)
    expected = torch.zeros(3, 10)
    for b in range(3):
        p1 = fmap[b].mean(dim=(1, 2))
        p2 = torch.full((5,), -float("inf"))
        for j in range(18):
            p2 = torch.maximum(p2, (heat[b, j] * fmap[b]).mean(dim=(1, 2)))
        expected[b] = torch.cat([p1, p2])
    torch.testing.assert_close(pose_guided_pool(fmap, heat), expected)
    channels_last = fmap.contiguous(memory_format=torch.channels_last)  # the CUDA layout
    torch.testing.assert_close(pose_guided_pool(channels_last, heat), expected)


def test_pose_guided_pool_without_pose_degrades_to_plain_pooling() -> None:
    fmap = torch.randn(2, 6, 4, 2)
    none = pose_guided_pool(fmap, None)
    ones = pose_guided_pool(fmap, torch.ones(2, 18, 4, 2))
    torch.testing.assert_close(none, ones)
    torch.testing.assert_close(none[:, 6:], fmap.mean(dim=(2, 3)))
    with pytest.raises(ValueError, match="heatmaps"):
        pose_guided_pool(fmap, torch.ones(2, 18, 3, 2))


def test_stripe_pool_splits_rows_evenly() -> None:
    fmap = torch.randn(2, 4, 24, 8)
    stripes = stripe_pool(fmap, 6)
    assert stripes.shape == (2, 6, 4)
    for i in range(6):
        torch.testing.assert_close(stripes[:, i], fmap[:, :, 4 * i : 4 * (i + 1)].mean(dim=(2, 3)))


def test_pgfa_loss_weights_parts_and_pose() -> None:
    g = torch.Generator().manual_seed(4)
    parts = [torch.randn(4, 9, generator=g) for _ in range(3)]
    pose = torch.randn(4, 9, generator=g)
    labels = torch.tensor([0, 3, 8, 3])
    from reid_core.model import PGFAOutput

    out = PGFAOutput(parts, pose)
    expected = 0.2 * sum(F.cross_entropy(p, labels) for p in parts) + 0.8 * F.cross_entropy(pose, labels)
    torch.testing.assert_close(pgfa_loss(out, labels), expected)
    torch.testing.assert_close(
        pgfa_loss(out, labels, lam=1.0), sum(F.cross_entropy(p, labels) for p in parts)
    )
    with pytest.raises(ValueError):
        pgfa_loss(out, labels, lam=1.5)


def test_inference_only_model_and_validation() -> None:
    model = PGFA(0, backbone="mobilenetv2")
    assert len(model.part_classifiers) == 0 and model.pose_classifier is None
    x = torch.randn(1, 3, 384, 128)
    with pytest.raises(RuntimeError, match="num_classes=0"):
        model.train()(x)
    before = x.clone()
    model.eval()
    with torch.no_grad():
        emb = model(x, feature_mode="head")
    assert emb.parts.shape == (1, 3, 256)
    torch.testing.assert_close(x, before)  # the caller's tensor is untouched
    with pytest.raises(ValueError, match="unknown backbone"):
        PGFA(3, backbone="vgg")
    with pytest.raises(ValueError, match="feature_mode"):
        PGFA(3, backbone="mobilenetv2", feature_mode="fancy")
    with pytest.raises(ValueError, match="18 maps"):
        model(x, torch.ones(1, 17, 24, 8))


def test_parameter_groups_cover_everything_once() -> None:
    model = PGFA(4, backbone="mobilenetv2")
    ids = [id(p) for p in model.backbone_parameters()] + [id(p) for p in model.new_parameters()]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
