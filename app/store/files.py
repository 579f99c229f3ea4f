"""Files at rest: what reidwatch writes is readable by its owner only (0600 files, 0700 folders it creates).

In the store package because opening a store makes its file private; ``app.privacy.files`` re-exports it."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")


def private_mkdir(path: str | Path) -> Path:
    """Create ``path`` and any missing parents with mode 0700 (folders that exist are left as they are)."""
    p = Path(path).expanduser()
    missing = []
    cur = p
    while not cur.exists():
        missing.append(cur)
        if cur.parent == cur:
            break
        cur = cur.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=DIR_MODE)
        os.chmod(d, DIR_MODE)  # mkdir's mode goes through the umask
    return p


def restrict_tree(folder: str | Path) -> Path:
    """Create ``folder`` (0700) or make it 0700, with every file in it 0600 (a store's model folder)."""
    p = private_mkdir(folder)
    with contextlib.suppress(PermissionError):
        os.chmod(p, DIR_MODE)
    for f in p.rglob("*"):
        if f.is_dir():
            with contextlib.suppress(PermissionError, FileNotFoundError):
                os.chmod(f, DIR_MODE)
        else:
            restrict(f)
    return p


def restrict(path: str | Path) -> None:
    """Make an existing file readable and writable by its owner only (silently skips a missing file)."""
    with contextlib.suppress(FileNotFoundError, PermissionError):  # someone else's file: theirs to protect
        os.chmod(path, FILE_MODE)


def create_private_file(path: str | Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (SQLite then gives its -wal/-shm the same mode)."""
    fd = os.open(Path(path), os.O_CREAT | os.O_WRONLY, FILE_MODE)
    os.close(fd)
    restrict(path)


def restrict_store(path: str | Path) -> None:
    """The SQLite file and its sidecars (write-ahead log, shared memory, journal): owner only."""
    for suffix in ("", *SQLITE_SIDECARS):
        restrict(f"{path}{suffix}")
