"""Opening the store: SQLite in WAL mode, Alembic upgrade to the current schema, schema checks."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.errors import SchemaTooNewError, UserError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")


def _alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
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
    """An open store. Open sessions with ``db.session()``; one session per thread."""

    path: Path
    engine: Engine
    _factory: sessionmaker[Session]

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


def open_database(path: str | Path, *, create: bool = True) -> Database:
    """Open (and create or migrate) the SQLite store at ``path``.

    Raises UserError for an unwritable location, a file that is not a database, or a
    database written by a newer reidwatch (SchemaTooNewError); nothing stored is touched then.
    """
    p = Path(path).expanduser()
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
        _upgrade(engine, url, p)
    except (DatabaseError, OperationalError) as exc:
        engine.dispose()
        msg = str(exc.orig) if getattr(exc, "orig", None) is not None else str(exc)
        raise UserError(f"cannot open database {p}: {msg}") from None
    except UserError:
        engine.dispose()
        raise
    from app.store.files import restrict_store

    restrict_store(p)  # stores made before privacy by default, too
    return Database(p, engine, sessionmaker(engine, expire_on_commit=False))


def _upgrade(engine: Engine, url: str, p: Path) -> None:
    cfg = _alembic_config(url)
    script = ScriptDirectory.from_config(cfg)
    head = script.get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current == head:
        return
    if current is not None:
        try:
            script.get_revision(current)
        except Exception:
            raise SchemaTooNewError(
                f"database {p} has schema revision {current}, newer than this reidwatch knows "
                f"(head {head}); upgrade reidwatch to open it"
            ) from None
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    log.info("database %s migrated %s -> %s", p, current or "empty", head)
