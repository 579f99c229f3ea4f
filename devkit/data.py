"""Where the sample data lives: one lookup for tests, benchmarks and the demo.

``vtest.avi``, ``messi5.jpg`` and ``basketball1.png`` come from OpenCV's samples (Debian's ``opencv-doc``,
which ``make test`` installs); the development ground truth travels with the tests (``tests/data``).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPENCV_DOC = Path("/usr/share/doc/opencv-doc/examples/data")
TESTS_DATA = ROOT / "tests" / "data"
GT_DEV = "pets09-s2l1-gt-dev.txt"


def search_dirs() -> list[Path]:
    """Folders searched in order: $REIDWATCH_SHARED_DATA, ../shared/data, tests/data, opencv-doc, data/."""
    dirs = []
    if os.environ.get("REIDWATCH_SHARED_DATA"):
        dirs.append(Path(os.environ["REIDWATCH_SHARED_DATA"]))
    dirs += [ROOT.parent / "shared" / "data", TESTS_DATA, OPENCV_DOC, ROOT / "data"]
    return dirs


def find_data(name: str) -> Path | None:
    """The first readable, non-empty file called ``name`` in :func:`search_dirs` (vtest.avi also honours
    ``$REIDWATCH_SAMPLE_VIDEO``), or None."""
    if name == "vtest.avi" and os.environ.get("REIDWATCH_SAMPLE_VIDEO"):
        p = Path(os.environ["REIDWATCH_SAMPLE_VIDEO"])
        if p.is_file() and p.stat().st_size > 0:
            return p
    for d in search_dirs():
        p = d / name
        if p.is_file() and p.stat().st_size > 0:
            return p
    return None


def where_to_get(name: str) -> str:
    """One line telling a user how to provide ``name``."""
    looked = ", ".join(str(d) for d in search_dirs())
    return (f"{name} not found (looked in {looked}); install Debian's opencv-doc (scripts/system-deps.sh) "
            f"or set REIDWATCH_SHARED_DATA")


def read_frames(video: Path, n: int, *, start: int = 0, step: int = 1) -> list:
    """Up to ``n`` BGR frames of ``video`` from frame ``start``, every ``step``-th (fewer when the video ends)."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    out = []
    while len(out) < n:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
        for _ in range(step - 1):
            cap.grab()
    cap.release()
    return out
