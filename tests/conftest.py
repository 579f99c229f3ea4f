"""Shared fixtures: where the test data lives, small real videos, and the CI rule that nothing skips green.

Data is found by ``devkit.data`` ($REIDWATCH_SHARED_DATA, ../shared/data, tests/data, Debian's opencv-doc). Under
``CI=true`` (CI sets it) a test that would skip for missing data, a missing pinned dependency or a missing system
package fails instead; only tests marked ``gpu`` may skip, and ``make test`` deselects those on a machine
without a GPU.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from devkit.data import GT_DEV, find_data, where_to_get

ROOT = Path(__file__).resolve().parents[1]
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def missing(reason: str) -> NoReturn:
    """Something a test needs is not here: a failure under CI=true, a skip with the reason elsewhere."""
    if CI:
        pytest.fail(f"{reason} (CI=true: missing data, dependencies or packages fail the run)", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """Under CI=true every skip fails, except a ``gpu`` test's (no device here)."""
    outcome = yield
    report = outcome.get_result()
    if CI and report.skipped and item.get_closest_marker("gpu") is None and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which fails the run: {reason}"
    return None


@pytest.fixture(autouse=True)
def _restore_root_logging() -> object:
    """A CLI run inside a test installs its own root handler on that test's captured stderr and sets the root
    level; put the root logger back afterwards, so no later test logs into a closed stream."""
    import logging

    root = logging.getLogger()
    handlers, level, filters = list(root.handlers), root.level, list(root.filters)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    root.filters[:] = filters


def data_file(name: str) -> Path:
    """A sample file by name, or a skip (a failure under CI) that says how to get it."""
    p = find_data(name)
    if p is None:
        missing(where_to_get(name))
    return p


class SampleData:
    """``shared_data / "name"``: the file found by :func:`data_file` (a skip, or a CI failure, when absent)."""

    def __truediv__(self, name: str) -> Path:
        return data_file(name)


@pytest.fixture(scope="session", autouse=True)
def engine_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Engine exports and ``auto``'s measurements go to a per-session folder, never the user's cache."""
    folder = tmp_path_factory.mktemp("reidwatch-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REIDWATCH_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object]:
    """One throwaway PostgreSQL server for the session (devkit.postgres); ``.url()`` makes a fresh database."""
    from devkit.postgres import PostgresServer, pg_bin_dir

    if pg_bin_dir() is None:
        missing("PostgreSQL server not installed (apt-get install postgresql; make test installs it)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing("psycopg not installed (pip install -e '.[dev]')")
    server = PostgresServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh store location on each backend: a SQLite file path, or a new PostgreSQL database's URL (its
    side files in the test's folder)."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    monkeypatch.setenv("REIDWATCH_FILES", str(tmp_path / "files"))
    return str(request.getfixturevalue("postgres_server").url())


@pytest.fixture(scope="session")
def shared_data() -> SampleData:
    return SampleData()


@pytest.fixture(scope="session")
def vtest_path() -> Path:
    return data_file("vtest.avi")


@pytest.fixture(scope="session")
def gt_dev_path() -> Path:
    return data_file(GT_DEV)


@pytest.fixture(scope="session")
def vtest_clip(tmp_path_factory: pytest.TempPathFactory, vtest_path: Path) -> Path:
    """The first 40 frames of vtest.avi (frames 60..99), re-encoded with cv2.VideoWriter."""
    import cv2

    out = tmp_path_factory.mktemp("clip") / "vtest_clip.avi"
    cap = cv2.VideoCapture(str(vtest_path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 60)
    writer = None
    for _ in range(40):
        ok, frame = cap.read()
        if not ok:
            break
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 7.0, (w, h))
        writer.write(frame)
    cap.release()
    assert writer is not None
    writer.release()
    return out
