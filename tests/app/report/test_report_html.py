"""The HTML report as a reader gets it: escaped, self-contained, navigable, and drawn by a real browser."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from app.report import build_report, export_report
from app.report.html import OPEN_SECTIONS, render_html
from devkit.report_store import build_small_store, build_synthetic_store, vtest_thumbnails

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (scripts/system-deps.sh)")


@pytest.fixture(scope="module")
def store(tmp_path_factory, vtest_path, gt_dev_path):
    """The small store with real thumbnails cut from vtest.avi."""
    db = build_small_store(tmp_path_factory.mktemp("html") / "small.db", vtest_thumbnails(vtest_path, gt_dev_path))
    yield db
    db.close()


@pytest.fixture(scope="module")
def html_file(store, tmp_path_factory):
    return export_report(store, tmp_path_factory.mktemp("out") / "report.html")


def test_user_text_is_escaped(html_file):
    text = html_file.read_text(encoding="utf-8")
    assert '<script>alert("x")</script>' not in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text
    assert "<script" not in text.lower()


def test_self_contained_without_credentials_or_paths(html_file):
    text = html_file.read_text(encoding="utf-8")
    sources = re.findall(r'\bsrc="([^"]*)"', text)
    assert sources and all(s.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")) for s in sources)
    assert all(h.startswith("#identity-") for h in re.findall(r'\bhref="([^"]*)"', text))
    assert not re.search(r"https?://", text)
    for secret in ("hunter2", "admin:", "abc123", "/home/operator"):
        assert secret not in text
    assert "rtsp://***@10.0.0.5:554/live?token=***" in text


def test_every_identity_has_an_anchor_and_pictures(html_file):
    text = html_file.read_text(encoding="utf-8")
    for ident in (1, 2, 3, 4):
        assert f'href="#identity-{ident}"' in text and f'id="identity-{ident}"' in text
    assert text.count("data:image/jpeg;base64,") == 6  # one picture per identity and camera: 2 + 1 + 2 + 1
    assert text.count("data:image/png;base64,") == 5  # the overview and one timeline per identity
    assert "op.smith" in text and "0.310" in text and "pgfa;backbone=mobilenetv2" in text


def test_large_report_stays_usable(tmp_path):
    db = build_synthetic_store(tmp_path / "big.db", 300, thumbnails=[b"\xff\xd8 not decoded here"])
    report = build_report(db, max_pictures=5)
    text = render_html(report)
    assert text.count('<details class="identity"') == 300
    assert len(re.findall(r'<details class="identity" id="identity-\d+" open>', text)) == OPEN_SECTIONS
    assert text.count("data:image/png;base64,") == 5 + 1
    assert "Pictures are included for the first 5 identities" in text
    assert "The first 40 of 300 identities (by first sighting) are drawn." in text
    db.close()


def _chromium(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={cwd / 'chromium-profile'}", *args],
        capture_output=True, text=True, timeout=120, cwd=cwd,
    )


@pytest.mark.slow
@needs_chromium
def test_chromium_renders_the_report(html_file, tmp_path):
    from PIL import Image

    dom = _chromium("--dump-dom", html_file.as_uri(), cwd=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # the browser parsed the name as text: no script element, the name visible as written
    assert "<script" not in dom.stdout.lower()
    assert "&lt;script&gt;alert(\"x\")&lt;/script&gt;" in dom.stdout
    assert dom.stdout.count('<details class="identity"') == 4

    shot = tmp_path / "report.png"
    run = _chromium(f"--screenshot={shot}", "--window-size=1280,2000", html_file.as_uri(), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.is_file()
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape == (2000, 1280, 3)
    ink = (img.min(axis=2) < 200).mean()  # share of pixels that are not white or light grey
    assert 0.02 < ink < 0.6, ink
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 500  # text, badges, thumbnails and plots, not a flat page
