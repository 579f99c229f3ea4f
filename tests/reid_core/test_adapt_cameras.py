"""Camera-aware adaptation: each camera's shared shift is taken out before pseudo-identities are clustered."""

from __future__ import annotations

import numpy as np
import torch

from reid_core.adapt.features import TrackFeatures, camera_centred
from reid_core.adapt.losses import eq8_distance


def _people(n_people: int = 6, crops: int = 3, bias: float = 1.5, seed: int = 0):
    """Tracks = (person, camera) for 2 cameras; camera 1 adds one shared shift (its colour cast) to everything."""
    rng = np.random.default_rng(seed)
    ident_g = rng.normal(size=(n_people, 32))
    ident_p = rng.normal(size=(n_people, 3, 16))
    shift_g, shift_p = bias * rng.normal(size=32) * 3, bias * rng.normal(size=(3, 16)) * 3
    g, p, track = [], [], []
    for t in range(2 * n_people):
        person, cam = t // 2, t % 2
        for _ in range(crops):
            g.append(ident_g[person] + 0.3 * rng.normal(size=32) + cam * shift_g)
            p.append(ident_p[person] + 0.3 * rng.normal(size=(3, 16)) + cam * shift_p)
            track.append(t)
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    tf = TrackFeatures(unit(np.array(g, np.float32)), unit(np.array(p, np.float32)),
                       np.ones((len(g), 3), bool), np.array(track))
    return tf, np.arange(2 * n_people) // 2, np.arange(2 * n_people) % 2


def _linkable(tf: TrackFeatures, person: np.ndarray, camera: np.ndarray) -> float:
    """Share of cross-camera same-person pairs closer than the closest different-person pair of one camera: what
    a threshold calibrated on one camera's known-different pairs could link."""
    d = eq8_distance(*(torch.from_numpy(x) for x in (tf.global_feat, tf.parts, tf.visibility)),
                     *(torch.from_numpy(x) for x in (tf.global_feat, tf.parts, tf.visibility))).numpy()
    pa, ca = person[tf.track], camera[tf.track]
    same_cam_diff = d[(ca[:, None] == ca[None, :]) & (pa[:, None] != pa[None, :])]
    cross_same = d[(ca[:, None] != ca[None, :]) & (pa[:, None] == pa[None, :])]
    return float((cross_same < same_cam_diff.min()).mean())


def test_camera_centring_takes_out_a_cameras_shared_shift():
    tf, person, camera = _people()
    before = _linkable(tf, person, camera)
    centred = camera_centred(tf, camera)
    after = _linkable(centred, person, camera)
    assert before < 0.2 and after > 0.9, (before, after)
    assert np.allclose(np.linalg.norm(centred.parts, axis=-1), 1.0, atol=1e-5)
    one = camera_centred(tf, np.zeros_like(camera))  # one camera: nothing to take out
    assert one is tf
