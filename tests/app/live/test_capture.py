"""Capture threads against real video files, a socket where nothing listens, and a real RTSP server."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from app.live.capture import CameraCapture, CapturedFrame
from app.live.group import CameraGroup
from app.live.health import CameraState

SECRET = "hunter2:x@y"  # a password with the characters that break naive redaction


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def states_until(capture: CameraCapture, predicate: Callable[[], bool], timeout: float) -> list[str]:
    """Poll the capture's state every 20 ms until ``predicate``; the distinct states seen, in order."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        state = capture.health.state.value
        if not seen or seen[-1] != state:
            seen.append(state)
        if predicate() or time.monotonic() > deadline:
            return seen
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lag_s(frame: CapturedFrame) -> float:
    return (datetime.now(timezone.utc) - frame.wall_time).total_seconds()


# --------------------------------------------------------------------------- values and arguments
def test_captured_frame_validates() -> None:
    now = datetime.now(timezone.utc)
    image = np.zeros((4, 6, 3), np.uint8)
    assert CapturedFrame(camera="c", frame_index=0, wall_time=now, image=image).image.shape == (4, 6, 3)
    with pytest.raises(ValueError, match=r"expected shape \(H, W, 3\), got \(4, 6\)"):
        CapturedFrame(camera="c", frame_index=0, wall_time=now, image=np.zeros((4, 6), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        CapturedFrame(camera="c", frame_index=0, wall_time=now, image=image.astype(np.float32))
    with pytest.raises(ValueError, match="naive"):
        CapturedFrame(camera="c", frame_index=0, wall_time=datetime.now(), image=image)
    with pytest.raises(ValueError, match="frame_index"):
        CapturedFrame(camera="c", frame_index=-1, wall_time=now, image=image)


def test_capture_arguments_are_checked_without_leaking() -> None:
    url = f"rtsp://admin:{SECRET}@cam/live"
    with pytest.raises(ValueError, match="transport"):
        CameraCapture("a", url, transport="carrier-pigeon")
    with pytest.raises(ValueError, match="stall_timeout_s"):
        CameraCapture("a", url, stall_timeout_s=0)
    with pytest.raises(ValueError, match="backoff_max_s"):
        CameraCapture("a", url, backoff_initial_s=5, backoff_max_s=1)
    with pytest.raises(ValueError) as info:
        CameraCapture("a", f"ftp://admin:{SECRET}@cam/live")
    assert "hunter2" not in str(info.value)
    capture = CameraCapture("a", url)
    assert capture.source == "rtsp://***@cam/live"
    assert "hunter2" not in repr(capture) and "hunter2" not in repr(capture.health)


# --------------------------------------------------------------------------- files (no server needed)
def test_file_plays_at_its_rate_then_stops(make_video) -> None:
    video = make_video(frames=20, fps=25.0, size=(64, 48))
    capture = CameraCapture("file", video)
    assert capture.health.state is CameraState.CONNECTING
    t0 = time.monotonic()
    frames = []
    with capture:
        while (frame := capture.get(timeout=5)) is not None:
            frames.append(frame)
    elapsed = time.monotonic() - t0
    assert capture.health.state is CameraState.STOPPED
    assert capture.health.frames_received == 20
    assert 0.6 < elapsed < 5.0  # paced at 25 fps (0.8 s), not decoded as fast as possible
    assert [f.frame_index for f in frames] == sorted({f.frame_index for f in frames})
    assert frames[-1].frame_index == 19 and frames[0].image.shape == (48, 64, 3)
    assert capture.get(timeout=2) is None  # ended: returns at once rather than waiting


def test_file_loops_when_asked(make_video) -> None:
    video = make_video(frames=5, fps=50.0, size=(32, 32))
    with CameraCapture("loop", video, loop=True) as capture:
        assert wait_until(lambda: capture.health.frames_received >= 12, timeout=5)
        assert capture.health.state is CameraState.LIVE
    assert capture.health.state is CameraState.STOPPED


def test_missing_file_fails_clearly(tmp_path: Path) -> None:
    capture = CameraCapture("gone", tmp_path / "nope.avi")
    capture.start()
    assert capture.get(timeout=5) is None
    health = capture.health
    assert health.state is CameraState.FAILED
    assert health.last_error == f"video file not found: {tmp_path / 'nope.avi'}"
    assert capture.stop(timeout=2)


def test_slow_consumer_gets_newest_frames_only(make_video) -> None:
    video = make_video(frames=50, fps=50.0, size=(64, 48))
    with CameraCapture("slow", video, loop=True) as capture:
        got = []
        for _ in range(8):
            time.sleep(0.15)  # ~7 frames arrive meanwhile
            assert capture._queue.qsize() <= 1
            frame = capture.get(timeout=2)
            assert frame is not None
            got.append((frame.frame_index, lag_s(frame)))
    indices = [i for i, _ in got]
    assert np.diff(indices).min() >= 3, indices  # old frames were dropped
    # Each frame is at most about one frame period old; a backlog would put the lag past 0.5 s by the 4th get.
    assert max(lag for _, lag in got) < 0.5, got
    assert capture.health.frames_dropped >= capture.health.frames_received - len(got) - 1


def test_group_hands_out_frames_round_robin(make_video) -> None:
    a = make_video(frames=10, fps=50.0, size=(32, 32))
    b = make_video(frames=10, fps=50.0, size=(32, 32))
    group = CameraGroup([CameraCapture("a", a, loop=True), CameraCapture("b", b, loop=True)])
    with group:
        names = []
        for _ in range(10):
            assert wait_until(lambda: all(c._queue.qsize() == 1 for c in group.captures), timeout=2)
            frame = group.get(timeout=2)
            assert frame is not None
            names.append(frame.camera)
        assert set(group.health()) == {"a", "b"}
    assert names == ["a", "b"] * 5
    assert all(h.state is CameraState.STOPPED for h in group.health().values())
    with pytest.raises(ValueError, match="unique"):
        CameraGroup([CameraCapture("a", a), CameraCapture("a", b)])


def test_group_frames_ends_when_every_camera_has_ended(make_video) -> None:
    a = make_video(frames=6, fps=50.0, size=(32, 32))
    b = make_video(frames=4, fps=50.0, size=(32, 32))
    with CameraGroup([CameraCapture("a", a), CameraCapture("b", b)]) as group:
        frames = list(group.frames())  # returns on its own: both files end
    assert {f.camera for f in frames} == {"a", "b"} and len(frames) <= 10
    assert {n: h.frames_received for n, h in group.health().items()} == {"a": 6, "b": 4}


# --------------------------------------------------------------------------- a port where nothing listens
def test_nothing_listening_backs_off_without_crashing(caplog, capfd) -> None:
    port = free_port()
    capture = CameraCapture(
        "void",
        f"rtsp://admin:{SECRET}@127.0.0.1:{port}/live",
        backoff_initial_s=0.1,
        backoff_max_s=0.4,
        open_timeout_s=1.0,
    )
    assert capture.health.state is CameraState.CONNECTING
    with caplog.at_level(logging.DEBUG, logger="app.live"):
        capture.start()
        seen = states_until(capture, lambda: capture.health.failed_attempts >= 5, timeout=10)
        time.sleep(1.0)
        attempts_1s = capture.health.failed_attempts
        time.sleep(1.2)  # at the capped 0.4 s backoff: about 3 more attempts
        more = capture.health.failed_attempts - attempts_1s
        health = capture.health
        assert capture.get(timeout=0.1) is None
        assert capture.stop(timeout=3)
    assert "live" not in seen and seen[-1] == "reconnecting", seen
    assert health.state is CameraState.RECONNECTING
    assert 1 <= more <= 4, more  # still trying, but at the capped 0.4 s pace (not hundreds of attempts)
    assert health.last_error == f"connection refused by 127.0.0.1:{port} (nothing listening there)"
    assert health.retry_at is not None and health.frames_received == 0
    assert capture.health.state is CameraState.STOPPED
    native = capfd.readouterr()
    for text in (caplog.text, repr(health), native.out, native.err):
        assert "hunter2" not in text and "admin" not in text
    assert "cannot open rtsp://***@127.0.0.1" in caplog.text


def test_camera_that_never_answers_times_out_and_retries() -> None:
    with socket.socket() as listener:  # accepts connections (the kernel does) but never says a word
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        capture = CameraCapture(
            "mute", f"rtsp://127.0.0.1:{port}/live", open_timeout_s=0.8, backoff_initial_s=0.2
        )
        capture.start()
        assert wait_until(lambda: capture.health.failed_attempts >= 2, timeout=10)
        health = capture.health
        t0 = time.monotonic()
        assert capture.stop(timeout=5)
        assert time.monotonic() - t0 < 3.0  # at most one open or probe timeout to sit out
    assert health.state is CameraState.RECONNECTING and health.frames_received == 0
    assert health.last_error == f"no answer from 127.0.0.1:{port} within 0.8 s"


def test_transport_goes_to_ffmpeg_with_the_users_other_options(monkeypatch) -> None:
    from app.live import stream as capture_module

    monkeypatch.setattr(capture_module, "_USER_OPTIONS", "rtsp_transport;udp|analyzeduration;500000")
    assert capture_module._ffmpeg_options("tcp") == "rtsp_transport;tcp|analyzeduration;500000"
    monkeypatch.setattr(capture_module, "_USER_OPTIONS", None)
    assert capture_module._ffmpeg_options("udp") == "rtsp_transport;udp"


# --------------------------------------------------------------------------- the real RTSP server
@pytest.mark.rtsp
@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_frames_arrive_and_health_goes_live(rtsp_server, small_video, transport: str) -> None:
    server = rtsp_server(small_video)
    capture = CameraCapture("cam", server.url, transport=transport, stall_timeout_s=3.0, open_timeout_s=5.0)
    capture.start()
    try:
        seen = states_until(capture, lambda: capture.health.frames_received >= 10, timeout=15)
        frame = capture.get(timeout=2)
    finally:
        assert capture.stop(timeout=5)
    assert seen[0] == "connecting" and seen[-1] == "live", seen
    assert frame is not None and frame.camera == "cam" and frame.image.shape == (240, 320, 3)
    assert frame.image.mean() > 10  # a real picture, not a black frame
    assert 0 <= lag_s(frame) < 1.0
    assert capture.health.state is CameraState.STOPPED and capture.health.reconnects == 0


@pytest.mark.rtsp
def test_slow_consumer_lag_stays_bounded(rtsp_server, small_video) -> None:
    server = rtsp_server(small_video)
    with CameraCapture("cam", server.url, stall_timeout_s=3.0) as capture:
        assert capture.get(timeout=15) is not None
        lags, indices = [], []
        for _ in range(10):
            time.sleep(0.3)  # ~7 frames at 25 fps arrive meanwhile
            assert capture._queue.qsize() <= 1
            frame = capture.get(timeout=2)
            assert frame is not None
            lags.append(lag_s(frame))
            indices.append(frame.frame_index)
        dropped = capture.health.frames_dropped
    assert max(lags) < 1.0, lags  # a backlog would grow the lag by ~0.26 s per get, to ~2.6 s
    assert np.diff(indices).min() >= 3, indices
    assert dropped >= 40


@pytest.mark.rtsp
def test_camera_comes_back_after_restart_while_another_keeps_going(rtsp_server, small_video) -> None:
    server_a, server_b = rtsp_server(small_video), rtsp_server(small_video)
    kwargs = {"stall_timeout_s": 5.0, "backoff_initial_s": 0.2, "backoff_max_s": 0.5, "open_timeout_s": 3.0}
    group = CameraGroup(
        [CameraCapture("a", server_a.url, **kwargs), CameraCapture("b", server_b.url, **kwargs)]
    )
    a, b = group.captures
    with group:
        assert wait_until(lambda: a.health.is_live and b.health.is_live, timeout=15)
        server_a.stop()
        assert wait_until(
            lambda: a.health.state in (CameraState.RECONNECTING, CameraState.STALLED), timeout=5
        )
        frames_a, frames_b = a.health.frames_received, b.health.frames_received
        outage = {"a": 0, "b": 0}
        t_end = time.monotonic() + 2.0
        while time.monotonic() < t_end:
            frame = group.get(timeout=0.2)
            if frame is not None:
                outage[frame.camera] += 1
        assert a.health.frames_received == frames_a  # nothing invented while camera a is away
        assert b.health.frames_received - frames_b >= 10  # ~50 at 25 fps on an idle machine
        assert outage["a"] <= 1 and outage["b"] >= 5  # (one frame of a may have been waiting)
        assert a.health.failed_attempts >= 2 and "connection refused" in (a.health.last_error or "")

        server_a.start()  # same port
        assert wait_until(lambda: a.health.is_live, timeout=15), a.health
        assert wait_until(lambda: a.health.frames_received >= frames_a + 10, timeout=5)
        health_a = a.health
    assert health_a.reconnects >= 1 and health_a.failed_attempts == 0 and health_a.last_error is None


@pytest.mark.rtsp
def test_stalled_stream_is_detected_and_recovers(rtsp_server, small_video) -> None:
    server = rtsp_server(small_video)
    capture = CameraCapture(
        "cam", server.url, stall_timeout_s=1.0, backoff_initial_s=0.5, backoff_max_s=1.0, open_timeout_s=1.5
    )
    with capture:
        assert wait_until(lambda: capture.health.is_live, timeout=15)
        server.pause()  # connection open, no data: a stalled camera
        try:
            seen = states_until(capture, lambda: capture.health.state is CameraState.RECONNECTING, timeout=6)
            frames = capture.health.frames_received
            time.sleep(1.0)
            assert capture.health.frames_received == frames
        finally:
            server.resume()
        assert wait_until(lambda: capture.health.is_live, timeout=15), capture.health
    assert seen[-2:] == ["stalled", "reconnecting"], seen
    assert capture.health.reconnects >= 1


@pytest.mark.rtsp
def test_bad_credentials_fail_clearly_and_never_leak(rtsp_server, small_video, caplog, capfd) -> None:
    server = rtsp_server(small_video, user="viewer", password="c0rrect:h@rse")
    with caplog.at_level(logging.DEBUG, logger="app.live"):
        good = CameraCapture("good", server.url_with("viewer", "c0rrect:h@rse"))
        bad = CameraCapture("bad", server.url_with("viewer", SECRET), backoff_initial_s=0.1)
        with good, bad:
            assert wait_until(lambda: bad.ended, timeout=15)
            assert wait_until(lambda: good.health.is_live, timeout=15)
            assert bad.get(timeout=1) is None
            health = bad.health
    assert health.state is CameraState.FAILED
    assert (
        health.last_error == f"127.0.0.1:{server.port} rejected the user name or password (401 Unauthorized)"
    )
    assert health.failed_attempts == 1  # no retry storm against an account that may lock
    native = capfd.readouterr()
    encoded = server.url_with("viewer", SECRET).split("//")[1].split("@")[0].split(":", 1)[1]
    for text in (caplog.text, repr(health), health.describe(), native.out, native.err):
        for secret in ("hunter2", encoded, "c0rrect", "c0rrect%3Ah%40rse"):
            assert secret not in text, (secret, text)
    assert "giving up on rtsp://***@127.0.0.1" in caplog.text
