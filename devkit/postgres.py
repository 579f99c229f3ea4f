"""A throwaway PostgreSQL server on 127.0.0.1 for tests and benchmarks (Debian's ``postgresql`` package).

``PostgresServer`` runs ``initdb`` in a temporary folder, starts the server on a free loopback port with trust
authentication, and stops it with ``pg_ctl stop -m immediate``. PostgreSQL refuses to run as root, so under root
(CI) the data folder is handed to the ``postgres`` system user and the server runs as that user (``runuser``).
Nothing assumes a server is already running, and nothing is left behind.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def pg_bin_dir() -> Path | None:
    """The newest installed PostgreSQL ``bin`` folder, or None when the server package is missing."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A private PostgreSQL cluster; ``url(dbname)`` creates a fresh database and returns its SQLAlchemy URL."""

    def __init__(self) -> None:
        bindir = pg_bin_dir()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql; make test does)")
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="reidwatch-pg-"))
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.port = _free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            self._as_user = ["runuser", "-u", "postgres", "--"]
            os.chmod(self.root, 0o755)
        self.sock.mkdir()
        self.data.mkdir()
        if self._as_user:
            shutil.chown(self.sock, "postgres", "postgres")
            shutil.chown(self.data, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        opts = (f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.data / "server.log"), "-w", "start")
        self.started = True

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [*self._as_user, str(self.bindir / tool), *args]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, cwd="/")

    def url(self, dbname: str | None = None, *, driver: str = "postgresql+psycopg") -> str:
        """Create database ``dbname`` (a fresh unique name by default) and return its URL."""
        name = dbname or f"t_{uuid.uuid4().hex[:12]}"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"{driver}://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        if getattr(self, "started", False):
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except subprocess.CalledProcessError:
                pass
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
