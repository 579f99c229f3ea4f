"""Before opening an X11 window, `reidwatch ui` names every Debian package Qt's xcb platform still needs (Qt's
own message named libxcb-cursor0, already installed, while libxcb-icccm4 and libxcb-keysyms1 were missing)."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import pytest

from app.errors import UserError
from ui import command as ui_command

PLUGIN = Path(__import__("PySide6").__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"


def test_the_list_covers_what_the_xcb_plugin_links() -> None:
    """Every X11/xcb library the plugin (and its QPA library) links is in the list with its package."""
    linked = subprocess.run(["ldd", str(PLUGIN), str(PLUGIN.parents[2] / "lib" / "libQt6XcbQpa.so.6")],
                            capture_output=True, text=True, check=True).stdout
    needed = {line.split()[0] for line in linked.splitlines()
              if line.strip().startswith(("libxcb", "libX11", "libxkbcommon"))}
    assert needed and needed <= set(ui_command.XCB_LIBRARIES), needed - set(ui_command.XCB_LIBRARIES)
    assert ui_command.missing_xcb_packages() == []  # scripts/system-deps.sh installed them all here


def test_missing_libraries_are_named_by_their_packages() -> None:
    libs = {"libxcb.so.1": "libxcb1", "libxcb-nothing-here.so.9": "libxcb-nothing9",
            "libxcb-also-missing.so.1": "libxcb-also1"}
    assert ui_command.missing_xcb_packages(libs) == ["libxcb-nothing9", "libxcb-also1"]


@pytest.mark.parametrize(("env", "xcb"), [
    ({"QT_QPA_PLATFORM": "xcb"}, True), ({"QT_QPA_PLATFORM": "xcb:nograb"}, True),
    ({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, False), ({"DISPLAY": ":0"}, True),
    ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, False), ({}, False)])
def test_when_qt_will_use_xcb(env: dict, xcb: bool) -> None:
    assert ui_command.uses_xcb(env) is xcb


def test_ui_command_refuses_to_start_without_them(tmp_path: Path, ui_store, monkeypatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setattr(ui_command, "XCB_LIBRARIES", {**ui_command.XCB_LIBRARIES,
                                                      "libxcb-icccm-missing.so.4": "libxcb-icccm4"})
    parser = argparse.ArgumentParser()
    ui_command.add_arguments(parser)
    with pytest.raises(UserError, match=r"needs libxcb-icccm4 .*apt-get install libxcb-icccm4"):
        ui_command.run(parser.parse_args(["--db", str(ui_store.path)]))
