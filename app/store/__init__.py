"""SQLite storage through SQLAlchemy 2.0: typed models, Alembic migrations, plain-dataclass queries."""

from app.store.db import Database, open_database

__all__ = ["Database", "open_database"]
