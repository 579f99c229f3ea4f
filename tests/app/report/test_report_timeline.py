"""Timeline pictures: real PNGs whose size follows the lanes, safe with any identity name."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from PIL import Image

from app.report import build_report
from app.report.timeline import camera_colors, identity_timeline_png, overview_timeline_png
from devkit.report_store import build_small_store


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    db = build_small_store(tmp_path_factory.mktemp("tl") / "small.db")
    r = build_report(db)
    db.close()
    return r


def _image(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_identity_timeline_draws_lanes_and_camera_colours(report):
    colors = camera_colors(report.summary.cameras)
    alice = report.identities[0]  # two cameras
    bob = report.identities[3]  # one camera
    two, one = _image(identity_timeline_png(alice, colors)), _image(identity_timeline_png(bob, colors))
    assert two.shape[1] == one.shape[1] == 1100 and two.shape[0] > one.shape[0]
    for cam, img in (("entrance", two), ("lobby", two), ("lobby", one)):
        rgb = np.array([int(colors[cam][i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(img.astype(int) - rgb).sum(axis=2) < 10).sum() > 200, cam  # the camera's bars are drawn
    narrow = _image(identity_timeline_png(alice, colors, width_in=6.0, dpi=50))
    assert narrow.shape[1] == 300


def test_names_are_never_read_as_maths(report):
    colors = camera_colors(report.summary.cameras)
    tricky = replace(report.identities[0], name=r"$\frac{$ Smith")  # unescaped, mathtext fails to parse this
    r = replace(report, identities=(tricky, *report.identities[1:]))
    assert _image(overview_timeline_png(r, colors)).shape[1] == 1100


def test_overview_caps_rows_and_handles_empty_and_multi_day(report):
    colors = camera_colors(report.summary.cameras)
    assert overview_timeline_png(replace(report, identities=()), colors) is None
    two_rows = _image(overview_timeline_png(report, colors, max_rows=2))
    four_rows = _image(overview_timeline_png(report, colors, max_rows=40))
    assert two_rows.shape[0] < four_rows.shape[0]
    bob = report.identities[3]
    later = replace(bob, sightings=tuple(replace(x, start=x.start + timedelta(days=2), end=x.end + timedelta(days=2))
                                         for x in bob.sightings))
    both = replace(report, identities=(report.identities[0], later))
    assert _image(overview_timeline_png(both, colors)).shape[1] == 1100


def test_colours_are_stable_per_camera_name():
    assert camera_colors(["b", "a", "b"]) == camera_colors(["a", "b"])
    ten = camera_colors([f"cam{i:02d}" for i in range(11)])
    assert len(set(ten.values())) == 10 and ten["cam10"] == ten["cam00"]  # the palette cycles after ten
