"""Keep camera credentials out of everything a person or a log can see.

Camera URLs usually carry a user name and password (``rtsp://user:pass@host:554/stream``) and sometimes a
secret in the query string (``?token=...``). This module turns them into display-safe text:

- :func:`redact_url` replaces the userinfo with ``***`` and secret-looking query values with ``***``;
- :func:`redact_text` does the same for every URL found in free text (log messages, error strings);
- :class:`RedactingFilter` applies :func:`redact_text` to log records (message, args, traceback);
- :func:`parse_camera_spec` reads the ``NAME=URL`` form of ``reidwatch watch --camera`` and reports
  mistakes with the URL already redacted.

Where the secret lives: only inside the :class:`app.live.capture.CameraCapture` that needs it to connect and
reconnect (a private attribute, in memory, for the life of the process). It is never written to the store, a
report, a health value or a log; anything meant for display goes through :func:`redact_url`. That is safe
enough because anyone able to read this process's memory can already read the command line or configuration
the URL came from. The command line itself is visible to other local users (``/proc/<pid>/cmdline``) and lands
in shell history, so :func:`parse_camera_spec` also accepts ``NAME=env:VARIABLE`` to take the URL from an
environment variable instead.

Credentials must be URL-encoded in a URL (``%40`` for ``@`` is the rule), but cameras' passwords often are
not; the parser here follows FFmpeg's own reading (the userinfo ends at the *last* ``@`` before the first
``/``, ``?`` or ``#``) and, when that reading leaves an ``@`` in the path, assumes the password held a raw
``/`` or ``?`` and redacts up to that ``@`` too: over-redacting a malformed URL is better than leaking it.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from app.errors import UserError

MASK = "***"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# A URL inside free text: a scheme, "://", then anything up to whitespace or a quote / angle bracket.
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
_HOSTPORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]*)(:\d*)?$")
# Query keys whose values are secrets (or identify an account): matched as substrings, case-insensitively.
_SECRET_KEY = re.compile(r"pass|pwd|token|secret|auth|key|sig|cred|session|user|login", re.IGNORECASE)
_QUERY_PAIR = re.compile(r"([?&;])([^=&;#]*)=([^&;#]*)")
_CAMERA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https", "rtmp", "rtmps"})


class CameraSpecError(UserError, ValueError):
    """A ``--camera NAME=URL`` value that cannot be used; the message never contains credentials."""


def _split_authority(rest: str) -> tuple[str | None, str, str]:
    """Split what follows ``scheme://`` into (userinfo or None, host[:port], path-query-fragment)."""
    end = len(rest)
    for sep in "/?#":
        i = rest.find(sep)
        if i != -1:
            end = min(end, i)
    authority, tail = rest[:end], rest[end:]
    at = authority.rfind("@")
    userinfo = authority[:at] if at != -1 else None
    hostport = authority[at + 1 :]
    path = tail.split("?", 1)[0].split("#", 1)[0]
    malformed = "@" in path or not _HOSTPORT.match(hostport)
    if malformed and "@" in rest:
        # A raw '/', '?' or '#' in the password: take everything up to the last '@' that is followed by
        # something host-like, or failing that the last '@' at all.
        cut = -1
        for m in re.finditer("@", rest):
            after = re.split(r"[/?#]", rest[m.end() :], maxsplit=1)[0]
            if after and _HOSTPORT.match(after):
                cut = m.start()
        if cut == -1:
            cut = rest.rfind("@")
        userinfo = rest[:cut]
        after_at = rest[cut + 1 :]
        m2 = re.search(r"[/?#]", after_at)
        hostport, tail = (after_at[: m2.start()], after_at[m2.start() :]) if m2 else (after_at, "")
    return userinfo, hostport, tail


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """Return ``(url_without_userinfo, user, password)``; user and password are percent-decoded.

    A string that is not a ``scheme://`` URL comes back unchanged with ``(None, None)``.
    """
    m = _SCHEME.match(url)
    if not m:
        return url, None, None
    userinfo, hostport, tail = _split_authority(url[m.end() :])
    if userinfo is None:
        return url, None, None
    user, sep, password = userinfo.partition(":")
    return f"{m.group(0)}{hostport}{tail}", unquote(user), (unquote(password) if sep else None)


def _redact_query(tail: str) -> str:
    if "?" not in tail:
        return tail
    path, query = tail.split("?", 1)

    def mask(m: re.Match[str]) -> str:
        sep, key, value = m.groups()
        return f"{sep}{key}={MASK}" if value and _SECRET_KEY.search(key) else m.group(0)

    return path + _QUERY_PAIR.sub(mask, "?" + query)


def redact_url(url: str) -> str:
    """``rtsp://user:pass@host:554/s?token=x`` -> ``rtsp://***@host:554/s?token=***``.

    Strings that are not ``scheme://`` URLs (file paths, device numbers) come back unchanged.
    """
    url = os.fspath(url) if isinstance(url, os.PathLike) else str(url)
    m = _SCHEME.match(url)
    if not m:
        return url
    userinfo, hostport, tail = _split_authority(url[m.end() :])
    auth = f"{MASK}@" if userinfo is not None else ""
    return f"{m.group(0)}{auth}{hostport}{_redact_query(tail)}"


def redact_text(text: str) -> str:
    """Redact every ``scheme://`` URL found in free text (see :func:`redact_url`)."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)


class RedactingFilter(logging.Filter):
    """A logging filter that removes URL credentials from records (message, args, traceback, stack).

    Attach it to *handlers* (``handler.addFilter(RedactingFilter())``): a filter on a logger only sees records
    logged on that very logger, not those propagated up from ``app.live.capture`` and friends. The record is
    rewritten in place, so every handler after the first one that filters it also gets the redacted text.
    It never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; always True (keep it)."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let logging report it as usual
            return True
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def install_redacting_filter(logger: logging.Logger | None = None) -> RedactingFilter:
    """Add one :class:`RedactingFilter` to ``logger`` (default: root) and to each of its handlers."""
    logger = logger if logger is not None else logging.getLogger()
    filt = RedactingFilter()
    logger.addFilter(filt)
    for handler in logger.handlers:
        handler.addFilter(filt)
    return filt


def redact_every_record() -> None:
    """Redact each log record where it is made (a log record factory), so that handlers added later (by a
    library imported after logging was set up), handlers of other libraries and Python's last-resort handler
    never see a credential either. Fails closed: there is no handler this misses. Idempotent."""
    current = logging.getLogRecordFactory()
    if getattr(current, "_reidwatch_redacts", False):
        return
    filt = RedactingFilter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        filt.filter(record)
        return record

    factory._reidwatch_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def parse_camera_spec(spec: str) -> tuple[str, str]:
    """Parse ``NAME=URL`` (the value of ``watch --camera``) into ``(name, url)``.

    URL is a stream URL (rtsp, rtsps, http(s), rtmp(s)), a local video file, a device number, or
    ``env:VARIABLE`` to read the URL from that environment variable (keeps passwords off the command line).
    Raises :class:`CameraSpecError` (a :class:`~app.errors.UserError` and a ``ValueError``) with a one-line,
    redacted message.
    """
    name, sep, url = spec.partition("=")
    name, url = name.strip(), url.strip()
    if not sep or not name or not url:
        raise CameraSpecError(f"expected --camera NAME=URL, got {redact_text(spec)!r}")
    if not _CAMERA_NAME.match(name):
        raise CameraSpecError(
            f"bad camera name {redact_text(name)!r}: use letters, digits, '_', '-', '.' (at most 64)"
        )
    if url.startswith("env:"):
        var = url[4:]
        value = os.environ.get(var, "").strip()
        if not value:
            raise CameraSpecError(f"camera {name}: environment variable {var!r} is not set or empty")
        url = value
    m = _SCHEME.match(url)
    if m:
        scheme = m.group(1).lower()
        if scheme not in STREAM_SCHEMES:
            raise CameraSpecError(
                f"camera {name}: unsupported URL scheme {scheme!r} (use one of {', '.join(sorted(STREAM_SCHEMES))})"
            )
        _, hostport, _ = _split_authority(url[m.end() :])
        if not hostport.split(":")[0].strip("[]"):
            raise CameraSpecError(f"camera {name}: no host in {redact_url(url)!r}")
        return name, url
    if url.isdigit():
        return name, url
    if not Path(url).expanduser().is_file():
        raise CameraSpecError(f"camera {name}: the value given is neither a stream URL nor an existing video file "
                              f"(a stream URL starts with scheme://)")
    return name, url


def parse_camera_specs(specs: list[str]) -> list[tuple[str, str]]:
    """Parse several ``NAME=URL`` values; camera names must be unique."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for spec in specs:
        name, url = parse_camera_spec(spec)
        if name in seen:
            raise CameraSpecError(f"camera name {name!r} is used twice")
        seen.add(name)
        out.append((name, url))
    return out
