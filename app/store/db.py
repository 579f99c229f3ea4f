"""Opening the store: a SQLite file (WAL mode, the embedded default) or a PostgreSQL database (a site's shared
store, through psycopg 3); Alembic upgrade to the current schema, schema checks.

A location is a file path or a database URL (``postgresql://user[:password]@host[:port]/dbname``, also
``postgresql+psycopg://``). A URL reidwatch cannot serve (another engine, another driver, a missing driver, a
server that cannot be reached or refuses the login) is a :class:`UserError` whose one line never shows the
password. Both backends return the same values: a PostgreSQL session runs in UTC and hands timestamps back as
naive UTC, as SQLite does.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.config import store_location
from app.errors import SchemaTooNewError, UserError
from app.store import server

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
_FOLDED_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:/[^/]")  # what Path("postgresql://h/d") becomes


def _alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA auto_vacuum=INCREMENTAL")  # takes effect on new stores only (purges give space back)
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=60000")  # another program (UI, ingest, watch, link) may be writing
    cur.close()


@dataclass
class Database:
    """An open store. Open sessions with ``db.session()``; one session per thread.

    ``path``: the SQLite file; for a server store, ``<files folder>/<dbname>``, a name no file carries that side
    files are named after (use ``side_path``). ``label`` is what to show a person (the file, or the URL without
    its password); ``url`` is the SQLAlchemy URL and may hold a password: never print or store it.
    """

    path: Path
    engine: Engine
    _factory: sessionmaker[Session]
    url: str = field(default="", repr=False)  # may hold a password
    label: str = ""

    def __post_init__(self) -> None:
        self.label = self.label or str(self.path)

    @property
    def is_file(self) -> bool:
        """True for a SQLite file store, False for a database server."""
        return self.engine.dialect.name == "sqlite"

    @property
    def key(self) -> str:
        """A stable name of this store for caches within a process (the resolved file, or the label)."""
        return str(self.path.resolve()) if self.is_file else self.label

    def is_at(self, location: str | os.PathLike[str]) -> bool:
        """Whether ``location`` (a path or a URL, as a user gives it) names this store."""
        loc = store_location(location)
        if isinstance(loc, Path):
            return self.is_file and loc.resolve() == self.path.resolve()
        try:
            target = server.parse_url(loc)
        except UserError:
            return False
        if isinstance(target, Path):
            return self.is_file and target.resolve() == self.path.resolve()
        # the same server, database and user, whatever password was typed (the settings never keep one)
        return not self.is_file and server.without_password(str(target.render_as_string(hide_password=False))) \
            == server.without_password(self.url)

    @property
    def location(self) -> Path | str:
        """What ``open_database`` takes to open this store again (in another thread or process)."""
        return self.path if self.is_file else self.url

    def side_path(self, suffix: str) -> Path:
        """A file or folder that belongs to the store: next to a SQLite file (``site.db`` -> ``site.models``),
        in the files folder of a server store (``$REIDWATCH_FILES``, see ``app.store.server``)."""
        return self.path.parent / f"{self.path.stem}{suffix}"

    def size_bytes(self) -> int:
        """What the store takes on disk: the SQLite file and its write-ahead log, or the server's database."""
        if self.is_file:
            return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar() or 0)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        s = self._factory()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def close(self) -> None:
        """Dispose of the engine's connections."""
        self.engine.dispose()


def open_database(path: str | os.PathLike[str], *, create: bool = True) -> Database:
    """Open (and create or migrate) the store at ``path``: a SQLite file, or a PostgreSQL URL.

    Raises UserError for an unwritable location, a file that is not a database, a URL reidwatch cannot serve
    or a server it cannot reach, or a database written by a newer reidwatch (SchemaTooNewError); nothing stored
    is touched then.
    """
    loc = store_location(path)
    if isinstance(loc, str):
        target = server.parse_url(loc)
        if isinstance(target, Path):  # sqlite:///file
            return _open_sqlite(target, create=create)
        return _open_server(target, create=create)
    if _FOLDED_URL.match(str(path)) and not loc.exists():
        raise UserError(f"{server.redact(str(path))} looks like a database URL that lost its '//': pass it as "
                        f"text, e.g. postgresql://user@host/dbname")
    return _open_sqlite(loc, create=create)


def _open_sqlite(p: Path, *, create: bool) -> Database:
    if not p.exists():
        if not create:
            raise UserError(f"no database at {p} (ingest a video first, or pass --db)")
        try:
            from app.store.files import create_private_file, private_mkdir

            private_mkdir(p.parent)
            create_private_file(p)  # owner only; SQLite gives its -wal and -shm files the same mode
        except OSError as exc:
            raise UserError(f"cannot create database at {p}: {exc.strerror or exc}") from None
    elif p.is_dir():
        raise UserError(f"database path {p} is a directory")
    url = f"sqlite:///{p}"
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
    event.listen(engine, "connect", _on_connect)
    try:
        _upgrade(engine, url, str(p))
    except (DatabaseError, OperationalError) as exc:
        engine.dispose()
        msg = str(exc.orig) if getattr(exc, "orig", None) is not None else str(exc)
        raise UserError(f"cannot open database {p}: {msg}") from None
    except UserError:
        engine.dispose()
        raise
    from app.store.files import restrict_store

    restrict_store(p)  # stores made before privacy by default, too
    return Database(p, engine, sessionmaker(engine, expire_on_commit=False), url=url, label=str(p))


def _open_server(url: server.URL, *, create: bool) -> Database:
    label = server.redact(url)
    engine = server.make_engine(url)
    try:
        try:
            server.check_connection(engine)
        except OperationalError as exc:
            if not (create and server.is_missing_database(exc)):
                raise
            server.create_database(url)
        if not create and not server.has_schema(engine):
            raise UserError(f"no reidwatch store in {label} (ingest a video first, or pass --db)")
        _upgrade(engine, url.render_as_string(hide_password=False), label)
    except (DatabaseError, OperationalError) as exc:
        engine.dispose()
        raise UserError(f"cannot open database {label}: {server.error_line(exc, url)}") from None
    except UserError:
        engine.dispose()
        raise
    folder = server.files_folder(url)
    return Database(folder / str(url.database), engine, sessionmaker(engine, expire_on_commit=False),
                    url=url.render_as_string(hide_password=False), label=label)


def _upgrade(engine: Engine, url: str, label: str) -> None:
    cfg = _alembic_config(url)
    script = ScriptDirectory.from_config(cfg)
    head = script.get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current == head:
        return
    _check_known(script, current, head, label)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # nodes starting together: one migrates, the others wait
            server.lock_migrations(conn)
            current = MigrationContext.configure(conn).get_current_revision()
            if current == head:
                return
        _migrate(cfg, conn)
    log.info("database %s migrated %s -> %s", label, current or "empty", head)


def _check_known(script: ScriptDirectory, current: str | None, head: str | None, label: str) -> None:
    if current is None:
        return
    try:
        script.get_revision(current)
    except Exception:
        raise SchemaTooNewError(
            f"database {label} has schema revision {current}, newer than this reidwatch knows "
            f"(head {head}); upgrade reidwatch to open it"
        ) from None


def _migrate(cfg: Config, conn: Connection) -> None:
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")
