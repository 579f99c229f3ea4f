"""Commands are plug-ins too: the desktop package registers ``ui`` in the ``reidwatch.commands`` entry-point
group and the installed ``reidwatch`` script finds it there (``app.cli`` has no ``ui`` in its own table)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.cli import COMMANDS, PLUGIN_GROUP, plugin_commands
from tests.conftest import missing


def reidwatch(*args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("reidwatch")
    if not script.is_file():
        missing(f"the reidwatch console script is not installed next to {sys.executable} (make install)")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=300, env=env, check=False)


def test_ui_is_registered_by_entry_point_not_built_in() -> None:
    assert PLUGIN_GROUP == "reidwatch.commands"
    assert "ui" not in COMMANDS
    assert plugin_commands()["ui"][0] == "ui.command"


def test_reidwatch_ui_help_works_through_the_entry_point() -> None:
    proc = reidwatch("ui", "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: reidwatch ui")
    for option in ("--screenshot", "--view", "--db", "--device"):
        assert option in proc.stdout
    top = reidwatch("--help")
    assert top.returncode == 0, top.stderr
    assert "open the desktop application" in top.stdout  # the plug-in's HELP line in the command list
