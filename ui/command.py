"""Open the desktop application (or, with --screenshot, render one view of it into a PNG and exit).

Registered as the ``ui`` command in the ``reidwatch.commands`` entry-point group (pyproject.toml).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from dataclasses import replace
from pathlib import Path

from app.commands.common import add_db_argument, add_device_argument
from app.config import load_config
from app.errors import UserError

log = logging.getLogger(__name__)
VIEWS = ("gallery", "player", "search", "review")
HELP = "open the desktop application"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_db_argument(p)
    add_device_argument(p)
    p.add_argument("--screenshot", metavar="PATH", help="render the window offscreen into this PNG file and exit")
    p.add_argument("--view", choices=VIEWS, default="gallery", help="view to show (default: gallery)")
    p.add_argument("--size", default="1440x900", metavar="WxH", help="window size (default: 1440x900)")
    # test-only: play a script of operator actions into the window (ui.driver; the real-window smoke test)
    p.add_argument("--drive", metavar="SCRIPT", help=argparse.SUPPRESS)


# The X11 libraries Qt's xcb platform plugin loads (from `ldd` of libqxcb.so and libQt6XcbQpa.so.6), with the
# Debian package of each. Qt names only the first one it misses (libxcb-cursor0, even when that one is there and
# another is not), so the ui command looks for all of them first and names every missing package.
XCB_LIBRARIES = {
    "libxcb.so.1": "libxcb1", "libX11-xcb.so.1": "libx11-xcb1", "libX11.so.6": "libx11-6",
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1", "libxcb-randr.so.0": "libxcb-randr0", "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-shm.so.0": "libxcb-shm0", "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1", "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1", "libdbus-1.so.3": "libdbus-1-3",
}


def uses_xcb(env: dict[str, str] | None = None) -> bool:
    """Whether Qt will pick its xcb (X11) platform: asked for by QT_QPA_PLATFORM, or the default on a desktop
    with an X display and no Wayland."""
    env = dict(os.environ) if env is None else env
    platform = env.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0].strip()
    if platform:
        return platform == "xcb"
    return bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY") and sys.platform.startswith("linux")


def missing_xcb_packages(libraries: dict[str, str] | None = None) -> list[str]:
    """Debian packages of the X11 libraries Qt's xcb plugin needs that cannot be loaded here (in order)."""
    import ctypes

    missing = []
    for soname, package in (XCB_LIBRARIES if libraries is None else libraries).items():
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(package)
    return list(dict.fromkeys(missing))


def _parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not m or not (320 <= int(m[1]) <= 8000 and 240 <= int(m[2]) <= 8000):
        raise UserError(f"--size must be WIDTHxHEIGHT between 320x240 and 8000x8000, not {text!r}")
    return int(m[1]), int(m[2])


def run(args: argparse.Namespace) -> int:
    size = _parse_size(args.size)
    shot = Path(args.screenshot).expanduser() if args.screenshot else None
    if shot is not None and shot.suffix.lower() != ".png":
        raise UserError(f"--screenshot must name a .png file, not {shot.name!r}")
    cfg = load_config(getattr(args, "config", None))
    if args.device:
        cfg = replace(cfg, device=args.device)
    if shot is None and uses_xcb():
        missing = missing_xcb_packages()
        if missing:
            raise UserError("the desktop application cannot open an X11 window: Qt's xcb platform needs "
                            f"{', '.join(missing)} (Debian/Ubuntu: sudo apt-get install {' '.join(missing)}; "
                            "scripts/system-deps.sh installs them)")
    try:
        from ui.app import run as run_ui
    except ImportError as exc:  # Qt's system libraries not loadable (PySide6 itself is a dependency)
        if (exc.name or "").split(".")[0] in ("app", "ui", "trackers", "reid_core"):
            raise  # a packaging error of our own shows as what it is
        raise UserError(f"the desktop application cannot start: {exc}") from None
    drive = Path(args.drive) if getattr(args, "drive", None) else None
    if drive is not None and not drive.is_file():
        raise UserError(f"--drive: no script {drive}")
    code = run_ui(db_path=args.db, config=cfg, screenshot_path=shot, view=args.view, size=size, drive=drive)
    if shot is not None and code == 0:
        print(f"screenshot of the {args.view} view saved to {shot}")  # noqa: T201 - the command's result
    return code
