"""Fixtures for the live-capture tests: a real GStreamer RTSP server on 127.0.0.1, started per test.

The server (devkit/rtsp_server.py) runs under the *system* interpreter, which has Debian's GStreamer
bindings (scripts/system-deps.sh installs them). Without them the RTSP tests skip with the reason.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devkit.rtsp import RtspServer, gst_rtsp_missing, write_test_video
from tests.conftest import missing

__all__ = ["RtspServer", "gst_rtsp_missing", "write_test_video"]


@pytest.fixture
def rtsp_server(tmp_path: Path) -> Iterator[object]:
    """Factory: ``rtsp_server(video, port=0, user=None, password=None, auth="basic")`` -> started RtspServer.

    ``port=0`` picks a free port (read back from the server). Every server is killed after the test.
    """
    reason = gst_rtsp_missing()
    if reason:
        missing(reason)
    servers: list[RtspServer] = []

    def make(video: Path, port: int = 0, **kwargs: object) -> RtspServer:
        server = RtspServer(video, log_dir=tmp_path, port=port, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_video(frames=50, fps=25.0, size=(320, 240))`` -> a new AVI in tmp_path."""
    counter = itertools.count()

    def make(*, frames: int = 50, fps: float = 25.0, size: tuple[int, int] = (320, 240)) -> Path:
        return write_test_video(tmp_path / f"video{next(counter)}.avi", frames=frames, fps=fps, size=size)

    return make


@pytest.fixture(scope="session")
def small_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of 320x240 video at 25 fps (cheap to encode and decode on 2 CPU cores)."""
    return write_test_video(tmp_path_factory.mktemp("live") / "small.avi")
