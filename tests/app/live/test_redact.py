"""Credentials never show: URL redaction, the logging filter, and --camera NAME=URL parsing."""

from __future__ import annotations

import io
import logging

import pytest

from app.errors import UserError
from app.live.redact import (
    CameraSpecError,
    RedactingFilter,
    install_redacting_filter,
    parse_camera_spec,
    parse_camera_specs,
    redact_text,
    redact_url,
    split_userinfo,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://user:pass@host:554/stream", "rtsp://***@host:554/stream"),
        ("rtsp://admin@10.0.0.7/Streaming/Channels/101", "rtsp://***@10.0.0.7/Streaming/Channels/101"),
        ("rtsp://admin:p@ss:w0rd@cam.local:8554/live", "rtsp://***@cam.local:8554/live"),
        ("rtsp://admin:p%40ss%3Aw%2Frd@cam.local/live", "rtsp://***@cam.local/live"),
        ("rtsp://admin:pa/ss@cam.local/live", "rtsp://***@cam.local/live"),  # raw '/' in the password
        ("rtsp://admin:pa?ss@cam.local/live", "rtsp://***@cam.local/live"),  # raw '?' in the password
        ("rtsp://admin:1234/x@cam.local/live", "rtsp://***@cam.local/live"),  # looks like host:port at first
        ("rtsps://u:p@[fe80::1]:322/s", "rtsps://***@[fe80::1]:322/s"),
        (
            "http://cam/video.mjpg?user=admin&password=hunter2&fps=5",
            "http://cam/video.mjpg?user=***&password=***&fps=5",
        ),
        ("rtsp://cam/live?token=abc.def&channel=2", "rtsp://cam/live?token=***&channel=2"),
        ("https://nvr/stream?auth=Zm9vOmJhcg==&apikey=k1", "https://nvr/stream?auth=***&apikey=***"),
        ("rtsp://cam:554/live?email=a@b.example", "rtsp://cam:554/live?email=a@b.example"),
        ("rtsp://cam:554/live", "rtsp://cam:554/live"),
        ("/home/me/videos/lobby.avi", "/home/me/videos/lobby.avi"),
        ("C:\\videos\\user:pass@lobby.avi", "C:\\videos\\user:pass@lobby.avi"),
        ("0", "0"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://user:S3cr3t!@host/s",
        "rtsp://user:S3cr3t!@@host/s",
        "rtsp://user:S3cr3t!/@host/s",
        "rtsp://user:S3cr3t!?@host/s?x=1",
        "rtsp://user:S3cr3t!#@host/s",
        "http://host/s?passwd=S3cr3t!",
        "http://host/s?x=1&Access_Token=S3cr3t!",
    ],
)
def test_the_secret_never_survives(url: str) -> None:
    assert "S3cr3t" not in redact_url(url)
    assert "S3cr3t" not in redact_text(f"opening {url} failed")


def test_redact_text_handles_every_url_in_a_sentence() -> None:
    text = "cams (rtsp://a:x1@h1/s1), 'rtsp://b:x2@h2:554/s2' and <http://c:x3@h3/m.mjpg>; file /tmp/a.avi"
    out = redact_text(text)
    assert (
        out == "cams (rtsp://***@h1/s1), 'rtsp://***@h2:554/s2' and <http://***@h3/m.mjpg>; file /tmp/a.avi"
    )
    assert redact_text("no url here: user:pass") == "no url here: user:pass"


def test_split_userinfo_decodes_and_strips() -> None:
    bare, user, password = split_userinfo("rtsp://ad%20min:p%40ss:w@cam:554/live?x=1")
    assert (bare, user, password) == ("rtsp://cam:554/live?x=1", "ad min", "p@ss:w")
    assert split_userinfo("rtsp://viewer@cam/live") == ("rtsp://cam/live", "viewer", None)
    assert split_userinfo("rtsp://cam/live") == ("rtsp://cam/live", None, None)
    assert split_userinfo("/tmp/video.avi") == ("/tmp/video.avi", None, None)


def _logger_with_filtered_handler(name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_filter_redacts_message_args_and_traceback() -> None:
    logger, stream = _logger_with_filtered_handler("tests.app.live.redact.filter")
    logger.info("opening %s on %s", "rtsp://admin:hunter2@cam/live", "rtsp://cam2/live")
    logger.warning("dict args %(url)s", {"url": "http://u:hunter2@h/x"})
    logger.debug("plain message with rtsp://u:hunter2@h/s and 50% literal")
    try:
        raise ConnectionError("cannot reach rtsp://admin:hunter2@cam/live")
    except ConnectionError:
        logger.exception("capture failed")
    out = stream.getvalue()
    assert "hunter2" not in out
    assert "INFO opening rtsp://***@cam/live on rtsp://cam2/live" in out
    assert "WARNING dict args http://***@h/x" in out
    assert "50% literal" in out
    assert "ConnectionError: cannot reach rtsp://***@cam/live" in out
    assert out.count("\n") >= 5  # nothing was dropped


def test_filter_keeps_records_it_cannot_format() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", ("not a number",), None)
    assert RedactingFilter().filter(record) is True


def test_install_redacting_filter_covers_logger_and_handlers() -> None:
    logger = logging.getLogger("tests.app.live.redact.install")
    stream = io.StringIO()
    logger.handlers[:] = [logging.StreamHandler(stream)]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    filt = install_redacting_filter(logger)
    assert filt in logger.filters and filt in logger.handlers[0].filters
    logging.getLogger("tests.app.live.redact.install.child").info("go rtsp://u:hunter2@h/s")
    assert stream.getvalue().strip() == "go rtsp://***@h/s"


def test_parse_camera_spec_accepts_urls_devices_files_and_env(tmp_path, monkeypatch) -> None:
    assert parse_camera_spec("lobby=rtsp://u:p@cam:554/s?x=1&y=2") == (
        "lobby",
        "rtsp://u:p@cam:554/s?x=1&y=2",
    )
    assert parse_camera_spec(" door-2 = http://cam/mjpg ") == ("door-2", "http://cam/mjpg")
    assert parse_camera_spec("usb=0") == ("usb", "0")
    video = tmp_path / "clip.avi"
    video.write_bytes(b"x")
    assert parse_camera_spec(f"file={video}") == ("file", str(video))
    monkeypatch.setenv("RW_TEST_CAM_URL", "rtsp://u:hunter2@cam/live")
    assert parse_camera_spec("gate=env:RW_TEST_CAM_URL") == ("gate", "rtsp://u:hunter2@cam/live")


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("rtsp://u:hunter2@cam/live", "expected --camera NAME=URL"),
        ("=rtsp://u:hunter2@cam/live", "expected --camera NAME=URL"),
        ("lobby=", "expected --camera NAME=URL"),
        ("rtsp://u:hunter2@cam/live?a=b", "bad camera name"),
        ("my cam=rtsp://u:hunter2@cam/live", "bad camera name"),
        ("lobby=ftp://u:hunter2@cam/live", "unsupported URL scheme 'ftp'"),
        ("lobby=rtsp://u:hunter2@/live", "no host"),
        ("lobby=/no/such/video-hunter2.avi", "neither a stream URL nor an existing video file"),
        ("lobby=env:RW_TEST_UNSET_VARIABLE", "'RW_TEST_UNSET_VARIABLE' is not set"),
    ],
)
def test_parse_camera_spec_errors_are_one_redacted_line(spec: str, fragment: str, monkeypatch) -> None:
    monkeypatch.delenv("RW_TEST_UNSET_VARIABLE", raising=False)
    with pytest.raises(CameraSpecError) as info:
        parse_camera_spec(spec)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    if "://" in spec:
        assert "hunter2" not in message
    assert isinstance(info.value, UserError) and isinstance(info.value, ValueError)


def test_parse_camera_specs_rejects_duplicate_names() -> None:
    assert parse_camera_specs(["a=rtsp://h/1", "b=rtsp://h/2"]) == [("a", "rtsp://h/1"), ("b", "rtsp://h/2")]
    with pytest.raises(CameraSpecError, match="'a' is used twice"):
        parse_camera_specs(["a=rtsp://h/1", "a=rtsp://h/2"])
