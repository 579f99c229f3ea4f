"""A throwaway RabbitMQ broker on 127.0.0.1 for tests and benchmarks (Debian's ``rabbitmq-server`` package).

``RabbitServer`` starts a private node with everything of its own in a temporary folder: node name, Mnesia and log
folders, config and plug-in files, Erlang cookie (``HOME``), AMQP port, Erlang distribution port and its own EPMD
on a free port (``ERL_EPMD_PORT``), so a system RabbitMQ or EPMD on this machine (Debian's package starts one on
install, on 5672 and 4369) neither disturbs it nor is disturbed. The broker has one user with a random password
(``url()`` carries it, as a real site's would) and listens on loopback only.

It runs ``/usr/lib/rabbitmq/bin/rabbitmq-server`` directly: the ``/usr/sbin`` wrapper switches to the
``rabbitmq`` system user, which under root (CI) could not write the private folder. Readiness is a real AMQP
handshake; ``stop()`` ends the node's process group and its EPMD and removes the folder.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


def rabbitmq_available() -> bool:
    """Whether the broker and ``epmd`` are installed (apt-get install rabbitmq-server; make test does)."""
    return SERVER.is_file() and shutil.which("epmd") is not None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RabbitServer:
    """A private RabbitMQ node; ``url()`` is its AMQP URL (``amqp://user:password@127.0.0.1:port//``)."""

    def __init__(self, *, start_timeout_s: float = 120.0) -> None:
        if not rabbitmq_available():
            raise RuntimeError("rabbitmq-server not installed (apt-get install rabbitmq-server; make test does)")
        self.root = Path(tempfile.mkdtemp(prefix="reidwatch-rabbit-"))
        self.port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.user = "reidwatch"
        self.password = secrets.token_hex(12)
        self.node = f"rw{uuid.uuid4().hex[:10]}@localhost"
        self._epmd: subprocess.Popen[bytes] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        try:
            self._start(start_timeout_s)
        except BaseException:
            self.stop()
            raise

    def _env(self) -> dict[str, str]:
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            f"default_user = {self.user}\ndefault_pass = {self.password}\n"
            "loopback_users = none\n"
            "log.console = false\nlog.file.level = warning\n"
            "disk_free_limit.absolute = 50MB\n", encoding="utf-8")
        (self.root / "enabled_plugins").write_text("[].\n", encoding="utf-8")
        (self.root / "rabbitmq-env.conf").write_text("", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update({
            "HOME": str(self.root),  # the Erlang cookie goes here, not in the user's home
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_PID_FILE": str(self.root / "rabbit.pid"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.root / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_ENABLED_PLUGINS": "",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        })
        return env

    def _start(self, timeout_s: float) -> None:
        env = self._env()
        log = open(self.root / "server.out", "wb")  # noqa: SIM115 - closed when the process has it
        # our own EPMD in the foreground, so that stopping it is ours to do (erl would leave a daemon behind)
        self._epmd = subprocess.Popen([shutil.which("epmd") or "epmd", "-port", str(self.epmd_port)], env=env,
                                      stdout=log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True)
        self._proc = subprocess.Popen([str(SERVER)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
                                      start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited with {self._proc.returncode}: {self.output()[-2000:]}")
            try:
                self._handshake()
                return
            except Exception as exc:  # not listening yet, or listening but not ready to authenticate
                last = exc
                time.sleep(0.5)
        raise RuntimeError(f"rabbitmq-server not ready after {timeout_s:.0f} s ({last}): {self.output()[-2000:]}")

    def _handshake(self) -> None:
        import amqp

        conn = amqp.Connection(host=f"127.0.0.1:{self.port}", userid=self.user, password=self.password,
                               connect_timeout=2)
        try:
            conn.connect()
        finally:
            conn.collect()

    def output(self) -> str:
        """What the server printed (start-up errors land here)."""
        p = self.root / "server.out"
        return p.read_text(errors="replace") if p.is_file() else ""

    def url(self, *, vhost: str = "/") -> str:
        """The broker's AMQP URL, credentials included."""
        return f"amqp://{self.user}:{self.password}@127.0.0.1:{self.port}/{vhost}"

    def stop(self) -> None:
        """Stop the node (SIGTERM, then SIGKILL to its process group) and its EPMD; remove the folder."""
        for proc in (self._proc, self._epmd):
            if proc is None or proc.poll() is not None:
                continue
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                continue
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # erl's helpers (erl_child_setup, inet_gethost) go too
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
        self._proc = self._epmd = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RabbitServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
