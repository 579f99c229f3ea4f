"""Open the desktop application (or, with --screenshot, render one view of it into a PNG and exit).

Registered as the ``ui`` command in the ``reidwatch.commands`` entry-point group (pyproject.toml).
"""

from __future__ import annotations

import argparse
import logging
import re
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
    try:
        from ui.app import run as run_ui
    except ImportError as exc:  # Qt's system libraries not loadable (PySide6 itself is a dependency)
        raise UserError(f"the desktop application cannot start: {exc}") from None
    code = run_ui(db_path=args.db, config=cfg, screenshot_path=shot, view=args.view, size=size)
    if shot is not None and code == 0:
        print(f"screenshot of the {args.view} view saved to {shot}")  # noqa: T201 - the command's result
    return code
