"""`reidwatch ui --screenshot`: a real process renders the window offscreen into a non-blank PNG."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[2]


def reidwatch(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               REIDWATCH_CONFIG=str(tmp_path / "none.toml"))
    return subprocess.run([sys.executable, "-m", "app.cli", "-q", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180)


def distinct_colours(image: QImage, step: int = 7) -> int:
    return len({image.pixel(x, y) for x in range(0, image.width(), step) for y in range(0, image.height(), step)})


@pytest.mark.parametrize("view", ["player", "review"])
def test_screenshot_command_writes_a_non_blank_png(tmp_path: Path, ui_store, view: str) -> None:
    out = tmp_path / "shots" / f"{view}.png"
    res = reidwatch("ui", "--db", str(ui_store.path), "--screenshot", str(out), "--view", view, "--size", "1000x700",
                    tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"saved to {out}" in res.stdout
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1000, 700)
    assert distinct_colours(image) > 100  # video frame / thumbnails, not an empty window
    if view == "player":
        # the frame is drawn: the middle of the canvas is not the empty-canvas background
        centre = image.pixelColor(500, 330)
        assert (centre.red(), centre.green(), centre.blue()) != (24, 24, 28)


def test_ui_command_user_errors(tmp_path: Path, ui_store, qapp) -> None:
    import argparse

    from app.errors import UserError
    from ui import command as ui_command

    parser = argparse.ArgumentParser()
    ui_command.add_arguments(parser)

    def run(*args: str) -> int:
        return ui_command.run(parser.parse_args(list(args)))

    with pytest.raises(UserError, match=r"--screenshot must name a \.png file, not 'x.jpg'"):
        run("--db", str(ui_store.path), "--screenshot", str(tmp_path / "x.jpg"))
    with pytest.raises(UserError, match="no database at"):
        run("--db", str(tmp_path / "missing.db"), "--screenshot", str(tmp_path / "x.png"))
    with pytest.raises(UserError, match="--size must be WIDTHxHEIGHT"):
        run("--size", "10x10", "--screenshot", str(tmp_path / "x.png"))
    assert not (tmp_path / "missing.db").exists()
