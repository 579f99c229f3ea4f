"""What a camera's capture is doing, as a frozen value for the UI and logs, and why a stream will not open.

:class:`CameraHealth` is the snapshot :attr:`app.live.capture.CameraCapture.health` returns. Its text fields are
redacted again in ``__post_init__`` (belt and braces: a health value is made for display).

:func:`diagnose_rtsp` explains a failed open. OpenCV only says "not opened"; FFmpeg's reason goes to stderr.
So after a failed open the capture asks the camera itself with one plain RTSP ``DESCRIBE`` (and, when the
camera answers 401 and the URL has credentials, one more with Basic or Digest authentication, RFC 7616/2617)
and turns the answer into one line: connection refused, no answer, unknown host, no such stream, or
credentials rejected. Only a rejection of the credentials is final (:attr:`Diagnosis.auth_failed`): retrying
a wrong password forever gets camera accounts locked.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import os
import re
import socket
from dataclasses import dataclass
from datetime import datetime

from app.live.redact import redact_text, split_userinfo


class CameraState(str, enum.Enum):
    """Where a capture thread is.

    connecting: first attempt to open the stream; live: frames are arriving; stalled: the stream went silent
    for ``stall_timeout_s`` and will be reopened; reconnecting: the stream was lost or an attempt failed, and
    the capture is waiting (see ``retry_at``) or trying again; stopped: ``stop()`` was called or a file ended;
    failed: gave up for good (credentials rejected, file missing, or an unexpected error; see ``last_error``).
    """

    CONNECTING = "connecting"
    LIVE = "live"
    STALLED = "stalled"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class CameraHealth:
    """A snapshot of one camera's capture. All times are timezone-aware UTC."""

    camera: str
    source: str  # the redacted URL or path, for display
    state: CameraState
    since: datetime  # when ``state`` was entered
    frames_received: int = 0
    frames_dropped: int = 0  # replaced by a newer frame before anyone took them
    reconnects: int = 0  # times the stream came back after being lost
    failed_attempts: int = 0  # failed opens since the stream was last live
    last_error: str | None = None
    last_frame_time: datetime | None = None
    retry_at: datetime | None = None  # next attempt, while waiting to reconnect

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", CameraState(self.state))
        for field in ("frames_received", "frames_dropped", "reconnects", "failed_attempts"):
            if getattr(self, field) < 0:
                raise ValueError(f"{field}: expected >= 0, got {getattr(self, field)}")
        for field in ("since", "last_frame_time", "retry_at"):
            value = getattr(self, field)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{field}: expected a timezone-aware datetime, got a naive one")
        object.__setattr__(self, "source", redact_text(self.source))
        if self.last_error is not None:
            object.__setattr__(self, "last_error", redact_text(self.last_error))

    @property
    def is_live(self) -> bool:
        """True while frames are arriving (state LIVE)."""
        return self.state is CameraState.LIVE

    def describe(self, now: datetime | None = None) -> str:
        """One line for a status bar or a log: ``cam1 live for 12 s, 340 frames, 1 reconnect``."""
        now = now or datetime.now(self.since.tzinfo)
        parts = [f"{self.camera} {self.state.value} for {max(0.0, (now - self.since).total_seconds()):.0f} s"]
        parts.append(f"{self.frames_received} frames")
        if self.reconnects:
            parts.append(f"{self.reconnects} reconnect{'s' if self.reconnects != 1 else ''}")
        if self.retry_at is not None and self.state in (CameraState.RECONNECTING, CameraState.STALLED):
            parts.append(f"retry in {max(0.0, (self.retry_at - now).total_seconds()):.1f} s")
        if self.last_error and not self.is_live:
            parts.append(self.last_error)
        return ", ".join(parts)


@dataclass(frozen=True)
class Diagnosis:
    """Why a stream did not open: one display-safe line, and whether retrying is pointless."""

    reason: str
    auth_failed: bool = False


_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322}
_AUTH_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


def _host_port(url_no_auth: str) -> tuple[str, str, int, str]:
    """``rtsp://host:port/path`` -> (scheme, host, port, request URL)."""
    scheme, _, rest = url_no_auth.partition("://")
    hostport = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if hostport.startswith("["):
        host, _, port_s = hostport[1:].partition("]")
        port_s = port_s.lstrip(":")
    else:
        host, _, port_s = hostport.partition(":")
    port = int(port_s) if port_s.isdigit() else _DEFAULT_PORTS.get(scheme.lower(), 554)
    return scheme.lower(), host, port, url_no_auth


def _read_response(sock: socket.socket) -> tuple[int, str, list[tuple[str, str]]]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > 65536:
            break
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    m = re.match(r"RTSP/\d\.\d\s+(\d{3})\s*(.*)", lines[0] if lines else "")
    if not m:
        raise ValueError("the server did not answer in RTSP")
    headers = [(k.strip().lower(), v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:]) if k]
    return int(m.group(1)), m.group(2).strip(), headers


def _request(
    host: str, port: int, lines: list[str], timeout_s: float
) -> tuple[int, str, list[tuple[str, str]]]:
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.settimeout(timeout_s)
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        return _read_response(sock)


def _authorization(challenges: list[str], user: str, password: str, method: str, uri: str) -> str | None:
    """The Authorization header answering a 401 (Digest preferred over Basic), or None if unsupported."""
    for challenge in challenges:
        scheme, _, params_s = challenge.partition(" ")
        if scheme.lower() != "digest":
            continue
        params = {k.lower(): (q if q else t) for k, q, t in _AUTH_PARAM.findall(params_s)}
        algorithm = params.get("algorithm", "MD5")
        if algorithm.upper() not in ("MD5", "SHA-256"):
            continue
        h = hashlib.md5 if algorithm.upper() == "MD5" else hashlib.sha256
        realm, nonce = params.get("realm", ""), params.get("nonce", "")

        def digest(s: str, h=h) -> str:
            return h(s.encode("utf-8")).hexdigest()

        ha1, ha2 = digest(f"{user}:{realm}:{password}"), digest(f"{method}:{uri}")
        fields = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
        qop_options = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
        if "auth" in qop_options:
            cnonce, nc = os.urandom(8).hex(), "00000001"
            response = digest(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
            fields += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
        else:
            response = digest(f"{ha1}:{nonce}:{ha2}")
        fields.append(f'response="{response}"')
        if "opaque" in params:
            fields.append(f'opaque="{params["opaque"]}"')
        if algorithm.upper() != "MD5":
            fields.append(f"algorithm={algorithm}")
        return "Digest " + ", ".join(fields)
    if any(c.lower().startswith("basic") for c in challenges):
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return None


def diagnose_rtsp(url: str, *, timeout_s: float = 3.0) -> Diagnosis:
    """Ask an ``rtsp://`` camera why it would not stream; at most two requests, each within ``timeout_s``.

    The answer never contains the credentials. For ``rtsps://`` only the TCP connection is checked (no
    credentials are sent to a server whose certificate nobody verified).
    """
    bare, user, password = split_userinfo(url)
    try:
        scheme, host, port, request_url = _host_port(bare)
    except ValueError:
        return Diagnosis(f"cannot read the address in {redact_text(url)}")
    where = f"{host}:{port}"
    try:
        if scheme != "rtsp":
            socket.create_connection((host, port), timeout=timeout_s).close()
            return Diagnosis(f"{where} accepts connections but the stream could not be opened")
        base = [
            f"DESCRIBE {request_url} RTSP/1.0",
            "CSeq: 1",
            "User-Agent: reidwatch",
            "Accept: application/sdp",
        ]
        code, reason, headers = _request(host, port, base, timeout_s)
        if code == 401 and user is not None:
            challenges = [v for k, v in headers if k == "www-authenticate"]
            header = _authorization(challenges, user, password or "", "DESCRIBE", request_url)
            if header is None:
                return Diagnosis(f"{where} asks for an authentication scheme reidwatch cannot answer", True)
            code, reason, headers = _request(
                host, port, [*base[:1], "CSeq: 2", *base[2:], f"Authorization: {header}"], timeout_s
            )
    except ConnectionRefusedError:
        return Diagnosis(f"connection refused by {where} (nothing listening there)")
    except socket.gaierror:
        return Diagnosis(f"cannot resolve host {host!r}")
    except TimeoutError:
        return Diagnosis(f"no answer from {where} within {timeout_s:g} s")
    except (OSError, ValueError) as exc:
        return Diagnosis(redact_text(f"{where}: {exc}"))
    if code == 401:
        if user is None:
            return Diagnosis(f"{where} requires a user name and password (401 Unauthorized)", True)
        return Diagnosis(f"{where} rejected the user name or password (401 Unauthorized)", True)
    if code == 403:
        return Diagnosis(f"{where} refused access to the stream (403 Forbidden)", True)
    if code == 404:
        return Diagnosis(f"{where} has no stream at this path (404 Not Found)")
    if code == 200:
        return Diagnosis(
            f"{where} describes the stream (RTSP 200) but it could not be opened or decoded in time"
        )
    return Diagnosis(f"{where} answered RTSP {code} {reason}".strip())
