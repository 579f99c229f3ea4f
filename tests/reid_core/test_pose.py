"""COCO -> OpenPose mapping, keypoint heatmaps and stripe visibility (PGFA eq. 5)."""

from __future__ import annotations

import numpy as np
import pytest

from reid_core.pose import (
    OPENPOSE18_NAMES,
    coco17_to_openpose18,
    keypoint_heatmaps,
    part_visibility,
)

COCO_NAMES = (
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
    "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
)  # fmt: skip


def _coco_with_ids() -> np.ndarray:
    """Keypoint i at x = i, y = 100 + i, conf = 0.5 + i / 100, so every row is identifiable."""
    i = np.arange(17, dtype=np.float32)
    return np.stack([i, 100 + i, 0.5 + i / 100], axis=1)


def _openpose(points: dict[str, tuple[float, float, float]]) -> np.ndarray:
    kp = np.zeros((18, 3), np.float32)
    for name, row in points.items():
        kp[OPENPOSE18_NAMES.index(name)] = row
    return kp


def test_coco_to_openpose_maps_every_named_joint() -> None:
    coco = _coco_with_ids()
    out = coco17_to_openpose18(coco)
    assert out.shape == (18, 3) and out.dtype == np.float32
    for j, name in enumerate(OPENPOSE18_NAMES):
        if name == "neck":
            continue
        np.testing.assert_array_equal(out[j], coco[COCO_NAMES.index(name)], err_msg=name)


def test_neck_is_shoulder_midpoint_with_min_confidence() -> None:
    coco = np.zeros((17, 3), np.float32)
    coco[5] = (40.0, 50.0, 0.9)  # left shoulder
    coco[6] = (20.0, 54.0, 0.3)  # right shoulder
    neck = coco17_to_openpose18(coco)[OPENPOSE18_NAMES.index("neck")]
    np.testing.assert_allclose(neck, (30.0, 52.0, 0.3))


def test_coco_to_openpose_batch_and_no_mutation() -> None:
    coco = np.stack([_coco_with_ids(), _coco_with_ids() * 2])
    before = coco.copy()
    out = coco17_to_openpose18(coco)
    assert out.shape == (2, 18, 3)
    np.testing.assert_array_equal(out[1], coco17_to_openpose18(coco[1]))
    np.testing.assert_array_equal(coco, before)
    with pytest.raises(ValueError, match=r"\(17, 3\)"):
        coco17_to_openpose18(np.zeros((18, 3)))


def test_heatmap_peak_sits_on_the_keypoint_cell() -> None:
    crop_hw = (384, 128)  # cells of 16x16 px: cell (r, c) has centre (16c + 8, 16r + 8)
    kp = _openpose({"nose": (72.0, 40.0, 0.9), "l_ankle": (24.0, 360.0, 0.9), "neck": (56.0, 100.0, 0.9)})
    maps = keypoint_heatmaps(kp, crop_hw)
    assert maps.shape == (18, 24, 8) and maps.dtype == np.float32
    for name, (x, y) in {"nose": (72, 40), "l_ankle": (24, 360)}.items():
        hm = maps[OPENPOSE18_NAMES.index(name)]
        r, c = np.unravel_index(np.argmax(hm), hm.shape)
        assert (r, c) == (y // 16, x // 16), name
        assert hm[r, c] == pytest.approx(1.0, abs=1e-6)  # the keypoint is exactly on a cell centre
    assert 0.0 <= maps.min() and maps.max() <= 1.0


def test_heatmap_sigma_is_area_over_1000() -> None:
    crop_hw = (256, 128)
    sigma = 256 * 128 / 1000  # 32.768 px
    kp = _openpose({"nose": (8.0, 8.0, 1.0), "neck": (8.0, 40.0, 1.0), "r_hip": (8.0, 72.0, 1.0)})
    hm = keypoint_heatmaps(kp, crop_hw, feat_hw=(16, 8))[0]  # 16x16 px cells, nose on cell (0, 0)
    dy = np.arange(16) * 16.0
    np.testing.assert_allclose(hm[:, 0], np.exp(-(dy**2) / (2 * sigma**2)), rtol=1e-5)
    dx = np.arange(8) * 16.0
    np.testing.assert_allclose(hm[0, :], np.exp(-(dx**2) / (2 * sigma**2)), rtol=1e-5)
    # A smaller crop has a proportionally sharper Gaussian: 1 cell away is much dimmer.
    small = keypoint_heatmaps(kp / [2, 2, 1], (128, 64), feat_hw=(16, 8))[0]
    assert small[1, 0] < hm[1, 0] - 0.1


def test_keypoints_below_gamma_give_zero_maps() -> None:
    kp = _openpose({"nose": (64.0, 40.0, 0.9), "neck": (64.0, 90.0, 0.19), "r_knee": (56.0, 296.0, 0.2)})
    maps = keypoint_heatmaps(kp, (384, 128), gamma=0.2)
    assert maps[OPENPOSE18_NAMES.index("neck")].max() == 0.0
    assert maps[OPENPOSE18_NAMES.index("r_knee")].max() > 0.99  # conf == gamma is kept
    absent = [j for j, n in enumerate(OPENPOSE18_NAMES) if n not in ("nose", "r_knee")]
    assert np.all(maps[absent] == 0.0)


def test_no_pose_gives_all_ones() -> None:
    assert np.all(keypoint_heatmaps(None, (200, 80)) == 1.0)
    assert keypoint_heatmaps(None, np.array([[200, 80], [90, 30]])).shape == (2, 18, 24, 8)
    assert np.all(keypoint_heatmaps(np.zeros((18, 3)), (200, 80)) == 1.0)
    # In a batch, only the item without pose falls back.
    batch = np.stack([np.zeros((18, 3)), _openpose({"nose": (40.0, 20.0, 0.8)})])
    maps = keypoint_heatmaps(batch, (200, 80))
    assert np.all(maps[0] == 1.0)
    assert maps[1, 0].max() > 0.5 and np.all(maps[1, 1:] == 0.0)


def test_batched_heatmaps_equal_per_item() -> None:
    rng = np.random.default_rng(0)
    hw = rng.integers(40, 400, size=(6, 2)).astype(np.float64)
    kp = np.concatenate([rng.random((6, 18, 2)) * hw[:, None, ::-1], rng.random((6, 18, 1))], axis=2)
    kp[2, :, 2] = 0.0  # one crop without pose
    batch = keypoint_heatmaps(kp, hw)
    assert batch.shape == (6, 18, 24, 8)
    for i in range(6):
        np.testing.assert_allclose(batch[i], keypoint_heatmaps(kp[i], hw[i]), rtol=1e-6)


def test_heatmaps_reject_bad_shapes() -> None:
    with pytest.raises(ValueError, match="crop_hw"):
        keypoint_heatmaps(np.zeros((3, 18, 3)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="kpts18"):
        keypoint_heatmaps(np.zeros((17, 3)), (10, 10))


def test_visibility_eq5_stripes() -> None:
    h = 300.0  # stripes [0, 100), [100, 200), [200, 300)
    head_only = _openpose({"nose": (10, 10, 0.9), "neck": (10, 40, 0.9), "r_eye": (8, 5, 0.9)})
    np.testing.assert_array_equal(part_visibility(head_only, h), [True, False, False])
    upper = _openpose({"nose": (10, 10, 0.9), "r_hip": (10, 150, 0.9), "l_hip": (20, 199.9, 0.9)})
    np.testing.assert_array_equal(part_visibility(upper, h), [True, True, False])
    # y exactly on a boundary belongs to the lower stripe ([a, b) intervals).
    edge = _openpose({"nose": (10, 100, 0.9), "neck": (10, 200, 0.9), "r_knee": (10, 250, 0.9)})
    np.testing.assert_array_equal(part_visibility(edge, h), [False, True, True])
    legs = _openpose({"r_knee": (10, 220, 0.9), "l_knee": (20, 230, 0.9), "r_ankle": (10, 290, 0.9)})
    np.testing.assert_array_equal(part_visibility(legs, h, parts=6), [False] * 4 + [True, True])


def test_visibility_ignores_low_confidence_and_outside_points() -> None:
    h = 300.0
    kp = _openpose({
        "nose": (10, 10, 0.9), "neck": (10, 40, 0.9), "r_shoulder": (10, 60, 0.9),
        "r_knee": (10, 250, 0.1),  # below gamma
        "l_ankle": (10, 320, 0.9),  # below the crop
    })  # fmt: skip
    np.testing.assert_array_equal(part_visibility(kp, h), [True, False, False])


def test_visibility_fallbacks_all_visible() -> None:
    two = _openpose({"nose": (10, 10, 0.9), "neck": (10, 40, 0.9), "r_knee": (10, 250, 0.05)})
    np.testing.assert_array_equal(part_visibility(two, 300.0), [True, True, True])
    np.testing.assert_array_equal(part_visibility(None, 300.0, parts=4), [True] * 4)
    assert part_visibility(None, np.array([300.0, 200.0])).shape == (2, 3)
    assert part_visibility(np.zeros((18, 3)), 300.0).all()


def test_visibility_batch_equals_per_item() -> None:
    rng = np.random.default_rng(1)
    h = rng.uniform(50, 400, size=8)
    kp = np.concatenate([rng.random((8, 18, 1)) * 60, rng.random((8, 18, 1)) * h[:, None, None] * 1.1,
                         rng.random((8, 18, 1))], axis=2)  # fmt: skip
    batch = part_visibility(kp, h, parts=4)
    for i in range(8):
        np.testing.assert_array_equal(batch[i], part_visibility(kp[i], h[i], parts=4))
