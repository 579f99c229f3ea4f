"""Writing report files: all or nothing (a temporary file next to the target, then an atomic rename)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from app.errors import UserError


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file in ``path``'s folder, then rename it to ``path``.

    A failed or interrupted export never leaves a half-written report behind (nor replaces an older one).
    Raises UserError when the folder cannot be created or written.
    """
    path = Path(path).expanduser()
    try:
        from app.privacy.files import private_mkdir

        private_mkdir(path.parent)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o600)  # reports show people: readable by their owner only (app.privacy)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process umask, read without changing it (``os.umask`` would, racing other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def write_text(path: Path, text: str) -> None:
    """UTF-8 text into ``path`` (a writer for :func:`write_atomic`)."""
    path.write_text(text, encoding="utf-8")
