"""CameraHealth values and the RTSP failure diagnosis (against real sockets and a real RTSP server)."""

from __future__ import annotations

import socket
import threading
from datetime import datetime, timedelta, timezone

import pytest

from app.live.health import CameraHealth, CameraState, diagnose_rtsp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_health_validates_and_redacts() -> None:
    now = datetime.now(timezone.utc)
    h = CameraHealth(
        camera="gate",
        source="rtsp://admin:hunter2@cam/live",
        state="reconnecting",
        since=now - timedelta(seconds=30),
        frames_received=10,
        reconnects=1,
        last_error="cannot open rtsp://admin:hunter2@cam/live",
        retry_at=now + timedelta(seconds=2),
    )
    assert h.state is CameraState.RECONNECTING and not h.is_live
    assert "hunter2" not in repr(h)
    assert h.source == "rtsp://***@cam/live"
    line = h.describe(now)
    assert line.startswith("gate reconnecting for 30 s, 10 frames, 1 reconnect, retry in 2.0 s")
    assert "hunter2" not in line
    with pytest.raises(ValueError, match="frames_received"):
        CameraHealth(camera="c", source="s", state=CameraState.LIVE, since=now, frames_received=-1)
    with pytest.raises(ValueError, match="naive"):
        CameraHealth(camera="c", source="s", state=CameraState.LIVE, since=datetime.now())
    with pytest.raises(ValueError):
        CameraHealth(camera="c", source="s", state="sleeping", since=now)


def test_diagnose_refused_and_silent_ports() -> None:
    port = _free_port()
    d = diagnose_rtsp(f"rtsp://u:hunter2@127.0.0.1:{port}/live", timeout_s=1.0)
    assert d.reason == f"connection refused by 127.0.0.1:{port} (nothing listening there)"
    assert not d.auth_failed

    # A server that accepts the connection but never answers.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        silent = listener.getsockname()[1]
        d = diagnose_rtsp(f"rtsp://127.0.0.1:{silent}/live", timeout_s=0.5)
    assert d.reason == f"no answer from 127.0.0.1:{silent} within 0.5 s"


def test_diagnose_rejects_a_non_rtsp_server() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

        t = threading.Thread(target=answer, daemon=True)
        t.start()
        d = diagnose_rtsp(f"rtsp://u:hunter2@127.0.0.1:{port}/live", timeout_s=2.0)
        t.join(2)
    assert "did not answer in RTSP" in d.reason and "hunter2" not in d.reason


@pytest.mark.rtsp
@pytest.mark.parametrize("auth", ["basic", "digest"])
def test_diagnose_against_the_rtsp_server(rtsp_server, small_video, auth: str) -> None:
    server = rtsp_server(small_video, user="viewer", password="c0rrect:h@rse", auth=auth)
    good = diagnose_rtsp(server.url_with("viewer", "c0rrect:h@rse"), timeout_s=3.0)
    assert "describes the stream (RTSP 200)" in good.reason and not good.auth_failed
    bad = diagnose_rtsp(server.url_with("viewer", "wr0ng"), timeout_s=3.0)
    assert bad.auth_failed and "rejected the user name or password (401" in bad.reason
    anonymous = diagnose_rtsp(server.url, timeout_s=3.0)
    assert anonymous.auth_failed and "requires a user name and password" in anonymous.reason
    missing = diagnose_rtsp(
        server.url_with("viewer", "c0rrect:h@rse").replace("/stream", "/nope"), timeout_s=3.0
    )
    assert "404" in missing.reason and not missing.auth_failed
