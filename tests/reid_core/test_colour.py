"""The pose-aligned colour stripes (reid_core.colour): placement by keypoints, the Hellinger histogram, and what
they add to eq. 8 on real vtest.avi crops."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from reid_core.colour import (
    STRIPES,
    ColourEncoder,
    colour_stripes,
    hellinger,
    histogram_size,
    rgb_to_lab8,
    stripe_rows,
)

KP = {0: (25, 10), 5: (15, 28), 6: (35, 28), 11: (18, 60), 12: (32, 60), 13: (18, 88), 14: (32, 88),
      15: (18, 112), 16: (32, 112)}


def pose(hide: tuple[int, ...] = ()) -> np.ndarray:
    kp = np.zeros((17, 3), np.float32)
    for i, (x, y) in KP.items():
        kp[i] = (x, y, 0.0 if i in hide else 0.9)
    return kp


def person(jacket: tuple[int, int, int], trousers: tuple[int, int, int] = (30, 30, 90)) -> np.ndarray:
    img = np.full((120, 50, 3), 40, np.uint8)
    img[25:60, 8:42] = jacket
    img[62:116, 8:42] = trousers
    return img


def test_lab_matches_opencv() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    assert np.abs(rgb_to_lab8(rgb) - cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(float)).max() < 2.0


def test_stripes_follow_the_keypoints() -> None:
    torso, legs = stripe_rows(120, pose())
    assert torso == (28, 60)  # shoulders to hips
    assert legs is not None and legs[0] == 65 and legs[1] == 112  # just below the hips to the ankles
    hidden_legs = stripe_rows(120, pose(hide=(13, 14, 15, 16)))
    assert hidden_legs[0] == (28, 60) and hidden_legs[1] is None  # a trusted pose without legs: legs not seen
    no_pose = stripe_rows(100, None)
    assert no_pose[0] == (20, 50) and no_pose[1] is not None  # no pose: fixed shares of the box, both counted


def test_hellinger_vectors_give_the_bhattacharyya_distance() -> None:
    red = rgb_to_lab8(np.tile(np.array([[200, 30, 30]], np.uint8), (50, 1)))
    navy = rgb_to_lab8(np.tile(np.array([[30, 30, 110]], np.uint8), (50, 1)))
    h_red, h_navy = hellinger(red), hellinger(navy)
    assert h_red.shape == (histogram_size(),)
    assert np.isclose(np.linalg.norm(h_red), 1.0) and np.isclose(np.linalg.norm(h_navy), 1.0)
    assert float(h_red @ h_red) == pytest.approx(1.0)
    assert float(h_red @ h_navy) == pytest.approx(0.0)  # saturated colours land in the edge bins, apart
    half = hellinger(np.concatenate([red, navy]))
    assert float(half @ h_red) == pytest.approx(np.sqrt(0.5), abs=1e-6)


def test_colour_stripes_tell_a_red_jacket_from_a_navy_one() -> None:
    crops = [person((200, 30, 30)), person((30, 30, 110)), person((200, 30, 30))]
    parts, seen = colour_stripes(crops, [pose(), pose(), pose(hide=(13, 14, 15, 16))], 1280)
    assert parts.shape == (3, STRIPES, 1280) and seen.tolist() == [[True, True], [True, True], [True, False]]
    assert not parts[:, :, histogram_size():].any()  # zero padding beyond the histogram
    assert not parts[2, 1].any()  # an unseen stripe is zeros
    assert float(parts[0, 0] @ parts[1, 0]) < 0.05  # red vs navy jacket: far apart
    assert float(parts[0, 0] @ parts[2, 0]) > 0.99  # the same red jacket
    assert float(parts[0, 1] @ parts[1, 1]) > 0.99  # the same trousers
    with pytest.raises(ValueError, match="at least 256"):
        colour_stripes(crops, None, 128)
    with pytest.raises(ValueError, match="one per crop"):
        colour_stripes(crops, [pose()], 1280)


@pytest.fixture(scope="module")
def encoder():  # type: ignore[no-untyped-def]
    from reid_core.weights import build_encoder

    return build_encoder(None, backbone="mobilenetv2", device="cpu", batch_size=16)


def _vtest_people(vtest_path: Path, gt_dev_path: Path) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Whole-body ground-truth crops of vtest.avi at four frames 80 apart: (RGB crops, gt ids, frames)."""
    from app.mot.files import read_mot

    gt = read_mot(gt_dev_path)
    want = (60, 140, 220, 300)
    cap = cv2.VideoCapture(str(vtest_path))
    crops, who, when = [], [], []
    for f in range(1, max(want) + 1):
        ok, img = cap.read()
        assert ok, f"cannot read frame {f} of {vtest_path}"
        if f not in want:
            continue
        sel = gt.frames == f
        for i, b in zip(gt.ids[sel], gt.boxes[sel], strict=True):
            x, y, w, h = (int(v) for v in b)
            if h >= 60 and x >= 0 and y >= 0 and x + w <= img.shape[1] and y + h <= img.shape[0]:
                crops.append(np.ascontiguousarray(img[y:y + h, x:x + w, ::-1]))
                who.append(int(i))
                when.append(f)
    cap.release()
    return crops, np.array(who), np.array(when)


def test_colour_stripes_separate_real_people_better(encoder, vtest_path: Path, gt_dev_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Same person at two frames (same ground-truth id) vs two people in one frame (certainly different): the share
    of such pairs ordered right (AUC) rises with the colour stripes, on ImageNet features, by a clear margin."""
    from reid_core.matching import embedding_distance

    crops, who, when = _vtest_people(vtest_path, gt_dev_path)
    same = (who[:, None] == who[None, :]) & (when[:, None] != when[None, :])
    diff = (who[:, None] != who[None, :]) & (when[:, None] == when[None, :])
    assert same.sum() >= 20 and diff.sum() >= 60

    def auc(e) -> float:  # type: ignore[no-untyped-def]
        d = embedding_distance(e, e)
        return float((d[same][:, None] < d[diff][None, :]).mean())

    plain = encoder.encode(crops, None)
    coloured = ColourEncoder(encoder).encode(crops, None)
    assert coloured.dims == (plain.dims[0], plain.dims[1] + STRIPES, plain.dims[2])
    np.testing.assert_array_equal(coloured.parts[:, :plain.dims[1]], plain.parts)  # body stripes untouched
    assert auc(coloured) >= auc(plain) + 0.05, (auc(plain), auc(coloured))
