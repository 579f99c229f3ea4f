"""The search index's files (``app.identity.ann``) are shared by the processes of one machine: an exclusive lock
around every change to them.

Several processes may serve one store (the UI, ``watch``, a queue worker): each maps the saved index, and one at a
time brings it up to date under :func:`folder_lock`, first taking over what another process saved meanwhile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold the index folder's lock file exclusively (other processes wait); no lock where ``fcntl`` is missing."""
    try:
        import fcntl
    except ImportError:  # not POSIX: one process per store
        yield
        return
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(folder / ".lock", "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
