"""The desktop application in a real X window, as an operator uses it: Xvfb with a window manager (openbox),
Qt's xcb platform, a real store. Each run opens every tab, plays the recorded video, adds a live camera that
refuses the connection, waits until the page says so, and quits with Ctrl+Q; the process must exit 0 with
nothing on stderr about deleted QObjects or a fatal error. The crash on close was intermittent (1 close in 9),
so the run is repeated five times, under PYTHONFAULTHANDLER=1 so that a crash shows where it happened.

Keys and clicks come from ``reidwatch ui --drive SCRIPT`` (ui/driver.py, a hidden test-only option): QTest
events inside the application, so the script does not depend on what the window manager does with focus.
Xvfb and openbox are Debian packages (scripts/system-deps.sh installs them for ``make test``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import missing

RUNS = 5
RUN_TIMEOUT_S = 120
SIZE = "1600x1000"
SCRIPT = """
wait 500
key Ctrl+1              # gallery
wait 400
key Ctrl+3              # search
wait 300
key Ctrl+4              # review
wait 300
key Ctrl+2              # player: choose the recorded video and play it
select entrance
wait 300
key Space
wait 2000
key Space
key Ctrl+5              # live: a camera nobody answers for
click Add camera…
window Add camera
type door
key Tab
type rtsp://operator:secret@127.0.0.1:9/stream
key Return
until-text connection refused
wait 800
log closing
key Ctrl+Q
"""
CRASH_SIGNS = ("shared QObject was deleted directly", "Fatal Python error", "Segmentation fault",
               "QThread: Destroyed while thread is still running", "Traceback (most recent call last)")


def _reidwatch() -> list[str]:
    exe = Path(sys.executable).with_name("reidwatch")
    if exe.is_file():
        return [str(exe)]
    return [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def x_display(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A virtual X server with a window manager; yields its DISPLAY."""
    for tool, package in (("Xvfb", "xvfb"), ("openbox", "openbox")):
        if shutil.which(tool) is None:
            missing(f"{tool} is not installed (Debian package {package}; scripts/system-deps.sh installs it)")
    logs = tmp_path_factory.mktemp("x11")
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{SIZE}x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL,
                            stderr=(logs / "xvfb.log").open("wb"))
    os.close(write_fd)
    with os.fdopen(read_fd) as ready:  # Xvfb writes its display number once it accepts clients
        number = ready.readline().strip()
    assert number.isdigit(), f"Xvfb did not start: {(logs / 'xvfb.log').read_text(errors='replace')}"
    display = f":{number}"
    wm = subprocess.Popen(["openbox", "--sm-disable"], env={**os.environ, "DISPLAY": display},
                          stdout=subprocess.DEVNULL, stderr=(logs / "openbox.log").open("wb"))
    time.sleep(1.0)
    assert wm.poll() is None, f"openbox exited: {(logs / 'openbox.log').read_text(errors='replace')}"
    try:
        yield display
    finally:
        for proc in (wm, xvfb):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def real_store(tmp_path_factory: pytest.TempPathFactory, ui_store_template) -> Path:
    """A copy of the UI test store: real SQLite, real videos (a vtest clip as ``entrance``), real thumbnails."""
    path = tmp_path_factory.mktemp("real-window") / "store.db"
    for suffix in ("", "-wal"):
        src = Path(str(ui_store_template.path) + suffix)
        if src.exists():
            shutil.copyfile(src, str(path) + suffix)
    return path


def _run_once(display: str, store: Path, script: Path, home: Path, config: Path) -> subprocess.CompletedProcess:
    home.mkdir(parents=True)
    runtime_dir = home / "run"
    runtime_dir.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "REIDWATCH_DB", "WAYLAND"))}
    env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", PYTHONFAULTHANDLER="1", HOME=str(home),
               XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
               XDG_RUNTIME_DIR=str(runtime_dir))
    return subprocess.run([*_reidwatch(), "--config", str(config), "ui", "--db", str(store), "--device", "cpu", "--size", SIZE,
                           "--drive", str(script)], env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, check=False)


@pytest.mark.slow
def test_real_window_session_closes_cleanly_five_times(x_display: str, real_store: Path, tmp_path: Path) -> None:
    script = tmp_path / "operator.txt"
    script.write_text(SCRIPT, encoding="utf-8")
    config = tmp_path / "config.toml"  # plain torch models: no engine export or measurement on first use
    config.write_text('[detector]\nengine = "torch"\n[encoder]\nengine = "torch"\n', encoding="utf-8")
    for run in range(1, RUNS + 1):
        started = time.monotonic()
        done = _run_once(x_display, real_store, script, tmp_path / f"home{run}", config)
        seconds = time.monotonic() - started
        where = f"run {run} of {RUNS} ({seconds:.0f} s), exit {done.returncode}:\n{done.stderr[-6000:]}"
        assert done.returncode == 0, where
        assert "driver: closing" in done.stdout, where  # the whole session was played, Ctrl+Q closed it
        for sign in CRASH_SIGNS:
            assert sign not in done.stderr, where
        assert "connection refused" in done.stderr, where  # the live camera really was refused (in the log)
        assert "operator:secret" not in done.stderr + done.stdout, where  # credentials stay out of logs
