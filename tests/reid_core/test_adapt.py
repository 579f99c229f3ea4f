"""Site adaptation maths: augmentations move keypoints with the pixels, the losses, and learning on synthetic
identities (cross-camera separation improves although no cross-camera pair is ever given), checkpoint round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reid_core.adapt.augment import affine_scale_shift, camera_view, mirror, occlude
from reid_core.adapt.features import _eq8, clean_features, head_features, visible_mean
from reid_core.adapt.losses import cannot_link_margin, eq8_distance, normalise
from reid_core.adapt.trainer import AdaptConfig, AdaptState, adapt, average_heads, averaging_epoch, compact
from reid_core.adapt.views import CropSet, build_view_bank
from reid_core.encoder import Encoder
from reid_core.matching import pgfa_distance
from reid_core.synthetic import generate_people
from reid_core.weights import load_model, resolve_model, save_checkpoint


def _dot_image(x: float, y: float) -> tuple[torch.Tensor, np.ndarray]:
    img = torch.zeros(3, 384, 128)
    img[:, int(y) - 2:int(y) + 3, int(x) - 2:int(x) + 3] = 255.0
    kp = np.zeros((17, 3), np.float32)
    kp[0] = (x + 0.5, y + 0.5, 0.9)
    kp[5] = (30.0, 100.0, 0.8)  # left shoulder
    return img, kp


def _bright_centre(img: torch.Tensor) -> tuple[float, float]:
    m = img[0]
    ys, xs = torch.nonzero(m > 0.5 * m.max(), as_tuple=True)
    return float(xs.float().mean()) + 0.5, float(ys.float().mean()) + 0.5


@pytest.mark.parametrize(("scale", "dx", "dy"), [(1.0, 0.0, 0.0), (1.15, 0.05, -0.03), (0.8, -0.06, 0.08)])
def test_keypoints_follow_scale_and_shift(scale, dx, dy):
    img, kp = _dot_image(70.0, 150.0)
    out, k = affine_scale_shift(img, kp, scale, dx, dy)
    cx, cy = _bright_centre(out)
    assert abs(cx - k[0, 0]) < 1.5 and abs(cy - k[0, 1]) < 1.5


def test_mirror_swaps_sides_and_occluder_hides_keypoints():
    img, kp = _dot_image(20.0, 50.0)
    out, k = mirror(img, kp)
    cx, _ = _bright_centre(out)
    assert abs(cx - k[0, 0]) < 1.0
    assert k[6, 2] == pytest.approx(0.8) and k[6, 0] == pytest.approx(128 - 30.0) and k[5, 2] == 0.0
    rng = np.random.default_rng(0)
    hidden = 0
    for _ in range(50):
        o, kk = occlude(img, kp, rng, (0.2, 0.3))
        covered = bool((o[:, int(kp[0, 1]), int(kp[0, 0])] != img[:, int(kp[0, 1]), int(kp[0, 0])]).any())
        assert (kk[0, 2] == 0.0) == covered
        hidden += covered
    assert 0 < hidden < 50
    view, kv = camera_view(img, kp, np.random.default_rng(1))
    assert view.shape == img.shape and float(view.min()) >= 0 and float(view.max()) <= 255 and kv.shape == (17, 3)


def test_eq8_matches_matching_module_and_margin_loss():
    g = torch.randn(5, 16)
    p = torch.randn(5, 3, 8)
    v = torch.rand(5, 3) > 0.3
    ng, np_ = normalise(g, p)
    ref = pgfa_distance(g, p, v, g, p, v)
    assert torch.allclose(eq8_distance(ng, np_, v, ng, np_, v), ref, atol=1e-5)
    dist = torch.tensor([[0.0, 0.1, 0.5], [0.1, 0.0, 0.05], [0.5, 0.05, 0.0]])
    labels = torch.tensor([0, 0, 1])
    cannot = torch.tensor([[False, False, True], [False, False, True], [True, True, False]])
    # anchor 1: positive at 0.1, certain negative at 0.05 -> 0.1 - 0.05 + 0.1; anchor 0: 0.1 - 0.5 + 0.1 < 0
    assert float(cannot_link_margin(dist, labels, cannot, margin=0.1)) == pytest.approx(0.15 / 2)
    assert compact(np.array([7, 3, 7, 9])).tolist() == [0, 1, 0, 2]


def _cross_camera_gap(tf, tp, tc) -> float:
    n = len(tp)
    d = [visible_mean(tf.global_feat[tf.track == t], tf.parts[tf.track == t], tf.visibility[tf.track == t])
         for t in range(n)]
    same, diff = [], []
    for a in range(n):
        for b in range(a + 1, n):
            if tc[a] != tc[b]:
                x = _eq8(tuple(v[None] for v in d[a]), tuple(v[None] for v in d[b]))[0, 0]
                (same if tp[a] == tp[b] else diff).append(x)
    return float(np.median(diff) - np.median(same))


@pytest.mark.slow
def test_adaptation_learns_synthetic_people_across_cameras(tmp_path):
    """Tracks are (person, camera); only same-camera co-occurrence is known. Cross-camera same-person pairs are
    never given, yet their distance to different people's grows: the augmentations imitate the other camera."""
    torch.manual_seed(0)
    n_id = 8
    ppl = generate_people(list(range(n_id)), 6, cameras=(0, 1), seed=3)
    track = ppl.pids * 2 + ppl.camids
    tp, tc = np.arange(2 * n_id) // 2, np.arange(2 * n_id) % 2
    cannot = (tc[:, None] == tc[None, :]) & (tp[:, None] != tp[None, :])
    model, _ = resolve_model(None, backbone="mobilenetv2")
    bank = build_view_bank(model, CropSet(list(ppl.images), ppl.keypoints, track), views=2, seed=0)
    before = _cross_camera_gap(clean_features(None, bank), tp, tc)
    steps: list[tuple[int, int, int]] = []
    states: list[AdaptState] = []
    state = adapt(model, bank, cannot, np.arange(2 * n_id), AdaptConfig(epochs=12, batch_ids=8, seed=0),
                  on_step=lambda done, total, epoch, loss: steps.append((done, total, epoch)), on_epoch=states.append)
    after = _cross_camera_gap(clean_features(model, bank), tp, tc)
    assert state.epoch == 12 and len(state.history) == 12
    # progress runs over the whole run (a bar's ETA holds across epochs), not from 1 again each epoch
    per_epoch = len(steps) // 12
    assert per_epoch >= 1 and [d for d, _, _ in steps] == list(range(1, 12 * per_epoch + 1))
    assert {t for _, t, _ in steps} == {12 * per_epoch}
    assert [e for _, _, e in steps] == [e for e in range(1, 13) for _ in range(per_epoch)]
    # the heads returned are the mean over epochs 7-12 (AdaptConfig.average_from = 0.5), loaded into the model
    assert state.averaged == 6 and state.average is not None
    live = {f"part_heads.{k}": v for k, v in model.part_heads.state_dict().items()}
    live.update({f"pose_head.{k}": v for k, v in model.pose_head.state_dict().items()})
    assert all(torch.equal(live[k].cpu(), state.average[k]) for k in live)
    assert any(not torch.equal(state.average[k], state.heads[k]) for k in state.heads
               if torch.is_floating_point(state.heads[k]))  # not the last epoch's heads
    assert after > before + 0.05, (before, after)
    assert state.history[-1].loss < state.history[0].loss

    # checkpoint round trip: the encoder built from it gives the trained head features
    model.feature_mode = "head"
    path = save_checkpoint(model, tmp_path / "site.safetensors", extra={"adapt": {"epochs": 12}})
    loaded, ckpt = load_model(path, num_classes=0)
    assert loaded.feature_mode == "head" and ckpt.extra["adapt"]["epochs"] == 12
    for k, v in model.state_dict().items():
        assert torch.equal(v.cpu(), loaded.state_dict()[k])
    enc = Encoder(loaded, device="cpu", feature_mode="head")
    emb = enc.encode(list(ppl.images[:3]), list(ppl.keypoints[:3]))
    assert emb.dims == (256, 3, 256)
    g, p = head_features(model.eval(), bank.global_raw[:6:2], bank.parts_raw[:6:2])
    assert np.allclose(emb.global_feat, g.detach().numpy(), atol=2e-2)

    # a run resumed after epoch 10 counts its own 2 epochs' steps from 1, with the absolute epoch numbers
    resumed: list[tuple[int, int, int]] = []
    adapt(model, bank, cannot, np.arange(2 * n_id), AdaptConfig(epochs=12, batch_ids=8, seed=0), state=states[9],
          on_step=lambda done, total, epoch, loss: resumed.append((done, total, epoch)))
    assert resumed == [(d, 2 * per_epoch, 11 + (d - 1) // per_epoch) for d in range(1, 2 * per_epoch + 1)]


def test_average_heads_is_the_running_mean_of_floating_tensors():
    states = [{"w": torch.full((2, 2), float(i)), "bn.num_batches_tracked": torch.tensor(10 * i)} for i in (1, 2, 6)]
    average, n = None, 0
    for st in states:
        average, n = average_heads(average, n, st), n + 1
    assert average is not None and torch.allclose(average["w"], torch.full((2, 2), 3.0))
    assert int(average["bn.num_batches_tracked"]) == 60  # an integer buffer: the newest
    assert AdaptState(states[-1], {}, 3, np.zeros(1), [], average, n).final_heads() is average
    assert AdaptState(states[-1], {}, 3, np.zeros(1)).final_heads() is states[-1]  # nothing averaged
    with pytest.raises(ValueError, match="average_from"):
        AdaptConfig(average_from=1.5)


def test_averaging_starts_past_the_share_of_the_epochs_or_of_the_time_budget():
    by_epochs = AdaptConfig(epochs=10)
    assert [averaging_epoch(by_epochs, e, 0.0) for e in range(1, 11)] == [False] * 5 + [True] * 5
    assert not any(averaging_epoch(AdaptConfig(epochs=10, average_from=1.0), e, 0.0) for e in range(1, 11))
    timed = AdaptConfig(epochs=1000, time_budget_s=60.0)  # `--minutes 1`: epochs is only a ceiling
    assert not averaging_epoch(timed, 40, 29.0) and averaging_epoch(timed, 41, 30.5)
