"""Fixtures of the queue tests: a private RabbitMQ broker (devkit.rabbitmq) for the module that asks for one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import missing


@pytest.fixture(scope="module")
def rabbit() -> Iterator[object]:
    """A throwaway RabbitMQ node on 127.0.0.1 (its ``url()`` carries a random password)."""
    from devkit.rabbitmq import RabbitServer, rabbitmq_available

    if not rabbitmq_available():
        missing("rabbitmq-server not installed (apt-get install rabbitmq-server; make test installs it)")
    with RabbitServer() as server:
        yield server
