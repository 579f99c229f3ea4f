"""Pseudo-identities for adaptation: camera-aware clustering lets one person's tracks on two cameras join."""

from __future__ import annotations

import numpy as np

from app.training.pseudo import TrackConstraints, make_labeller
from tests.reid_core.test_adapt_cameras import _people


def test_camera_aware_labeller_joins_one_person_across_cameras_and_never_a_cannot_link_pair():
    tf, person, camera = _people(n_people=8, seed=1)
    n = len(person)
    certain = (camera[:, None] == camera[None, :]) & (person[:, None] != person[None, :])  # met in one camera
    cons = TrackConstraints(certain, certain.copy(), [], np.arange(n))
    plain = make_labeller(cons)(tf)
    aware = make_labeller(cons, camera=camera)(tf)
    for labels in (plain, aware):
        assert not (certain & (labels[:, None] == labels[None, :])).any()
    cross_same = (camera[:, None] != camera[None, :]) & (person[:, None] == person[None, :])
    joined = lambda labels: float((labels[:, None] == labels[None, :])[cross_same].mean())  # noqa: E731
    assert joined(plain) < 0.2 and joined(aware) > 0.8, (joined(plain), joined(aware))
    wrong = (person[:, None] != person[None, :]) & (aware[:, None] == aware[None, :])
    assert not wrong.any()
