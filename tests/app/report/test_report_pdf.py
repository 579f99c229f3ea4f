"""The PDF report, read back the way a person or a tool would: pages rendered by poppler, text extracted."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from app.report import export_report
from devkit.report_store import SCRIPT_NAME, build_small_store, vtest_thumbnails
from ui.report_pdf import _fit

ROOT = Path(__file__).resolve().parents[3]
needs_poppler = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
    reason="poppler-utils (pdftoppm, pdftotext) not installed (scripts/system-deps.sh)",
)


@pytest.fixture(scope="module")
def pdf_file(tmp_path_factory, vtest_path, gt_dev_path):
    tmp = tmp_path_factory.mktemp("pdf")
    db = build_small_store(tmp / "small.db", vtest_thumbnails(vtest_path, gt_dev_path))
    out = export_report(db, tmp / "report.pdf")
    db.close()
    return out


def _pages(pdf: Path, out: Path, dpi: int = 40) -> list[np.ndarray]:
    from PIL import Image

    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(out / "page")], check=True, timeout=120)
    return [np.asarray(Image.open(p).convert("L")) for p in sorted(out.glob("page-*.png"))]


@needs_poppler
def test_pages_are_a4_and_not_blank(pdf_file, tmp_path):
    assert pdf_file.read_bytes()[:5] == b"%PDF-"
    pages = _pages(pdf_file, tmp_path)
    # summary + index, identity details (two pages at this size), how it was made
    assert 3 <= len(pages) <= 6, len(pages)
    for i, page in enumerate(pages):
        h, w = page.shape
        assert abs(h / w - 297 / 210) < 0.01, (i, page.shape)  # A4 portrait
        ink = (page < 200).mean()
        assert ink > 0.01, (i, ink)  # every page carries text or pictures
    blank_with_page_number = 0.001
    assert (pages[0] < 200).mean() > 20 * blank_with_page_number  # summary cards, overview timeline, index


@needs_poppler
def test_text_reads_like_the_report(pdf_file):
    raw = subprocess.run(["pdftotext", "-layout", str(pdf_file), "-"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    text = unicodedata.normalize("NFKC", raw)  # the PDF's font sets "fi" as a ligature
    for expected in ("Cross-camera match report", "#1 Alice", "(watchlist)", SCRIPT_NAME, "op.smith",
                     "How this report was made", "pgfa;backbone=mobilenetv2", "rtsp://***@10.0.0.5:554",
                     "entrance-2026-11-27.avi", "confirmed", "automatic", "rejected"):
        assert expected in text, expected
    for secret in ("hunter2", "abc123", "/home/operator"):
        assert secret not in text


def test_pictures_fit_the_text_column():
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (1100).to_bytes(4, "big") + (150).to_bytes(4, "big")
    assert _fit(png) == (640, 87)
    assert _fit(None) == (0, 0)
    with pytest.raises(ValueError, match="not a PNG"):
        _fit(b"GIF89a" + bytes(20))


@pytest.mark.slow
@needs_poppler
def test_cli_writes_a_pdf_after_opencv_was_imported(tmp_path, vtest_path, gt_dev_path):
    """opencv-python points Qt at its own plugins when imported; the PDF path must not load them."""
    db = build_small_store(tmp_path / "small.db", vtest_thumbnails(vtest_path, gt_dev_path))
    db.close()
    out = tmp_path / "cli.pdf"
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    code = "import sys, cv2; from app.cli import main; sys.exit(main(sys.argv[1:]))"
    run = subprocess.run(
        [sys.executable, "-c", code, "report", "--db", str(tmp_path / "small.db"), "--out", str(out),
         "--camera", "lobby"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "wrote" in run.stdout and "4 identities, 4 sightings, 1 camera" in run.stdout
    assert "Could not load the Qt platform plugin" not in run.stderr
    assert len(_pages(out, tmp_path, dpi=20)) >= 2
