"""The broker URL: where it comes from (``--broker``, ``$REIDWATCH_BROKER``, ``[queue] broker``), what it may be
(AMQP: RabbitMQ), and whether the broker answers. Every message that shows a URL shows it redacted."""

from __future__ import annotations

import logging
import os
from urllib.parse import urlsplit

from app.config import Config
from app.errors import UserError
from app.live.redact import redact_text, redact_url

log = logging.getLogger(__name__)
ENV = "REIDWATCH_BROKER"
SCHEMES = ("amqp", "amqps", "pyamqp")


def resolve_broker(arg: str | None, cfg: Config) -> str:
    """The broker URL from ``--broker``, else ``$REIDWATCH_BROKER``, else the config's ``[queue] broker``."""
    url = arg or os.environ.get(ENV) or cfg.queue.broker
    if not url:
        raise UserError(f"no broker: pass --broker amqp://user:password@host:5672//, set {ENV}, "
                        "or set broker in the [queue] section of the config file")
    return check_broker_url(url)


def check_broker_url(url: str) -> str:
    """``url`` when it is an AMQP URL with a host; else one clear UserError (the URL redacted)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UserError(f"cannot read broker URL {redact_url(url)}: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise UserError(f"broker URL {redact_url(url)} is not an AMQP URL: use amqp://user:password@host:5672//"
                        " (RabbitMQ)")
    if not parts.hostname:
        raise UserError(f"broker URL {redact_url(url)} names no host: use amqp://user:password@host:5672//")
    if port == 0:
        raise UserError(f"broker URL {redact_url(url)} has port 0")
    return url.strip()


def ping_broker(url: str, *, timeout_s: float = 5.0) -> None:
    """Connect to the broker once (AMQP handshake and login); one clear UserError when it cannot be reached."""
    from kombu import Connection

    conn = Connection(url, connect_timeout=timeout_s)
    try:
        conn.ensure_connection(max_retries=1, timeout=timeout_s)
    except Exception as exc:  # socket errors, refused logins, bad vhosts: all are "cannot reach"
        reason = redact_text(str(exc) or type(exc).__name__).splitlines()[0]
        raise UserError(f"cannot reach the broker at {redact_url(url)}: {reason}") from None
    finally:
        conn.release()
    log.debug("broker %s answers", redact_url(url))
