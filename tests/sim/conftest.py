"""Fixtures for the simulator tests: leak checks and a steppable clock."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from .simtools import FakeClock


def _open_fds() -> dict[str, str]:
    result = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            result[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
    return result


@pytest.fixture(autouse=True)
async def no_leaks() -> AsyncIterator[None]:
    """Every test must close the sockets, pty fds and tasks it opened."""
    before = _open_fds()
    yield
    current = asyncio.current_task()
    # Let transports finish closing (connection_lost runs one loop turn late).
    for _ in range(3):
        await asyncio.sleep(0)
    tasks = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert not tasks, f"tasks left running: {tasks}"
    leaked = {fd: target for fd, target in _open_fds().items() if before.get(fd) != target}
    assert not leaked, f"file descriptors left open: {leaked}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
