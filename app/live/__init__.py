"""Live cameras: capture threads with reconnects and health, and keeping credentials out of sight."""

from app.live.capture import CameraCapture, CapturedFrame
from app.live.group import CameraGroup
from app.live.health import CameraHealth, CameraState, Diagnosis, diagnose_rtsp
from app.live.redact import (
    CameraSpecError,
    RedactingFilter,
    install_redacting_filter,
    parse_camera_spec,
    parse_camera_specs,
    redact_text,
    redact_url,
)

__all__ = [
    "CameraCapture",
    "CameraGroup",
    "CameraHealth",
    "CameraSpecError",
    "CameraState",
    "CapturedFrame",
    "Diagnosis",
    "RedactingFilter",
    "diagnose_rtsp",
    "install_redacting_filter",
    "parse_camera_spec",
    "parse_camera_specs",
    "redact_text",
    "redact_url",
]
