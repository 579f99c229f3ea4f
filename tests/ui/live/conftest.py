"""The live-capture fixtures (a real GStreamer RTSP server on 127.0.0.1, small videos) for the live page tests."""

from tests.app.live.conftest import make_video, rtsp_server  # noqa: F401 - re-exported fixtures
