"""A real GStreamer RTSP server on 127.0.0.1 for tests and benchmarks, and a small synthetic test video.

The server (``devkit/rtsp_server.py``) runs under the *system* interpreter, which has Debian's GStreamer
bindings (``scripts/system-deps.sh`` installs them).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np

SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = Path("/usr/bin/python3")
_CHECK = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
    "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
    "missing = [e for e in ('x264enc', 'rtph264pay', 'decodebin', 'appsrc', 'appsink')"
    " if Gst.ElementFactory.find(e) is None];"
    "print(' '.join(missing))"
)


@lru_cache(maxsize=1)
def gst_rtsp_missing() -> str | None:
    """Why the RTSP test server cannot run here, or None when it can."""
    if not SYSTEM_PYTHON.is_file():
        return f"{SYSTEM_PYTHON} not found (the RTSP test server needs the system Python with python3-gi)"
    try:
        out = subprocess.run([str(SYSTEM_PYTHON), "-c", _CHECK], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {SYSTEM_PYTHON}: {exc}"
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["unknown error"])[-1]
        return f"GStreamer RTSP server bindings missing ({last}); run scripts/system-deps.sh"
    if out.stdout.strip():
        return f"GStreamer elements missing: {out.stdout.strip()}; run scripts/system-deps.sh"
    return None


class RtspServer:
    """One devkit/rtsp_server.py process; ``stop()`` then ``start()`` brings it back on the same port."""

    def __init__(
        self,
        video: Path,
        *,
        log_dir: Path,
        port: int = 0,
        path: str = "stream",
        user: str | None = None,
        password: str | None = None,
        auth: str = "basic",
        max_seconds: float = 120.0,
        size: tuple[int, int] | None = None,
        fps: int | None = None,
    ) -> None:
        self.video = Path(video)
        self.port = port
        self.path = path
        self.user = user
        self.password = password
        self.auth = auth
        self.max_seconds = max_seconds
        self.size = size
        self.fps = fps
        self.log_path = log_dir / f"rtsp_server_{id(self)}.log"
        self._proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        """The stream URL without credentials."""
        return f"rtsp://127.0.0.1:{self.port}/{self.path}"

    def url_with(self, user: str, password: str) -> str:
        """The stream URL with (percent-encoded) credentials."""
        return f"rtsp://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{self.port}/{self.path}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 20.0) -> str:
        if self.running:
            raise RuntimeError("server already running")
        cmd = [
            str(SYSTEM_PYTHON),
            str(SERVER_SCRIPT),
            str(self.video),
            "--port",
            str(self.port),
            "--path",
            self.path,
            "--max-seconds",
            str(self.max_seconds),
            "--watch-stdin",
        ]
        if self.size is not None:
            cmd += ["--width", str(self.size[0]), "--height", str(self.size[1])]
        if self.fps is not None:
            cmd += ["--fps", str(self.fps)]
        if self.user is not None:
            cmd += ["--user", self.user, "--password", self.password or "", "--auth", self.auth]
        log = self.log_path.open("a")
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        assert self._proc.stdout is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._proc.stdout], [], [], 0.2)
            if ready:
                line = self._proc.stdout.readline()
                if line.startswith("READY "):
                    self.port = int(line.split()[1].rsplit(":", 1)[1].split("/")[0])
                    return self.url
                if not line and self._proc.poll() is not None:
                    break
            elif self._proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"RTSP test server did not start: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        """Kill the server (SIGTERM, then SIGKILL); clients see the connection drop."""
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # in case a test paused it
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    def pause(self) -> None:
        """SIGSTOP: the TCP connection stays open but nothing arrives (a stalled camera)."""
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGCONT)


def write_test_video(
    path: Path, *, frames: int = 50, fps: float = 25.0, size: tuple[int, int] = (320, 240)
) -> Path:
    """A small MJPG AVI: a bright square moving over a dark gradient, with the frame number drawn in."""
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"cv2.VideoWriter cannot write {path}")
    ramp = np.tile(np.linspace(20, 90, w, dtype=np.uint8), (h, 1))
    for i in range(frames):
        img = np.dstack([ramp, ramp // 2, np.full_like(ramp, 40)])
        x = int((w - 40) * i / max(1, frames - 1))
        cv2.rectangle(img, (x, h // 2 - 20), (x + 40, h // 2 + 20), (230, 230, 230), -1)
        cv2.putText(img, str(i), (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
        writer.write(img)
    writer.release()
    return path
