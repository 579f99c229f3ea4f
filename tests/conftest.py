"""Shared fixtures: where the shared test data lives, and small real videos."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("REIDWATCH_SHARED_DATA", ROOT.parent / "shared" / "data"))

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (set REIDWATCH_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def vtest_path(shared_data: Path) -> Path:
    p = shared_data / "vtest.avi"
    if not p.is_file():
        pytest.skip(f"{p} not found")
    return p


@pytest.fixture(scope="session")
def gt_dev_path(shared_data: Path) -> Path:
    p = shared_data / "pets09-s2l1-gt-dev.txt"
    if not p.is_file():
        pytest.skip(f"{p} not found")
    return p


@pytest.fixture(scope="session")
def vtest_clip(tmp_path_factory: pytest.TempPathFactory, vtest_path: Path) -> Path:
    """The first 40 frames of vtest.avi (frames 60..99), re-encoded with cv2.VideoWriter."""
    import cv2

    out = tmp_path_factory.mktemp("clip") / "vtest_clip.avi"
    cap = cv2.VideoCapture(str(vtest_path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 60)
    writer = None
    for _ in range(40):
        ok, frame = cap.read()
        if not ok:
            break
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 7.0, (w, h))
        writer.write(frame)
    cap.release()
    assert writer is not None
    writer.release()
    return out
