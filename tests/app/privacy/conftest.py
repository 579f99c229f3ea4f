"""Fixtures for the privacy tests: a real linked SQLite store of synthetic people (devkit.synthetic_store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import Config
from app.identity.linking import link_store
from devkit.synthetic_store import SyntheticStore, build_store


@pytest.fixture
def linked(tmp_path: Path) -> Iterator[SyntheticStore]:
    """5 people x 2 stays x 2 cameras (20 tracks), linked into identities."""
    path = tmp_path / "store" / "s.db"
    st = build_store(path)
    link_store(st.db, Config(db=path), threshold=0.5)
    yield st
    st.db.close()
