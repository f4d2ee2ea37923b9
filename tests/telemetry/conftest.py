from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from .vm import VictoriaMetrics, require_binary


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def vm_shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    """One server for the tests that only write and read (each uses its own store tag)."""
    require_binary()
    server = VictoriaMetrics(_free_port(), tmp_path_factory.mktemp("vm"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def vm_own(tmp_path: Path, free_tcp_port: int) -> Iterator[VictoriaMetrics]:
    """A server of the test's own, not started: tests that stop and restart it."""
    require_binary()
    server = VictoriaMetrics(free_tcp_port, tmp_path)
    try:
        yield server
    finally:
        server.stop()
