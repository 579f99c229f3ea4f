"""Registered cameras: what the store keeps about a camera's stream, and how a node turns it into a URL.

Credentials never reach the store. A registered camera's ``stream_ref`` is either

- ``env:VARIABLE``: each node reads the URL (credentials and all) from its own environment, or
- a URL *without* credentials (``rtsp://10.0.0.5:554/stream``): used as is, unless the node's secrets file
  (``watch --node N --secrets FILE``, TOML ``name = "rtsp://user:pass@..."``, mode 0600) has an entry for the
  camera, which then wins.

A URL with a user name, a password or a secret-looking query value given to ``camera add --url`` is refused
before anything is written. ``camera remove`` only unregisters: the camera's stored tracks stay.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from app.errors import UserError
from app.live.redact import _CAMERA_NAME, CameraSpecError, parse_camera_spec, redact_url, split_userinfo
from app.store import Database, repo
from app.store import models as m
from app.store.records import as_utc

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ENV_PREFIX = "env:"
_ENV_NAME_OK = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True)
class Registered:
    """A registered camera as ``camera list`` shows it, with its lease (None when no node holds it)."""

    id: int
    name: str
    stream_ref: str
    url_redacted: str | None
    node: str | None = None
    health: str | None = None
    since: datetime | None = None
    heartbeat: datetime | None = None
    expires: datetime | None = None
    fps: float = 0.0
    frames: int = 0


def check_name(name: str) -> str:
    """A camera name as ``watch --camera`` accepts it, or a one-line error."""
    if not _CAMERA_NAME.match(name):
        raise UserError(f"bad camera name {name!r}: use letters, digits, '_', '-', '.' (at most 64)")
    return name


def stream_ref_for(*, url: str | None, url_env: str | None) -> str:
    """The ``stream_ref`` to store for ``--url`` or ``--url-env``; refuses credentials with one line."""
    if (url is None) == (url_env is None):
        raise UserError("give exactly one of --url-env VARIABLE or --url URL")
    if url_env is not None:
        if not url_env or not set(url_env) <= _ENV_NAME_OK or url_env[0].isdigit():
            raise UserError(f"bad environment variable name {url_env!r}")
        return ENV_PREFIX + url_env
    assert url is not None
    bare, user, password = split_userinfo(url)
    if user is not None or password is not None or redact_url(url) != url:
        raise UserError(f"refusing to store a URL with credentials ({redact_url(url)}): put the URL in an "
                        "environment variable and use --url-env VARIABLE, or register the URL without them and "
                        "give each node a secrets file (watch --node NAME --secrets FILE)")
    try:
        parse_camera_spec(f"x={bare}")
    except CameraSpecError as exc:
        raise UserError(str(exc).replace("camera x: ", "")) from None
    if "://" not in bare:
        raise UserError(f"--url must be a stream URL (rtsp://host/path), got {bare!r}")
    return bare


def add_camera(db: Database, name: str, stream_ref: str, *, who: str | None = None) -> Registered:
    """Register ``name`` (a new camera, or one the store knows from files or ``watch --camera``)."""
    from app.store.audit_log import append, subjects

    check_name(name)
    display = stream_ref
    if stream_ref.startswith(ENV_PREFIX) and os.environ.get(stream_ref[len(ENV_PREFIX):], "").strip():
        display = redact_url(os.environ[stream_ref[len(ENV_PREFIX):]].strip())  # host and path only
    with db.session() as s:
        cam = s.scalar(select(m.Camera).where(m.Camera.name == name))
        if cam is not None and cam.stream_ref is not None:
            raise UserError(f"camera {name} is already registered ({cam.stream_ref}); `reidwatch camera remove "
                            f"{name}` first to change it")
        if cam is None:
            info = repo.get_or_create_camera(s, name, kind="rtsp", url_redacted=display)
            cam = s.get(m.Camera, info.id)
            assert cam is not None
        else:
            cam.url_redacted = display
        cam.stream_ref = stream_ref
        append(s, "camera", who, {"change": "registered", "camera": name, "stream": stream_ref,
                                  "subjects": subjects(cameras=[name])})
        return Registered(cam.id, name, stream_ref, display)


def remove_camera(db: Database, name: str, *, who: str | None = None) -> None:
    """Unregister ``name``: nodes stop watching it at their next poll; its stored tracks stay."""
    from app.store.audit_log import append, subjects

    with db.session() as s:
        cam = s.scalar(select(m.Camera).where(m.Camera.name == name))
        if cam is None or cam.stream_ref is None:
            raise UserError(f"no registered camera named {name!r} (see `reidwatch camera list`)")
        cam.stream_ref = None
        append(s, "camera", who, {"change": "unregistered", "camera": name, "subjects": subjects(cameras=[name])})


def registered_cameras(db: Database) -> list[Registered]:
    """Every registered camera with its lease row (if any), by name."""
    with db.session() as s:
        rows = s.execute(
            select(m.Camera, m.CameraLease).outerjoin(m.CameraLease, m.CameraLease.camera_id == m.Camera.id)
            .where(m.Camera.stream_ref.is_not(None)).order_by(m.Camera.name)
        ).all()
        out = []
        for cam, lease in rows:
            if lease is None:
                out.append(Registered(cam.id, cam.name, cam.stream_ref or "", cam.url_redacted))
                continue
            out.append(Registered(cam.id, cam.name, cam.stream_ref or "", cam.url_redacted, lease.node, lease.health,
                                  as_utc(lease.since), as_utc(lease.heartbeat), as_utc(lease.expires),
                                  float(lease.fps), int(lease.frames)))
        return out


def load_secrets(path: str | Path) -> dict[str, str]:
    """A node's secrets file: TOML ``camera_name = "rtsp://user:pass@host/path"``; it must be mode 0600."""
    p = Path(path).expanduser()
    try:
        st = p.stat()
    except OSError as exc:
        raise UserError(f"cannot read secrets file {p}: {exc.strerror or exc}") from None
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise UserError(f"secrets file {p} can be read by other users (mode {stat.S_IMODE(st.st_mode):o}): "
                        f"chmod 600 {p}")
    try:
        data = tomllib.loads(p.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"cannot read secrets file {p}: {type(exc).__name__}") from None  # no excerpt: secrets
    bad = [k for k, v in data.items() if not isinstance(v, str)]
    if bad:
        raise UserError(f"secrets file {p}: expected name = \"url\" lines, not tables or numbers ({', '.join(bad)})")
    return dict(data)


def resolve_url(cam: Registered, secrets: dict[str, str]) -> str:
    """The URL this node opens for ``cam`` (may hold credentials: memory only), or a one-line UserError."""
    if cam.name in secrets:
        _, url = parse_camera_spec(f"{cam.name}={secrets[cam.name]}")
        return url
    _, url = parse_camera_spec(f"{cam.name}={cam.stream_ref}")  # reads env:VAR, checks the scheme and host
    return url
