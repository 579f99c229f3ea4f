"""Issue 12: where a store is named (``--db``, ``REIDWATCH_DB``, ``db = ...`` in the config) a database URL stays
a URL (a Path would fold its ``//``), files stay files, and URLs are shown without their password."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import default_db_path, load_config, resolve_db, store_location
from app.errors import UserError
from app.store import open_database, server

URL = "postgresql://ops:pa55@db.example:5432/site"


def test_urls_stay_text_and_paths_stay_paths(tmp_path, monkeypatch):
    assert store_location(URL) == URL
    assert store_location("~/x.db") == Path.home() / "x.db"
    monkeypatch.setenv("REIDWATCH_DB", URL)
    assert default_db_path() == URL
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text(f'db = "{URL}"\n')
    monkeypatch.delenv("REIDWATCH_DB")
    cfg = load_config(cfg_file)
    assert cfg.db == URL
    assert resolve_db(None, cfg) == URL and resolve_db(str(tmp_path / "a.db"), cfg) == tmp_path / "a.db"


def test_urls_are_checked_and_shown_without_password():
    assert server.redact(URL) == "postgresql://ops:***@db.example:5432/site"
    assert server.parse_url("postgres://u@h/d").drivername == "postgresql+psycopg"
    assert server.parse_url("sqlite:////tmp/x.db") == Path("/tmp/x.db")
    for bad in ("mysql://u:pa55@h/d", "oracle://h/d", "postgresql+asyncpg://u:pa55@h/d", "postgresql://u@h"):
        with pytest.raises(UserError) as exc:
            server.parse_url(bad)
        assert "pa55" not in str(exc.value) and "\n" not in str(exc.value)


def test_a_folded_url_is_not_taken_for_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="lost its '//'"):
        open_database(Path("postgresql://u@h/site"))
    assert list(tmp_path.iterdir()) == []


def test_a_sqlite_store_knows_where_it_is(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 's.db'}")
    assert db.is_file and db.path == tmp_path / "s.db" and db.label == str(tmp_path / "s.db")
    assert db.is_at(tmp_path / "s.db") and db.is_at(str(tmp_path / "s.db")) and not db.is_at(URL)
    assert db.side_path(".models") == tmp_path / "s.models" and db.size_bytes() > 0
    db.close()


@pytest.mark.parametrize("url", ["postgresql://u:p@ssw0rd@h/db", "postgresql://u:s3cretpw@h:abc/db",
                                 "postgresql://u:s3cretpw@[::1/db", "postgresql:/u:s3cretpw@h/db"])
def test_malformed_urls_are_one_line_and_never_show_the_password(url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as info:
        open_database(url)
    message = str(info.value)
    assert "\n" not in message and "s3cretpw" not in message and "ssw0rd" not in message and "p@ss" not in message
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_settings_and_comparisons_never_keep_a_password(tmp_path):
    assert server.without_password("postgresql+psycopg://u:pw@h:5/db?sslmode=require") == \
        "postgresql+psycopg://u@h:5/db?sslmode=require"
    assert server.without_password(str(tmp_path / "x.db")) == str(tmp_path / "x.db")
    db = open_database(tmp_path / "x.db")
    assert "x.db" in repr(db) and not db.is_at("postgresql://u:pw@h/db")
    db.close()
