"""A PostgreSQL store: reading and checking its URL, the engine (UTC sessions, naive-UTC timestamps as SQLite
gives them), creating a missing database, error lines without the password, and its files folder.

Side files of a server store (adapted models, caches) live in its files folder: ``$REIDWATCH_FILES/<host>-<port>-
<dbname>`` when set, else the platform's data dir (``~/.local/share/reidwatch/servers/...``). The adapted encoder
itself is also kept in the database (``app.store.blobs``), so every node finds it without a shared folder.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from app.errors import UserError

__all__ = ["URL", "parse_url", "redact", "make_engine", "files_folder"]

SCHEMES = "a SQLite file (a path) or PostgreSQL (postgresql://user@host/dbname)"
_POSTGRES = ("postgresql", "postgres")
MIGRATION_LOCK = 0x7265696477617463  # "reidwatc": one node at a time migrates a fresh store
_PASSWORD = re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE)


def redact(url: str | URL) -> str:
    """The URL to show a person: its password replaced by ``***`` (a URL that cannot be read: no userinfo)."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # unreadable
        return _mask_userinfo(url)


def _mask_userinfo(url: str) -> str:
    """Everything between the scheme and the last '@' replaced by ``***`` (a password may itself hold '@')."""
    return re.sub(r"^([A-Za-z][\w+.\-]*:/*)\S*@", r"\1***@", url)


def without_password(location: str) -> str:
    """A database location with any password removed (kept usable: the server reads it from ~/.pgpass or
    $PGPASSWORD); a path, or text that is no URL, is returned as it is."""
    if "://" not in location:
        return location
    try:
        url = make_url(location)
    except Exception:
        return _mask_userinfo(location)
    if not url.password:
        return location
    bare = URL.create(url.drivername, username=url.username, host=url.host, port=url.port, database=url.database,
                      query=url.query)  # URL.set(password=None) would keep it
    return bare.render_as_string(hide_password=False)


def parse_url(text_: str) -> URL | Path:
    """Check a database URL: a PostgreSQL URL with the psycopg driver, or the file of a ``sqlite:///`` URL.

    UserError (one line, no password) for anything else: another engine (mysql://, http://), another driver
    (postgresql+psycopg2://), no database name, or psycopg not installed."""
    shown = redact(text_)
    try:
        url = make_url(text_)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number, an unclosed [IPv6]
        raise UserError(f"cannot read database URL {shown}; reidwatch stores in {SCHEMES}") from None
    if url.host and "@" in url.host:  # a raw '@' in the password: the rest of it would be read as the host
        raise UserError(f"cannot read database URL {_mask_userinfo(text_)}: write an '@' inside the password as "
                        f"%40")
    backend, _, driver = url.drivername.partition("+")
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise UserError(f"database URL {shown} names no file: use sqlite:///path/to/site.db or a path")
        return Path(url.database).expanduser()
    if backend not in _POSTGRES:
        raise UserError(f"cannot use database {shown}: reidwatch stores in {SCHEMES}, not {backend}")
    if driver not in ("", "psycopg"):
        raise UserError(f"cannot use database {shown}: reidwatch talks to PostgreSQL through psycopg 3; "
                        f"write postgresql:// or postgresql+psycopg://")
    if not url.database:
        raise UserError(f"database URL {shown} names no database: postgresql://user@host/dbname")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise UserError(f"cannot use database {shown}: the PostgreSQL driver psycopg is not installed "
                        f"(pip install 'psycopg[binary]')") from None
    return url.set(drivername="postgresql+psycopg")


def _naive_utc_loaders(dbapi_conn: Any, _record: object) -> None:
    """timestamptz values come back as naive UTC datetimes, as SQLite hands them back (the session is in UTC)."""
    from psycopg.types.datetime import TimestamptzBinaryLoader, TimestamptzLoader

    class NaiveText(TimestamptzLoader):
        def load(self, data: Any) -> dt.datetime:
            return super().load(data).astimezone(dt.timezone.utc).replace(tzinfo=None)

    class NaiveBinary(TimestamptzBinaryLoader):
        def load(self, data: Any) -> dt.datetime:
            return super().load(data).astimezone(dt.timezone.utc).replace(tzinfo=None)

    dbapi_conn.adapters.register_loader("timestamptz", NaiveText)
    dbapi_conn.adapters.register_loader("timestamptz", NaiveBinary)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def json_text(obj: Any) -> str:
    """JSON as PostgreSQL takes it: NaN and infinities (a rate of nothing) become null."""
    return json.dumps(_finite(obj))


def make_engine(url: URL) -> Engine:
    """An engine for a PostgreSQL store: UTC sessions, short connect timeout, connections checked before use."""
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, json_serializer=json_text,
                           connect_args={
        "connect_timeout": 10, "options": "-c timezone=UTC", "application_name": "reidwatch"})
    event.listen(engine, "connect", _naive_utc_loaders)
    return engine


def check_connection(engine: Engine) -> None:
    """Connect once (OperationalError: unreachable, refused login, no such database)."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def is_missing_database(exc: DBAPIError) -> bool:
    """Whether the server said the database does not exist (SQLSTATE 3D000)."""
    return getattr(exc.orig, "sqlstate", None) == "3D000" or (
        "database" in str(exc.orig) and "does not exist" in str(exc.orig))


def create_database(url: URL) -> None:
    """Create the URL's database through the server's maintenance database ``postgres`` (a new store)."""
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT",
                          connect_args={"connect_timeout": 10})
    try:
        with admin.connect() as conn:
            name = str(url.database).replace('"', '""')
            try:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) != "42P04":  # another node created it first: fine
                    raise
    finally:
        admin.dispose()


def has_schema(engine: Engine) -> bool:
    """Whether the database holds a reidwatch store (Alembic's version table)."""
    with engine.connect() as conn:
        return inspect(conn).has_table("alembic_version")


def lock_migrations(conn: Connection) -> None:
    """Hold the migration lock until ``conn``'s transaction ends."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})


def error_line(exc: DBAPIError | Exception, url: URL) -> str:
    """The server's message, first line only, without the password (libpq may quote connection options)."""
    orig = getattr(exc, "orig", None) or exc
    line = next((x.strip() for x in str(orig).splitlines() if x.strip()), type(orig).__name__)
    if url.password and len(str(url.password)) >= 4:  # a shorter one would garble the message, not hide much
        line = line.replace(str(url.password), "***")
    return _PASSWORD.sub(r"\1***", line)


def files_folder(url: URL) -> Path:
    """The local folder of a server store's side files (see the module docstring); not created here."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{url.host or 'local'}-{url.port or 5432}-{url.database}")
    root = os.environ.get("REIDWATCH_FILES")
    base = Path(root).expanduser() if root else Path(platformdirs.user_data_dir("reidwatch")) / "servers"
    return base / name
